"""Calendar fixtures and helpers: a team in New York ([schedule], not UTC), go-live roles, a clock the test sets to a day, and reading what the calendar posted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.calendar.flows import post_due
from bot.checklist.rules import set_items_checked
from bot.checklist.template import ChecklistTemplate
from bot.core.config import AppConfig, EscalationConfig, GoLiveConfig, ScheduleConfig
from bot.core.events import Actor
from bot.core.models import Item, ItemGroup, ScheduledPost, Section
from bot.runtime import RunningBot, running_bot
from bot.standin import SlackStandIn
from tests.conftest import FakeClock, make_settings
from tests.warroom import WarRoom

NEW_YORK = "America/New_York"  # UTC-5 in winter, UTC-4 from the second Sunday of March


def set_clock(clock: FakeClock, at: datetime) -> None:
    """Move the test clock so that it reads ``at`` now (it then runs on from there)."""
    clock.offset = at - datetime.now(UTC)


ALICE = "U0ALICE001"  # no role
CTO = "U0CTO00001"  # holds a sign-off role


def flat(message: Any) -> str:
    return (message.text or "") + json.dumps(message.blocks or [], ensure_ascii=False)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def rows(room: WarRoom, model: Any, *where: Any) -> list[Any]:
    async with room.bot.deps.db.read_sessions() as session:
        return list((await session.scalars(select(model).where(*where))).all())


async def tick_all(room: WarRoom, items: list[Item]) -> None:
    async with room.bot.deps.db.sessions.begin() as session:
        await set_items_checked(
            session=session,
            launch_id=1,
            desired={i.id: True for i in items},
            actor=Actor(ALICE, "Alice Chen"),
            at=room.bot.deps.clock(),
            source="test",
            dedup_key=f"tick-{items[0].id}",
        )


async def phase_items(room: WarRoom, title: str) -> list[Item]:
    async with room.bot.deps.db.read_sessions() as session:
        from_phase = (
            select(Item)
            .join(ItemGroup, ItemGroup.id == Item.group_id)
            .join(Section, Section.id == ItemGroup.section_id)
            .where(
                Section.phase_id.in_(
                    select(Section.phase_id)
                    .where(Section.title == title)
                    .scalar_subquery()
                    .correlate(None)
                )
            )
        )
        return list((await session.scalars(from_phase)).all())


async def run_at(room: WarRoom, clock: FakeClock, at: datetime) -> int:
    set_clock(clock, at)
    posted = await post_due(room.bot.deps, clock())
    await room.settle()
    return posted


async def until_loop_posted(room: WarRoom, clock: FakeClock) -> None:
    """Wait until the running bot's own scheduler loop has sent every post due now (it polls every
    0.05 s with ``FAST``), then a few polls more, and its messages are out."""
    for _ in range(300):
        async with room.bot.deps.db.read_sessions() as session:
            left = await session.scalar(
                select(func.count(ScheduledPost.id)).where(
                    ScheduledPost.sent_at.is_(None),
                    ScheduledPost.cancelled_at.is_(None),
                    ScheduledPost.due_at <= clock(),
                )
            )
        if not left:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    await room.settle()


FAST = EscalationConfig(poll_seconds=0.05)


def announcements(room: WarRoom, marker: str) -> list[Any]:
    return [m for m in room.top_level() if marker in flat(m)]


@pytest.fixture
def config(config: AppConfig) -> AppConfig:
    return config.model_copy(
        update={
            "golive": GoLiveConfig(allowed_roles=["devops_lead", "cto"]),
            "schedule": ScheduleConfig(
                timezone=NEW_YORK,
                post_at="09:00",
                evening_at="18:00",
                owners={"Security": ["U0SEC00001"], "Infrastructure": ["U0OPS00001"]},
            ),
        }
    )


@pytest.fixture
async def running(
    schema_url: str,
    slack: SlackStandIn,
    config: AppConfig,
    template: ChecklistTemplate,
    clock: FakeClock,
) -> AsyncIterator[RunningBot]:
    # Before any launch: Thu 3 Dec 2026, 10:00 in New York (15:00 UTC), six days before the Dec 9
    # launch day most tests use, so its pre-launch phase (T-7, Dec 2) is due already: posted at start.
    set_clock(clock, datetime(2026, 12, 3, 15, 0, tzinfo=UTC))
    settings = make_settings(database_url=schema_url, api_url=slack.base_url)
    async with running_bot(settings, config=config, template=template, clock=clock) as bot_:
        yield bot_
