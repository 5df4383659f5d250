"""The Deps bundle (settings, config, template, database, Slack client, http client, publisher, clock) and
the one global middleware that puts it into each request's context."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.checklist.applier import ClickApplier
from bot.checklist.template import ChecklistTemplate
from bot.core.clock import Clock, utc_now
from bot.core.config import AppConfig, Settings
from bot.core.db import Database
from bot.core.identity import Identity
from bot.core.metrics import Metrics
from bot.core.outbox import Publisher
from bot.core.tasks import BackgroundTasks, RequestGauge


@dataclass(frozen=True)
class Deps:
    settings: Settings
    config: AppConfig
    template: ChecklistTemplate
    db: Database
    slack: AsyncWebClient
    http: httpx.AsyncClient
    tasks: BackgroundTasks
    publisher: Publisher
    metrics: Metrics
    clicks: ClickApplier
    identity: Identity
    gauge: RequestGauge = field(default_factory=RequestGauge)
    clock: Clock = utc_now


def deps_middleware(deps: Deps) -> Callable[..., Awaitable[None]]:
    """Bolt middleware runs before (not around) the listener, so it only hands over the factory-holding
    Deps; each listener opens its own unit of work."""

    async def inject(context: AsyncBoltContext, next: Callable[[], Awaitable[None]]) -> None:
        context["deps"] = deps
        await next()

    return inject
