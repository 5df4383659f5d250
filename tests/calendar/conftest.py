"""Calendar fixtures: a team in New York ([schedule], not UTC), go-live roles, and a clock the test sets to a day."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.checklist.template import ChecklistTemplate
from bot.core.config import AppConfig, GoLiveConfig, ScheduleConfig
from bot.runtime import RunningBot, running_bot
from bot.standin import SlackStandIn
from tests.conftest import FakeClock, make_settings

NEW_YORK = "America/New_York"  # UTC-5 in winter, UTC-4 from the second Sunday of March


def set_clock(clock: FakeClock, at: datetime) -> None:
    """Move the test clock so that it reads ``at`` now (it then runs on from there)."""
    clock.offset = at - datetime.now(UTC)


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
    # Before any launch: Tue 1 Dec 2026, 10:00 in New York (15:00 UTC).
    set_clock(clock, datetime(2026, 12, 1, 15, 0, tzinfo=UTC))
    settings = make_settings(database_url=schema_url, api_url=slack.base_url)
    async with running_bot(settings, config=config, template=template, clock=clock) as bot_:
        yield bot_
