"""Sign-off rules: who may approve which role, four eyes, N of M, approve/revoke, GO; takes an AsyncSession."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NoReturn

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.config import RoleConfig, SignOffConfig
from bot.core.errors import BadInput, NotFound
from bot.core.events import SYSTEM, Actor, EventKind, append_event, seen
from bot.core.launches import lock_launch
from bot.core.models import Event, Item, ItemGroup, Launch, Phase, Section, SignOff, SlackMessage
from bot.core.mrkdwn import escape
from bot.core.refusal import Refused
from bot.signoffs.log import (
    LaunchRole,
    RoleStatus,
    SignOffLog,
    all_approved,
    board,
    holders_text,
    holds,
    load_sign_offs,
)

COMMENT_MAX = 500
REASON_MAX = 500


# ---------------------------------------------------------------------------------------------------
# Writes


Status = Literal["approved", "revoked", "allowed", "duplicate"]


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
) -> SignOffOutcome:
    """Approve ``role_id`` as ``actor`` if the rules allow it, else record the attempt and raise
    ``Refused(recorded=True)``.

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
    comment = _clean(comment, COMMENT_MAX, "comment") if comment else None
    a = await _read_approval(session, launch, role_id, roles)
    refusal = _holder_refusal(a, actor, usergroup_members or {})
    if refusal is None and (mine := a.row.approved_by(actor.user_id)) is not None:
        return SignOffOutcome(
            launch.id,
            "duplicate",
            f"You already approved as {escape(a.role.title)} ({_when(mine.at)}).",
            role=a.role,
            sign_off_id=mine.id,
        )
    refusal = refusal or _approval_refusal(a, actor, policy)
    if refusal is not None:
        await _refuse(session, launch, a.role, actor, at, "approve", refusal, source, dedup_key)
    sign_off = await _store_approval(session, a, actor, at, comment, source, dedup_key)
    go_declared = await _declare_go_if_complete(session, a, roles, actor, at)
    await _bump_card(session, launch.id)
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
    role = _role_of(log, role_id)
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
    progress = await _progress(session, a.launch)
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


async def _declare_go_if_complete(
    session: AsyncSession,
    a: _Approval,
    roles: Mapping[str, RoleConfig],
    actor: Actor,
    at: datetime,
) -> bool:
    after = board(await load_sign_offs(session=session, launch=a.launch), roles)
    if not all_approved(after) or a.log.current_go is not None:
        return False
    await _declare_go(session, a.launch, after, actor, at, a.log)
    return True


def _would_be_sole_approver(rows: tuple[RoleStatus, ...], role: LaunchRole, actor: Actor) -> bool:
    """True if approving ``role`` completes the launch and every approval would be ``actor``'s."""
    for r in rows:
        missing = r.required - len(r.approvals) - (1 if r.role.role_id == role.role_id else 0)
        if missing > 0:
            return False
    return all(a.user_id == actor.user_id for r in rows for a in r.approvals)


async def check_revoke(
    *,
    session: AsyncSession,
    launch_id: int,
    role_id: str,
    actor: Actor,
    at: datetime,
    source: str = "",
    dedup_key: str | None = None,
) -> SignOffOutcome:
    """May ``actor`` revoke their ``role_id`` sign-off? ``allowed`` (nothing written), else the
    attempt is recorded and ``Refused(recorded=True)`` raised. The Revoke button calls this before opening the reason form."""
    launch = await lock_launch(session, launch_id)
    if dedup_key is not None and await seen(session, dedup_key):
        return SignOffOutcome(launch_id, "duplicate", "Already recorded.")
    log = await load_sign_offs(session=session, launch=launch)
    role = _role_of(log, role_id)
    refusal = _revoke_refusal(launch, log, role, actor)
    if refusal is not None:
        await _refuse(session, launch, role, actor, at, "revoke", refusal, source, dedup_key)
    return SignOffOutcome(launch.id, "allowed", "", role=role)


async def revoke(
    *,
    session: AsyncSession,
    launch_id: int,
    role_id: str,
    actor: Actor,
    at: datetime,
    reason: str,
    source: str = "",
    dedup_key: str | None = None,
) -> SignOffOutcome:
    """Withdraw ``actor``'s own approval of ``role_id`` with a reason (kept, shown on the card). If the
    launch was GO, the GO is withdrawn too and its message says so."""
    reason = _clean(reason, REASON_MAX, "reason")
    if not reason:
        raise BadInput("Give a reason for revoking your sign-off.")
    launch = await lock_launch(session, launch_id)
    if dedup_key is not None and await seen(session, dedup_key):
        return SignOffOutcome(launch_id, "duplicate", "Already recorded.")
    log = await load_sign_offs(session=session, launch=launch)
    role = _role_of(log, role_id)
    refusal = _revoke_refusal(launch, log, role, actor)
    if refusal is not None:
        await _refuse(session, launch, role, actor, at, "revoke", refusal, source, dedup_key)
    mine = next(
        r
        for r in log.records
        if r.active and r.role_id == role.role_id and r.user_id == actor.user_id
    )
    row = await session.get(SignOff, mine.id)
    assert row is not None
    row.revoked_at = at
    row.revoked_by_id = actor.user_id
    row.revoked_by_name = actor.name
    row.revoke_reason = reason
    row.active_slot = None
    await append_event(
        session=session,
        launch_id=launch.id,
        actor=actor,
        kind=EventKind.SIGN_OFF_REVOKED,
        at=at,
        detail={
            "role_id": role.role_id,
            "role_title": role.title,
            "sign_off_id": mine.id,
            "reason": reason,
        },
        source=source,
        dedup_key=dedup_key,
    )
    go = log.current_go
    if go is not None:
        await append_event(
            session=session,
            launch_id=launch.id,
            actor=actor,
            kind=EventKind.GO_WITHDRAWN,
            at=at,
            detail={
                "number": go.number,
                "role_id": role.role_id,
                "role_title": role.title,
                "reason": reason,
            },
            source=source,
        )
        await session.execute(
            update(SlackMessage)
            .where(
                SlackMessage.launch_id == launch.id,
                SlackMessage.kind == "go",
                SlackMessage.part == go.number,
            )
            .values(version=SlackMessage.version + 1)
        )
    await _bump_card(session, launch.id)
    message = f"Your {escape(role.title)} sign-off is revoked."
    if go is not None:
        message += " The launch is no longer GO."
    return SignOffOutcome(
        launch.id, "revoked", message, role=role, sign_off_id=mine.id, go_withdrawn=go is not None
    )


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
        await _bump_card(session, launch_id)
    return changed


# ---------------------------------------------------------------------------------------------------
# Helpers


def _role_of(log: SignOffLog, role_id: str) -> LaunchRole:
    role = log.role(role_id)
    if role is None:
        raise NotFound(f"This launch has no sign-off role `{escape(role_id)}`.")
    return role


def _revoke_refusal(
    launch: Launch, log: SignOffLog, role: LaunchRole, actor: Actor
) -> Refused | None:
    if launch.closed_at is not None:
        return Refused(
            "closed",
            f"Launch *{escape(launch.name)}* is closed; its sign-offs can no longer change.",
        )
    active = [r for r in log.records if r.active and r.role_id == role.role_id]
    if any(r.user_id == actor.user_id for r in active):
        return None
    if not active:
        return Refused("nothing_to_revoke", f"{escape(role.title)} has no approval to revoke.")
    by = ", ".join(f"<@{r.user_id}>" for r in active)
    return Refused(
        "not_signer",
        f"Only the person who approved {escape(role.title)} can revoke it (approved by {by}).",
    )


async def _refuse(
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


def _clean(text: str | None, limit: int, what: str) -> str:
    cleaned = " ".join((text or "").split())
    if len(cleaned) > limit:
        raise BadInput(f"The {what} is at most {limit} characters (yours has {len(cleaned)}).")
    return cleaned


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


async def _progress(session: AsyncSession, launch: Launch) -> dict[str, Any]:
    """What an approver signs: per-phase progress and the event chain's head at that moment."""
    rows = (
        await session.execute(
            select(
                Phase.position,
                Phase.title,
                Phase.completed_at,
                func.count(Item.id),
                func.sum(case((Item.checked.is_(True), 1), else_=0)),
            )
            .join(Section, Section.phase_id == Phase.id)
            .join(ItemGroup, ItemGroup.section_id == Section.id)
            .join(Item, Item.group_id == ItemGroup.id)
            .where(Phase.launch_id == launch.id, Phase.kind == "checklist")
            .group_by(Phase.id, Phase.position, Phase.title, Phase.completed_at)
            .order_by(Phase.position)
        )
    ).all()
    phases = [
        {
            "title": title,
            "done": int(done or 0),
            "total": int(total),
            "complete": completed_at is not None,
        }
        for _pos, title, completed_at, total, done in rows
    ]
    current = next(
        (p for r, p in zip(rows, phases, strict=True) if r[0] == launch.current_phase), None
    )
    head = (
        await session.execute(
            select(Event.seq, Event.hash)
            .where(Event.launch_id == launch.id)
            .order_by(Event.seq.desc())
            .limit(1)
        )
    ).first()
    return {
        "current_phase": current["title"] if current else None,
        "phases": phases,
        "done": sum(int(p["done"]) for p in phases),
        "total": sum(int(p["total"]) for p in phases),
        "after_event": int(head[0]) if head else 0,
        "chain_head": str(head[1]) if head else None,
    }


async def _declare_go(
    session: AsyncSession,
    launch: Launch,
    rows: tuple[RoleStatus, ...],
    actor: Actor,
    at: datetime,
    log: SignOffLog,
) -> None:
    number = max((g.number for g in log.go), default=0) + 1
    await append_event(
        session=session,
        launch_id=launch.id,
        actor=actor,
        kind=EventKind.LAUNCH_GO,
        at=at,
        detail={
            "number": number,
            "approvals": [
                {"role_id": r.role.role_id, "user_id": a.user_id, "sign_off_id": a.id}
                for r in rows
                for a in r.approvals
            ],
        },
    )
    # One outbox row per GO: the publisher posts it exactly once, across restarts too.
    session.add(
        SlackMessage(launch_id=launch.id, kind="go", part=number, channel_id=launch.channel_id)
    )
    await session.flush()


async def _bump_card(session: AsyncSession, launch_id: int) -> None:
    await session.execute(
        update(SlackMessage)
        .where(SlackMessage.launch_id == launch_id, SlackMessage.kind == "card")
        .values(version=SlackMessage.version + 1)
    )
