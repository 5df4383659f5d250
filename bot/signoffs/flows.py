"""The sign-off flows, one for the Approve/Revoke buttons and ``/launch signoff approve|revoke`` alike.

A flow binds the attempt to where it was made (the launch must live in the channel the button was
pressed or the command typed in), looks up the role's user-group members (cached, before the
transaction: no lock is held while Slack answers), runs the rule in one ``unit_of_work`` (a refused
attempt stays in the log and ``Refused`` propagates), and ``after_signoff`` is the post-ack work:
publish the card and swap the stored handle for the Slack display name.

Authorization never depends on a name, only on the verified user id; names are for people reading
the card and the report."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.binding import launch_in_channel
from bot.core.errors import NotAllowed
from bot.core.events import Actor, EventKind
from bot.core.identity import Membership, usergroup_membership
from bot.core.models import Launch
from bot.core.outbox import queue_notice
from bot.core.reactions import Happened
from bot.core.refusal import unit_of_work
from bot.deps import Deps
from bot.signoffs.close import close_groups_to_check
from bot.signoffs.go_blocks import go_withdrawn_notice
from bot.signoffs.log import groups_to_check
from bot.signoffs.revoke import check_revoke, revoke
from bot.signoffs.rules import (
    REASON_MAX,
    SignOffOutcome,
    approve,
    clean_text,
    set_display_name,
)

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


@dataclass(frozen=True)
class SignOffAttempt:
    """Who asks to approve or revoke which role of which launch, and where they asked."""

    launch_id: int
    role_id: str
    actor: Actor  # from Slack's verified payload
    channel_id: str | None  # the launch must live there
    source: str
    dedup_key: str | None


async def approve_signoff(
    deps: Deps, attempt: SignOffAttempt, *, comment: str | None = None, open_items_ok: bool = True
) -> SignOffOutcome:
    """Approve, or raise ``Refused`` (a refused attempt by a person is kept in the log);
    ``open_items_ok`` False: ``unconfirmed`` (nothing written) while the current phase has open
    items, for an approver who was not asked yet (the button's confirm dialog asks)."""
    members = await usergroup_members(deps, attempt.role_id, attempt.actor.user_id)
    async with unit_of_work(deps.db.sessions) as session:
        await _bind(session, attempt, "a sign-off approval")
        return await approve(
            session=session,
            launch_id=attempt.launch_id,
            role_id=attempt.role_id,
            actor=attempt.actor,
            at=deps.clock(),
            roles=deps.config.roles,
            policy=deps.config.signoff,
            usergroup_members=members,
            comment=comment,
            source=attempt.source,
            dedup_key=attempt.dedup_key,
            open_items_ok=open_items_ok,
        )


async def check_revoke_signoff(deps: Deps, attempt: SignOffAttempt) -> SignOffOutcome:
    """May the person revoke? ``allowed`` (nothing written), ``duplicate``, or ``Refused``."""
    async with unit_of_work(deps.db.sessions) as session:
        await _bind(session, attempt, "a sign-off revocation")
        return await check_revoke(
            session=session,
            launch_id=attempt.launch_id,
            role_id=attempt.role_id,
            actor=attempt.actor,
            at=deps.clock(),
            source=attempt.source,
            dedup_key=attempt.dedup_key,
        )


async def revoke_signoff(deps: Deps, attempt: SignOffAttempt, *, reason: str) -> SignOffOutcome:
    """Revoke the person's own approval with a reason, or raise ``Refused``. A GO withdrawn by it
    is announced in the channel with @here, in the same transaction."""
    async with unit_of_work(deps.db.sessions) as session:
        await _bind(session, attempt, "a sign-off revocation")
        at = deps.clock()
        outcome = await revoke(
            session=session,
            launch_id=attempt.launch_id,
            role_id=attempt.role_id,
            actor=attempt.actor,
            at=at,
            reason=reason,
            source=attempt.source,
            dedup_key=attempt.dedup_key,
        )
        if outcome.go_withdrawn and outcome.go_number is not None and outcome.role is not None:
            launch = await session.get(Launch, outcome.launch_id)
            assert launch is not None
            await queue_notice(
                session=session,
                launch_id=launch.id,
                channel_id=launch.channel_id,
                view=go_withdrawn_notice(
                    launch_name=launch.name,
                    number=outcome.go_number,
                    role_title=outcome.role.title,
                    actor_id=attempt.actor.user_id,
                    reason=clean_text(reason, REASON_MAX, "reason"),
                    at=at,
                ),
                loud=True,
            )
        return outcome


async def _bind(session: AsyncSession, attempt: SignOffAttempt, what: str) -> None:
    await launch_in_channel(
        session, attempt.launch_id, attempt.channel_id, what=what, user_id=attempt.actor.user_id
    )


def after_signoff(deps: Deps, outcome: SignOffOutcome, *, actor: Actor) -> None:
    """Post-ack work of an approval or revocation: publish the card, resolve the display name, and
    tell whoever reacts to GO being withdrawn (the go-live sequence holds)."""
    if outcome.go_withdrawn:
        happened = Happened(
            EventKind.GO_WITHDRAWN,
            outcome.launch_id,
            actor,  # named as everywhere ("by @carol"), never by the bare user id
            {"role": outcome.role.title if outcome.role else None},
        )
        deps.tasks.spawn(deps.reactions.emit(happened), name="go-withdrawn-reactions")
    if outcome.status in ("approved", "revoked"):
        deps.publisher.kick(outcome.launch_id)
        deps.tasks.spawn(
            store_display_name(deps, launch_id=outcome.launch_id, user_id=actor.user_id),
            name="signoff-display-name",
        )
