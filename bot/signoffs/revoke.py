"""Revoking a sign-off: who may, the revocation with its reason, and GO withdrawn when it stood. Takes an AsyncSession; the caller owns the transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.errors import BadInput
from bot.core.events import Actor, EventKind, append_event, seen
from bot.core.launches import lock_launch
from bot.core.models import Launch, SignOff, SlackMessage
from bot.core.mrkdwn import escape
from bot.core.refusal import Refused
from bot.signoffs.log import LaunchRole, SignOffLog, load_sign_offs
from bot.signoffs.rules import REASON_MAX, SignOffOutcome, bump_card, clean_text, refuse, role_of


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
    role = role_of(log, role_id)
    refusal = _revoke_refusal(launch, log, role, actor)
    if refusal is not None:
        await refuse(session, launch, role, actor, at, "revoke", refusal, source, dedup_key)
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
    reason = clean_text(reason, REASON_MAX, "reason")
    if not reason:
        raise BadInput("Give a reason for revoking your sign-off.")
    launch = await lock_launch(session, launch_id)
    if dedup_key is not None and await seen(session, dedup_key):
        return SignOffOutcome(launch_id, "duplicate", "Already recorded.")
    log = await load_sign_offs(session=session, launch=launch)
    role = role_of(log, role_id)
    refusal = _revoke_refusal(launch, log, role, actor)
    if refusal is not None:
        await refuse(session, launch, role, actor, at, "revoke", refusal, source, dedup_key)
    mine = next(
        r
        for r in log.records
        if r.active and r.role_id == role.role_id and r.user_id == actor.user_id
    )
    await _store_revocation(session, launch, role, mine.id, actor, at, reason, source, dedup_key)
    go = log.current_go
    if go is not None:
        await _withdraw_go(session, launch, role, go.number, actor, at, reason, source)
    await bump_card(session, launch.id)
    message = f"Your {escape(role.title)} sign-off is revoked."
    if go is not None:
        message += " The launch is no longer GO."
    return SignOffOutcome(
        launch.id,
        "revoked",
        message,
        role=role,
        sign_off_id=mine.id,
        go_withdrawn=go is not None,
        go_number=go.number if go is not None else None,
    )


async def _store_revocation(
    session: AsyncSession,
    launch: Launch,
    role: LaunchRole,
    sign_off_id: int,
    actor: Actor,
    at: datetime,
    reason: str,
    source: str,
    dedup_key: str | None,
) -> None:
    row = await session.get(SignOff, sign_off_id)
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
            "sign_off_id": sign_off_id,
            "reason": reason,
        },
        source=source,
        dedup_key=dedup_key,
    )


async def _withdraw_go(
    session: AsyncSession,
    launch: Launch,
    role: LaunchRole,
    number: int,
    actor: Actor,
    at: datetime,
    reason: str,
    source: str,
) -> None:
    """GO number ``number`` no longer stands: recorded, and its message re-rendered to say so."""
    await append_event(
        session=session,
        launch_id=launch.id,
        actor=actor,
        kind=EventKind.GO_WITHDRAWN,
        at=at,
        detail={
            "number": number,
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
            SlackMessage.part == number,
        )
        .values(version=SlackMessage.version + 1)
    )


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
