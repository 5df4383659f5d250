"""Go-live timers and holds: hold and resume (the soak clock), soak reminders due on the bot's clock, and requests a stopped process left behind. Takes an AsyncSession; the caller owns the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.errors import Conflict
from bot.core.events import SYSTEM, Actor, EventKind, append_event
from bot.core.launches import lock_launch
from bot.core.models import GoLive, ScheduledPost, TrafficRequest
from bot.core.outbox import bump_messages
from bot.golive.rules import SOAK_REMINDER, golive_row, request_for_update


async def hold(
    *, session: AsyncSession, launch_id: int, actor: Actor, at: datetime, reason: str
) -> bool:
    """Pause the soak clock. False if already on hold (nothing changes)."""
    await lock_launch(session, launch_id)
    row = await golive_row(session, launch_id)
    if row.held_since is not None:
        return False
    row.held_since = at
    row.hold_reason = reason
    row.held_by_id = actor.user_id
    await append_event(
        session=session,
        launch_id=launch_id,
        actor=actor,
        kind=EventKind.GOLIVE_HELD,
        at=at,
        detail={"reason": reason, "step": row.step},
    )
    # The GO messages too: a kill switch fired during the rollout reads HALTED once it holds it.
    await bump_messages(session, launch_id, [], also_kinds=("go",))
    return True


async def resume(*, session: AsyncSession, launch_id: int, actor: Actor, at: datetime) -> int:
    """Restart the soak clock; unsent soak reminders move by the time held. Returns seconds held."""
    await lock_launch(session, launch_id)
    row = await golive_row(session, launch_id)
    if row.held_since is None:
        raise Conflict("The go-live sequence is not on hold.")
    held = max(int((at - row.held_since).total_seconds()), 0)
    row.held_seconds += held
    row.held_since = None
    reason, row.hold_reason, row.held_by_id = row.hold_reason, None, None
    pending = await session.scalars(
        select(ScheduledPost).where(
            ScheduledPost.launch_id == launch_id,
            ScheduledPost.kind == SOAK_REMINDER,
            ScheduledPost.sent_at.is_(None),
            ScheduledPost.cancelled_at.is_(None),
        )
    )
    for post in pending.all():
        post.due_at += timedelta(seconds=held)
    await append_event(
        session=session,
        launch_id=launch_id,
        actor=actor,
        kind=EventKind.GOLIVE_RESUMED,
        at=at,
        detail={"held_seconds": held, "hold_reason": reason, "step": row.step},
    )
    # Resuming ends a kill-switch halt, which the GO messages show.
    await bump_messages(session, launch_id, [], also_kinds=("go",))
    return held


async def interrupted_requests(*, session: AsyncSession, before: datetime) -> list[int]:
    rows = await session.scalars(
        select(TrafficRequest.id).where(
            TrafficRequest.status.in_(["pending", "sending"]), TrafficRequest.created_at < before
        )
    )
    return list(rows.all())


async def record_unknown(*, session: AsyncSession, request_pk: int, at: datetime) -> str | None:
    """A request a stopped process left: ``unknown`` if it was being sent (the webhook may have
    moved traffic), ``failed`` as never sent if it was only stored. Returns the new status."""
    row = await request_for_update(session, request_pk)
    if row.status not in ("pending", "sending"):
        return None
    never_sent = row.status == "pending"
    row.status = "failed" if never_sent else "unknown"
    row.error = (
        "not sent: the bot stopped before calling the traffic webhook"
        if never_sent
        else "no answer: the bot stopped while the traffic webhook was being called"
    )
    row.completed_at = at
    await append_event(
        session=session,
        launch_id=row.launch_id,
        actor=SYSTEM,
        kind=EventKind.TRAFFIC_FAILED if never_sent else EventKind.TRAFFIC_UNKNOWN,
        at=at,
        detail={"request_id": row.request_id, "error": row.error},
    )
    if not never_sent:
        await bump_messages(session, row.launch_id, [])  # the card: live traffic unknown
    return row.status


@dataclass(frozen=True)
class DueReminder:
    id: int
    launch_id: int
    step: int
    title: str
    minutes: int
    due_at: datetime
    sent_at: datetime


async def claim_due_reminders(*, session: AsyncSession, now: datetime) -> list[DueReminder]:
    """Claim every soak reminder due by ``now`` (marked sent in this transaction: sent once).
    Not while the launch is on hold: its soak clock stands still, and ``resume`` moves the
    reminder by the time held."""
    on_hold = select(GoLive.id).where(
        GoLive.launch_id == ScheduledPost.launch_id, GoLive.held_since.is_not(None)
    )
    rows = (
        await session.scalars(
            select(ScheduledPost)
            .where(
                ScheduledPost.kind == SOAK_REMINDER,
                ScheduledPost.sent_at.is_(None),
                ScheduledPost.cancelled_at.is_(None),
                ScheduledPost.due_at <= now,
                ~on_hold.exists(),
            )
            .order_by(ScheduledPost.due_at)
        )
    ).all()
    claimed: list[DueReminder] = []
    for row in rows:
        row.sent_at = now
        detail = row.detail or {}
        claimed.append(
            DueReminder(
                id=row.id,
                launch_id=row.launch_id,
                step=int(detail.get("step", 0)),
                title=str(detail.get("title", "")),
                minutes=int(detail.get("minutes", 0)),
                due_at=row.due_at,
                sent_at=now,
            )
        )
        await append_event(
            session=session,
            launch_id=row.launch_id,
            actor=SYSTEM,
            kind=EventKind.SOAK_REMINDER_SENT,
            at=now,
            detail={"step": detail.get("step"), "due_at": row.due_at.isoformat()},
        )
    return claimed


async def any_reminder_due(*, session: AsyncSession, now: datetime) -> bool:
    found = await session.scalar(
        select(ScheduledPost.id)
        .where(
            ScheduledPost.kind == SOAK_REMINDER,
            ScheduledPost.sent_at.is_(None),
            ScheduledPost.cancelled_at.is_(None),
            ScheduledPost.due_at <= now,
        )
        .limit(1)
    )
    return found is not None
