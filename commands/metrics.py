"""/launch metrics: every Prometheus rule now (value, threshold, state) and the template lines no rule watches."""

from __future__ import annotations

from bot.core.kit import notice
from bot.core.launches import active_launch
from bot.core.schemas import CommandReply, LaunchCommand
from bot.deps import Deps
from bot.watch.flows import metrics_now


async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
    # At any time: with no active launch in the channel, the rules are read all the same (a team
    # checks its queries before launch day), without a launch's stored breach times.
    async with deps.db.read_sessions() as session:
        launch = await active_launch(session=session, channel_id=cmd.channel_id)

    async def query() -> CommandReply | None:
        # Prometheus is asked after the ack: a slow query must not hold Slack's 3 seconds.
        return CommandReply.of(await metrics_now(deps, launch))

    view = notice("Querying Prometheus…")
    return CommandReply(text=view.text, blocks=view.blocks, follow_up=query)
