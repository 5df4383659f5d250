"""Pure Block Kit builders of the launch calendar: a dated phase or a day's checks announced, the evening-before summary, launch day moved, and the calendar's lines on the card and in /launch status."""

from __future__ import annotations

from datetime import date, datetime

from bot.calendar.dates import DateMove
from bot.calendar.progress import OpenPhase
from bot.calendar.rules import Claimed, Scheduled
from bot.calendar.state import CalendarView, PostView
from bot.checklist.blocks import phase_label
from bot.checklist.schedule import EVENING, PHASE, short_date
from bot.checklist.state import PhaseState, SectionState
from bot.core.kit import (
    MessageView,
    context_block,
    line_sections,
    mention,
    slack_date,
)
from bot.core.mrkdwn import escape


def day_label(day: int) -> str:
    return f"T+{day}" if day > 0 else f"T-{abs(day)}"


def late_note(claimed: Claimed) -> str:
    """``posted at Today 11:02, due Today 09:00``: said of a post the bot could not make on time
    (it was down); times as every time in Slack (``kit.slack_date``)."""
    return (
        f"⏰ Late: posted at {slack_date(claimed.sent_at)}, due {slack_date(claimed.due_at)} "
        "(the bot was not running then)."
    )


def _where_open(open_before: tuple[OpenPhase, ...]) -> str:
    parts = []
    for phase in open_before:
        sections = ", ".join(f"{escape(title)} {n}" for title, n in phase.sections)
        parts.append(f"*{escape(phase.title)}* still has {phase.open} open ({sections})")
    return "; ".join(parts)


# Section blocks an announcement may use (the evening summary's lines per idle section owner).
VIEW_BLOCKS = 10


def _view(text: str, lines: list[str], claimed: Claimed | None = None) -> MessageView:
    blocks = line_sections(lines, max_blocks=VIEW_BLOCKS)
    if claimed is not None and claimed.late:
        blocks.append(context_block(late_note(claimed)))
    return MessageView(text=text, blocks=blocks)


def phase_posted(claimed: Claimed) -> MessageView:
    """A dated phase posted on its date; the phases before it that still have open items say how
    many and where (their messages stay live, their items still count)."""
    lines = [
        f"📅 *{escape(claimed.title)}* ({day_label(claimed.day)}) is posted in the launch thread, "
        "as scheduled."
    ]
    if claimed.open_before:
        total = sum(p.open for p in claimed.open_before)
        lines.append(
            f"⚠️ {total} item(s) of earlier phases are still open: "
            f"{_where_open(claimed.open_before)}. Their messages in the thread stay live."
        )
    return _view(f"{claimed.title} posted as scheduled", lines, claimed)


def day_posted(claimed: Claimed) -> MessageView:
    lines = [
        f"☀️ *{escape(claimed.title)}* — {claimed.items} check(s) for today are posted in the "
        "launch thread."
    ]
    return _view(f"{claimed.title} posted", lines, claimed)


def evening_summary(claimed: Claimed) -> MessageView:
    """The evening before launch day: what is still open in the first phase, and (with
    ``[schedule] owners``) who owns a section with open items and has ticked nothing there yet."""
    open_items = sum(p.open for p in claimed.open_before)
    head = f"🌙 *Launch day is tomorrow* ({short_date(claimed.launch_date)})."
    if not open_items:
        lines = [head, f"Everything in *{escape(claimed.title)}* is ticked. 🎉"]
    else:
        lines = [head, f"Still open in {_where_open(claimed.open_before)}."]
    for section, users in claimed.idle_owners:
        who = ", ".join(mention(u) for u in users)
        lines.append(f"• {escape(section)}: nothing ticked yet by {who}")
    return _view(f"Launch day is tomorrow: {open_items} open", lines, claimed)


def date_moved(move: DateMove, actor_id: str) -> MessageView:
    lines = [
        f"📅 Launch day of *{escape(move.name)}* moved from {move.before:%a %b %d} to "
        f"*{move.after:%a %b %d}* by {mention(actor_id)}: {escape(move.reason)}",
        f"{move.rescheduled} scheduled post(s) moved with it."
        + (
            f" Next: *{escape(move.next_title)}* {slack_date(move.next_due)}."
            if move.next_title and move.next_due
            else ""
        ),
    ]
    return _view(f"Launch day moved to {move.after.isoformat()}", lines)


def post_label(post: PostView) -> str:
    """What a scheduled post posts: ``*Launch Day* (T-0)``, ``*Daily checks · Day 3 · Dec 12*``, or
    ``the evening summary of *Pre-Launch Phase*``."""
    if post.kind == PHASE:
        return f"*{escape(post.title)}* ({day_label(post.day)})"
    if post.kind == EVENING:
        return f"the evening summary of *{escape(post.title)}*"
    return f"*{escape(post.title)}*"


def started_text(launch_date: date, timezone: str, scheduled: Scheduled) -> str:
    """The answer to ``/launch start … --on``: launch day, and when the first phase and the first
    scheduled post come (times as every time in Slack, ``kit.slack_date``)."""
    text = f" Launch day (T-0) is {launch_date:%a %Y-%m-%d} ({escape(timezone)})."
    first = scheduled.first_phase
    if first is not None:
        text += (
            f" {post_label(first)} is posted {slack_date(first.due_at)}, as scheduled "
            "(`/launch phase next` posts it now)."
        )
    nxt = scheduled.first_post
    if nxt is not None and nxt != first:
        text += (
            f" {scheduled.count} post(s) are scheduled on their days; the next: "
            f"{post_label(nxt)} {slack_date(nxt.due_at)}."
        )
    elif scheduled.count > 1:
        text += f" {scheduled.count - 1} more post(s) are scheduled on their days."
    return text + " The card shows what is due next."


def waiting_line(view: CalendarView, phase: PhaseState) -> str | None:
    """``Next: Pre-Launch Phase (T-7 days) is posted <date>``: the first phase of a launch started
    ahead of its date, not posted yet; None once it is."""
    if phase.posted:
        return None
    due = next(
        (p for p in view.posts if p.kind == PHASE and p.pending and p.title == phase.title), None
    )
    if due is None:
        return None
    return (
        f"*Next:* {phase_label(phase)} — {phase.total} item(s) — is posted in the thread "
        f"{slack_date(due.due_at)}, as scheduled. `/launch phase next` posts it now."
    )


def _when(days: int) -> str:
    if days == 0:
        return "today"
    if days == 1:
        return "tomorrow"
    if days > 1:
        return f"in {days} days"
    if days == -1:
        return "yesterday"
    return f"{-days} days ago"


def calendar_line(view: CalendarView, current: PhaseState, *, now: datetime) -> str:
    """``📅 T-0 Wed Dec 09 (in 3 days) · next: Launch Day <date> · Pre-Launch Phase 31/45``."""
    days = view.days_to_launch(now)
    line = f"📅 *T-0 {view.launch_date:%a %b %d}* ({_when(days)})"
    if days < 0:
        line += f" · today is {day_label(-days)}"
    nxt = view.next_post()
    if nxt is not None:
        line += f" · next: {post_label(nxt)} {slack_date(nxt.due_at)}"
    line += f" · {escape(current.title)} {current.done}/{current.total}"
    return line


def today_sections(
    view: CalendarView, phases: tuple[PhaseState, ...], *, now: datetime
) -> list[SectionState]:
    """The day sections of today (their day is today's date minus launch day, in the calendar's
    zone) once posted: on T+7 Day 7's checks and the weekly review; none on a day without one
    (before T+2, after T+7, or before ``post_at``)."""
    day = view.day_of(now)
    return [s for p in phases for s in p.sections if s.day == day and s.counted]


def today_line(view: CalendarView, phases: tuple[PhaseState, ...], *, now: datetime) -> str | None:
    """``Today: Daily checks · Day 3 · Dec 12 — 2/5 · open: …`` for /launch status, one line per
    section of today's; None when today has none."""
    lines = []
    for section in today_sections(view, phases, now=now):
        still_open = [i.text for i in section.items if not i.done]
        tail = (
            f" · open: {', '.join(escape(t) for t in still_open)}"
            if still_open
            else " · all done ✅"
        )
        lines.append(f"*Today:* {escape(section.title)} — {section.done}/{section.total}{tail}")
    return "\n".join(lines) or None
