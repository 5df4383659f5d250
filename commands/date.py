"""/launch date YYYY-MM-DD <reason>: move launch day (T-0); what is not posted yet moves with it.

Allowed: holders of ``[golive] allowed_roles`` or of any sign-off role (``[roles.*]``, their users or
user groups). The move is recorded (``launch_date_moved``) and announced in the channel.
"""

from __future__ import annotations

from bot.calendar.blocks import date_moved
from bot.calendar.dates import clean_reason, move_date
from bot.calendar.rules import parse_launch_date
from bot.checklist.schedule import local_today
from bot.core.errors import BadInput, NotAllowed, NotFound
from bot.core.identity import holds, usergroup_membership
from bot.core.kit import notice
from bot.core.launches import active_launch
from bot.core.mrkdwn import escape
from bot.core.outbox import queue_notice
from bot.core.schemas import CommandReply, LaunchCommand
from bot.deps import Deps
from bot.signoffs.close import close_groups_to_check


def _who_may(deps: Deps) -> str:
    roles = deps.config.roles
    allowed = dict.fromkeys([*deps.config.golive.allowed_roles, *roles])
    titles = [roles[r].title for r in allowed if r in roles]
    return ", ".join(titles) if titles else "nobody (no `[roles]` configured)"


async def _authorize(deps: Deps, user_id: str) -> None:
    roles = deps.config.roles
    groups = close_groups_to_check(roles, user_id, started_by_id="")
    membership = await usergroup_membership(deps.identity, user_id, groups)
    if any(holds(role, user_id, membership.members) for role in roles.values()):
        return
    unchecked = (
        " (some user groups did not answer in time; try again)" if membership.unchecked else ""
    )
    raise NotAllowed(
        f"Only a holder of a sign-off or go-live role ({escape(_who_may(deps))}) may move launch "
        f"day{unchecked}. Nothing was changed."
    )


async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
    if not cmd.args:
        raise BadInput("Give the new launch day and why: `/launch date YYYY-MM-DD &lt;reason&gt;`.")
    rule = deps.config.schedule
    new_date = parse_launch_date(cmd.args[0], today=local_today(deps.clock(), rule))
    reason = clean_reason(cmd.rest.split(None, 1)[1] if len(cmd.rest.split(None, 1)) > 1 else "")
    async with deps.db.read_sessions() as session:
        found = await active_launch(session=session, channel_id=cmd.channel_id)
        if found is None:
            raise NotFound("There is no active launch in this channel.")
        launch_id = found.id
    await _authorize(deps, cmd.user_id)
    async with deps.db.sessions.begin() as session:
        move = await move_date(
            session=session,
            launch_id=launch_id,
            new_date=new_date,
            reason=reason,
            actor=deps.identity.actor(cmd.user_id, cmd.user_name),
            at=deps.clock(),
            rule=rule,
        )
        await queue_notice(
            session=session,
            launch_id=launch_id,
            channel_id=move.channel_id,
            view=date_moved(move, cmd.user_id),
            loud=True,
        )
    return CommandReply.of(
        notice(
            f"Launch day of *{escape(move.name)}* is now {move.after:%a %Y-%m-%d}; "
            f"{move.rescheduled} scheduled post(s) moved with it."
        ),
        launch_id=launch_id,
    )
