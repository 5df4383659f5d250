"""/launch close: end the channel's active launch; recorded, and its messages turn read-only.

Only the person who started the launch or a holder of a configured role may close it (the role's
``users``, or members of its ``usergroups``, looked up and cached as for sign-offs). Anyone else is
refused and the attempt is kept in the launch's log. ``close`` takes no arguments (the router
refuses extra words before anything runs).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.checklist.blocks import launch_closed
from bot.checklist.lifecycle import close_launch
from bot.checklist.rules import open_item_count
from bot.core.errors import NotFound
from bot.core.events import Actor
from bot.core.kit import notice
from bot.core.launches import active_launch
from bot.core.models import Phase
from bot.core.mrkdwn import escape
from bot.core.outbox import queue_notice
from bot.core.refusal import unit_of_work
from bot.core.schemas import CommandReply, LaunchCommand
from bot.deps import Deps
from bot.signoffs.close import authorize_close
from bot.signoffs.flows import close_membership


async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
    async with deps.db.read_sessions() as session:
        found = await active_launch(session=session, channel_id=cmd.channel_id)
        if found is None:
            raise NotFound("There is no active launch in this channel to close.")
        launch_id, started_by_id = found.id, found.started_by_id
    actor = Actor(cmd.user_id, cmd.user_name)
    source = f"slash:{cmd.trigger_id}"
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
            source=source,
        )
        at = deps.clock()
        launch = await close_launch(
            session=session, launch_id=launch_id, actor=actor, at=at, source=source
        )
        name = launch.name
        # The channel is told in a new message (the outbox posts it with the close committed).
        await queue_notice(
            session=session,
            launch_id=launch_id,
            channel_id=launch.channel_id,
            view=launch_closed(
                launch_name=name,
                launch_id=launch_id,
                actor_id=actor.user_id,
                at=at,
                open_items=await _open_items(session, launch_id, launch.current_phase),
            ),
            loud=True,
        )
    return CommandReply.of(
        notice(f"You closed *{escape(name)}* (#{launch_id}); the channel is told."),
        launch_id=launch_id,
    )


async def _open_items(session: AsyncSession, launch_id: int, position: int) -> int:
    phase = await session.scalar(
        select(Phase).where(Phase.launch_id == launch_id, Phase.position == position)
    )
    return 0 if phase is None else await open_item_count(session, phase.id)
