"""/launch waive [n/a] "<item>" <reason>: a sign-off role holder waives an item (or marks it not
applicable) with a reason; recorded, shown struck through, counted as done for phase completion."""

from __future__ import annotations

from bot.checklist.waivers import WAIVE_KINDS, find_item, waive_item
from bot.core.errors import BadInput, NotFound
from bot.core.events import Actor
from bot.core.identity import usergroup_membership
from bot.core.kit import mention, notice
from bot.core.launches import active_launch
from bot.core.mrkdwn import escape
from bot.core.refusal import unit_of_work
from bot.core.schemas import CommandReply, LaunchCommand
from bot.deps import Deps
from bot.signoffs.close import close_groups_to_check

NOT_APPLICABLE = ("n/a", "na", "not-applicable")


async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
    args = list(cmd.args)
    kind = "waived"
    if args and args[0].lower() in NOT_APPLICABLE:
        kind, args = "not_applicable", args[1:]
    if len(args) < 2:
        raise BadInput("Name the item (in quotes when it has spaces) and give a reason.")
    ref, reason = args[0], " ".join(args[1:])
    async with deps.db.read_sessions() as session:
        launch = await active_launch(session=session, channel_id=cmd.channel_id)
        if launch is None:
            raise NotFound("There is no active launch in this channel.")
        item = await find_item(session=session, launch_id=launch.id, ref=ref)
        launch_id, item_id = launch.id, item.id
    actor = Actor(cmd.user_id, cmd.user_name)
    # Every role's user groups (none when the user is listed in a role directly): cached, bounded.
    groups = close_groups_to_check(deps.config.roles, actor.user_id, started_by_id="")
    membership = await usergroup_membership(deps.identity, actor.user_id, groups)
    async with unit_of_work(deps.db.sessions) as session:
        waived = await waive_item(
            session=session,
            launch_id=launch_id,
            item_id=item_id,
            kind=kind,
            reason=reason,
            actor=actor,
            at=deps.clock(),
            roles=deps.config.roles,
            usergroup_members=membership.members,
            unchecked_groups=membership.unchecked,
            source=f"slash:{cmd.trigger_id}",
        )
    label = WAIVE_KINDS[waived.kind]
    return CommandReply.of(
        notice(
            f"~{escape(waived.text)}~ marked *{label}* by {mention(actor.user_id)}: "
            f"{escape(' '.join(reason.split()))}"
        ),
        response_type="in_channel",
        launch_id=launch_id,
    )
