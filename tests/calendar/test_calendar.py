"""The launch calendar from Slack, on the test-controlled clock in New York: `--on` parsing, phases
posted on their dates (across a DST change), once; early by `phase next`; each first-week day's own
checks; the evening summary; `/launch date`; and a restart that posts late."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from typing import Any

from sqlalchemy import select, update

from bot.audit.chain import verify_chain
from bot.audit.report.export import export_launch
from bot.checklist.parser import parse_template
from bot.checklist.rules import set_items_checked
from bot.core.config import AppConfig
from bot.core.events import SYSTEM, Actor
from bot.core.models import (
    Event,
    Item,
    ItemGroup,
    Launch,
    ScheduledPost,
    Section,
    SlackMessage,
)
from bot.runtime import running_bot
from bot.standin import SlackStandIn
from tests.calendar.conftest import (
    ALICE,
    CTO,
    FAST,
    announcements,
    flat,
    phase_items,
    rows,
    run_at,
    set_clock,
    tick_all,
    until_loop_posted,
    utc,
)
from tests.conftest import FakeClock, make_settings
from tests.warroom import WarRoom

# --- --on ----------------------------------------------------------------------------------------


async def test_on_is_an_option_never_part_of_the_name(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2 --on 2026-12-09")
    (launch,) = await rows(room, Launch)
    assert launch.name == "Trading v2"
    assert launch.launch_date == date(2026, 12, 9)
    assert "Launch day (T-0) is Wed 2026-12-09" in room.ephemerals_for(ALICE)[-1]
    card = flat(room.card())
    assert "T-0 Wed Dec 09" in card and "in 6 days" in card

    # Slack clients with smart punctuation send a typed ``--on`` as ``—on`` (em dash) or ``–on``
    # (en dash): still the option (each in a war room of its own: one active launch a channel).
    for n, text in enumerate(
        [
            "start Trading v2 —on 2026-12-10",
            "start Trading v2 –on 2026-12-11",
            "start —on=2026-12-12 Trading v2",
        ]
    ):
        room.slack.add_channel(f"C0SMART00{n}", f"war-room-{n + 2}")
        await room.command(ALICE, text, channel=f"C0SMART00{n}")
        launch = (await rows(room, Launch, Launch.channel_id == f"C0SMART00{n}"))[0]
        assert (launch.name, launch.launch_date) == ("Trading v2", date(2026, 12, 10 + n)), text


async def test_on_in_any_case_is_the_option(room: WarRoom) -> None:
    """``--On`` or ``--ON`` (a phone's auto-capitalisation) is launch day, not part of the name."""
    await room.command(ALICE, "start Trading v2 --On 2026-12-09")
    (launch,) = await rows(room, Launch)
    assert (launch.name, launch.launch_date) == ("Trading v2", date(2026, 12, 9))


async def test_on_before_the_name_works_too(room: WarRoom) -> None:
    await room.command(ALICE, "start --on=2026-12-09 Trading v2")
    (launch,) = await rows(room, Launch)
    assert (launch.name, launch.launch_date) == ("Trading v2", date(2026, 12, 9))


async def test_bad_or_past_dates_get_the_usage_line_and_change_nothing(room: WarRoom) -> None:
    for text, says in [
        ("start Trading v2 --on 2026-02-30", "is not a date"),
        ("start Trading v2 --on 12/09/2026", "is not a date"),
        ("start Trading v2 --on 2026-11-30", "is in the past"),
        ("start Trading v2 --on", "needs launch day"),
        ("start Trading v2 —on", "needs launch day"),
        ("start Trading v2 –on 9 Dec", "is not a date"),
        ("start Trading v2 --on 2026-12-09 --on 2026-12-10", "once"),
        # A mistyped year is refused, not scheduled (9999-12-31's first week has no dates).
        ("start Trading v2 --on 9999-12-31", "more than 5 years away"),
        ("start Trading v2 --on 2062-12-09", "Check the year"),
        # An option start does not have, or a mistyped --on, is not made part of the name.
        ("start Trading v2 --forse", "`--forse` is not an option of `/launch start`"),
        ("start Trading v2 -on 2026-12-09", "`-on` is not an option"),
        ("start Trading v2 ——on 2026-12-09", "is not an option"),
    ]:
        await room.command(ALICE, text)
        reply = room.ephemerals_for(ALICE)[-1]
        assert says in reply and "Usage: `/launch start &lt;name&gt; [--on YYYY-MM-DD]`" in reply
        assert "<name>" not in reply, reply
    assert await rows(room, Launch) == []
    assert room.top_level() == []


# A team's template without a dated phase: its phases are timed in hours, not days.
UNDATED = """# Hotfix

## Prepare (T-2 hours)

### Readiness
- [ ] Runbook reviewed

## Ship (T+30 minutes)

### Switch
- [ ] Traffic moved
"""


async def test_on_is_refused_for_a_template_without_dated_phases(
    schema_url: str, slack: SlackStandIn, config: AppConfig, clock: FakeClock
) -> None:
    """A launch day that would schedule nothing is refused, not shown as a countdown in UTC."""
    settings = make_settings(database_url=schema_url, api_url=slack.base_url)
    set_clock(clock, utc(2026, 12, 3, 15, 0))
    template = parse_template(UNDATED)
    async with running_bot(settings, config=config, template=template, clock=clock) as bot_:
        room = WarRoom(slack=slack, bot=bot_)
        await room.command(ALICE, "start Hotfix --on 2026-12-09")
        reply = room.ephemerals_for(ALICE)[-1]
        assert "has no dated phases" in reply and "Start it without `--on`" in reply
        assert await rows(room, Launch) == []
        assert await rows(room, ScheduledPost) == []
        assert room.top_level() == []
        # Without the date it starts as usual: phases by `/launch phase next`.
        await room.command(ALICE, "start Hotfix")
        (launch,) = await rows(room, Launch)
        assert (launch.name, launch.launch_date) == ("Hotfix", None)
        assert "📅" not in flat(room.card())


async def test_without_on_the_launch_is_undated_and_nothing_is_scheduled(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    (launch,) = await rows(room, Launch)
    assert launch.launch_date is None
    assert await rows(room, ScheduledPost) == []
    assert "📅" not in flat(room.card())
    # The template is copied as written: one "Daily Checks" group, no day sections.
    assert [s.title for s in await rows(room, Section, Section.day.is_not(None))] == []


# --- dated phases ---------------------------------------------------------------------------------


async def test_launch_day_is_posted_on_its_date_with_what_is_still_open(
    room: WarRoom, clock: FakeClock
) -> None:
    await room.command(ALICE, "start Trading v2 --on 2026-12-09")
    # Nothing before 09:00 New York (14:00 UTC) on Dec 9; the evening summary missed on Dec 8 is
    # not posted on launch day ("Launch day is tomorrow" would be wrong).
    assert await run_at(room, clock, utc(2026, 12, 9, 13, 59)) == 0
    assert not announcements(room, "(T-0) is posted")
    assert not announcements(room, "Launch day is tomorrow")
    assert await run_at(room, clock, utc(2026, 12, 9, 14, 0)) == 1
    (posted,) = announcements(room, "*Launch Day* (T-0) is posted")
    assert "45 item(s) of earlier phases are still open" in flat(posted)
    assert "Infrastructure 15" in flat(posted)
    assert "Late" not in flat(posted)
    # The launch day's checklist is in the thread, the pre-launch messages stay live.
    room.item_option("All services running")
    room.item_option("Blue environment provisioned and tested")
    # Never twice, however often the loop polls.
    assert await run_at(room, clock, utc(2026, 12, 9, 14, 5)) == 0
    assert len(announcements(room, "*Launch Day* (T-0) is posted")) == 1
    async with room.bot.deps.db.read_sessions() as session:
        report = await verify_chain(session=session, launch_id=1)
    assert report.ok and not report.mismatches


async def test_phase_next_posts_early_once_and_the_calendar_does_not_post_again(
    room: WarRoom, clock: FakeClock
) -> None:
    await room.command(ALICE, "start Trading v2 --on 2026-12-09")
    await room.command(ALICE, "phase next")
    assert "still has 45 open item(s)" in room.ephemerals_for(ALICE)[-1]
    await tick_all(room, await phase_items(room, "Infrastructure"))
    await room.command(ALICE, "phase next")
    await room.settle()
    room.item_option("All services running")
    # Nothing: launch day's phase is not posted a second time, and the evening summary missed on
    # Dec 8 is not posted on launch day.
    assert await run_at(room, clock, utc(2026, 12, 9, 14, 0)) == 0
    assert not announcements(room, "is posted in the launch thread, as scheduled")
    assert len([m for m in room.thread() if "All services running" in flat(m)]) == 1
    (row,) = await rows(room, ScheduledPost, ScheduledPost.key == "phase:1")
    assert row.sent_at is None and row.cancelled_at is not None
    assert row.detail["skipped"] == "posted earlier by /launch phase next"


async def test_dates_follow_the_zone_across_a_dst_change(room: WarRoom, clock: FakeClock) -> None:
    """New York moves to daylight time on Sun 14 Mar 2027: 09:00 is 14:00 UTC before, 13:00 after."""
    set_clock(clock, utc(2027, 3, 1, 15, 0))
    await room.command(ALICE, "start Trading v2 --on 2027-03-12")
    due = {
        r.key.split(":")[0] + str(r.detail["day"]): r.due_at
        for r in await rows(room, ScheduledPost)
    }
    assert due["evening-1"] == utc(2027, 3, 11, 23, 0)  # 18:00 EST
    assert due["phase0"] == utc(2027, 3, 12, 14, 0)  # 09:00 EST
    assert due["phase1"] == utc(2027, 3, 13, 14, 0)  # Sat 09:00 EST
    assert due["section2"] == utc(2027, 3, 14, 13, 0)  # Sun 09:00 EDT
    await run_at(room, clock, utc(2027, 3, 13, 14, 0))
    assert await run_at(room, clock, utc(2027, 3, 14, 12, 59)) == 0
    assert await run_at(room, clock, utc(2027, 3, 14, 13, 0)) == 1
    (day2,) = announcements(room, "Daily checks · Day 2 · Mar 14")
    assert "5 check(s) for today" in flat(day2) and "Late" not in flat(day2)


# --- the first week -------------------------------------------------------------------------------


async def test_each_first_week_day_posts_its_own_checkbox_items(
    room: WarRoom, clock: FakeClock
) -> None:
    await room.command(ALICE, "start Trading v2 --on 2026-12-09")
    sections = await rows(room, Section, Section.day.is_not(None))
    assert [s.title for s in sections] == [
        *(f"Daily checks · Day {d} · Dec {9 + d}" for d in range(2, 8)),
        "Weekly review · Day 7 · Dec 16",
    ]
    await run_at(room, clock, utc(2026, 12, 10, 14, 0))  # T+1: post-launch, without its first week
    assert not [m for m in room.thread() if "Daily checks" in flat(m)]
    await run_at(room, clock, utc(2026, 12, 11, 14, 0))  # T+2
    await run_at(room, clock, utc(2026, 12, 12, 14, 0))  # T+3
    day_messages = [m for m in room.thread() if "Daily checks · Day" in flat(m)]
    assert len(day_messages) == 2
    # Ticking Day 2's reconciliation leaves Day 3's open: each day has its own items.
    await room.click(ALICE, "Morning reconciliation", within="Daily checks · Day 2")
    reconciliation = await rows(room, Item, Item.text == "Morning reconciliation")
    assert len(reconciliation) == 6  # one per day, T+2 … T+7
    assert sum(i.checked for i in reconciliation) == 1
    # /launch status shows today's (Day 3's) checks.
    await room.command(ALICE, "status")
    status = flat(room.slack.ephemerals[-1])
    assert "Today:* Daily checks · Day 3 · Dec 12 — 0/5" in status
    # Before 09:00 on T+4, Day 4's checks are not posted yet: no "Today" (Day 3's are yesterday's).
    set_clock(clock, utc(2026, 12, 13, 13, 0))
    await room.command(ALICE, "status")
    assert "Today:*" not in flat(room.slack.ephemerals[-1])
    await run_at(room, clock, utc(2026, 12, 16, 14, 0))  # T+7: day 7 and the weekly review
    await room.command(ALICE, "status")
    status = flat(room.slack.ephemerals[-1])
    assert "Today:* Daily checks · Day 7 · Dec 16 — 0/5" in status
    assert "Today:* Weekly review · Day 7 · Dec 16 — 0/5" in status
    # T+8: the first week is over, nothing is today's (it said Day 7 from then on).
    set_clock(clock, utc(2026, 12, 17, 14, 0))
    await room.command(ALICE, "status")
    assert "Today:*" not in flat(room.slack.ephemerals[-1])
    titles = [flat(m) for m in room.top_level()]
    assert any("Weekly review · Day 7 · Dec 16" in t for t in titles)
    assert sum("check(s) for today" in t for t in titles) == 7
    async with room.bot.deps.db.read_sessions() as session:
        report = await verify_chain(session=session, launch_id=1)
        kinds = (await session.scalars(select(Event.kind))).all()
    assert report.ok and not report.mismatches
    assert kinds.count("day_checks_posted") == 7


async def post_launch_items(room: WarRoom) -> tuple[int, int]:
    """Post-Launch's items: (in its own sections, posted at T+1; in its day sections, all)."""
    items = await phase_items(room, "Morning After Review")
    async with room.bot.deps.db.read_sessions() as session:
        days = set(
            (await session.scalars(select(Section.id).where(Section.day.is_not(None)))).all()
        )
        group_section = dict(
            (await session.execute(select(ItemGroup.id, ItemGroup.section_id))).all()
        )
    own = [i for i in items if group_section[i.group_id] not in days]
    return len(own), len(items) - len(own)


def post_launch_counts(room: WarRoom, total: int) -> None:
    """The card, its Approve dialog and /launch status all say Post-Launch has ``total`` items."""
    card = flat(room.card())
    assert f"*Post-Launch* (T+1) — 0/{total} " in card
    assert f"*Now:* *Post-Launch* (T+1) — {total} item(s) open" in card
    assert f"Post-Launch has {total} open items. Approve anyway?" in card
    status = flat(room.slack.ephemerals[-1])
    assert f"*Post-Launch* (T+1) — 0/{total} " in status
    assert f"*Still open in Post-Launch* ({total})" in status


async def test_post_launch_counts_each_days_checks_once_they_are_posted(
    room: WarRoom, clock: FakeClock
) -> None:
    await room.command(ALICE, "start Trading v2 --on 2026-12-09")
    # The Morning After Review (15) at T+1; five checks a day T+2 … T+7 and the weekly review's five.
    assert await post_launch_items(room) == (15, 35)
    own = 15
    # Post-Launch posted early by `/launch phase next`: its announcement counts what is posted.
    for title in ("Infrastructure", "Morning Checks (Pre-Market)"):
        async with room.bot.deps.db.sessions.begin() as session:
            await set_items_checked(
                session=session,
                launch_id=1,
                desired={i.id: True for i in await phase_items(room, title)},
                actor=SYSTEM,
                at=clock(),
                source="test",
                dedup_key=f"tick-{title}",
            )
        await room.command(ALICE, "phase next")
    (posted,) = announcements(room, "*Post-Launch* (T+1) is posted in the launch thread")
    assert f"— {own} item(s) to tick" in flat(posted)
    await room.command(ALICE, "status")
    post_launch_counts(room, own)
    # T+1: nothing more; T+3: Day 2's and Day 3's checks are posted, and count from then on.
    await run_at(room, clock, utc(2026, 12, 10, 14, 0))
    await room.command(ALICE, "status")
    post_launch_counts(room, own)
    await run_at(room, clock, utc(2026, 12, 11, 14, 0))
    await run_at(room, clock, utc(2026, 12, 12, 14, 0))
    await room.command(ALICE, "status")
    post_launch_counts(room, own + 2 * 5)
    # All of it ticked: not complete while the rest of the week is to come, and the card says so.
    async with room.bot.deps.db.read_sessions() as session:
        in_thread = set(
            (
                await session.scalars(
                    select(ItemGroup.id).join(
                        SlackMessage, SlackMessage.section_id == ItemGroup.section_id
                    )
                )
            ).all()
        )
    items = await phase_items(room, "Morning After Review")
    async with room.bot.deps.db.sessions.begin() as session:
        await set_items_checked(
            session=session,
            launch_id=1,
            desired={i.id: True for i in items if i.group_id in in_thread},
            actor=Actor(ALICE, "Alice Chen"),
            at=clock(),
            source="test",
            dedup_key="tick-posted",
        )
    room.bot.deps.publisher.kick(1)
    await room.settle()
    card = flat(room.card())
    assert "▶️ *Post-Launch* (T+1) — 25/25 " in card
    assert "Post-Launch* (T+1) — 25/25 · complete" not in card
    assert "everything posted so far is done; its next checks are posted on their day" in card


async def test_the_export_has_each_days_checks_as_their_own_items(
    room: WarRoom, clock: FakeClock
) -> None:
    await room.command(ALICE, "start Trading v2 --on 2026-12-09")
    await run_at(room, clock, utc(2026, 12, 11, 14, 0))  # T+2
    await run_at(room, clock, utc(2026, 12, 12, 14, 0))  # T+3
    for text in ("Morning reconciliation", "Backup verification"):
        await room.click(ALICE, text, within="Daily checks · Day 3")
    record = json.loads(
        await export_launch(
            room.bot.deps.settings.database_url,
            "1",
            "json",
            roles=room.bot.deps.config.roles,
            now=clock(),
        )
    )
    (post_launch,) = [p for p in record["phases"] if p["title"] == "Post-Launch"]
    days = {s["day"]: s for s in post_launch["sections"] if s["day"] is not None}
    assert sorted(days) == [2, 3, 4, 5, 6, 7]
    assert days[3]["title"] == "Daily checks · Day 3 · Dec 12"

    def checked(day: int) -> dict[str, str | None]:
        (group,) = days[day]["groups"]
        return {i["text"]: (i["by"] or {}).get("id") for i in group["items"] if i["checked"]}

    assert checked(3) == {"Morning reconciliation": ALICE, "Backup verification": ALICE}
    assert checked(2) == {}  # Day 3's ticks are Day 3's: none counted on Day 2
    ids = [i["id"] for d in (2, 3) for g in days[d]["groups"] for i in g["items"]]
    assert len(ids) == len(set(ids)) == 10  # five items of each day, each its own
    # The ordinary sections carry no day; the first week's group left its section.
    monitoring = [s for s in post_launch["sections"] if s["title"] == "First Week Monitoring"]
    assert monitoring == [] and all(
        s["day"] is None for p in record["phases"][:2] for s in p["sections"]
    )
    # The CSV export: one row per item, under its day's section.
    csv_text = await export_launch(
        room.bot.deps.settings.database_url,
        "1",
        "csv",
        roles=room.bot.deps.config.roles,
        now=clock(),
    )
    reconciliation = [
        (r["section"], r["state"])
        for r in csv.DictReader(io.StringIO(csv_text))
        if r["record"] == "item" and r["item"] == "Morning reconciliation"
    ]
    assert reconciliation[:2] == [
        ("Daily checks · Day 2 · Dec 11", "open"),
        ("Daily checks · Day 3 · Dec 12", "checked"),
    ]
    assert len(reconciliation) == 6


async def test_the_evening_before_sums_up_what_is_open_and_names_idle_owners(
    room: WarRoom, clock: FakeClock
) -> None:
    await room.command(ALICE, "start Trading v2 --on 2026-12-09")
    security = await phase_items(room, "Security")
    pre_launch_security = [i for i in security if i.text in {"JWT tokens implemented"}]
    async with room.bot.deps.db.sessions.begin() as session:
        await set_items_checked(
            session=session,
            launch_id=1,
            desired={pre_launch_security[0].id: True},
            actor=Actor("U0SEC00001", "Sam Security"),
            at=room.bot.deps.clock(),
            source="test",
            dedup_key="sec",
        )
    assert await run_at(room, clock, utc(2026, 12, 8, 22, 59)) == 0
    assert await run_at(room, clock, utc(2026, 12, 8, 23, 0)) == 1  # 18:00 in New York
    (summary,) = announcements(room, "Launch day is tomorrow")
    text = flat(summary)
    assert "*Pre-Launch Phase* still has 44 open" in text and "Security 14" in text
    assert "Infrastructure: nothing ticked yet by <@U0OPS00001>" in text
    assert "Security: nothing ticked" not in text


async def test_a_missed_evening_summary_is_posted_late_that_evening_never_on_launch_day(
    room: WarRoom, clock: FakeClock
) -> None:
    await room.command(ALICE, "start Trading v2 --on 2026-12-09")
    # Down from 18:00 in New York on Dec 8: back at 23:59 the same evening, it is still late on T-1.
    assert await run_at(room, clock, utc(2026, 12, 9, 4, 59)) == 1
    (summary,) = announcements(room, "Launch day is tomorrow")
    assert "Late: posted at" in flat(summary)


async def test_an_evening_summary_due_while_down_is_skipped_once_launch_day_has_come(
    room: WarRoom, clock: FakeClock
) -> None:
    await room.command(ALICE, "start Trading v2 --on 2026-12-09")
    # Back at 00:01 in New York on launch day (05:01 UTC): the evening before is over.
    assert await run_at(room, clock, utc(2026, 12, 9, 5, 1)) == 0
    assert not announcements(room, "Launch day is tomorrow")
    (row,) = await rows(room, ScheduledPost, ScheduledPost.key == "evening")
    assert row.sent_at is None and row.cancelled_at is not None
    assert row.detail["skipped"] == "launch day has come"
    async with room.bot.deps.db.read_sessions() as session:
        skipped = (
            await session.scalars(select(Event).where(Event.kind == "scheduled_post_skipped"))
        ).all()
        report = await verify_chain(session=session, launch_id=1)
    assert [e.detail["why"] for e in skipped] == ["launch day has come"]
    assert report.ok and not report.mismatches
    # Never later either: launch day's own post comes alone at 09:00.
    assert await run_at(room, clock, utc(2026, 12, 9, 14, 0)) == 1
    assert not announcements(room, "Launch day is tomorrow")


# --- /launch date ---------------------------------------------------------------------------------


async def test_launch_date_moves_what_is_not_posted_yet(room: WarRoom, clock: FakeClock) -> None:
    await room.command(ALICE, "start Trading v2 --on 2026-12-09")
    await room.command(ALICE, "date 2026-12-10 exchange not ready")
    assert "Only a holder of a sign-off or go-live role" in room.ephemerals_for(ALICE)[-1]
    await room.command(CTO, "date 2026-12-1 exchange not ready")
    assert "Usage: `/launch date YYYY-MM-DD &lt;reason&gt;`" in room.ephemerals_for(CTO)[-1]
    await room.command(CTO, "date 2026-12-10")
    assert "Say why" in room.ephemerals_for(CTO)[-1]
    assert "<reason>" not in room.ephemerals_for(CTO)[-1]
    await room.command(CTO, "date")
    assert "<reason>" not in room.ephemerals_for(CTO)[-1]
    await room.command(CTO, "date 9999-12-28 typo")  # its first week would run off the calendar
    assert "more than 5 years away" in room.ephemerals_for(CTO)[-1]
    assert (await rows(room, Launch))[0].launch_date == date(2026, 12, 9)
    await room.command(CTO, "date 2026-12-10 exchange not ready")
    (launch,) = await rows(room, Launch)
    assert launch.launch_date == date(2026, 12, 10)
    (moved,) = announcements(room, "moved from Wed Dec 09 to *Thu Dec 10*")
    assert "exchange not ready" in flat(moved) and "<@U0CTO00001>" in flat(moved)
    due = {r.key: r.due_at for r in await rows(room, ScheduledPost)}
    assert due["phase:1"] == utc(2026, 12, 10, 14, 0)
    assert due["evening"] == utc(2026, 12, 9, 23, 0)
    titles = [s.title for s in await rows(room, Section, Section.day == 2)]
    assert titles == ["Daily checks · Day 2 · Dec 12"]
    assert await run_at(room, clock, utc(2026, 12, 9, 14, 0)) == 0
    # T-0 only: the evening summary (due Dec 9 18:00) is skipped on the new launch day.
    assert await run_at(room, clock, utc(2026, 12, 10, 14, 0)) == 1
    assert not announcements(room, "Launch day is tomorrow")
    async with room.bot.deps.db.read_sessions() as session:
        report = await verify_chain(session=session, launch_id=1)
        moves = (
            await session.scalars(select(Event).where(Event.kind == "launch_date_moved"))
        ).all()
    assert report.ok and not report.mismatches
    [move] = [m.detail for m in moves]
    assert {k: move[k] for k in ("from", "to", "reason")} == {
        "from": "2026-12-09",
        "to": "2026-12-10",
        "reason": "exchange not ready",
    }
    # The day sections it retitled are in the log: a title edited behind the bot's back is named.
    day_sections = {s.id: s.title for s in await rows(room, Section, Section.day.is_not(None))}
    assert {r["section_id"]: r["title"] for r in move["retitled"]} == day_sections
    [day_2] = [i for i, title in day_sections.items() if title == "Daily checks · Day 2 · Dec 12"]
    async with room.bot.deps.db.sessions.begin() as session:
        await session.execute(
            update(Section).where(Section.id == day_2).values(title="Daily checks · Day 2 · Dec 11")
        )
    async with room.bot.deps.db.read_sessions() as session:
        report = await verify_chain(session=session, launch_id=1)
    assert [m.describe() for m in report.mismatches] == [
        f"section {day_2}: title is 'Daily checks · Day 2 · Dec 11' in the database, "
        "the event log says 'Daily checks · Day 2 · Dec 12'"
    ]


# --- restarts -------------------------------------------------------------------------------------


async def test_a_post_due_while_the_bot_was_down_is_posted_late_once_after_restart(
    schema_url: str,
    slack: SlackStandIn,
    config: AppConfig,
    template: Any,
    clock: FakeClock,
) -> None:
    settings = make_settings(database_url=schema_url, api_url=slack.base_url)
    fast = config.model_copy(update={"escalation": FAST})
    set_clock(clock, utc(2026, 12, 1, 15, 0))
    async with running_bot(settings, config=fast, template=template, clock=clock) as bot_:
        room = WarRoom(slack=slack, bot=bot_)
        await room.command(ALICE, "start Trading v2 --on 2026-12-09")
    # Down from Dec 1 until 11:02 in New York on launch day: T-0 was due at 09:00 (14:00 UTC), and
    # pre-launch (started eight days ahead, so waiting for T-7) on Dec 2.
    set_clock(clock, utc(2026, 12, 9, 16, 2))
    for restart in range(2):  # the second restart finds nothing left to post
        async with running_bot(settings, config=fast, template=template, clock=clock) as bot_:
            room = WarRoom(slack=slack, bot=bot_)
            await until_loop_posted(room, clock)
            launch_day = announcements(room, "*Launch Day* (T-0) is posted")
            assert len(launch_day) == 1, restart
            (pre_launch,) = announcements(room, "*Pre-Launch Phase* (T-7) is posted")
            assert "Late: posted at" in flat(pre_launch)
            # The evening before was missed: on launch day it is skipped, not posted late.
            assert not announcements(room, "Launch day is tomorrow")
            (evening,) = await rows(room, ScheduledPost, ScheduledPost.key == "evening")
            assert evening.sent_at is None and evening.cancelled_at is not None
            assert evening.detail["skipped"] == "launch day has come"
            (row,) = await rows(room, ScheduledPost, ScheduledPost.key == "phase:1")
            assert row.late and row.message_id is not None and row.sent_at is not None
    text = flat(launch_day[0])
    assert "Late: posted at <!date^" in text and " 16:02 UTC>" in text
    assert (
        f"due <!date^{int(utc(2026, 12, 9, 14, 0).timestamp())}^{{date_short_pretty}} {{time}}|Dec 09 14:00 UTC>"
        in text
    )
