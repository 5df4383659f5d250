"""/launch killswitch [status|arm|disarm|test]: the confirmation modal, the recorded armed state, and dry runs."""

from __future__ import annotations

import uuid

from bot.contacts.blocks import call_list
from bot.contacts.rules import people_to_call
from bot.core.errors import BadInput, Conflict
from bot.core.events import Actor
from bot.core.kit import notice
from bot.core.launches import incident_launch
from bot.core.models import Launch
from bot.core.mrkdwn import escape
from bot.core.refusal import unit_of_work
from bot.core.schemas import CommandReply, LaunchCommand
from bot.core.slack_client import call_slack
from bot.deps import Deps
from bot.incidents.blocks import killswitch_armed_notice, killswitch_modal, killswitch_status
from bot.incidents.killswitch import (
    allowed_killswitch_titles,
    authorize_killswitch,
    killswitch_summary,
    may_fire_killswitch,
    request_killswitch,
    set_armed,
)
from bot.incidents.killswitch_flows import KillSwitchClient, fire_killswitch, killswitch_membership

ACTIONS = ("fire", "status", "arm", "disarm", "test")


async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
    action = cmd.args[0].lower() if cmd.args else "fire"
    if action not in ACTIONS:
        raise BadInput(f"`{escape(cmd.args[0])}` is not a kill-switch action.")
    if len(cmd.args) > 1:
        # Refused, not ignored: "status please" or "arm now" must not run as if the words were not there.
        extra = " ".join(cmd.args[1:])
        raise BadInput(
            f"`/launch killswitch {action}` takes nothing after `{action}` (got `{escape(extra)}`)."
        )
    async with deps.db.read_sessions() as session:
        launch = await incident_launch(session=session, channel_id=cmd.channel_id)
        summary = await killswitch_summary(session=session, launch_id=launch.id)
    actor = Actor(cmd.user_id, cmd.user_name)
    source = f"slash:{cmd.trigger_id or uuid.uuid4().hex}"
    if action == "status":
        return CommandReply.of(
            killswitch_status(
                summary,
                endpoint=deps.config.killswitch.url,
                allowed_titles=allowed_killswitch_titles(deps.config),
            )
        )
    if action == "fire":
        _require_configured(deps)
        # Only for the modal's warning (the submission checks again); cached, bounded, and it warms
        # the cache for the submission.
        membership = await killswitch_membership(deps, cmd.user_id)
        allowed = bool(membership.unchecked) or may_fire_killswitch(
            deps.config, cmd.user_id, membership.members
        )
        return _open_modal(cmd, deps, launch, armed=summary.armed, allowed=allowed)
    _require_configured(deps)
    membership = await killswitch_membership(deps, actor.user_id)
    # A refusal is raised after its record is committed: the refused attempt stays in the log.
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
    if action in ("arm", "disarm"):
        at = deps.clock()
        async with deps.db.sessions.begin() as session:
            changed = await set_armed(
                session=session,
                config=deps.config,
                launch_id=launch.id,
                armed=action == "arm",
                actor=actor,
                at=at,
                source=source,
                usergroup_members=membership.members,
            )
        if not changed:
            raise Conflict(
                f"The kill switch is already {'armed' if action == 'arm' else 'disarmed'}."
            )
        return CommandReply.of(
            killswitch_armed_notice(launch.name, action == "arm", actor.user_id, at),
            response_type="in_channel",
            launch_id=launch.id,
        )
    # test: the same signed request with "dry_run": true; stored before it is sent.
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


def _require_configured(deps: Deps) -> None:
    problem = KillSwitchClient(deps.http, deps.config.killswitch).missing_config
    if problem is not None:
        people = people_to_call(deps.config, deps.config.killswitch.call_on_failure)
        raise Conflict(
            f"The kill switch is not configured: {problem}. Who to call instead:\n"
            + call_list(people)
        )


def _open_modal(
    cmd: LaunchCommand, deps: Deps, launch: Launch, *, armed: bool, allowed: bool
) -> CommandReply:
    if not cmd.trigger_id:
        raise BadInput("Slack sent no trigger_id, so the confirmation cannot open.")
    assert deps.config.killswitch.url is not None
    view = killswitch_modal(
        launch_id=launch.id,
        launch_name=launch.name,
        channel_id=cmd.channel_id,
        endpoint=deps.config.killswitch.url,
        tries=deps.config.killswitch.tries,
        armed=armed,
        allowed=allowed,
        allowed_titles=allowed_killswitch_titles(deps.config),
    )

    async def follow_up() -> CommandReply | None:
        # trigger_id lives 3 s: this runs right after the ack, before anything else.
        answer = await call_slack(
            deps.slack.views_open(trigger_id=cmd.trigger_id, view=view),
            what="views.open for the kill-switch confirmation",
        )
        if not answer.ok:
            error = escape(answer.error or "")
            return CommandReply.of(
                notice(
                    f":warning: The kill-switch confirmation did not open (Slack said `{error}`). "
                    "Run `/launch killswitch` again."
                )
            )
        return None

    return CommandReply(text="Opening the kill-switch confirmation…", follow_up=follow_up)
