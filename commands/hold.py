"""/launch hold <reason>: pause the go-live sequence; the soak clock stops until /launch resume."""

from __future__ import annotations

from bot.core.kit import notice
from bot.core.schemas import CommandReply, LaunchCommand
from bot.deps import Deps
from bot.golive.hold_flows import hold
from bot.golive.rules import clean_reason


async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
    reason = clean_reason(cmd.rest, required=True, what="hold")
    assert reason is not None
    changed = await hold(
        deps,
        actor=deps.identity.actor(cmd.user_id, cmd.user_name),
        channel_id=cmd.channel_id,
        reason=reason,
    )
    if not changed:
        return CommandReply.of(notice("The go-live sequence is already on hold. Nothing changed."))
    return CommandReply.of(notice("On hold: the soak clock is stopped. `/launch resume` goes on."))
