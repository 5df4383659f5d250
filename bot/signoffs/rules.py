"""Sign-off rules: who may approve which role, four eyes, N of M, approve/revoke, GO; takes an AsyncSession."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NoReturn

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.config import RoleConfig, SignOffConfig
from bot.core.errors import BadInput, NotFound
from bot.core.events import SYSTEM, Actor, EventKind, append_event, seen
from bot.core.identity import holds
from bot.core.kit import slack_date
from bot.core.launches import lock_launch
from bot.core.models import Launch, SignOff, SlackMessage
from bot.core.mrkdwn import escape
from bot.core.refusal import Refused
from bot.signoffs.go import declare_go_if_complete, launch_progress, readiness
from bot.signoffs.log import LaunchRole, RoleStatus, SignOffLog, board, holders_text, load_sign_offs

COMMENT_MAX = 500
REASON_MAX = 500


# ---------------------------------------------------------------------------------------------------
# Writes


# "unconfirmed": nothing written, the approver is asked first (``approve``'s ``open_items_ok``).
Status = Literal["approved", "revoked", "allowed", "duplicate", "unconfirmed"]


def open_items_question(phase: str, count: int) -> str:
    """What an approver is asked while the current phase has open items (plain text): on the
    Approve button's confirm dialog and in the answer to ``/launch signoff approve``."""
    items = "open item" if count == 1 else "open items"
    return f"{phase} has {count} {items}. Approve anyway?"


@dataclass(frozen=True)
class SignOffOutcome:
    """What a sign-off action did (a refusal is raised instead: ``Refused(recorded=True)``, whose
    attempt the caller's ``unit_of_work`` commits). ``message`` is safe mrkdwn for the person who
    acted."""

    launch_id: int
    status: Status
    message: str
    role: LaunchRole | None = None
    sign_off_id: int | None = None
    go_declared: bool = False
    go_withdrawn: bool = False
    go_number: int | None = None  # the GO declared or withdrawn


@dataclass(frozen=True)
class _Approval:
    """What an approval is decided on, read once under the launch's lock."""

    launch: Launch
    log: SignOffLog
    role: LaunchRole
    config: RoleConfig | None
    rows: tuple[RoleStatus, ...]
    row: RoleStatus


async def approve(
    *,
    session: AsyncSession,
    launch_id: int,
    role_id: str,
    actor: Actor,
    at: datetime,
    roles: Mapping[str, RoleConfig],
    policy: SignOffConfig,
    usergroup_members: Mapping[str, frozenset[str]] | None = None,
    comment: str | None = None,
    source: str = "",
    dedup_key: str | None = None,
    open_items_ok: bool = True,
) -> SignOffOutcome:
    """Approve ``role_id`` as ``actor`` if the rules allow it, else record the attempt and raise
    ``Refused(recorded=True)``. Open items never block an approval (the go-live gate does), but
    nobody approves unaware: with ``open_items_ok`` False (the approver was not asked yet) and open
    items in the current phase, nothing is written and the outcome is ``unconfirmed``, whose
    message asks (once the approval is known to be allowed, so nobody is asked in vain).

    ``actor.user_id`` must come from Slack's verified payload. Rules, in order: the launch is open;
    the role has holders; the actor holds it (listed in ``users`` or a member of one of its
    ``usergroups``, whose members the caller looked up); an approval by the same person is a no-op
    (double click); the role still needs approvals; the person has not signed another role of this
    launch (unless ``policy.allow_multiple_roles``); and the person who started the launch is not
    about to be its only approver. The approval that completes every role declares GO and queues
    the GO message."""
    launch = await lock_launch(session, launch_id)
    if dedup_key is not None and await seen(session, dedup_key):
        return SignOffOutcome(launch_id, "duplicate", "Already recorded.")
    comment = clean_text(comment, COMMENT_MAX, "comment") if comment else None
    a = await _read_approval(session, launch, role_id, roles)
    refusal = _holder_refusal(a, actor, usergroup_members or {})
    if refusal is None and (mine := a.row.approved_by(actor.user_id)) is not None:
        return SignOffOutcome(
            launch.id,
            "duplicate",
            f"You already approved as {escape(a.role.title)} ({slack_date(mine.at)}).",
            role=a.role,
            sign_off_id=mine.id,
        )
    refusal = refusal or _approval_refusal(a, actor, policy)
    if refusal is not None:
        await refuse(session, launch, a.role, actor, at, "approve", refusal, source, dedup_key)
    if not open_items_ok:
        ready = await readiness(session, launch)
        if ready["open_count"]:
            question = open_items_question(str(ready["current_phase"]), ready["open_count"])
            return SignOffOutcome(launch.id, "unconfirmed", escape(question), role=a.role)
    sign_off = await _store_approval(session, a, actor, at, comment, source, dedup_key)
    go_declared = await declare_go_if_complete(session, a.launch, a.log, roles, actor, at)
    await bump_card(session, launch.id)
    message = f"Approved as {escape(a.role.title)}."
    if go_declared:
        message += " That was the last sign-off: the launch is *GO*."
    return SignOffOutcome(
        launch.id,
        "approved",
        message,
        role=a.role,
        sign_off_id=sign_off.id,
        go_declared=go_declared,
    )


async def _read_approval(
    session: AsyncSession, launch: Launch, role_id: str, roles: Mapping[str, RoleConfig]
) -> _Approval:
    log = await load_sign_offs(session=session, launch=launch)
    role = role_of(log, role_id)
    rows = board(log, roles)
    row = next(r for r in rows if r.role.role_id == role.role_id)
    return _Approval(launch, log, role, roles.get(role.role_id), rows, row)


def _holder_refusal(
    a: _Approval, actor: Actor, members: Mapping[str, frozenset[str]]
) -> Refused | None:
    """The launch is open, the role has holders and ``actor`` is one of them."""
    title = escape(a.role.title)
    if a.launch.closed_at is not None:
        return Refused(
            "closed",
            f"Launch *{escape(a.launch.name)}* is closed; its sign-offs can no longer change.",
        )
    if a.config is None or not a.row.configured:
        return Refused(
            "no_holder",
            f"Nobody holds the {title} role yet, so it cannot be approved: add Slack "
            f"user IDs to `[roles.{a.role.role_id}]` in the bot's config.",
        )
    if not holds(a.config, actor.user_id, members):
        return Refused(
            "not_holder", f"Only the {title} can approve this (held by {holders_text(a.config)})."
        )
    return None


def _approval_refusal(a: _Approval, actor: Actor, policy: SignOffConfig) -> Refused | None:
    """The role still needs an approval, four eyes, and the starter is not the only approver."""
    title = escape(a.role.title)
    if a.row.approved:
        by = ", ".join(f"<@{x.user_id}>" for x in a.row.approvals)
        return Refused("already_approved", f"{title} is already approved by {by}.")
    other = next((x for r in a.rows for x in r.approvals if x.user_id == actor.user_id), None)
    if not policy.allow_multiple_roles and other is not None:
        return Refused(
            "four_eyes",
            f"You already signed off as {escape(other.role_title)} on this launch. One person signs "
            f"for one role (four-eyes rule), so someone else must approve {title}.",
        )
    if actor.user_id == a.launch.started_by_id and _would_be_sole_approver(a.rows, a.role, actor):
        return Refused(
            "starter_only_approver",
            "You started this launch, so you cannot also be its only approver: someone else must "
            "approve at least one of its roles.",
        )
    return None


async def _store_approval(
    session: AsyncSession,
    a: _Approval,
    actor: Actor,
    at: datetime,
    comment: str | None,
    source: str,
    dedup_key: str | None,
) -> SignOff:
    """The sign-off row (in the role's first free slot) and its event, linked both ways."""
    assert a.config is not None
    progress = await launch_progress(session, a.launch)
    slots_taken = set(
        (
            await session.scalars(
                select(SignOff.active_slot).where(
                    SignOff.launch_id == a.launch.id,
                    SignOff.role_id == a.role.role_id,
                    SignOff.active_slot.is_not(None),
                )
            )
        ).all()
    )
    sign_off = SignOff(
        launch_id=a.launch.id,
        role_id=a.role.role_id,
        role_title=a.role.title,
        required=a.config.required,
        active_slot=next(n for n in itertools.count(1) if n not in slots_taken),
        user_id=actor.user_id,
        user_name=actor.name,
        at=at,
        comment=comment,
        progress=progress,
        event_seq=0,
    )
    session.add(sign_off)
    await session.flush()
    event = await append_event(
        session=session,
        launch_id=a.launch.id,
        actor=actor,
        kind=EventKind.SIGN_OFF_APPROVED,
        at=at,
        detail={
            "role_id": a.role.role_id,
            "role_title": a.role.title,
            "required": a.config.required,
            "sign_off_id": sign_off.id,
            "comment": comment,
            "progress": progress,
        },
        source=source,
        dedup_key=dedup_key,
    )
    sign_off.event_seq = event.seq
    return sign_off


def _would_be_sole_approver(rows: tuple[RoleStatus, ...], role: LaunchRole, actor: Actor) -> bool:
    """True if approving ``role`` completes the launch and every approval would be ``actor``'s."""
    for r in rows:
        missing = r.required - len(r.approvals) - (1 if r.role.role_id == role.role_id else 0)
        if missing > 0:
            return False
    return all(a.user_id == actor.user_id for r in rows for a in r.approvals)


async def set_display_name(
    *, session: AsyncSession, launch_id: int, user_id: str, name: str, at: datetime
) -> bool:
    """Replace the name stored with ``user_id``'s approvals and revocations by their Slack display
    name (resolved after the ack). Returns whether anything changed; the card re-renders if so."""
    name = name.strip()[:200]
    if not name:
        return False
    await lock_launch(session, launch_id)
    rows = (
        await session.scalars(
            select(SignOff).where(
                SignOff.launch_id == launch_id,
                or_(SignOff.user_id == user_id, SignOff.revoked_by_id == user_id),
            )
        )
    ).all()
    changed = False
    for row in rows:
        if row.user_id == user_id and row.user_name != name:
            row.user_name = name
            changed = True
        if row.revoked_by_id == user_id and row.revoked_by_name != name:
            row.revoked_by_name = name
            changed = True
    if changed:
        # In the log too: the audit replays it, so a name edited in the table is told apart.
        await append_event(
            session=session,
            launch_id=launch_id,
            actor=SYSTEM,
            kind=EventKind.DISPLAY_NAME_RESOLVED,
            at=at,
            detail={"user_id": user_id, "name": name},
        )
        await bump_card(session, launch_id)
    return changed


# ---------------------------------------------------------------------------------------------------
# Helpers


def role_of(log: SignOffLog, role_id: str) -> LaunchRole:
    role = log.role(role_id)
    if role is None:
        raise NotFound(f"This launch has no sign-off role `{escape(role_id)}`.")
    return role


async def refuse(
    session: AsyncSession,
    launch: Launch,
    role: LaunchRole,
    actor: Actor,
    at: datetime,
    action: str,
    refusal: Refused,
    source: str,
    dedup_key: str | None,
) -> NoReturn:
    """Keep the refused attempt in the launch's log, then refuse (the caller's ``unit_of_work``
    commits the record: ``recorded=True``)."""
    await append_event(
        session=session,
        launch_id=launch.id,
        actor=actor,
        kind=EventKind.SIGN_OFF_REFUSED,
        at=at,
        detail={
            "action": action,
            "role_id": role.role_id,
            "role_title": role.title,
            "reason": refusal.code,
        },
        source=source,
        dedup_key=dedup_key,
    )
    raise Refused(refusal.code, refusal.message, recorded=True)


def clean_text(text: str | None, limit: int, what: str) -> str:
    cleaned = " ".join((text or "").split())
    if len(cleaned) > limit:
        raise BadInput(f"The {what} is at most {limit} characters (yours has {len(cleaned)}).")
    return cleaned


async def bump_card(session: AsyncSession, launch_id: int) -> None:
    await session.execute(
        update(SlackMessage)
        .where(SlackMessage.launch_id == launch_id, SlackMessage.kind == "card")
        .values(version=SlackMessage.version + 1)
    )
