"""/launch killswitch [status|arm|disarm|test]: the confirmation modal, the recorded armed state, and dry runs."""

from __future__ import annotations

import uuid

from bot.checklist.name_flows import name_later
from bot.checklist.proofs import (
    PROOF_ANNOUNCEMENT,
    Proof,
    attach_proof_message,
    tick_proven_item,
    untick_disproven_item,
)
from bot.core.errors import BadInput, Conflict
from bot.core.events import Actor
from bot.core.identity import Membership
from bot.core.kit import notice
from bot.core.launches import incident_launch
from bot.core.models import Launch
from bot.core.mrkdwn import escape
from bot.core.outbox import queue_message
from bot.core.refusal import unit_of_work
from bot.core.schemas import CommandReply, LaunchCommand
from bot.deps import Deps
from bot.incidents.killswitch import (
    allowed_killswitch_titles,
    authorize_killswitch,
    may_fire_killswitch,
    request_killswitch,
    set_armed,
)
from bot.incidents.killswitch_blocks import killswitch_armed_notice, killswitch_status
from bot.incidents.killswitch_flows import (
    confirmation_modal,
    fire_killswitch,
    killswitch_membership,
    open_confirmation,
    require_configured,
)
from bot.incidents.killswitch_state import KillSwitchSummary, killswitch_summary

ACTIONS = ("fire", "status", "arm", "disarm", "test")


async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
    action = _action(cmd)
    async with deps.db.read_sessions() as session:
        launch = await incident_launch(session=session, channel_id=cmd.channel_id)
        summary = await killswitch_summary(session=session, launch_id=launch.id)
    if action == "status":
        return CommandReply.of(
            killswitch_status(
                summary,
                endpoint=deps.config.killswitch.url,
                allowed_titles=allowed_killswitch_titles(deps.config),
            )
        )
    require_configured(deps)
    if action == "fire":
        return await _fire(cmd, deps, launch, summary)
    actor = deps.identity.actor(cmd.user_id, cmd.user_name)
    source = f"slash:{cmd.trigger_id or uuid.uuid4().hex}"
    membership = await _authorized(deps, launch, actor, action, source)
    if action in ("arm", "disarm"):
        return await _arm(deps, launch, actor, action == "arm", source, membership)
    return await _test(cmd, deps, launch, actor, source, membership)


def _action(cmd: LaunchCommand) -> str:
    action = cmd.args[0].lower() if cmd.args else "fire"
    if action not in ACTIONS:
        raise BadInput(f"`{escape(cmd.args[0])}` is not a kill-switch action.")
    if len(cmd.args) > 1:
        # Refused, not ignored: "status please" or "arm now" must not run as if the words were not there.
        extra = " ".join(cmd.args[1:])
        raise BadInput(
            f"`/launch killswitch {action}` takes nothing after `{action}` (got `{escape(extra)}`)."
        )
    return action


async def _authorized(
    deps: Deps, launch: Launch, actor: Actor, action: str, source: str
) -> Membership:
    """The user's allowed-role groups, once they are known to hold a role; else a refusal, raised
    after its record is committed (the refused attempt stays in the log)."""
    membership = await killswitch_membership(deps, actor.user_id)
    async with unit_of_work(deps.db.sessions) as session:
        await authorize_killswitch(
            session=session,
            config=deps.config,
            launch_id=launch.id,
            actor=actor,
            what=action,
            at=deps.clock(),
            source=source,
            usergroup_members=membership.members,
            unchecked_groups=membership.unchecked,
        )
    return membership


async def _fire(
    cmd: LaunchCommand, deps: Deps, launch: Launch, summary: KillSwitchSummary
) -> CommandReply:
    """Open the confirmation modal: nothing is fired before it is submitted."""
    if not cmd.trigger_id:
        raise BadInput("Slack sent no trigger_id, so the confirmation cannot open.")
    # Only for the modal's warning (the submission checks again); cached, bounded, and it warms
    # the cache for the submission.
    membership = await killswitch_membership(deps, cmd.user_id)
    allowed = bool(membership.unchecked) or may_fire_killswitch(
        deps.config, cmd.user_id, membership.members
    )
    view = confirmation_modal(deps, launch, cmd.channel_id, armed=summary.armed, allowed=allowed)
    trigger_id = cmd.trigger_id

    async def follow_up() -> CommandReply | None:
        # trigger_id lives 3 s: this runs right after the ack, before anything else.
        problem = await open_confirmation(deps, trigger_id, view)
        if problem is None:
            return None
        return CommandReply.of(
            notice(
                f":warning: The kill-switch confirmation {problem}. Run `/launch killswitch` again."
            )
        )

    return CommandReply(text="Opening the kill-switch confirmation…", follow_up=follow_up)


async def _arm(
    deps: Deps, launch: Launch, actor: Actor, arm: bool, source: str, membership: Membership
) -> CommandReply:
    """Arm or disarm, told in the channel (an outbox message, so it has a permalink). Arming ticks
    "Kill switch armed" for whoever armed it, and the item links to that message; disarming
    unticks it in the disarmer's name."""
    at = deps.clock()
    async with deps.db.sessions.begin() as session:
        changed = await set_armed(
            session=session,
            config=deps.config,
            launch_id=launch.id,
            armed=arm,
            actor=actor,
            at=at,
            source=source,
            usergroup_members=membership.members,
        )
        if changed:
            tick, unticked = None, None
            if not arm:
                unticked = await untick_disproven_item(
                    session=session,
                    launch_id=launch.id,
                    proof=Proof.KILLSWITCH_ARM,
                    actor=actor,
                    at=at,
                    ref=source,
                )
            if arm:
                tick = await tick_proven_item(
                    session=session,
                    launch_id=launch.id,
                    proof=Proof.KILLSWITCH_ARM,
                    actor=actor,
                    at=at,
                    ref=source,
                )
            message = await queue_message(
                session=session,
                launch_id=launch.id,
                kind=PROOF_ANNOUNCEMENT,
                channel_id=launch.channel_id,
                view=killswitch_armed_notice(launch.name, arm, actor.user_id, at, tick, unticked),
            )
            if tick is not None and tick.ticked and tick.item_id is not None:
                await attach_proof_message(
                    session=session, item_id=tick.item_id, message_id=message.id
                )
    if not changed:
        raise Conflict(f"The kill switch is already {'armed' if arm else 'disarmed'}.")
    state = "🔴 armed" if arm else "⚪ disarmed"
    launch_id = launch.id

    async def after_the_ack() -> CommandReply | None:
        # Ticked (or unticked) under the handle if Slack's name was not cached: shown once known.
        name_later(deps, actor, launch_id, what="proof")
        return None

    return CommandReply(
        text=f"Kill switch {state}; the channel is being told.",
        launch_id=launch.id,
        follow_up=after_the_ack,
    )


async def _test(
    cmd: LaunchCommand,
    deps: Deps,
    launch: Launch,
    actor: Actor,
    source: str,
    membership: Membership,
) -> CommandReply:
    """A dry run: the same signed request with ``"dry_run": true``; stored before it is sent."""
    async with deps.db.sessions.begin() as session:
        request, created = await request_killswitch(
            session=session,
            config=deps.config,
            launch_id=launch.id,
            channel_id=cmd.channel_id,
            actor=actor,
            reason=f"kill switch test by {actor.name}",
            dry_run=True,
            at=deps.clock(),
            request_key=source,
            usergroup_members=membership.members,
        )
        request_pk = request.id

    async def follow_up() -> CommandReply | None:
        await fire_killswitch(deps, request_pk)
        return None

    view = notice(
        '🧪 Testing the kill switch (dry run): sending a signed request with `"dry_run": true`. '
        "The result goes in the launch's thread."
    )
    return CommandReply(
        text=view.text, blocks=view.blocks, follow_up=follow_up if created else None
    )
