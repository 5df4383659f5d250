"""/launch trigger [<name>]: list the template's immediate rollback triggers, or report one (after a confirmation)."""

from __future__ import annotations

from bot.core.schemas import CommandReply, LaunchCommand
from bot.deps import Deps
from bot.watch.blocks import trigger_confirm, trigger_list
from bot.watch.flows import launch_in, trigger_named
from bot.watch.lines import immediate_triggers


async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
    if not cmd.rest.strip():
        return CommandReply.of(trigger_list(immediate_triggers(deps.template)))
    trigger = trigger_named(deps, cmd.rest.strip())
    await launch_in(deps, cmd.channel_id)
    # Reporting pages PagerDuty as critical: it takes the confirmed press of the Report button.
    return CommandReply.of(trigger_confirm(trigger))
