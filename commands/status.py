"""/launch status [<name or #id>]: progress per phase and section, what is still open, a link to the card (ephemeral)."""

from __future__ import annotations

from bot import checklist
from bot.blocks import status_view
from bot.deps import Deps
from bot.errors import NotFound
from bot.models import Launch
from bot.schemas import CommandReply, LaunchCommand


async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
    async with deps.db.read_sessions() as session:
        if cmd.args:
            launch: Launch | None = await checklist.find_launch(
                session=session, ref=" ".join(cmd.args)
            )
        else:
            launch = await checklist.active_launch(session=session, channel_id=cmd.channel_id)
        if launch is None:
            raise NotFound(
                "There is no active launch in this channel. Start one with `/launch start &lt;name&gt;`."
            )
        state = await checklist.load_state(session=session, launch_id=launch.id)
    card = state.card
    return CommandReply.of(status_view(state, card_link=card.permalink if card else None))
