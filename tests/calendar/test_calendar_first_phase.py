"""The first phase of a dated launch (pre-launch, T-7), on the test-controlled clock in New York:
started more than a week ahead, only the card is posted and pre-launch comes on its date at
`post_at`, once across a restart; started within the week, pre-launch is due already and posted at
start (not late); `/launch phase next` posts a waiting pre-launch early. Every time the answers show
is `<!date^…>`."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from bot.core.config import AppConfig
from bot.core.models import ScheduledPost
from bot.runtime import running_bot
from bot.standin import SlackStandIn
from tests.calendar.conftest import (
    ALICE,
    CTO,
    FAST,
    announcements,
    flat,
    rows,
    run_at,
    set_clock,
    until_loop_posted,
    utc,
)
from tests.conftest import FakeClock, make_settings
from tests.warroom import WarRoom

# Launch day Wed 9 Dec 2026: pre-launch (T-7) is due Wed 2 Dec at 09:00 in New York (14:00 UTC).
T_MINUS_7 = utc(2026, 12, 2, 14, 0)
PRE_LAUNCH_ITEM = "Read replicas configured"


def slack_date_of(at: datetime) -> str:
    """The start of the ``<!date^…>`` markup Slack renders in each reader's zone, for ``at``."""
    return f"<!date^{int(at.timestamp())}^"


def pre_launch_messages(room: WarRoom) -> list[object]:
    return [m for m in room.thread() if PRE_LAUNCH_ITEM in flat(m)]


async def test_a_launch_started_ten_days_ahead_posts_pre_launch_on_its_date_once_across_a_restart(
    schema_url: str,
    slack: SlackStandIn,
    config: AppConfig,
    template: object,
    clock: FakeClock,
) -> None:
    settings = make_settings(database_url=schema_url, api_url=slack.base_url)
    fast = config.model_copy(update={"escalation": FAST})
    set_clock(clock, utc(2026, 11, 29, 15, 0))  # Sun 29 Nov, 10:00 in New York: 10 days ahead
    async with running_bot(settings, config=fast, template=template, clock=clock) as bot_:
        room = WarRoom(slack=slack, bot=bot_)
        await room.command(ALICE, "start Trading v2 --on 2026-12-09")
        await until_loop_posted(room, clock)
        reply = room.ephemerals_for(ALICE)[-1]
        assert "Posting its card here." in reply
        assert f"*Pre-Launch Phase* (T-7) is posted {slack_date_of(T_MINUS_7)}" in reply
        # Only the card: no checklist in its thread, no announcement.
        assert [m.ts for m in room.top_level()] == [room.card().ts]
        assert room.thread() == []
        waiting = f"is posted in the thread {slack_date_of(T_MINUS_7)}"
        assert waiting in flat(room.card())
        assert "Tick them in the thread" not in flat(room.card())
        await room.command(ALICE, "status")
        assert waiting in flat(room.slack.ephemerals[-1])
        # A minute before its time the loop posts nothing.
        set_clock(clock, T_MINUS_7 - timedelta(minutes=1))
        await until_loop_posted(room, clock)
        assert room.thread() == [] and [m.ts for m in room.top_level()] == [room.card().ts]
        # On the dot: posted by the loop, as scheduled, not late.
        set_clock(clock, T_MINUS_7)
        await until_loop_posted(room, clock)
        (posted,) = announcements(room, "*Pre-Launch Phase* (T-7) is posted")
        assert "Late" not in flat(posted)
        assert len(pre_launch_messages(room)) == 1
        assert "Tick them in the thread" in flat(room.card())
        assert waiting not in flat(room.card())
    # Back half an hour later: nothing is posted a second time.
    set_clock(clock, T_MINUS_7 + timedelta(minutes=30))
    async with running_bot(settings, config=fast, template=template, clock=clock) as bot_:
        room = WarRoom(slack=slack, bot=bot_)
        await until_loop_posted(room, clock)
        await asyncio.sleep(0.2)  # a few more polls of the loop
        await room.settle()
        assert len(announcements(room, "*Pre-Launch Phase* (T-7) is posted")) == 1
        assert len(pre_launch_messages(room)) == 1
        (row,) = await rows(room, ScheduledPost, ScheduledPost.key == "phase:0")
        assert row.sent_at is not None and not row.late and row.message_id is not None
        await room.chain_ok()


async def test_a_launch_started_within_the_week_posts_pre_launch_at_start_not_late(
    room: WarRoom, clock: FakeClock
) -> None:
    # The fixture's clock: Thu 3 Dec, 10:00 in New York; T-7 (Dec 2) has passed.
    await room.command(ALICE, "start Trading v2 --on 2026-12-09")
    reply = room.ephemerals_for(ALICE)[-1]
    assert "Posting its card and checklist here." in reply
    assert "Pre-Launch Phase* (T-7) is posted" not in reply
    # The next post is the evening summary, Tue 8 Dec at 18:00 in New York (23:00 UTC).
    evening = slack_date_of(utc(2026, 12, 8, 23, 0))
    assert f"the next: the evening summary of *Pre-Launch Phase* {evening}" in reply
    assert "09:00" not in reply and "18:00" not in reply
    assert len(pre_launch_messages(room)) == 1
    assert not announcements(room, "Late")
    assert await rows(room, ScheduledPost, ScheduledPost.key == "phase:0") == []
    assert f"next: the evening summary of *Pre-Launch Phase* {evening}" in flat(room.card())
    await room.chain_ok()


async def test_phase_next_posts_a_waiting_pre_launch_now_and_the_calendar_skips_it(
    room: WarRoom, clock: FakeClock
) -> None:
    set_clock(clock, utc(2026, 11, 29, 15, 0))
    await room.command(ALICE, "start Trading v2 --on 2026-12-09")
    assert room.thread() == []
    await room.command(ALICE, "phase next")
    assert "posting *Pre-Launch Phase*" in room.ephemerals_for(ALICE)[-1]
    await room.settle()
    assert len(pre_launch_messages(room)) == 1
    assert await run_at(room, clock, T_MINUS_7) == 0
    assert not announcements(room, "*Pre-Launch Phase* (T-7) is posted")
    assert len(pre_launch_messages(room)) == 1
    (row,) = await rows(room, ScheduledPost, ScheduledPost.key == "phase:0")
    assert row.detail["skipped"] == "posted earlier by /launch phase next"
    # Pre-launch is now the phase to finish: the next `phase next` wants its items ticked.
    await room.command(ALICE, "phase next")
    assert "still has 45 open item(s)" in room.ephemerals_for(ALICE)[-1]
    await room.chain_ok()


async def test_moving_launch_day_moves_a_waiting_pre_launch_with_it(
    room: WarRoom, clock: FakeClock
) -> None:
    set_clock(clock, utc(2026, 11, 29, 15, 0))
    await room.command(ALICE, "start Trading v2 --on 2026-12-09")
    await room.command(CTO, "date 2026-12-12 exchange not ready")
    new_t_minus_7 = utc(2026, 12, 5, 14, 0)  # Sat 5 Dec, 09:00 in New York
    (row,) = await rows(room, ScheduledPost, ScheduledPost.key == "phase:0")
    assert row.due_at == new_t_minus_7
    assert f"is posted in the thread {slack_date_of(new_t_minus_7)}" in flat(room.card())
    assert await run_at(room, clock, T_MINUS_7) == 0
    assert room.thread() == []
    assert await run_at(room, clock, new_t_minus_7) == 1
    assert len(pre_launch_messages(room)) == 1
