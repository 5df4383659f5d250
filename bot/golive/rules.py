"""Go-live rules and records: who may move the rollout, stage changes stored before traffic moves,
hold and resume, soak reminders. Takes an AsyncSession; the caller owns the transaction.

A stage change is a ``TrafficRequest``: stored (``pending``), claimed (``sending``) before the traffic
webhook is called, and only a 2xx (``confirmed``) or the absence of a webhook (``declared``) moves
the stage. A failure leaves the stage as it was; a request a stopped process never finished is
``unknown`` at the next start, never retried silently.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.config import AppConfig, RoleConfig
from bot.core.errors import BadInput, Conflict, NotFound
from bot.core.events import SYSTEM, Actor, EventKind, append_event
from bot.core.identity import groups_deciding, holds_any, roles_named
from bot.core.launches import lock_launch
from bot.core.models import Event, GoLive, Item, ScheduledPost, TrafficRequest
from bot.core.outbox import bump_messages
from bot.golive.state import GoLiveView, load_golive

MANAGED_BY = "golive"
SOAK_REMINDER = "soak_reminder"
MAX_REASON = 500
Action = str  # "advance", "rollback", "rollback_all"


# ---------------------------------------------------------------------------------------------------
# Who


def _allowed_roles(config: AppConfig) -> list[RoleConfig]:
    return roles_named(config.roles, config.golive.allowed_roles)


def groups_to_check(config: AppConfig, user_id: str) -> tuple[str, ...]:
    """User groups deciding whether ``user_id`` may move the rollout (none if listed directly)."""
    return groups_deciding(_allowed_roles(config), user_id)


def may_move(config: AppConfig, user_id: str, members: Mapping[str, frozenset[str]]) -> bool:
    """Holders of ``[golive].allowed_roles`` only; no roles configured means nobody (fail closed)."""
    return holds_any(_allowed_roles(config), user_id, members)


def who_may_move(config: AppConfig) -> list[str]:
    """The titles of the roles that may move the go-live sequence (none: nobody may)."""
    return [config.roles[r].title for r in config.golive.allowed_roles if r in config.roles]


def clean_reason(text: str, *, required: bool, what: str) -> str | None:
    reason = " ".join(text.split())
    if not reason:
        if required:
            raise BadInput(f"Say why: `/launch {what} &lt;reason&gt;`.")
        return None
    if len(reason) > MAX_REASON:
        raise BadInput(f"A reason is at most {MAX_REASON} characters (yours has {len(reason)}).")
    return reason


# ---------------------------------------------------------------------------------------------------
# Setup


async def mark_step_items(*, session: AsyncSession, launch_id: int) -> int:
    """Mark the items that are go-live steps themselves as ticked by the bot (at launch start)."""
    view = await load_golive(session=session, launch_id=launch_id)
    if view is None:
        return 0
    ids = [item.id for step in view.steps if (item := view.self_item(step)) is not None]
    if ids:
        await session.execute(update(Item).where(Item.id.in_(ids)).values(managed_by=MANAGED_BY))
    return len(ids)


async def golive_row(session: AsyncSession, launch_id: int) -> GoLive:
    row = await session.scalar(select(GoLive).where(GoLive.launch_id == launch_id))
    if row is None:
        row = GoLive(launch_id=launch_id, step=0, weight=0, held_seconds=0)
        session.add(row)
        await session.flush()
    return row


# ---------------------------------------------------------------------------------------------------
# Stage changes


@dataclass(frozen=True)
class Target:
    action: Action
    to_step: int
    weight: int


def target_of(view: GoLiveView, action: Action) -> Target:
    """Where ``action`` takes the rollout from where it stands."""
    if action == "advance":
        step = view.next
        if step is None:
            raise Conflict("The rollout is complete: every go-live step is done.")
        return Target(action, step.number, step.weight)
    if not view.started:
        raise Conflict("The go-live sequence has not started: there is nothing to roll back.")
    if action == "rollback":
        back = view.step - 1
        return Target(action, back, view.steps[back - 1].weight if back > 0 else 0)
    # rollback all: live traffic to 0, back to the last step without live traffic (shadow), if any.
    zero = [s for s in view.steps if s.weight == 0 and s.number < view.step]
    return Target(action, zero[-1].number if zero else 0, 0)


def request_dedup_key(source: str) -> str | None:
    """The ``traffic_requested`` event's dedup key for the Slack request ``source`` names
    (``slash:<trigger_id>``, ``block_actions:<action_ts>:<user>``); None when Slack sent no id."""
    parts = source.split(":")
    if len(parts) < 2 or not all(p and p != "None" for p in parts[1:]):
        return None
    return f"traffic:{source}"


async def replayed_request(session: AsyncSession, source: str) -> TrafficRequest | None:
    """The stage change the Slack request ``source`` already stored, if it did: the same request
    delivered again (a retry after a late answer, a replay) is that change, not another step."""
    key = request_dedup_key(source)
    if key is None:
        return None
    event = await session.scalar(select(Event).where(Event.dedup_key == key).limit(1))
    if event is None:
        return None
    return await session.scalar(
        select(TrafficRequest).where(
            TrafficRequest.request_id == str((event.detail or {}).get("request_id"))
        )
    )


async def request_change(
    *,
    session: AsyncSession,
    view: GoLiveView,
    target: Target,
    actor: Actor,
    at: datetime,
    reason: str | None,
    forced_past: tuple[str, ...] = (),
    source: str = "",
) -> TrafficRequest:
    """Store a stage change before anything is sent (caller locked the launch and checked the gate)."""
    if view.in_flight is not None:
        raise Conflict("A traffic change is still in flight; wait for its answer.")
    row = _pending_request(view, target, actor, at, reason, forced=bool(forced_past))
    session.add(row)
    await session.flush()
    if forced_past:
        await append_event(
            session=session,
            launch_id=view.launch_id,
            actor=actor,
            kind=EventKind.GOLIVE_FORCED,
            at=at,
            detail={"request_id": row.request_id, "reason": reason, "past": list(forced_past)},
            source=source,
        )
    await append_event(
        session=session,
        launch_id=view.launch_id,
        actor=actor,
        kind=EventKind.TRAFFIC_REQUESTED,
        at=at,
        detail=_requested_detail(row),
        source=source,
        dedup_key=request_dedup_key(source),
    )
    return row


def _pending_request(
    view: GoLiveView,
    target: Target,
    actor: Actor,
    at: datetime,
    reason: str | None,
    *,
    forced: bool,
) -> TrafficRequest:
    """The stage change as stored before anything is sent: ``pending``, never tried."""
    return TrafficRequest(
        launch_id=view.launch_id,
        request_id=str(uuid.uuid4()),
        action=target.action,
        from_step=view.step,
        to_step=target.to_step,
        weight=target.weight,
        previous_weight=view.weight,
        reason=reason,
        forced=forced,
        requested_by_id=actor.user_id,
        requested_by_name=actor.name,
        created_at=at,
        status="pending",
        tries=0,
    )


def _requested_detail(row: TrafficRequest) -> dict[str, object]:
    """What ``traffic_requested`` records of a stored stage change."""
    return {
        "request_id": row.request_id,
        "action": row.action,
        "from_step": row.from_step,
        "to_step": row.to_step,
        "weight": row.weight,
        "previous_weight": row.previous_weight,
        "reason": row.reason,
        "forced": row.forced,
    }


async def record_refusal(
    *,
    session: AsyncSession,
    launch_id: int,
    actor: Actor,
    at: datetime,
    action: str,
    reasons: tuple[str, ...],
    not_allowed: bool = False,
) -> None:
    await append_event(
        session=session,
        launch_id=launch_id,
        actor=actor,
        kind=EventKind.GOLIVE_REFUSED if not_allowed else EventKind.GOLIVE_ADVANCE_REFUSED,
        at=at,
        detail={"action": action, "reasons": list(reasons)},
    )


async def request_for_update(session: AsyncSession, request_pk: int) -> TrafficRequest:
    row = await session.get(TrafficRequest, request_pk)
    if row is None:
        raise NotFound(f"There is no traffic request #{request_pk}.")
    await lock_launch(session, row.launch_id)
    await session.refresh(row)
    return row


async def claim_request(*, session: AsyncSession, request_pk: int, at: datetime) -> bool:
    """pending → sending, recorded before the webhook is called; False if someone else claimed it."""
    row = await request_for_update(session, request_pk)
    if row.status != "pending":
        return False
    row.status = "sending"
    await append_event(
        session=session,
        launch_id=row.launch_id,
        actor=SYSTEM,
        kind=EventKind.TRAFFIC_SENDING,
        at=at,
        detail={"request_id": row.request_id},
    )
    return True


async def complete_request(
    *,
    session: AsyncSession,
    request_pk: int,
    at: datetime,
    ok: bool,
    declared: bool = False,
    unanswered: bool = False,
    http_status: int | None = None,
    error: str | None = None,
    tries: int = 0,
) -> TrafficRequest:
    """Record the webhook's answer; on success (or a declaration) the stage moves, in this transaction.
    Not ``ok`` and ``unanswered`` (some try got no answer): the webhook may have moved traffic, so
    the request is ``unknown``, not ``failed``; the stage stays, as for a failure."""
    row = await request_for_update(session, request_pk)
    row.status = (
        "declared" if declared else "confirmed" if ok else "unknown" if unanswered else "failed"
    )
    row.http_status = http_status
    row.error = error
    row.tries = tries
    row.completed_at = at
    kind = {
        "declared": EventKind.TRAFFIC_DECLARED,
        "confirmed": EventKind.TRAFFIC_CONFIRMED,
        "unknown": EventKind.TRAFFIC_UNKNOWN,
        "failed": EventKind.TRAFFIC_FAILED,
    }[row.status]
    await append_event(
        session=session,
        launch_id=row.launch_id,
        actor=SYSTEM,
        kind=kind,
        at=at,
        detail={
            "request_id": row.request_id,
            "http_status": http_status,
            "error": error,
            "tries": tries,
        },
    )
    if ok or declared:
        await _enter_step(session, row, at)
    elif row.status == "unknown":
        # The card and status say live traffic is unknown until a later change is answered.
        await bump_messages(session, row.launch_id, [])
    return row


async def _enter_step(session: AsyncSession, request: TrafficRequest, at: datetime) -> None:
    view = await load_golive(session=session, launch_id=request.launch_id)
    assert view is not None
    golive = await golive_row(session, request.launch_id)
    await _tick_self_items(session, view, request, at)
    golive.step = request.to_step
    golive.weight = request.weight
    golive.step_started_at = at
    golive.held_seconds = 0
    if golive.held_since is not None:
        # Entered on hold (a rollback during a hold): the hold goes on, and only its time from
        # now on is kept off the new step's soak (the earlier hold was the old step's).
        golive.held_since = at
    await cancel_reminders(session, request.launch_id, at)
    step = view.steps[request.to_step - 1] if request.to_step > 0 else None
    last = request.to_step == view.total
    golive.completed_at = at if last else None
    if step is not None and step.soak_minutes > 0:
        session.add(
            ScheduledPost(
                launch_id=request.launch_id,
                kind=SOAK_REMINDER,
                key=f"step-{step.number}@{at.isoformat()}",
                due_at=at + timedelta(minutes=step.soak_minutes),
                detail={"step": step.number, "title": step.title, "minutes": step.soak_minutes},
            )
        )
    await append_event(
        session=session,
        launch_id=request.launch_id,
        actor=Actor(request.requested_by_id, request.requested_by_name),
        kind=EventKind.GOLIVE_COMPLETED if last else EventKind.GOLIVE_STEP_ENTERED,
        at=at,
        detail={
            "request_id": request.request_id,
            "action": request.action,
            "step": request.to_step,
            "title": step.title if step else None,
            "weight": request.weight,
            "previous_weight": request.previous_weight,
            "reason": request.reason,
            "forced": request.forced,
        },
    )
    await bump_messages(session, request.launch_id, [view.section.id])


async def _tick_self_items(
    session: AsyncSession, view: GoLiveView, request: TrafficRequest, at: datetime
) -> None:
    """A step that is its own item is ticked once done (left forward, or reached as the last) and
    unticked when the rollout comes back into it."""
    wanted: dict[int, bool] = {}
    for step in view.steps:
        item = view.self_item(step)
        if item is None:
            continue
        done = step.number < request.to_step or (
            step.number == request.to_step == view.total and request.action == "advance"
        )
        if item.checked != done:
            wanted[item.id] = done
    for item_id, checked in wanted.items():
        row = await session.get(Item, item_id)
        assert row is not None
        row.checked = checked
        row.changed_by_id = SYSTEM.user_id
        row.changed_by_name = SYSTEM.name
        row.changed_at = at
        await append_event(
            session=session,
            launch_id=request.launch_id,
            actor=SYSTEM,
            kind=EventKind.ITEM_CHECKED if checked else EventKind.ITEM_UNCHECKED,
            at=at,
            item_id=item_id,
            detail={"text": row.text, "request_id": request.request_id},
        )


# ---------------------------------------------------------------------------------------------------
# Hold and resume


# ---------------------------------------------------------------------------------------------------
# After a restart, and timers


async def cancel_reminders(session: AsyncSession, launch_id: int, at: datetime) -> None:
    await session.execute(
        update(ScheduledPost)
        .where(
            ScheduledPost.launch_id == launch_id,
            ScheduledPost.kind == SOAK_REMINDER,
            ScheduledPost.sent_at.is_(None),
            ScheduledPost.cancelled_at.is_(None),
        )
        .values(cancelled_at=at)
    )
