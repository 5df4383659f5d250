"""/launch close: opens the close confirmation (what is still open, the outcome, a note); the
launch is closed when it is submitted (``bot.launch.listeners``).

Only the person who started the launch or a holder of a configured role may close it (the role's
``users``, or members of its ``usergroups``, looked up and cached as for sign-offs). Anyone else is
refused here, before any modal opens, and the attempt is kept in the launch's log; the submission
checks again. ``close`` takes no arguments (the router refuses extra words before anything runs).
"""

from __future__ import annotations

from bot.core.errors import BadInput, NotFound
from bot.core.kit import notice
from bot.core.launches import active_launch
from bot.core.refusal import unit_of_work
from bot.core.schemas import CommandReply, LaunchCommand
from bot.core.slack_client import open_modal
from bot.deps import Deps
from bot.launch.close_modal import CloseFormMeta, close_modal
from bot.launch.state import load_state
from bot.signoffs.close import authorize_close
from bot.signoffs.flows import close_membership


async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
    async with deps.db.read_sessions() as session:
        found = await active_launch(session=session, channel_id=cmd.channel_id)
        if found is None:
            raise NotFound("There is no active launch in this channel to close.")
        launch_id, started_by_id = found.id, found.started_by_id
    actor = deps.identity.actor(cmd.user_id, cmd.user_name)
    # Cached and bounded (it runs before the ack); no lookup for the starter or a listed holder.
    membership = await close_membership(deps, actor.user_id, started_by_id=started_by_id)
    # A refusal is raised after its record is committed: the refused attempt stays in the log.
    async with unit_of_work(deps.db.sessions) as session:
        await authorize_close(
            session=session,
            launch_id=launch_id,
            actor=actor,
            at=deps.clock(),
            roles=deps.config.roles,
            usergroup_members=membership.members,
            unchecked_groups=membership.unchecked,
            source=f"slash:{cmd.trigger_id}",
        )
    if not cmd.trigger_id:
        raise BadInput("Slack sent no trigger_id, so the close confirmation cannot open.")
    async with deps.db.read_sessions() as session:
        state = await load_state(session=session, launch_id=launch_id, now=deps.clock())
    view = close_modal(state, CloseFormMeta(launch_id=launch_id, channel_id=cmd.channel_id))
    trigger_id = cmd.trigger_id

    async def follow_up() -> CommandReply | None:
        # trigger_id lives 3 s: this runs right after the ack, before anything else.
        problem = await open_modal(deps.slack, trigger_id, view, what="the close confirmation")
        if problem is None:
            return None
        return CommandReply.of(
            notice(
                f":warning: The close confirmation {problem}. "
                "Nothing was closed; run `/launch close` again."
            )
        )

    return CommandReply(text="Opening the close confirmation…", follow_up=follow_up)
