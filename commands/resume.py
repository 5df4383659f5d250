"""/launch resume: end a hold; the soak clock runs again (the time held is not counted)."""

from __future__ import annotations

from bot.core.kit import notice
from bot.core.schemas import CommandReply, LaunchCommand
from bot.deps import Deps
from bot.golive.hold_flows import resume


async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
    seconds = await resume(
        deps, actor=deps.identity.actor(cmd.user_id, cmd.user_name), channel_id=cmd.channel_id
    )
    return CommandReply.of(
        notice(f"Resumed after {max(1, round(seconds / 60))} min on hold (not counted as soak).")
    )
