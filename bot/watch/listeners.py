"""Metric alert listeners: Roll back and Hold (exactly ``/launch rollback`` and ``/launch hold``,
``[golive] allowed_roles`` only), Acknowledge (anyone, recorded), and the Report button of
``/launch trigger <name>``.

Each stores what the person did, then acks, then spawns the outbound work (the traffic webhook,
PagerDuty). Refusals are answered only to the presser; the go-live authorization records them."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.core.binding import Origin
from bot.core.errors import BadInput
from bot.core.events import Actor
from bot.core.ids import ActionId
from bot.core.mrkdwn import escape
from bot.core.refusal import Refused
from bot.deps import Deps, answer_privately, refuse_privately
from bot.golive.flows import move_traffic, request_rollback
from bot.golive.hold_flows import hold
from bot.watch import flows
from bot.watch.payloads import AlertValue, TriggerValue

logger = logging.getLogger(__name__)


def _channel(body: dict[str, Any]) -> str:
    channel_id = Origin.of(body).channel_id
    if channel_id is None:
        raise BadInput("That button has no channel.")
    return channel_id


def _source(action: dict[str, Any], actor: Actor) -> str:
    return f"block_actions:{action.get('action_ts')}:{actor.user_id}"


async def _pressed_alert(
    deps: Deps, body: dict[str, Any], action: dict[str, Any], actor: Actor, what: str
) -> tuple[str, int]:
    """The channel and the alert a Roll back or Hold press names, once the alert is checked to be
    this channel's (a stale or forged value is refused and logged)."""
    channel_id = _channel(body)
    alert_id = AlertValue.decode(action.get("value")).alert_id
    await flows.check_alert(
        deps, channel_id=channel_id, alert_id=alert_id, what=what, user_id=actor.user_id
    )
    return channel_id, alert_id


async def on_rollback(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond, deps: Deps
) -> None:
    actor = deps.identity.actor_of_user(body["user"])
    try:
        channel_id, alert_id = await _pressed_alert(
            deps, body, action, actor, "a metric alert's Roll back button"
        )
        requested = await request_rollback(
            deps,
            actor=actor,
            channel_id=channel_id,
            reason=f"metric alert #{alert_id}",
            all_the_way=False,
            source=_source(action, actor),
        )
        if not requested.replayed:  # the same press delivered again was recorded the first time
            await flows.record_action(
                deps,
                actor=actor,
                channel_id=channel_id,
                alert_id=alert_id,
                action="rollback",
                shown=f"⏪ Rollback to {escape(requested.label)} requested by <@{actor.user_id}>",
                source=_source(action, actor),
            )
    except Refused as exc:
        await refuse_privately(ack, deps, respond, exc, body=body)
        return
    await ack()
    request_pk = requested.request_pk
    assert request_pk is not None
    deps.tasks.spawn(move_traffic(deps, request_pk), name=f"traffic-{request_pk}")


async def on_hold(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond, deps: Deps
) -> None:
    actor = deps.identity.actor_of_user(body["user"])
    try:
        channel_id, alert_id = await _pressed_alert(
            deps, body, action, actor, "a metric alert's Hold button"
        )
        changed = await hold(
            deps, actor=actor, channel_id=channel_id, reason=f"metric alert #{alert_id}"
        )
        if changed:
            await flows.record_action(
                deps,
                actor=actor,
                channel_id=channel_id,
                alert_id=alert_id,
                action="hold",
                shown=f"⏸️ Held by <@{actor.user_id}>",
                source=_source(action, actor),
            )
    except Refused as exc:
        await refuse_privately(ack, deps, respond, exc, body=body)
        return
    await ack()
    if not changed:
        answer_privately(
            deps,
            respond,
            "The go-live sequence is already on hold. Nothing changed.",
            name="respond-unchanged",
        )


async def on_acknowledge(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond, deps: Deps
) -> None:
    actor = deps.identity.actor_of_user(body["user"])
    try:
        alert_id = AlertValue.decode(action.get("value")).alert_id
        first = await flows.acknowledge(
            deps,
            actor=actor,
            channel_id=_channel(body),
            alert_id=alert_id,
            source=_source(action, actor),
        )
    except Refused as exc:
        await refuse_privately(ack, deps, respond, exc, body=body)
        return
    await ack()
    if not first:
        answer_privately(
            deps,
            respond,
            "Already acknowledged; your acknowledgement is recorded too.",
            name="respond-unchanged",
        )


async def on_trigger_report(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond, deps: Deps
) -> None:
    actor = deps.identity.actor_of_user(body["user"])
    try:
        slug = TriggerValue.decode(action.get("value")).slug
        alert_id = await flows.report_trigger(
            deps,
            actor=actor,
            channel_id=_channel(body),
            slug=slug,
            source=_source(action, actor),
        )
    except Refused as exc:
        await refuse_privately(ack, deps, respond, exc, body=body)
        return
    await ack()
    answer_privately(
        deps,
        respond,
        f"Reported `{escape(slug)}` (recorded): the red alert goes to the channel and PagerDuty "
        "is being paged (critical). The "
        "alert shows whether the page went through.",
        name="respond-reported",
    )
    deps.tasks.spawn(flows.page_trigger(deps, alert_id), name=f"page-trigger-{alert_id}")


def register(app: AsyncApp) -> None:
    app.action(ActionId.METRIC_ROLLBACK)(on_rollback)
    app.action(ActionId.METRIC_HOLD)(on_hold)
    app.action(ActionId.METRIC_ACK)(on_acknowledge)
    app.action(ActionId.TRIGGER_REPORT)(on_trigger_report)
