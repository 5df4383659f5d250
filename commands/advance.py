"""/launch advance [--force <reason>]: move the go-live sequence to its next step, once the gate is clear."""

from __future__ import annotations

from bot.core.errors import BadInput
from bot.core.kit import notice
from bot.core.schemas import CommandReply, LaunchCommand, is_option
from bot.deps import Deps
from bot.golive.flows import move_traffic, request_advance
from bot.golive.rules import clean_reason


def _force_reason(cmd: LaunchCommand) -> str | None:
    if not cmd.args:
        return None
    if not is_option(cmd.args[0], "force"):
        raise BadInput("`/launch advance` takes no words, or `--force &lt;reason&gt;` to override.")
    rest = cmd.rest.split(None, 1)
    return clean_reason(rest[1] if len(rest) > 1 else "", required=True, what="advance --force")


async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
    force_reason = _force_reason(cmd)
    requested = await request_advance(
        deps,
        actor=deps.identity.actor(cmd.user_id, cmd.user_name),
        channel_id=cmd.channel_id,
        force_reason=force_reason,
        source=f"slash:{cmd.trigger_id}",
    )
    if requested.refusal is not None:
        return CommandReply.of(notice(f":no_entry: {requested.refusal}"))
    request_pk = requested.request_pk
    assert request_pk is not None

    async def send() -> CommandReply | None:
        await move_traffic(deps, request_pk)
        return None

    view = notice(
        f"Moving to *{requested.label}*"
        + (" (forced, recorded)" if force_reason else "")
        + ": traffic first, then the channel is told."
    )
    return CommandReply(
        text=view.text, blocks=view.blocks, launch_id=requested.launch_id, follow_up=send
    )
