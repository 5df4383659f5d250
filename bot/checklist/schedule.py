"""The launch calendar's rule: which phases of a template are dated and which groups repeat in the first week.

Pure (no database): the template and ``[schedule]`` in, the sections and posts of a dated launch out.

The rule, read from the template's headings (every name below is a ``[schedule]`` key, so a team
whose template words it differently overrides it rather than editing code):

- A checklist phase whose ``##`` heading carries a timing in days, ``(T-7 days)``, ``(T-0)``,
  ``(T+1)``, is *dated*: it is posted on launch day plus that many days, at ``post_at`` in
  ``timezone``. The first checklist phase too: a launch started more than seven days ahead posts
  only its card, and pre-launch (T-7) on its date; one started later than that posts it at start
  (it is due already: not late, there was nothing to miss). A later phase is posted on its date even
  if the one before still has open items, and any phase earlier by ``/launch phase next`` once its
  predecessor is complete (the first one has none). A timing in hours or minutes is not a date.
- In a dated phase, a group titled ``daily_group`` ("Daily Checks", case-insensitive) repeats: it is
  taken out of its section (in the seed, "First Week Monitoring") and copied once per day from
  ``daily_from`` to ``daily_to`` (T+2 … T+7) as a section of its own, "Daily checks · Day 3 · Dec 12",
  with its own checkbox items, posted that day. A group titled ``weekly_group`` ("Weekly Review") is
  moved the same way to a section of its own posted on ``weekly_day`` (T+7). A section left empty
  disappears; its other groups stay with their phase.
- The evening before launch day, at ``evening_at``, the channel gets one summary of what is still
  open in the first phase; missed (the bot was down), it is posted late only while it is still
  the day before in ``timezone``, never on launch day or later.

Set ``daily_group`` or ``weekly_group`` to ``""`` to turn that part off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from bot.checklist.template import ChecklistTemplate, TemplateGroup, TemplatePhase, TemplateSection
from bot.core.config import ScheduleConfig

_DAYS = re.compile(r"^T\s*([-+−])?\s*(\d+)\s*(?:d|day|days)?$", re.IGNORECASE)

PHASE = "calendar_phase"
SECTION = "calendar_section"
EVENING = "calendar_evening"


def timing_day(timing: str | None) -> int | None:
    """``T-7 days`` → -7, ``T-0`` → 0, ``T+1`` → 1; None for no timing or one in hours/minutes."""
    if not timing:
        return None
    match = _DAYS.match(timing.strip())
    if match is None:
        return None
    sign = -1 if match.group(1) in ("-", "−") else 1
    return sign * int(match.group(2))


def short_date(day: date) -> str:
    """``Dec 12`` (the day's own name: the record stays UTC, but a launch day is a local date)."""
    return f"{day:%b} {day.day}"


def day_section_title(kind_title: str, day: int, launch_date: date) -> str:
    """``Daily checks · Day 3 · Dec 12``."""
    label = kind_title[:1].upper() + kind_title[1:].lower()
    return f"{label} · Day {day} · {short_date(launch_date + timedelta(days=day))}"


def retitle(title: str, day: int, launch_date: date) -> str:
    """A day section's title for a moved launch day (only its date changes)."""
    kind_title = title.split(" · ", 1)[0]
    return day_section_title(kind_title, day, launch_date)


def _same(a: str | None, b: str) -> bool:
    return bool(b) and (a or "").strip().casefold() == b.strip().casefold()


def _day_sections(
    phase: TemplatePhase, rule: ScheduleConfig, launch_date: date
) -> tuple[list[TemplateSection], list[TemplateSection]]:
    """The phase's sections without the repeating groups, and the sections of their days."""
    kept: list[TemplateSection] = []
    daily: TemplateGroup | None = None
    weekly: TemplateGroup | None = None
    for section in phase.sections:
        groups: list[TemplateGroup] = []
        for group in section.groups:
            if daily is None and _same(group.title, rule.daily_group):
                daily = group
            elif weekly is None and _same(group.title, rule.weekly_group):
                weekly = group
            else:
                groups.append(group)
        if groups:
            kept.append(section.model_copy(update={"groups": groups}))
    days: list[tuple[int, int, TemplateSection]] = []
    repeating: list[tuple[TemplateGroup | None, range, int]] = [
        (daily, range(rule.daily_from, rule.daily_to + 1), 0),
        (weekly, range(rule.weekly_day, rule.weekly_day + 1), 1),
    ]
    for source, numbers, order in repeating:
        if source is None:
            continue
        for day in numbers:
            title = day_section_title(source.title or "Checks", day, launch_date)
            copy = source.model_copy(update={"title": None})
            days.append(
                (day, order, TemplateSection(title=title, groups=[copy], line=source.line, day=day))
            )
    return kept, [s for _, _, s in sorted(days, key=lambda d: (d[0], d[1]))]


def with_days(
    template: ChecklistTemplate, rule: ScheduleConfig, launch_date: date
) -> ChecklistTemplate:
    """The template of a dated launch: the repeating groups of each dated phase taken out of their
    sections and copied into one section per day (``TemplateSection.day``), after the phase's own."""
    phases: list[TemplatePhase] = []
    for phase in template.phases:
        if phase.kind != "checklist" or timing_day(phase.timing) is None:
            phases.append(phase)
            continue
        kept, days = _day_sections(phase, rule, launch_date)
        phases.append(phase.model_copy(update={"sections": kept + days}))
    return template.model_copy(update={"phases": phases})


def due_at(launch_date: date, day: int, at: str, rule: ScheduleConfig) -> datetime:
    """Launch day + ``day`` days at local ``at`` (HH:MM) in ``[schedule] timezone``, in UTC.

    The zone's rules give the offset of that very day, so a date across a DST change is still
    posted at ``post_at`` local time."""
    local = datetime.combine(
        launch_date + timedelta(days=day), ScheduleConfig.clock_time(at), tzinfo=rule.zone
    )
    return local.astimezone(UTC)


def first_phase_due(
    timing: str | None, launch_date: date, rule: ScheduleConfig, at: datetime
) -> datetime | None:
    """When the first phase of a launch dated ``launch_date``, started at ``at``, is posted: its date
    at ``post_at`` if that is still ahead; None if it is posted at start (undated, or due already)."""
    day = timing_day(timing)
    if day is None:
        return None
    when = due_at(launch_date, day, rule.post_at, rule)
    return when if when > at else None


def local_today(now: datetime, rule: ScheduleConfig) -> date:
    return now.astimezone(rule.zone).date()


@dataclass(frozen=True)
class Slot:
    """One post of a dated launch: what (kind, key, title), which day (relative to T-0) and when."""

    kind: str
    key: str
    day: int
    at: str  # "HH:MM" local
    title: str
    phase_position: int | None = None
    section_title: str | None = None
    at_start: bool = False  # the first phase: posted at start instead if the launch starts later


def slots(template: ChecklistTemplate, rule: ScheduleConfig) -> list[Slot]:
    """Every post of a dated launch of ``template`` (already ``with_days``), in time order."""
    out: list[Slot] = []
    first = True
    for position, phase in enumerate(template.phases):
        if phase.kind != "checklist":
            continue
        day = timing_day(phase.timing)
        if day is not None:
            out.append(
                Slot(
                    PHASE,
                    f"phase:{position}",
                    day,
                    rule.post_at,
                    phase.title,
                    phase_position=position,
                    at_start=first,
                )
            )
            if first:
                out.append(Slot(EVENING, "evening", -1, rule.evening_at, phase.title))
        first = False
        for section in phase.sections:
            if section.day is not None:
                out.append(
                    Slot(
                        SECTION,
                        f"day:{section.day}:{section.title.split(' · ', 1)[0].casefold()}",
                        section.day,
                        rule.post_at,
                        section.title,
                        phase_position=position,
                        section_title=section.title,
                    )
                )
    return sorted(out, key=lambda s: (s.day, s.at, s.kind != PHASE))


def schedule_report(template: ChecklistTemplate, rule: ScheduleConfig, launch_date: date) -> str:
    """The calendar ``launchbot checklist validate --on DATE`` prints: one line per post."""
    dated = with_days(template, rule, launch_date)
    lines = [f"Schedule for launch day {launch_date:%a %Y-%m-%d} ({rule.timezone}):"]
    for slot in slots(dated, rule):
        when = launch_date + timedelta(days=slot.day)
        sign = "+" if slot.day > 0 else "-" if slot.day < 0 else "-"
        what = {
            PHASE: f"phase {slot.title}",
            SECTION: slot.title,
            EVENING: f"evening summary of what is open in {slot.title}",
        }[slot.kind]
        note = " (or at start, if the launch starts after this)" if slot.at_start else ""
        lines.append(f"  T{sign}{abs(slot.day)}  {when:%a %Y-%m-%d} {slot.at}  {what}{note}")
    if not any(s.kind == SECTION for s in slots(dated, rule)):
        lines.append(
            f"  (no “{rule.daily_group}” or “{rule.weekly_group}” group found: no first-week posts)"
        )
    return "\n".join(lines)
