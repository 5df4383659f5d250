"""Listeners for sign-offs: Approve (store → ack → follow-ups), Revoke (→ reason modal) and its submission.

Who clicked is ``body["user"]["id"]`` from the verified payload; the button value only says which
launch and role (``SignOffValue``), and the rules re-read everything from the database. The approval
(or the refused attempt) is committed before the ack; the person's display name is resolved after
it: ``users.info`` is a Web API call, and bolt sends the HTTP answer only when the listener returns
(``process_before_response``), so the approval is stored under the name the payload carries (or the
cached display name) and ``identity.store_display_name`` swaps in the display name a moment later.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.core.binding import Origin
from bot.core.events import Actor
from bot.core.identity import Identity
from bot.core.ids import ActionId, CallbackId, SignOffBlock
from bot.core.mrkdwn import plain
from bot.core.refusal import Refused, warning
from bot.core.slack_client import open_modal
from bot.deps import Deps, answer_privately, refuse_privately
from bot.launch.blocks import state_alarm
from bot.launch.state import load_state
from bot.signoffs.blocks import (
    RevokeFormMeta,
    SignOffValue,
    revoke_modal,
    revoke_reason,
    signoff_view,
)
from bot.signoffs.flows import (
    SignOffAttempt,
    after_signoff,
    approve_signoff,
    check_revoke_signoff,
    revoke_signoff,
)
from bot.signoffs.log import EMPTY_LOG
from bot.signoffs.rules import SignOffOutcome


def actor_of(user: dict[str, Any], identity: Identity) -> Actor:
    """The clicking user from the verified payload; the cached display name if there is one."""
    actor = Actor.of_user(user)
    return identity.actor(actor.user_id, actor.name)


def _click_key(body: dict[str, Any], action: dict[str, Any]) -> str:
    """Slack's own fields identify one click; a replayed request carries the same ones."""
    container = body.get("container") or {}
    where = container.get("message_ts") or container.get("view_id") or ""
    return (
        f"ba:{container.get('channel_id') or ''}:{where}:{action.get('action_id')}:"
        f"{action.get('block_id')}:{action.get('action_ts')}:{body['user']['id']}"
    )


async def refresh_table(deps: Deps, respond: AsyncRespond, launch_id: int) -> None:
    """Replace the clicker's own ``/launch signoff`` table (an ephemeral message, seen by them only)
    with the table as it now stands, so it does not go on saying "awaiting approval"."""
    async with deps.db.read_sessions() as session:
        state = await load_state(session=session, launch_id=launch_id)
    view = signoff_view(state, deps.config.roles, alarm=state_alarm(state))
    # The card shows the approval whatever happens here: this private copy is a courtesy, and a
    # failure is logged by the task runner.
    await respond(text=view.text, blocks=view.blocks, replace_original=True)


def _attempt(
    body: dict[str, Any], action: dict[str, Any], value: SignOffValue, identity: Identity
) -> SignOffAttempt:
    """The button's value bound to where it was pressed (the payload's channel)."""
    return SignOffAttempt(
        launch_id=value.launch_id,
        role_id=value.role_id,
        actor=actor_of(body["user"], identity),
        channel_id=Origin.of(body).channel_id,
        source=f"block_actions:{action.get('action_ts')}",
        dedup_key=_click_key(body, action),
    )


def _explain(deps: Deps, respond: AsyncRespond, outcome: SignOffOutcome) -> None:
    if outcome.status == "duplicate" and outcome.role:
        answer_privately(deps, respond, warning(outcome.message), name="respond-signoff")


async def on_approve(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond, deps: Deps
) -> None:
    try:
        attempt = _attempt(body, action, SignOffValue.decode(action.get("value")), deps.identity)
        outcome = await approve_signoff(deps, attempt)
    except Refused as exc:
        await refuse_privately(ack, deps, respond, exc, body=body)
        return
    await ack()
    after_signoff(deps, outcome, actor=attempt.actor)
    _explain(deps, respond, outcome)
    if outcome.status == "approved" and (body.get("container") or {}).get("is_ephemeral"):
        deps.tasks.spawn(refresh_table(deps, respond, outcome.launch_id), name="signoff-table")


async def on_revoke(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond, deps: Deps
) -> None:
    try:
        attempt = _attempt(body, action, SignOffValue.decode(action.get("value")), deps.identity)
        outcome = await check_revoke_signoff(deps, attempt)
    except Refused as exc:
        await refuse_privately(ack, deps, respond, exc, body=body)
        return
    await ack()
    if outcome.status != "allowed":
        _explain(deps, respond, outcome)
        return
    meta = RevokeFormMeta(
        launch_id=attempt.launch_id, role_id=attempt.role_id, channel_id=attempt.channel_id or ""
    )
    # trigger_id lives 3 s and the ack has just left: open the form right away, after it.
    deps.tasks.spawn(
        _open_revoke_modal(deps, respond, str(body.get("trigger_id") or ""), meta),
        name="signoff-revoke-modal",
    )


async def _open_revoke_modal(
    deps: Deps, respond: AsyncRespond, trigger_id: str, meta: RevokeFormMeta
) -> None:
    async with deps.db.read_sessions() as session:
        state = await load_state(session=session, launch_id=meta.launch_id)
    log = state.sign_offs or EMPTY_LOG
    role = log.role(meta.role_id)
    title = role.title if role else meta.role_id
    problem = await open_modal(
        deps.slack,
        trigger_id,
        revoke_modal(state=state, role_title=title, meta=meta),
        what="a revoke form",
    )
    if problem is not None:
        await respond(
            text=f":warning: The revoke form {problem}. Nothing "
            f"changed. You can also type `/launch signoff revoke {meta.role_id} &lt;reason&gt;`.",
            response_type="ephemeral",
            replace_original=False,
        )


async def on_revoke_submit(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], deps: Deps
) -> None:
    actor = actor_of(body["user"], deps.identity)
    reason = revoke_reason(view)
    if not reason.strip():
        await ack(
            response_action="errors",
            errors={
                SignOffBlock.REVOKE_REASON: "Give a reason: it is recorded with the revocation."
            },
        )
        return
    try:
        meta = RevokeFormMeta.decode(view.get("private_metadata"))
        attempt = SignOffAttempt(
            launch_id=meta.launch_id,
            role_id=meta.role_id,
            actor=actor,
            channel_id=meta.channel_id,
            source=f"view_submission:{view.get('id')}",
            # One modal is submitted once: its view id identifies the submission.
            dedup_key=f"vs:{view.get('id')}:{actor.user_id}",
        )
        outcome = await revoke_signoff(deps, attempt, reason=reason)
    except Refused as exc:
        await ack(response_action="errors", errors={SignOffBlock.REVOKE_REASON: plain(exc.message)})
        return
    await ack()
    after_signoff(deps, outcome, actor=actor)


def register(app: AsyncApp) -> None:
    app.action(ActionId.SIGNOFF_APPROVE)(on_approve)
    app.action(ActionId.SIGNOFF_REVOKE)(on_revoke)
    app.view_submission(CallbackId.SIGNOFF_REVOKE)(on_revoke_submit)
