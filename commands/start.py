"""/launch start <name>: create the launch from the template and queue its card and first phase."""

from __future__ import annotations

from bot.checklist.lifecycle import start_launch, validate_name
from bot.core.errors import Conflict
from bot.core.events import Actor
from bot.core.kit import notice
from bot.core.launches import active_launch
from bot.core.mrkdwn import escape
from bot.core.schemas import CommandReply, LaunchCommand
from bot.deps import Deps
from bot.golive.rules import mark_step_items
from bot.launch.state import load_state


async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
    name = validate_name(cmd.rest)
    async with deps.db.read_sessions() as session:
        existing = await active_launch(session=session, channel_id=cmd.channel_id)
        if existing is not None:
            state = await load_state(session=session, launch_id=existing.id)
            card = state.card
            link = f" <{card.permalink}|Open its card>." if card and card.permalink else ""
            raise Conflict(
                f"This channel already has an active launch: *{escape(existing.name)}* (#{existing.id}).{link}"
                " Close it with `/launch close` before starting another."
            )
    async with deps.db.sessions.begin() as session:
        launch = await start_launch(
            session=session,
            template=deps.template,
            name=name,
            team_id=cmd.team_id,
            channel_id=cmd.channel_id,
            actor=Actor(cmd.user_id, cmd.user_name),
            at=deps.clock(),
            source=f"slash:{cmd.trigger_id}",
        )
        # Go-live steps that are items of their own are ticked by the bot, never by hand.
        await mark_step_items(session=session, launch_id=launch.id)
    deps.metrics.inc("launchbot_launches_started_total")
    return CommandReply.of(
        notice(
            f":rocket: Started *{escape(launch.name)}* (launch #{launch.id}). Posting its card and checklist here."
        ),
        launch_id=launch.id,
    )
