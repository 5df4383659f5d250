"""Incident listeners: Acknowledge / Resolve / Page again buttons, the kill-switch modal's submission
and "Fire again…" under a kill switch never sent.

Each listener stores what the person did (one transaction, event logged), then acks, then spawns the
outbound work (PagerDuty, the kill switch, chat.update) with ``deps.tasks.spawn``: the app runs
listeners inline, so an outside call awaited here would hold Slack's 3-second answer. Who acted is
always the user id of Slack's verified payload; button values and private_metadata only carry ids.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.binding import Origin, launch_in_channel, refuse_unbound
from bot.core.events import Actor
from bot.core.identity import Membership
from bot.core.ids import ActionId, CallbackId, IncidentBlock
from bot.core.launches import lock_launch
from bot.core.mrkdwn import escape, plain
from bot.core.refusal import Refused, unit_of_work
from bot.deps import Deps, answer_privately, refuse_privately
from bot.incidents.escalation_flows import after_acknowledge, after_repage, after_resolve
from bot.incidents.escalation_pages import retry_page
from bot.incidents.escalation_state import EscalationView, load_escalation
from bot.incidents.escalations import acknowledge, resolve
from bot.incidents.killswitch import (
    authorize_killswitch,
    record_killswitch_refused,
    request_killswitch,
)
from bot.incidents.killswitch_flows import (
    confirmation_modal,
    fire_killswitch,
    killswitch_membership,
    open_confirmation,
    require_configured,
)
from bot.incidents.killswitch_state import killswitch_summary, load_killswitch
from bot.incidents.payloads import EscalationValue, KillSwitchAgainValue, KillSwitchFormMeta

Change = Callable[..., Awaitable[bool]]


async def _on_escalation_button(
    *,
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: AsyncRespond,
    deps: Deps,
    change: Change,
    then: Callable[[Deps, int], Coroutine[Any, Any, None]],
    unchanged: Callable[[EscalationView], str],
) -> None:
    actor = deps.identity.actor_of_user(body["user"])
    try:
        escalation_id = EscalationValue.decode(action.get("value")).escalation_id
        async with deps.db.sessions.begin() as session:
            view = await load_escalation(session=session, escalation_id=escalation_id)
            if view.channel_id != Origin.of(body).channel_id:
                raise refuse_unbound(
                    "a button",
                    named=f"escalation {escalation_id}",
                    of=f"channel {view.channel_id}",
                    here=f"channel {Origin.of(body).channel_id}",
                    user_id=actor.user_id,
                )
            changed = await change(
                session=session,
                escalation_id=escalation_id,
                actor=actor,
                at=deps.clock(),
                source=f"block_actions:{action.get('action_ts')}:{actor.user_id}",
            )
            view = await load_escalation(session=session, escalation_id=escalation_id)
    except Refused as exc:
        await refuse_privately(ack, deps, respond, exc, body=body)
        return
    await ack()
    if changed:
        deps.tasks.spawn(then(deps, escalation_id), name=f"escalation-{escalation_id}")
    else:
        answer_privately(deps, respond, unchanged(view), name="respond-unchanged")


def _already(view: EscalationView) -> str:
    if view.status == "resolved":
        return f"Escalation #{view.id} is already resolved."
    who = f"<@{view.acknowledged_by_id}>" if view.acknowledged_by_id else "someone"
    return f"Escalation #{view.id} was already acknowledged by {who}."


async def on_acknowledge(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond, deps: Deps
) -> None:
    await _on_escalation_button(
        ack=ack,
        body=body,
        action=action,
        respond=respond,
        deps=deps,
        change=acknowledge,
        then=after_acknowledge,
        unchanged=_already,
    )


async def on_resolve(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond, deps: Deps
) -> None:
    await _on_escalation_button(
        ack=ack,
        body=body,
        action=action,
        respond=respond,
        deps=deps,
        change=resolve,
        then=after_resolve,
        unchanged=lambda view: f"Escalation #{view.id} is already resolved.",
    )


async def on_repage(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond, deps: Deps
) -> None:
    await _on_escalation_button(
        ack=ack,
        body=body,
        action=action,
        respond=respond,
        deps=deps,
        change=retry_page,
        then=after_repage,
        unchanged=lambda view: (
            f"PagerDuty for escalation #{view.id} needs no new page ({view.page_status})."
        ),
    )


def _input(view: dict[str, Any], block_id: str, action_id: str) -> str:
    values = (view.get("state") or {}).get("values") or {}
    return str((values.get(block_id) or {}).get(action_id, {}).get("value") or "")


async def on_killswitch_submit(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], deps: Deps
) -> None:
    """Refusals (role, another channel's launch, wrong name, no reason) are shown in the modal and
    logged; an accepted submission is stored, the modal closes, and the request is sent after the
    ack."""
    actor = deps.identity.actor_of_user(body["user"])
    meta = KillSwitchFormMeta.decode(view.get("private_metadata"))
    # Before the transaction: no launch lock is held while Slack is asked (cached, bounded).
    membership = await killswitch_membership(deps, actor.user_id)
    try:
        async with unit_of_work(deps.db.sessions) as session:
            errors, request_pk, created = await _store_fire_request(
                session, deps, meta, actor, view, membership
            )
    except Refused as exc:
        await ack(
            response_action="errors", errors={IncidentBlock.KILLSWITCH_NAME: plain(exc.message)}
        )
        return
    if errors:
        await ack(response_action="errors", errors=errors)
        return
    await ack()
    if created and request_pk is not None:
        deps.tasks.spawn(fire_killswitch(deps, request_pk), name=f"killswitch-{request_pk}")


async def _store_fire_request(
    session: AsyncSession,
    deps: Deps,
    meta: KillSwitchFormMeta,
    actor: Actor,
    view: dict[str, Any],
    membership: Membership,
) -> tuple[dict[str, str], int | None, bool]:
    """(field errors, request id, created): the modal's launch must live in the channel it was
    opened from, the person must hold an allowed role (else ``Refused``, recorded), and the typed
    name and the reason must be right (else the field errors, recorded)."""
    request_key = f"view:{view.get('id')}"
    launch = await launch_in_channel(
        session, meta.launch_id, meta.channel_id, what="a kill-switch form", user_id=actor.user_id
    )
    launch = await lock_launch(session, launch.id)
    await authorize_killswitch(
        session=session,
        config=deps.config,
        launch_id=launch.id,
        actor=actor,
        what="fire",
        at=deps.clock(),
        source=request_key,
        usergroup_members=membership.members,
        unchecked_groups=membership.unchecked,
    )
    typed = " ".join(_input(view, IncidentBlock.KILLSWITCH_NAME, ActionId.KILLSWITCH_NAME).split())
    reason = _input(view, IncidentBlock.KILLSWITCH_REASON, ActionId.KILLSWITCH_REASON).strip()
    errors: dict[str, str] = {}
    if typed != launch.name:
        errors[IncidentBlock.KILLSWITCH_NAME] = f"Type the launch name exactly: {launch.name}"
    if not reason:
        errors[IncidentBlock.KILLSWITCH_REASON] = (
            "Say why: the channel and the trading system get it."
        )
    if errors:
        await _log_rejected(session, launch.id, actor, deps, request_key, sorted(errors))
        return errors, None, False
    request, created = await request_killswitch(
        session=session,
        config=deps.config,
        launch_id=launch.id,
        channel_id=launch.channel_id,  # the launch's own channel, never one a payload names
        actor=actor,
        reason=reason,
        dry_run=False,
        at=deps.clock(),
        request_key=request_key,
        usergroup_members=membership.members,
    )
    return {}, request.id, created


async def _log_rejected(
    session: AsyncSession,
    launch_id: int,
    actor: Actor,
    deps: Deps,
    source: str,
    fields: list[str],
) -> None:
    await record_killswitch_refused(
        session=session,
        launch_id=launch_id,
        actor=actor,
        at=deps.clock(),
        why="confirmation incomplete: " + ", ".join(escape(f) for f in fields),
        source=source,
    )


async def on_killswitch_again(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond, deps: Deps
) -> None:
    """The "Fire again…" button under a request a stop left unsent: it only opens the same
    confirmation (typed name, reason, allowed roles checked again on submit), for holders of an
    allowed role (anyone else is refused and logged), from the request's own channel. It never
    sends anything itself."""
    actor = deps.identity.actor_of_user(body["user"])
    membership = await killswitch_membership(deps, actor.user_id)
    try:
        require_configured(deps)
        async with unit_of_work(deps.db.sessions) as session:
            modal = await _again_modal(session, deps, body, action, actor, membership)
    except Refused as exc:
        await refuse_privately(ack, deps, respond, exc, body=body)
        return
    await ack()
    trigger_id = str(body.get("trigger_id") or "")
    deps.tasks.spawn(_open_again(deps, respond, trigger_id, modal), name="killswitch-again")


async def _again_modal(
    session: AsyncSession,
    deps: Deps,
    body: dict[str, Any],
    action: dict[str, Any],
    actor: Actor,
    membership: Membership,
) -> dict[str, Any]:
    request = await load_killswitch(
        session=session, request_pk=KillSwitchAgainValue.decode(action.get("value")).request_pk
    )
    channel_id = Origin.of(body).channel_id
    launch = await launch_in_channel(
        session, request.launch_id, channel_id, what="a Fire again button", user_id=actor.user_id
    )
    if request.channel_id != channel_id:
        raise refuse_unbound(
            "a Fire again button",
            named=f"kill-switch request {request.id}",
            of=f"channel {request.channel_id}",
            here=f"channel {channel_id}",
            user_id=actor.user_id,
        )
    await authorize_killswitch(
        session=session,
        config=deps.config,
        launch_id=launch.id,
        actor=actor,
        what="fire again",
        at=deps.clock(),
        source=f"block_actions:{action.get('action_ts')}:{actor.user_id}",
        usergroup_members=membership.members,
        unchecked_groups=membership.unchecked,
    )
    summary = await killswitch_summary(session=session, launch_id=launch.id)
    return confirmation_modal(
        deps, launch, request.channel_id, armed=summary.armed, allowed=True, reason=request.reason
    )


async def _open_again(
    deps: Deps, respond: AsyncRespond, trigger_id: str, modal: dict[str, Any]
) -> None:
    problem = await open_confirmation(deps, trigger_id, modal)
    if problem is not None:
        await respond(
            text=f":warning: The kill-switch confirmation {problem}. "
            "Press *Fire again…* once more, or run `/launch killswitch`.",
            response_type="ephemeral",
            replace_original=False,
        )


def register(app: AsyncApp) -> None:
    app.action(ActionId.ESCALATION_ACK)(on_acknowledge)
    app.action(ActionId.ESCALATION_RESOLVE)(on_resolve)
    app.action(ActionId.ESCALATION_REPAGE)(on_repage)
    app.view(CallbackId.KILLSWITCH_FIRE)(on_killswitch_submit)
    app.action(ActionId.KILLSWITCH_AGAIN)(on_killswitch_again)
