"""The outbox never gives up on a passing failure: an outage longer than any fixed retry schedule
ends with the war room showing the committed state without another click; the sweep (a scheduler
job) renders a row nothing kicked; a lasting refusal is recorded and not tried again until the
message changes; /metrics shows the messages behind and the oldest one's age.

The backoff runs at 1/100 of the real policy (1 s doubling to 60 s becomes 0.01 s to 0.6 s), so an
outage of a couple of seconds here stands for several minutes of a real one."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from bot.checklist.template import ChecklistTemplate
from bot.core.config import AppConfig
from bot.core.models import Item, ItemGroup, Launch, SlackMessage
from bot.core.outbox import Backoff, bump_messages
from bot.runtime import running_bot
from bot.server import make_web_app
from bot.standin import SlackStandIn
from tests.conftest import FakeClock, make_settings
from tests.warroom import WarRoom

ALICE, BOB = "U0ALICE001", "U0BOB00001"
CAP = 0.6
# The old schedule's pauses at the same scale: it stopped trying 0.48 s (48 s) after the first failure.
OLD_SCHEDULE = (0.01, 0.02, 0.05, 0.1, 0.3)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.core.outbox.RETRY_BACKOFF", Backoff(first=0.01, cap=CAP))


@pytest.fixture
def config(config: AppConfig) -> AppConfig:
    """The scheduler (and with it the outbox sweep) polls every 50 ms."""
    return config.model_copy(
        update={"escalation": config.escalation.model_copy(update={"poll_seconds": 0.05})}
    )


@pytest.fixture
async def room(
    schema_url: str,
    slack: SlackStandIn,
    config: AppConfig,
    template: ChecklistTemplate,
    clock: FakeClock,
) -> AsyncIterator[WarRoom]:
    settings = make_settings(database_url=schema_url, api_url=slack.base_url)
    async with running_bot(settings, config=config, template=template, clock=clock) as bot:
        yield WarRoom(slack=slack, bot=bot)


async def behind(room: WarRoom) -> list[SlackMessage]:
    async with room.bot.deps.db.read_sessions() as session:
        rows = (await session.scalars(select(SlackMessage).order_by(SlackMessage.id))).all()
    return [m for m in rows if m.version > m.rendered_version]


async def scrape(room: WarRoom) -> dict[str, float]:
    """The outbox gauges as GET /metrics shows them."""
    async with TestClient(TestServer(make_web_app(room.bot.app, room.bot.deps))) as client:
        response = await client.get("/metrics")
        assert response.status == 200
        text = await response.text()
    return {
        name: float(value)
        for name, value in re.findall(r"^(launchbot_outbox_\w+) (\S+)$", text, re.MULTILINE)
    }


def item_texts(room: WarRoom) -> list[str]:
    return [
        option["text"]["text"]
        for message in room.thread()
        for block in message.blocks or []
        for element in block.get("elements", [])
        for option in element.get("options", [])
    ]


def card_ts(room: WarRoom) -> str:
    return str(room.card().ts)


async def until(condition: object, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


async def test_a_long_outage_ends_with_the_war_room_right_without_another_click(
    room: WarRoom, clock: FakeClock
) -> None:
    await room.command(ALICE, "start Trading v2")
    card = card_ts(room)
    items = item_texts(room)[:10]
    before = len(room.slack.calls_to("chat.update"))
    # Long enough that, even when a loaded machine sends the first try late, the tries during the
    # outage span more than the old schedule's 0.48 s (+ margin).
    outage = 3.0
    ends = time.time() + outage
    room.slack.outage(outage, methods=("chat.update",), status=500)
    for text in items:
        await room.click(BOB, text, settle=False)
    await until(lambda: len(room.slack.calls_to("chat.update")) > before)
    # Slack answers 500: the clicks are stored and acked, the war room still shows the old state.
    assert not any(room.is_checked(text) for text in items)
    assert "10/45" not in str(room.card().blocks)
    clock.advance(seconds=75)  # the bot clock: the oldest message behind is 75 s late
    gauges = await scrape(room)
    assert gauges["launchbot_outbox_messages_behind"] >= 2  # the card and the checklist message
    assert gauges["launchbot_outbox_messages_refused"] == 0
    assert gauges["launchbot_outbox_oldest_behind_seconds"] >= 75

    await room.settle()  # no click after the outage: the publisher keeps trying until it lands

    assert all(room.is_checked(text) for text in items)
    assert "10/45" in str(room.card().blocks)
    assert await behind(room) == []
    tries = [c for c in room.slack.calls_to("chat.update")[before:] if c.args["ts"] == card]
    failed = [c for c in tries if c.at < ends]
    # Still trying well after the old schedule had spent its pauses, never pausing over the cap.
    assert failed[-1].at - failed[0].at > sum(OLD_SCHEDULE) + 0.5
    assert tries[-1].at >= ends
    gaps = [b.at - a.at for a, b in zip(tries, tries[1:], strict=False)]
    assert max(gaps) <= CAP + 0.5
    gauges = await scrape(room)
    assert gauges["launchbot_outbox_messages_behind"] == 0
    assert gauges["launchbot_outbox_oldest_behind_seconds"] == 0


async def test_the_sweep_renders_a_row_nothing_kicked(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    before = len(room.slack.calls_to("chat.update"))
    # A change committed by a process that stopped before kicking its publisher.
    async with room.bot.deps.db.sessions.begin() as session:
        launch_id = await session.scalar(select(Launch.id))
        item = await session.scalar(select(Item).where(Item.text.startswith("Failover tested")))
        assert launch_id is not None and item is not None
        section_id = await session.scalar(
            select(ItemGroup.section_id).where(ItemGroup.id == item.group_id)
        )
        assert section_id is not None
        await session.execute(
            update(Item)
            .where(Item.id == item.id)
            .values(checked=True, changed_by_id=BOB, changed_by_name="Bob Okafor")
        )
        await bump_messages(session, launch_id, [section_id])
    assert len(room.slack.calls_to("chat.update")) == before  # no one told the publisher
    await until(lambda: room.is_checked("Failover tested") and "1/45" in str(room.card().blocks))
    await room.settle()
    assert await behind(room) == []


async def test_a_lasting_refusal_is_recorded_and_not_tried_again_until_the_message_changes(
    room: WarRoom, clock: FakeClock
) -> None:
    await room.command(ALICE, "start Trading v2")
    card = card_ts(room)

    def card_updates() -> int:
        return len([c for c in room.slack.calls_to("chat.update") if c.args["ts"] == card])

    updates = card_updates()
    # The card (first in posting order) is refused for good; the checklist message only for now.
    room.slack.fail_next("chat.update", error="channel_not_found")
    room.slack.fail_next("chat.update", error="internal_error", times=3)
    await room.click(BOB, "Failover tested")
    assert room.is_checked("Failover tested")  # the checklist message was tried until it landed
    await asyncio.sleep(0.5)  # ten sweeps
    await room.settle()
    assert card_updates() == updates + 1  # neither the retries nor the sweep tried the card again
    [stale] = await behind(room)
    assert (stale.kind, stale.last_error, stale.refused_version) == (
        "card",
        "channel_not_found",
        stale.version,
    )
    clock.advance(seconds=30)
    gauges = await scrape(room)
    assert gauges["launchbot_outbox_messages_behind"] == 1
    assert gauges["launchbot_outbox_messages_refused"] == 1
    assert gauges["launchbot_outbox_oldest_behind_seconds"] >= 30
    # The next change renders the card again, with both ticks.
    await room.click(BOB, "Read replicas configured")
    assert "2/45" in str(room.card().blocks)
    assert await behind(room) == []
    assert (await scrape(room))["launchbot_outbox_messages_behind"] == 0


def test_the_pauses_double_up_to_a_minute_with_jitter() -> None:
    backoff = Backoff()  # the real policy
    for failures, full in enumerate([1, 2, 4, 8, 16, 32, 60, 60, 60], start=1):
        pauses = [backoff.pause(failures) for _ in range(50)]
        assert all(0.8 * full <= p <= full for p in pauses)
    assert backoff.pause(100_000) <= 60
