"""/launch contacts [public]: the emergency contacts from the config and the template, answered in the ack."""

from __future__ import annotations

from typing import Any

from bot.contacts.blocks import contacts_view
from bot.contacts.rules import contact_rows
from bot.core.errors import BadInput, NotFound
from bot.core.launches import incident_launch
from bot.core.mrkdwn import escape
from bot.core.schemas import CommandReply, LaunchCommand
from bot.deps import Deps


async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
    if cmd.args and cmd.args[0].lower() not in ("public", "here"):
        raise BadInput(f"`{escape(cmd.args[0])}` is not an option of contacts.")
    public = bool(cmd.args)
    # A running launch keeps the contacts of the template it started from; otherwise the current one.
    template_contacts: list[dict[str, Any]] = [c.model_dump() for c in deps.template.contacts]
    launch_name: str | None = None
    async with deps.db.read_sessions() as session:
        try:
            launch = await incident_launch(session=session, channel_id=cmd.channel_id)
        except NotFound:
            launch = None
    if launch is not None:
        launch_name = launch.name
        template_contacts = list(launch.template_extra.get("contacts") or template_contacts)
    rows = contact_rows(deps.config, template_contacts)
    return CommandReply.of(
        contacts_view(rows, launch_name=launch_name),
        response_type="in_channel" if public else "ephemeral",
    )
