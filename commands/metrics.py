"""/launch metrics: every Prometheus rule now (value, threshold, state) and the template lines no rule watches."""

from __future__ import annotations

from bot.core.kit import notice
from bot.core.schemas import CommandReply, LaunchCommand
from bot.deps import Deps
from bot.watch.flows import launch_in, metrics_now


async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
    launch = await launch_in(deps, cmd.channel_id)

    async def query() -> CommandReply | None:
        # Prometheus is asked after the ack: a slow query must not hold Slack's 3 seconds.
        return CommandReply.of(await metrics_now(deps, launch))

    view = notice("Querying Prometheus…")
    return CommandReply(text=view.text, blocks=view.blocks, follow_up=query)
