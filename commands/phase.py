"""/launch phase next: post the next phase once every item of the current one is ticked."""

from __future__ import annotations

from bot.checklist.blocks import phase_posted
from bot.checklist.lifecycle import advance_phase
from bot.checklist.rules import open_item_count
from bot.core.errors import BadInput, NotFound
from bot.core.kit import notice
from bot.core.launches import active_launch
from bot.core.mrkdwn import escape
from bot.core.outbox import queue_notice
from bot.core.schemas import CommandReply, LaunchCommand
from bot.deps import Deps


async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
    if cmd.args != ["next"]:
        raise BadInput("`/launch phase` takes one argument: `next`.")
    async with deps.db.sessions.begin() as session:
        launch = await active_launch(session=session, channel_id=cmd.channel_id)
        if launch is None:
            raise NotFound("There is no active launch in this channel.")
        at = deps.clock()
        phase = await advance_phase(
            session=session,
            launch_id=launch.id,
            actor=deps.identity.actor(cmd.user_id, cmd.user_name),
            at=at,
            source=f"slash:{cmd.trigger_id}",
        )
        # A new channel message, not only the card edited: whoever glances at the channel sees it.
        await queue_notice(
            session=session,
            launch_id=launch.id,
            channel_id=launch.channel_id,
            view=phase_posted(
                launch_name=launch.name,
                title=phase.title,
                timing=phase.timing or "",
                open_items=await open_item_count(session, phase.id),
                actor_id=cmd.user_id,
                at=at,
            ),
            loud=True,
        )
    return CommandReply.of(
        notice(f"Moving on: posting *{escape(phase.title)}* in the launch thread."),
        launch_id=launch.id,
    )
