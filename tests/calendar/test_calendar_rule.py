"""The calendar's rule (bot/checklist/schedule.py): `launchbot checklist validate --on DATE` prints
the schedule it finds for the seed (the README's calendar), and a team that words its template
differently overrides the rule in `[schedule]`: the printed schedule and a dated launch follow."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.checklist.parser import parse_template
from bot.checklist.template import DEFAULT_TEMPLATE_PATH, ChecklistTemplate
from bot.core.config import AppConfig, ScheduleConfig
from bot.core.models import ScheduledPost, Section
from tests.calendar.conftest import ALICE, announcements, flat, rows, run_at, set_clock, utc
from tests.conftest import FakeClock, base_config
from tests.warroom import ROOT, WarRoom

SEED_SCHEDULE = [
    "Schedule for launch day Wed 2026-12-09 (Europe/London):",
    "  T-7  Wed 2026-12-02 09:00  phase Pre-Launch Phase (or at start, if the launch starts after this)",
    "  T-1  Tue 2026-12-08 18:00  evening summary of what is open in Pre-Launch Phase",
    "  T-0  Wed 2026-12-09 09:00  phase Launch Day",
    "  T+1  Thu 2026-12-10 09:00  phase Post-Launch",
    "  T+2  Fri 2026-12-11 09:00  Daily checks · Day 2 · Dec 11",
    "  T+3  Sat 2026-12-12 09:00  Daily checks · Day 3 · Dec 12",
    "  T+4  Sun 2026-12-13 09:00  Daily checks · Day 4 · Dec 13",
    "  T+5  Mon 2026-12-14 09:00  Daily checks · Day 5 · Dec 14",
    "  T+6  Tue 2026-12-15 09:00  Daily checks · Day 6 · Dec 15",
    "  T+7  Wed 2026-12-16 09:00  Daily checks · Day 7 · Dec 16",
    "  T+7  Wed 2026-12-16 09:00  Weekly review · Day 7 · Dec 16",
]

# A team's own template: other timings, its repeating groups named its own way, and a phase timed
# in hours (not a date).
CUTOVER = """# Payments Cutover

## Preparation (T-3 days)

### Readiness
- [ ] Runbook reviewed
- [ ] On-call rota set

## Cutover (T-0)

### Switch
- [ ] Traffic moved

## Aftercare (T+2)

### Follow-up
- [ ] **Health Sweep**
  - [ ] Error budget checked
  - [ ] Queues drained
- [ ] **Retro**
  - [ ] Retro held
- [ ] **Handover**
  - [ ] Support briefed

## Soak (2 hours)

### Watch
- [ ] Dashboards green
"""

# Its [schedule]: the rule's names and days overridden, in Tokyo (no DST) at 08:30.
CUTOVER_SCHEDULE = ScheduleConfig(
    timezone="Asia/Tokyo",
    post_at="08:30",
    evening_at="19:00",
    daily_group="Health Sweep",
    daily_from=3,
    daily_to=5,
    weekly_group="Retro",
    weekly_day=6,
)


def schedule_printed(out: str) -> list[str]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Schedule for launch day"))
    return lines[start:]


def test_validate_on_prints_the_seeds_schedule_as_the_readme_shows(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The example config's [schedule]: Europe/London, 09:00 posts, 18:00 evening summary.
    monkeypatch.setenv("LAUNCHBOT_CONFIG", str(ROOT / "launchbot.example.toml"))
    assert main(["checklist", "validate", str(DEFAULT_TEMPLATE_PATH), "--on", "2026-12-09"]) == 0
    printed = schedule_printed(capsys.readouterr().out)
    assert printed == SEED_SCHEDULE
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```\n(Schedule for launch day .*?)```", readme, re.DOTALL)
    assert block.splitlines() == SEED_SCHEDULE


def test_validate_on_follows_the_zone_on_each_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """New York moves to daylight time on Sun 14 Mar 2027: posts stay at 09:00 local either side."""
    config = tmp_path / "ny.toml"
    config.write_text('[schedule]\ntimezone = "America/New_York"\n', encoding="utf-8")
    monkeypatch.setenv("LAUNCHBOT_CONFIG", str(config))
    assert main(["checklist", "validate", str(DEFAULT_TEMPLATE_PATH), "--on", "2027-03-12"]) == 0
    printed = schedule_printed(capsys.readouterr().out)
    assert printed[0] == "Schedule for launch day Fri 2027-03-12 (America/New_York):"
    assert "  T-7  Fri 2027-03-05 09:00  phase Pre-Launch Phase" in printed[1]
    assert "  T+2  Sun 2027-03-14 09:00  Daily checks · Day 2 · Mar 14" in printed


def test_an_overridden_rule_changes_the_printed_schedule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    template = tmp_path / "cutover.md"
    template.write_text(CUTOVER, encoding="utf-8")
    config = tmp_path / "team.toml"
    config.write_text(
        "[schedule]\n"
        + "".join(
            f"{key} = {value!r}\n".replace("'", '"')
            for key, value in CUTOVER_SCHEDULE.model_dump(exclude={"owners"}).items()
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("LAUNCHBOT_CONFIG", str(config))
    assert main(["checklist", "validate", str(template), "--on", "2026-12-09"]) == 0
    assert schedule_printed(capsys.readouterr().out) == [
        "Schedule for launch day Wed 2026-12-09 (Asia/Tokyo):",
        "  T-3  Sun 2026-12-06 08:30  phase Preparation (or at start, if the launch starts after this)",
        "  T-1  Tue 2026-12-08 19:00  evening summary of what is open in Preparation",
        "  T-0  Wed 2026-12-09 08:30  phase Cutover",
        "  T+2  Fri 2026-12-11 08:30  phase Aftercare",
        "  T+3  Sat 2026-12-12 08:30  Health sweep · Day 3 · Dec 12",
        "  T+4  Sun 2026-12-13 08:30  Health sweep · Day 4 · Dec 13",
        "  T+5  Mon 2026-12-14 08:30  Health sweep · Day 5 · Dec 14",
        "  T+6  Tue 2026-12-15 08:30  Retro · Day 6 · Dec 15",
    ]
    # The seed's rule finds no repeating group in this template: no first-week posts.
    config.write_text('[schedule]\ntimezone = "Asia/Tokyo"\n', encoding="utf-8")
    assert main(["checklist", "validate", str(template), "--on", "2026-12-09"]) == 0
    printed = schedule_printed(capsys.readouterr().out)
    assert not any("Health sweep ·" in line or "Retro ·" in line for line in printed)
    assert (
        printed[-1] == "  (no “Daily Checks” or “Weekly Review” group found: no first-week posts)"
    )


# --- a dated launch of that template, under that rule --------------------------------------------


@pytest.fixture
def template() -> ChecklistTemplate:
    return parse_template(CUTOVER)


@pytest.fixture
def config() -> AppConfig:
    return base_config().model_copy(update={"schedule": CUTOVER_SCHEDULE})


async def test_a_dated_launch_follows_the_overridden_rule(room: WarRoom, clock: FakeClock) -> None:
    set_clock(clock, utc(2026, 12, 1, 3, 0))  # Tue 1 Dec, 12:00 in Tokyo
    await room.command(ALICE, "start Cutover --on 2026-12-09")
    days = await rows(room, Section, Section.day.is_not(None))
    assert sorted((s.day, s.title) for s in days) == [
        (3, "Health sweep · Day 3 · Dec 12"),
        (4, "Health sweep · Day 4 · Dec 13"),
        (5, "Health sweep · Day 5 · Dec 14"),
        (6, "Retro · Day 6 · Dec 15"),
    ]
    # The group the rule does not name stays with its phase.
    (follow_up,) = await rows(room, Section, Section.title == "Follow-up")
    assert follow_up.day is None
    due = {r.key: r.due_at for r in await rows(room, ScheduledPost)}
    assert due["phase:0"] == utc(2026, 12, 5, 23, 30)  # T-3: Sun 6 Dec 08:30 in Tokyo
    assert due["evening"] == utc(2026, 12, 8, 10, 0)  # Tue 8 Dec 19:00 in Tokyo
    assert due["phase:2"] == utc(2026, 12, 10, 23, 30)  # T+2: Fri 11 Dec 08:30
    assert "phase:3" not in due  # "Soak (2 hours)" is not a date
    # Day 3's sweep comes on its morning, not on the seed's T+2.
    # Late: T-3, T-0; T+2 (the evening before is skipped, not posted: launch day has come).
    assert await run_at(room, clock, utc(2026, 12, 10, 23, 30)) == 3
    assert not announcements(room, "Launch day is tomorrow")
    assert not announcements(room, "check(s) for today")
    assert await run_at(room, clock, utc(2026, 12, 11, 23, 30)) == 1
    (day3,) = announcements(room, "check(s) for today")
    assert "*Health sweep · Day 3 · Dec 12* — 2 check(s) for today" in flat(day3)
