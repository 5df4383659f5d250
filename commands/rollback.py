"""/launch rollback [all] <reason>: back one go-live step, or (``all``) live traffic to 0."""

from __future__ import annotations

from bot.core.kit import notice
from bot.core.schemas import CommandReply, LaunchCommand
from bot.deps import Deps
from bot.golive.flows import move_traffic, request_rollback
from bot.golive.rules import clean_reason


async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
    all_the_way = bool(cmd.args) and cmd.args[0].lower() == "all"
    text = cmd.rest.split(None, 1)[1] if all_the_way and len(cmd.rest.split(None, 1)) > 1 else ""
    reason = clean_reason(
        text if all_the_way else cmd.rest,
        required=True,
        what="rollback all" if all_the_way else "rollback",
    )
    assert reason is not None
    requested = await request_rollback(
        deps,
        actor=deps.identity.actor(cmd.user_id, cmd.user_name),
        channel_id=cmd.channel_id,
        reason=reason,
        all_the_way=all_the_way,
        source=f"slash:{cmd.trigger_id}",
    )
    request_pk = requested.request_pk
    assert request_pk is not None

    async def send() -> CommandReply | None:
        await move_traffic(deps, request_pk)
        return None

    view = notice(
        f"Rolling back to *{requested.label}*: traffic first, then the channel is told. "
        "The rollback criteria follow in the launch card's thread."
    )
    return CommandReply(
        text=view.text, blocks=view.blocks, launch_id=requested.launch_id, follow_up=send
    )
