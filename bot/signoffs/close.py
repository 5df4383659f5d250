"""Who may close a launch: its starter or a sign-off role holder; refusals are recorded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.config import RoleConfig
from bot.core.errors import Conflict, NotAllowed
from bot.core.events import Actor, EventKind, append_event
from bot.core.identity import holds
from bot.core.launches import lock_launch
from bot.core.mrkdwn import escape
from bot.signoffs.log import holders_text

# ---------------------------------------------------------------------------------------------------
# Who may close a launch: the person who started it, or a holder of any configured role.


def close_groups_to_check(
    roles: Mapping[str, RoleConfig], user_id: str, *, started_by_id: str
) -> tuple[str, ...]:
    """The user groups whose membership decides whether ``user_id`` may close a launch started by
    ``started_by_id``: those of every configured role, none when the user started it or is listed
    directly in a role (the common case needs no Slack call)."""
    if user_id == started_by_id or any(user_id in role.users for role in roles.values()):
        return ()
    return tuple(dict.fromkeys(g for role in roles.values() for g in role.usergroups))


def may_close(
    roles: Mapping[str, RoleConfig],
    user_id: str,
    *,
    started_by_id: str,
    usergroup_members: Mapping[str, frozenset[str]],
) -> bool:
    """The starter, or whoever holds a configured role (listed in its ``users`` or a member of one
    of its ``usergroups``, whose members the caller looked up; a group not looked up counts as
    empty). ``user_id`` must come from Slack's verified payload."""
    return user_id == started_by_id or any(
        holds(role, user_id, usergroup_members) for role in roles.values()
    )


def who_may_close_text(
    roles: Mapping[str, RoleConfig], started_by_id: str, launch_name: str
) -> str:
    """``<@starter> (who started it) or a holder of a sign-off role may close *Name*: CTO (<@U…>); …``
    (mrkdwn; roles nobody holds are left out)."""
    held = [
        f"{escape(role.title)} ({holders_text(role)})"
        for role in roles.values()
        if role.users or role.usergroups
    ]
    who = f"<@{started_by_id}> (who started it)"
    if not held:
        return f"{who} may close *{escape(launch_name)}*"
    return (
        f"{who} or a holder of a sign-off role may close *{escape(launch_name)}*: {'; '.join(held)}"
    )


async def authorize_close(
    *,
    session: AsyncSession,
    launch_id: int,
    actor: Actor,
    at: datetime,
    roles: Mapping[str, RoleConfig],
    usergroup_members: Mapping[str, frozenset[str]],
    unchecked_groups: Sequence[str] = (),
    source: str = "",
) -> None:
    """Returns when ``actor`` may close the launch (see ``may_close``); otherwise the refused
    attempt is appended to the log (a ``launch_close_refused`` event) and ``Refused`` raised.
    ``unchecked_groups`` are groups Slack did not answer for in time: then nobody knows whether the
    person holds a role, and the attempt is refused, never guessed. Locks the launch; the caller's
    ``unit_of_work`` commits the record (``recorded=True``)."""
    launch = await lock_launch(session, launch_id)
    if launch.closed_at is not None:
        raise Conflict(f"Launch *{escape(launch.name)}* is already closed.")
    if may_close(
        roles,
        actor.user_id,
        started_by_id=launch.started_by_id,
        usergroup_members=usergroup_members,
    ):
        return
    who = who_may_close_text(roles, launch.started_by_id, launch.name)
    code = "not_starter_or_role_holder"
    detail: dict[str, Any] = {"action": "close", "reason": code}
    message = f"Only {who}. Your attempt was logged."
    if unchecked_groups:
        code = "usergroup_unchecked"
        detail = {
            "action": "close",
            "reason": code,
            "usergroups": list(unchecked_groups),
        }
        groups = ", ".join(f"<!subteam^{g}>" for g in unchecked_groups)
        message = (
            f"I could not check the members of {groups} just now (Slack did not answer in time), "
            f"so I cannot tell whether you hold a sign-off role. Only {who}. Your attempt was "
            "logged; please try again."
        )
    await append_event(
        session=session,
        launch_id=launch.id,
        actor=actor,
        kind=EventKind.LAUNCH_CLOSE_REFUSED,
        at=at,
        detail=detail,
        source=source,
    )
    raise NotAllowed(message, code=code, recorded=True)
