"""Issue 11, item 6: a soak reminder falls due while the bot is down; the next start posts it once,
marked late, and a third start does not post it again."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.core.config import AppConfig
from bot.runtime import running_bot
from bot.standin import SlackStandIn
from tests.conftest import FakeClock, make_settings
from tests.golive.test_golive import OPS, start_and_reach_golive, thread_texts
from tests.warroom import WarRoom


def reminders(room: WarRoom) -> list[str]:
    return [t for t in thread_texts(room) if "has soaked" in t]


async def test_a_soak_reminder_due_while_the_bot_was_down_is_posted_once_after_restart_marked_late(
    schema_url: str, slack: SlackStandIn, config: AppConfig, template: Path, clock: FakeClock
) -> None:
    settings = make_settings(database_url=schema_url, api_url=slack.base_url)
    async with running_bot(settings, config=config, template=template, clock=clock) as first:
        room = WarRoom(slack=slack, bot=first)
        await start_and_reach_golive(room)
        await room.command(OPS, "advance")  # into shadow mode: its soak starts
        await room.settle()
        assert reminders(room) == []
    clock.advance(minutes=90)  # the soak ends while nothing runs
    async with running_bot(settings, config=config, template=template, clock=clock) as second:
        room = WarRoom(slack=slack, bot=second)
        for _ in range(200):
            if reminders(room):
                break
            await asyncio.sleep(0.05)
        await room.settle()
        (late,) = reminders(room)
        assert "down" in late, late
    async with running_bot(settings, config=config, template=template, clock=clock) as third:
        room = WarRoom(slack=slack, bot=third)
        await asyncio.sleep(1.0)  # a scheduler tick or two
        await room.settle()
        assert len(reminders(room)) == 1
