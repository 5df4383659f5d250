"""/launch verify: the audit trail checked from Slack, as ``launchbot audit verify`` checks it; a
clean result ticks "Audit trail complete" for whoever asked."""

from __future__ import annotations

import uuid

from bot.audit.verify_flows import verify_in_slack
from bot.core.kit import notice
from bot.core.launches import incident_launch
from bot.core.schemas import CommandReply, LaunchCommand
from bot.deps import Deps


async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
    async with deps.db.read_sessions() as session:
        launch = await incident_launch(session=session, channel_id=cmd.channel_id)
    actor = deps.identity.actor(cmd.user_id, cmd.user_name)
    request_key = f"slash:{cmd.trigger_id or uuid.uuid4().hex}"
    launch_id, launch_name, channel_id = launch.id, launch.name, launch.channel_id

    async def follow_up() -> CommandReply | None:
        # After the ack: a long log takes longer to check than Slack's 3 seconds allow.
        await verify_in_slack(
            deps,
            launch_id=launch_id,
            launch_name=launch_name,
            channel_id=channel_id,
            actor=actor,
            request_key=request_key,
        )
        return None

    view = notice(
        "🔐 Verifying the audit trail (the hash chain, then every row against the log). "
        "The result goes in the launch's thread."
    )
    return CommandReply(text=view.text, blocks=view.blocks, follow_up=follow_up)
