"""/launch escalate [sev1|sev2|sev3] <what's wrong>: store the escalation, then post it and page the on-call."""

from __future__ import annotations

import uuid

from bot.core.events import Actor
from bot.core.kit import notice
from bot.core.launches import incident_launch
from bot.core.mrkdwn import escape
from bot.core.schemas import CommandReply, LaunchCommand
from bot.deps import Deps
from bot.incidents.escalation_flows import run_escalation
from bot.incidents.escalations import open_escalation, parse_escalation, path_snapshot


async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
    severity, summary = parse_escalation(cmd.args, cmd.rest)
    actor = Actor(cmd.user_id, cmd.user_name)
    # trigger_id identifies this one request; a replay of it must not open a second escalation.
    request_key = f"slash:{cmd.trigger_id or uuid.uuid4().hex}"
    async with deps.db.sessions.begin() as session:
        launch = await incident_launch(session=session, channel_id=cmd.channel_id)
        row, created = await open_escalation(
            session=session,
            launch_id=launch.id,
            channel_id=cmd.channel_id,
            severity=severity,
            summary=summary,
            reporter=actor,
            path=path_snapshot(deps.config.escalation.levels),
            at=deps.clock(),
            request_key=request_key,
        )
        escalation_id, sev = row.id, row.severity.upper()
        permalink = row.permalink
    if not created:
        link = f" <{permalink}|See it here>." if permalink else ""
        return CommandReply.of(
            notice(
                f"This is already escalation #{escalation_id} ({sev}), still open; "
                f"nobody is paged twice for it.{link}"
            )
        )

    async def follow_up() -> CommandReply | None:
        await run_escalation(deps, escalation_id)
        return None

    view = notice(
        f":rotating_light: Escalation #{escalation_id} ({sev}) recorded: {escape(summary)}. "
        "Posting it here and paging the on-call…"
    )
    return CommandReply(text=view.text, blocks=view.blocks, follow_up=follow_up)
