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

from bot.core.errors import LaunchError
from bot.core.events import Actor
from bot.core.identity import Identity
from bot.core.ids import ActionId, CallbackId, SignOffBlock
from bot.core.mrkdwn import plain
from bot.core.slack_client import call_slack
from bot.deps import Deps
from bot.launch.state import load_state
from bot.signoffs import rules as signoffs_rules
from bot.signoffs.blocks import SignOffValue, revoke_modal, revoke_reason, signoff_view
from bot.signoffs.flows import store_display_name, usergroup_members
from bot.signoffs.log import EMPTY_LOG
from bot.signoffs.rules import SignOffOutcome, approve, check_revoke


def actor_of(user: dict[str, Any], identity: Identity) -> Actor:
    """The clicking user from the verified payload; the cached display name if there is one."""
    user_id = str(user["id"])
    handle = str(user.get("name") or user.get("username") or user_id)
    return Actor(user_id, identity.cached_name(user_id) or handle)


def _click_key(body: dict[str, Any], action: dict[str, Any]) -> str:
    """Slack's own fields identify one click; a replayed request carries the same ones."""
    container = body.get("container") or {}
    where = container.get("message_ts") or container.get("view_id") or ""
    return (
        f"ba:{container.get('channel_id') or ''}:{where}:{action.get('action_id')}:"
        f"{action.get('block_id')}:{action.get('action_ts')}:{body['user']['id']}"
    )


def _tell(deps: Deps, respond: AsyncRespond, text: str) -> None:
    """An ephemeral answer to the clicker, sent after the ack (never holding up the HTTP answer)."""
    deps.tasks.spawn(
        respond(text=text, response_type="ephemeral", replace_original=False),
        name="respond-signoff",
    )


async def refresh_table(deps: Deps, respond: AsyncRespond, launch_id: int) -> None:
    """Replace the clicker's own ``/launch signoff`` table (an ephemeral message, seen by them only)
    with the table as it now stands, so it does not go on saying "awaiting approval"."""
    async with deps.db.read_sessions() as session:
        state = await load_state(session=session, launch_id=launch_id)
    view = signoff_view(state, deps.config.roles)
    # The card shows the approval whatever happens here: this private copy is a courtesy, and a
    # failure is logged by the task runner.
    await respond(text=view.text, blocks=view.blocks, replace_original=True)


def after_outcome(
    deps: Deps, outcome: SignOffOutcome, *, user_id: str, respond: AsyncRespond | None
) -> None:
    """Post-ack work shared by the button and /launch signoff: publish, explain, resolve the name."""
    if outcome.status in ("approved", "revoked"):
        deps.publisher.kick(outcome.launch_id)
        deps.tasks.spawn(
            store_display_name(deps, launch_id=outcome.launch_id, user_id=user_id),
            name="signoff-display-name",
        )
    elif respond is not None and outcome.status in ("refused", "duplicate") and outcome.role:
        _tell(deps, respond, f":warning: {outcome.message}")


async def on_approve(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond, deps: Deps
) -> None:
    identity = deps.identity
    actor = actor_of(body["user"], identity)
    try:
        value = SignOffValue.decode(action.get("value"))
        members = await usergroup_members(deps, value.role_id, actor.user_id)
        async with deps.db.sessions.begin() as session:
            outcome = await approve(
                session=session,
                launch_id=value.launch_id,
                role_id=value.role_id,
                actor=actor,
                at=deps.clock(),
                roles=deps.config.roles,
                policy=deps.config.signoff,
                usergroup_members=members,
                source=f"block_actions:{action.get('action_ts')}",
                dedup_key=_click_key(body, action),
            )
    except LaunchError as exc:
        await ack()
        _tell(deps, respond, f":warning: {exc.message}")
        return
    await ack()
    after_outcome(deps, outcome, user_id=actor.user_id, respond=respond)
    if outcome.status == "approved" and (body.get("container") or {}).get("is_ephemeral"):
        deps.tasks.spawn(refresh_table(deps, respond, outcome.launch_id), name="signoff-table")


async def on_revoke(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond, deps: Deps
) -> None:
    identity = deps.identity
    actor = actor_of(body["user"], identity)
    try:
        value = SignOffValue.decode(action.get("value"))
        async with deps.db.sessions.begin() as session:
            outcome = await check_revoke(
                session=session,
                launch_id=value.launch_id,
                role_id=value.role_id,
                actor=actor,
                at=deps.clock(),
                source=f"block_actions:{action.get('action_ts')}",
                dedup_key=_click_key(body, action),
            )
    except LaunchError as exc:
        await ack()
        _tell(deps, respond, f":warning: {exc.message}")
        return
    await ack()
    if outcome.status != "allowed":
        after_outcome(deps, outcome, user_id=actor.user_id, respond=respond)
        return
    # trigger_id lives 3 s and the ack has just left: open the form right away, after it.
    deps.tasks.spawn(
        _open_revoke_modal(deps, respond, str(body.get("trigger_id") or ""), value),
        name="signoff-revoke-modal",
    )


async def _open_revoke_modal(
    deps: Deps, respond: AsyncRespond, trigger_id: str, value: SignOffValue
) -> None:
    async with deps.db.read_sessions() as session:
        state = await load_state(session=session, launch_id=value.launch_id)
    log = state.sign_offs or EMPTY_LOG
    role = log.role(value.role_id)
    title = role.title if role else value.role_id
    answer = await call_slack(
        deps.slack.views_open(
            trigger_id=trigger_id, view=revoke_modal(state=state, role_title=title, value=value)
        ),
        what="views.open for a revoke form",
    )
    if not answer.ok:
        await respond(
            text=f":warning: I could not open the revoke form (Slack said `{answer.error}`). Nothing "
            f"changed. You can also type `/launch signoff revoke {value.role_id} &lt;reason&gt;`.",
            response_type="ephemeral",
            replace_original=False,
        )


async def on_revoke_submit(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], deps: Deps
) -> None:
    identity = deps.identity
    actor = actor_of(body["user"], identity)
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
        value = SignOffValue.decode(view.get("private_metadata"))
        async with deps.db.sessions.begin() as session:
            outcome = await signoffs_rules.revoke(
                session=session,
                launch_id=value.launch_id,
                role_id=value.role_id,
                actor=actor,
                at=deps.clock(),
                reason=reason,
                source=f"view_submission:{view.get('id')}",
                # One modal is submitted once: its view id identifies the submission.
                dedup_key=f"vs:{view.get('id')}:{actor.user_id}",
            )
    except LaunchError as exc:
        await ack(response_action="errors", errors={SignOffBlock.REVOKE_REASON: plain(exc.message)})
        return
    if outcome.refused:
        await ack(
            response_action="errors", errors={SignOffBlock.REVOKE_REASON: plain(outcome.message)}
        )
        return
    await ack()
    after_outcome(deps, outcome, user_id=actor.user_id, respond=None)


def register(app: AsyncApp) -> None:
    app.action(ActionId.SIGNOFF_APPROVE)(on_approve)
    app.action(ActionId.SIGNOFF_REVOKE)(on_revoke)
    app.view_submission(CallbackId.SIGNOFF_REVOKE)(on_revoke_submit)
