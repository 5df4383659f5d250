"""/launch status [items] [<name or #id>]: where the launch stands at a glance, or (``items``) every
open item of the current phase; ephemeral."""

from __future__ import annotations

from bot.core.errors import NotFound
from bot.core.launches import active_launch, find_launch, latest_launch
from bot.core.models import Launch
from bot.core.schemas import CommandReply, LaunchCommand
from bot.deps import Deps
from bot.launch.blocks import status_view
from bot.launch.state import load_state


async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
    all_items = bool(cmd.args) and cmd.args[0].lower() == "items"
    ref = cmd.args[1:] if all_items else cmd.args
    async with deps.db.read_sessions() as session:
        if ref:
            launch: Launch | None = await find_launch(
                session=session, ref=" ".join(ref), channel_id=cmd.channel_id
            )
        else:
            launch = await active_launch(session=session, channel_id=cmd.channel_id)
            if launch is None:  # after a close: the most recent launch, shown as closed
                launch = await latest_launch(session=session, channel_id=cmd.channel_id)
        if launch is None:
            raise NotFound(
                "There is no active launch in this channel. Start one with `/launch start &lt;name&gt;`."
            )
        state = await load_state(session=session, launch_id=launch.id, now=deps.clock())
    card = state.card
    return CommandReply.of(
        status_view(
            state,
            card_link=card.permalink if card else None,
            roles=deps.config.roles,
            all_items=all_items,
            gate_rules=[r.name for r in deps.config.prometheus.rules if r.action == "gate"],
            watched=[r.name for r in deps.config.prometheus.rules],
        )
    )
