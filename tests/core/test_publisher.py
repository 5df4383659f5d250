"""The publisher when Slack fails: a "not now" answer (internal_error, ratelimited after the client's
own retries, a 5xx) is rendered again after a growing pause, for as long as it takes, so a tick is
not left unseen until the next click; a "never" answer (invalid_blocks, channel_not_found) is
recorded and not hammered. (Outages by time, the sweep and /metrics: test_outbox_backlog.py.)"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.core.models import SlackMessage
from bot.core.outbox import Backoff
from tests.warroom import WarRoom

ALICE, BOB = "U0ALICE001", "U0BOB00001"


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.core.outbox.RETRY_BACKOFF", Backoff(first=0.01, cap=0.05))


async def unpublished(room: WarRoom) -> list[SlackMessage]:
    async with room.bot.deps.db.read_sessions() as session:
        rows = (await session.scalars(select(SlackMessage))).all()
    return [m for m in rows if m.version > m.rendered_version]


@pytest.mark.parametrize("failure", [{"error": "internal_error"}, {"status": 503}])
async def test_a_passing_slack_failure_is_rendered_again(
    room: WarRoom, failure: dict[str, object]
) -> None:
    await room.command(ALICE, "start Trading v2")
    room.slack.fail_next("chat.update", times=2, **failure)  # type: ignore[arg-type]
    await room.click(BOB, "Failover tested")
    assert room.is_checked("Failover tested")
    assert len(room.slack.calls_to("chat.update")) >= 3  # two refused, then the one that landed
    assert await unpublished(room) == []


async def test_a_lasting_refusal_is_recorded_not_retried(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    card_updates = len(
        [c for c in room.slack.calls_to("chat.update") if c.args["ts"] == card_ts(room)]
    )
    # One refusal of the card's update is scripted: a retry would have landed, so a stale card
    # proves none ran. The checklist message itself is updated as usual.
    room.slack.fail_next("chat.update", error="channel_not_found")
    await room.click(BOB, "Failover tested")
    assert room.is_checked("Failover tested")
    assert "1/45" not in str(room.card().blocks)
    [stale] = await unpublished(room)
    assert (stale.kind, stale.last_error) == ("card", "channel_not_found")
    assert stale.refused_version == stale.version and stale.behind_since is not None
    assert (
        len([c for c in room.slack.calls_to("chat.update") if c.args["ts"] == card_ts(room)])
        == card_updates + 1
    )
    # The next change renders the card again, with both ticks.
    await room.click(BOB, "Read replicas configured")
    assert "2/45" in str(room.card().blocks)
    assert await unpublished(room) == []


async def test_slack_failing_many_times_in_a_row_is_tried_until_it_takes_the_messages(
    room: WarRoom,
) -> None:
    await room.command(ALICE, "start Trading v2")
    card = card_ts(room)
    before = len(room.slack.calls_to("chat.update"))
    # Far more failures than the old fixed schedule (1, 2, 5, 10, 30 s) had tries.
    room.slack.fail_next("chat.update", error="internal_error", times=24)
    await room.click(BOB, "Failover tested")
    tries = room.slack.calls_to("chat.update")[before:]
    # Both messages fail every round until Slack answers again: 12 rounds, then one that lands.
    assert len([c for c in tries if c.args["ts"] == card]) == 12 + 1
    assert len(tries) == 2 * (12 + 1)
    assert room.is_checked("Failover tested") and "1/45" in str(room.card().blocks)
    assert await unpublished(room) == []


async def test_a_failing_card_does_not_hold_back_the_checklist_message(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    card = card_ts(room)
    before = len(room.slack.calls_to("chat.update"))
    room.slack.fail_next("chat.update", error="internal_error")  # taken by the card, first in order
    await room.click(BOB, "Failover tested")
    order = [c.args["ts"] == card for c in room.slack.calls_to("chat.update")[before:]]
    assert order == [True, False, True]  # card refused, checklist updated, card again
    assert room.is_checked("Failover tested") and "1/45" in str(room.card().blocks)


async def test_a_card_whose_permalink_fails_is_posted_once(room: WarRoom) -> None:
    room.slack.fail_next("chat.getPermalink", error="internal_error")
    await room.command(ALICE, "start Trading v2")
    cards = [m for m in room.top_level() if m.blocks and "🚀" in str(m.blocks[0])]
    assert len(cards) == 1
    # The link is fetched again with the card's next update.
    await room.click(BOB, "Failover tested")
    async with room.bot.deps.db.read_sessions() as session:
        [row] = (
            await session.scalars(select(SlackMessage).where(SlackMessage.kind == "card"))
        ).all()
    assert row.ts == cards[0].ts and row.permalink
    assert len([m for m in room.top_level() if m.blocks and "🚀" in str(m.blocks[0])]) == 1


def card_ts(room: WarRoom) -> str:
    return str(room.card().ts)
