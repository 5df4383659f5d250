"""/launch close: end the channel's active launch; recorded, and its messages turn read-only."""

from __future__ import annotations

from bot import checklist
from bot.blocks import escape, notice
from bot.checklist import Actor
from bot.deps import Deps
from bot.errors import NotFound
from bot.schemas import CommandReply, LaunchCommand


async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
    async with deps.db.sessions.begin() as session:
        launch = await checklist.active_launch(session=session, channel_id=cmd.channel_id)
        if launch is None:
            raise NotFound("There is no active launch in this channel to close.")
        await checklist.close_launch(
            session=session,
            launch_id=launch.id,
            actor=Actor(cmd.user_id, cmd.user_name),
            at=deps.clock(),
            source=f"slash:{cmd.trigger_id}",
        )
    return CommandReply.of(
        notice(f"Closed *{escape(launch.name)}* (#{launch.id}). Its checklist is now read-only."),
        response_type="in_channel",
        launch_id=launch.id,
    )
