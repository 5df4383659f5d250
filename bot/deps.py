"""The Deps bundle (settings, config, template, database, Slack client, http client, publisher, clock),
the global middleware that puts it into each request's context, the one that refuses a request
from a team other than the installation's (``bot.core.binding``), and the private answer to a
button's presser that every feature's listeners give (``answer_privately``, ``refuse_privately``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.checklist.applier import ClickApplier
from bot.checklist.template import ChecklistTemplate
from bot.core.binding import Origin, check_team
from bot.core.clock import Clock, utc_now
from bot.core.config import AppConfig, Settings
from bot.core.db import Database
from bot.core.identity import Identity
from bot.core.metrics import Metrics
from bot.core.outbox import Publisher
from bot.core.reactions import Reactions
from bot.core.refusal import Refused
from bot.core.tasks import BackgroundTasks, RequestGauge

logger = logging.getLogger(__name__)


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
    # What features do when another's event happened (registered in the composition root).
    reactions: Reactions = field(default_factory=Reactions)


def deps_middleware(deps: Deps) -> Callable[..., Awaitable[None]]:
    """Bolt middleware runs before (not around) the listener, so it only hands over the factory-holding
    Deps; each listener opens its own unit of work."""

    async def inject(context: AsyncBoltContext, next: Callable[[], Awaitable[None]]) -> None:
        context["deps"] = deps
        await next()

    return inject


def installation_team(deps: Deps, context: AsyncBoltContext) -> str | None:
    """``SLACK_TEAM_ID``, else the team Slack's ``auth.test`` named for the bot token (bolt asks
    once and caches it in ``authorize_result``); None when neither is known."""
    if deps.settings.slack_team_id:
        return deps.settings.slack_team_id
    result = context.authorize_result
    return result.team_id if result is not None and result.team_id else None


def team_middleware(deps: Deps) -> Callable[..., Awaitable[BoltResponse | None]]:
    """Refuse (privately, logged, nothing run) a payload whose team is not the installation's."""

    async def bind_team(
        body: dict[str, Any],
        context: AsyncBoltContext,
        next: Callable[[], Awaitable[None]],
    ) -> BoltResponse | None:
        try:
            check_team(Origin.of(body), installation_team(deps, context))
        except Refused as refused:
            text = refused.text
            respond: AsyncRespond | None = context.respond
            if respond is not None and body.get("type") == "block_actions":
                # A button's ack body is not shown to anyone: say it where the click was made.
                answer_privately(deps, respond, text, name="respond-wrong-team")
            return BoltResponse(
                status=200,
                body=json.dumps({"response_type": "ephemeral", "text": text}),
                headers={"content-type": "application/json"},
            )
        await next()
        return None

    return bind_team


def answer_privately(
    deps: Deps, respond: AsyncRespond, text: str, *, name: str = "respond-privately"
) -> None:
    """Tell whoever pressed a button ``text``, seen by them only (ephemeral, the message they pressed
    left as it is). Spawned after the ack, so it never holds up the answer to Slack."""
    deps.tasks.spawn(
        respond(text=text, response_type="ephemeral", replace_original=False), name=name
    )


async def refuse_privately(
    ack: AsyncAck, deps: Deps, respond: AsyncRespond, refused: Refused, *, body: dict[str, Any]
) -> None:
    """A button's refusal: ack it, then tell the presser why not, privately. Logged (who, where,
    which button, why), so a refused press during an incident leaves a trace."""
    actions = body.get("actions") or [{}]
    logger.info(
        "button %s refused (%s) for user %s in channel %s",
        (actions[0] or {}).get("action_id"),
        refused.code,
        (body.get("user") or {}).get("id"),
        (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id"),
    )
    await ack()
    answer_privately(deps, respond, refused.text, name="respond-refusal")
