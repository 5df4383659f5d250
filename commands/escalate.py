"""/launch escalate [sev1|sev2|sev3] <what's wrong>: store the escalation, then post it and page the
on-call; /launch escalate test: a TEST page through PagerDuty that opens no escalation."""

from __future__ import annotations

import uuid

from bot.core.errors import BadInput, Conflict
from bot.core.events import Actor
from bot.core.kit import notice
from bot.core.launches import incident_launch
from bot.core.mrkdwn import escape
from bot.core.schemas import CommandReply, LaunchCommand
from bot.deps import Deps
from bot.incidents.escalation_flows import run_escalation
from bot.incidents.escalation_test_flows import run_escalation_test
from bot.incidents.escalation_test_page import request_escalation_test
from bot.incidents.escalations import open_escalation, parse_escalation, path_snapshot
from bot.incidents.pagerduty import EscalationClient


async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
    actor = deps.identity.actor(cmd.user_id, cmd.user_name)
    # trigger_id identifies this one request; a replay of it must not open a second escalation.
    request_key = f"slash:{cmd.trigger_id or uuid.uuid4().hex}"
    if cmd.args and cmd.args[0].lower() == "test":
        return await _test(cmd, deps, actor, request_key)
    severity, summary = parse_escalation(cmd.args, cmd.rest)
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


async def _test(cmd: LaunchCommand, deps: Deps, actor: Actor, request_key: str) -> CommandReply:
    """A TEST page (severity info, its own dedup_key): recorded, then sent after the ack. Anyone who
    may escalate may test; no escalation is opened. A page PagerDuty accepted pings nobody in Slack;
    a failed one names who to call (their pager may not reach them: they are the ones to tell)."""
    if len(cmd.args) > 1:
        extra = " ".join(cmd.args[1:])
        raise BadInput(
            f"`/launch escalate test` sends a test page and takes nothing after `test` (got "
            f"`{escape(extra)}`). To escalate a real problem that starts with “test”, put the "
            "severity first: `/launch escalate sev2 test …`."
        )
    if not EscalationClient(deps.http, deps.config.pagerduty).configured:
        raise Conflict(
            "PagerDuty is not configured (`[pagerduty].routing_key`): no test page was sent and "
            "nothing was ticked."
        )
    async with deps.db.sessions.begin() as session:
        launch = await incident_launch(session=session, channel_id=cmd.channel_id)
        dedup_key = await request_escalation_test(
            session=session,
            launch_id=launch.id,
            actor=actor,
            at=deps.clock(),
            request_key=request_key,
        )
    if dedup_key is None:
        return CommandReply.of(notice("This test page was sent already; nothing is sent twice."))
    launch_id, launch_name, channel_id = launch.id, launch.name, launch.channel_id
    key = dedup_key

    async def follow_up() -> CommandReply | None:
        await run_escalation_test(
            deps,
            launch_id=launch_id,
            launch_name=launch_name,
            channel_id=channel_id,
            actor=actor,
            dedup_key=key,
        )
        return None

    view = notice(
        "🧪 Sending a TEST page to PagerDuty (severity info; no escalation is opened, nobody is "
        "pinged here). The result goes in the launch's thread."
    )
    return CommandReply(text=view.text, blocks=view.blocks, follow_up=follow_up)
