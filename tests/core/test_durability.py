"""What the bot stores outlives the process: the close is in the event log, and clicks stored in the
inbox before a stop are applied when the bot starts again on the same database."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.checklist.template import ChecklistTemplate
from bot.core.config import AppConfig
from bot.core.models import ClickInbox, Event, Item
from bot.runtime import running_bot
from bot.standin import SlackStandIn
from tests.conftest import make_settings
from tests.warroom import WarRoom

ALICE, BOB = "U0ALICE001", "U0BOB00001"


async def test_close_writes_a_launch_closed_event(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.close(ALICE)  # who started it
    async with room.bot.deps.db.read_sessions() as session:
        events = (await session.scalars(select(Event).order_by(Event.seq))).all()
    closed = [e for e in events if e.kind == "launch_closed"]
    assert [(e.actor_id, e.source.startswith("view:")) for e in closed] == [(ALICE, True)]
    assert events[-1].kind == "launch_closed"  # the last thing that happened to the launch
    assert closed[0].prev_hash == events[-2].hash  # chained like every other event


async def test_clicks_stored_but_not_applied_are_applied_after_a_restart(
    schema_url: str,
    slack: SlackStandIn,
    config: AppConfig,
    template: ChecklistTemplate,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings(database_url=schema_url, api_url=slack.base_url)
    async with running_bot(settings, config=config, template=template) as first:
        room = WarRoom(slack=slack, bot=first)
        await room.command(ALICE, "start Trading v2")
        # The process stops after the ack and before the applier runs: the clicks are only stored.
        monkeypatch.setattr(first.deps.clicks, "kick", lambda: None)
        await room.click(BOB, "Failover tested")
        await room.click(ALICE, "Read replicas configured")
        async with first.deps.db.read_sessions() as session:
            pending = await session.scalar(
                select(func.count()).select_from(ClickInbox).where(ClickInbox.applied_at.is_(None))
            )
        assert pending == 2
        assert not room.is_checked("Failover tested")
    async with running_bot(settings, config=config, template=template) as second:
        room = WarRoom(slack=slack, bot=second)
        await room.settle()
        async with second.deps.db.read_sessions() as session:
            unapplied = await session.scalar(
                select(func.count()).select_from(ClickInbox).where(ClickInbox.applied_at.is_(None))
            )
            checked = {
                i.text: i.changed_by_id
                for i in (await session.scalars(select(Item).where(Item.checked))).all()
            }
        assert unapplied == 0
        assert checked == {"Failover tested": BOB, "Read replicas configured": ALICE}
        # ...and the thread message was re-rendered from the database.
        assert room.is_checked("Failover tested") and room.is_checked("Read replicas configured")
