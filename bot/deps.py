"""The Deps bundle (settings, config, template, database, Slack client, http client, publisher, clock) and
the one global middleware that puts it into each request's context."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.clicks import NAME_LOOKUP_SECONDS, ClickApplier
from bot.config import AppConfig, Settings
from bot.db import Database
from bot.metrics import Metrics
from bot.publisher import Publisher
from bot.tasks import BackgroundTasks, RequestGauge
from bot.template import ChecklistTemplate


def utc_now() -> datetime:
    return datetime.now(UTC)


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
    gauge: RequestGauge = field(default_factory=RequestGauge)
    clock: Callable[[], datetime] = utc_now

    def __post_init__(self) -> None:
        # Counted when a tick takes effect: a click refused later (a closed launch) ticked nothing.
        if self.clicks.on_ticked is None:
            self.clicks.on_ticked = functools.partial(
                self.metrics.inc, "launchbot_items_checked_total"
            )
        # The click applier names clickers through the same cached users.info lookups as sign-offs.
        if self.clicks.names is None:
            from bot.identity import identity_for  # bot.identity imports this module

            identity = identity_for(self.slack, self.config.signoff)
            self.clicks.names = functools.partial(identity.display_name, within=NAME_LOOKUP_SECONDS)


def deps_middleware(deps: Deps) -> Callable[..., Awaitable[None]]:
    """Bolt middleware runs before (not around) the listener, so it only hands over the factory-holding
    Deps; each listener opens its own unit of work."""

    async def inject(context: AsyncBoltContext, next: Callable[[], Awaitable[None]]) -> None:
        context["deps"] = deps
        await next()

    return inject
