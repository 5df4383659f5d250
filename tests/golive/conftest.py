"""Go-live fixtures: the roles allowed to move the rollout and a test-controlled clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.checklist.template import ChecklistTemplate
from bot.core.config import AppConfig, GoLiveConfig
from bot.runtime import RunningBot, running_bot
from bot.standin import SlackStandIn
from tests.conftest import FakeClock, make_settings


@pytest.fixture
def config(config: AppConfig) -> AppConfig:
    return config.model_copy(update={"golive": GoLiveConfig(allowed_roles=["devops_lead", "cto"])})


@pytest.fixture
async def running(
    schema_url: str,
    slack: SlackStandIn,
    config: AppConfig,
    template: ChecklistTemplate,
    clock: FakeClock,
) -> AsyncIterator[RunningBot]:
    settings = make_settings(database_url=schema_url, api_url=slack.base_url)
    async with running_bot(settings, config=config, template=template, clock=clock) as bot_:
        yield bot_
