"""Slack identity for sign-offs, the kill switch and closing: display names (users.info) and user-group members (usergroups.users.list), TTL-cached.

Kept out of the domain modules: they take the answers as plain values. ``store_display_name`` is the
post-ack follow-up that swaps the handle stored with a sign-off for the person's display name. Authorization never depends on
a name, only on the verified user id; names are for people reading the card and the report."""

from __future__ import annotations

import logging

from bot.core.errors import NotAllowed
from bot.core.identity import Membership, usergroup_membership
from bot.deps import Deps
from bot.signoffs.close import close_groups_to_check
from bot.signoffs.log import groups_to_check
from bot.signoffs.rules import set_display_name

logger = logging.getLogger(__name__)


async def store_display_name(deps: Deps, *, launch_id: int, user_id: str) -> None:
    """Post-ack follow-up of a sign-off: replace the name stored with it (the payload's handle) by
    the Slack display name, and re-render the card if it changed. A failed lookup keeps the handle."""
    identity = deps.identity
    name = await identity.display_name(user_id)
    if name is None:
        return
    async with deps.db.sessions.begin() as session:
        changed = await set_display_name(
            session=session, launch_id=launch_id, user_id=user_id, name=name, at=deps.clock()
        )
    if changed:
        deps.publisher.kick(launch_id)


async def close_membership(deps: Deps, user_id: str, *, started_by_id: str) -> Membership:
    """The user groups of every configured role, looked up like ``killswitch_membership``, to tell
    whether ``user_id`` may close a launch; none when the user started it or is listed directly."""
    return await usergroup_membership(
        deps.identity,
        user_id,
        close_groups_to_check(deps.config.roles, user_id, started_by_id=started_by_id),
    )


async def usergroup_members(deps: Deps, role_id: str, user_id: str) -> dict[str, frozenset[str]]:
    """Members of the role's user groups (the lookup the kill switch and close use), looked up
    only when the user is not listed directly; a group Slack did not answer for refuses."""
    groups = groups_to_check(deps.config.roles.get(role_id), user_id)
    membership = await usergroup_membership(deps.identity, user_id, groups)
    if membership.unchecked:
        named = ", ".join(f"<!subteam^{g}>" for g in membership.unchecked)
        raise NotAllowed(
            f"I could not check the members of {named} just now (Slack did not answer in time). "
            "Nothing was recorded; please try again."
        )
    return membership.members
