"""The go-live row (step, weight, holds) and every traffic request: replayed from the ``golive_*``
and ``traffic_*`` events, and compared with their rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit.replay.expected import Expected
from bot.audit.replay.findings import ROW, Mismatch, row_mismatches
from bot.audit.replay.state import Replay, as_int
from bot.core.events import EventKind
from bot.core.models import Event, GoLive, TrafficRequest

TRAFFIC_OUTCOMES = {
    EventKind.TRAFFIC_CONFIRMED: "confirmed",
    EventKind.TRAFFIC_DECLARED: "declared",
    EventKind.TRAFFIC_FAILED: "failed",
    EventKind.TRAFFIC_UNKNOWN: "unknown",
}

# ---------------------------------------------------------------------------------------------------
# Replay


def replay_golive(r: Replay, e: Event, d: Mapping[str, Any]) -> None:
    """Apply a ``golive_*`` or ``traffic_*`` event."""
    _stage(r, e, d)
    _traffic(r, e, d)


def _golive_row(r: Replay, e: Event) -> Expected:
    """The launch's go-live row, created (not started, not held) by its first stage change or hold."""
    if r.golive is None:
        r.golive = Expected(
            {
                "step": 0,
                "weight": 0,
                "step_started_at": None,
                "held_seconds": 0,
                "held_since": None,
                "hold_reason": None,
                "held_by_id": None,
                "completed_at": None,
            },
            seq=e.seq,
        )
    return r.golive


def _stage(r: Replay, e: Event, d: Mapping[str, Any]) -> None:
    kind = e.kind
    if kind in (EventKind.GOLIVE_STEP_ENTERED, EventKind.GOLIVE_COMPLETED):
        f = _golive_row(r, e).fields
        f.update(
            step=d.get("step"),
            weight=d.get("weight"),
            step_started_at=e.at,
            held_seconds=0,
            completed_at=e.at if kind == EventKind.GOLIVE_COMPLETED else None,
        )
        if f["held_since"] is not None:  # entered on hold: the hold's clock restarts (rules.py)
            f["held_since"] = e.at
    elif kind == EventKind.GOLIVE_HELD:
        _golive_row(r, e).fields.update(
            held_since=e.at, hold_reason=d.get("reason"), held_by_id=e.actor_id
        )
    elif kind == EventKind.GOLIVE_RESUMED:
        f = _golive_row(r, e).fields
        f.update(
            held_seconds=int(f["held_seconds"]) + (as_int(d.get("held_seconds")) or 0),
            held_since=None,
            hold_reason=None,
            held_by_id=None,
        )


def _traffic(r: Replay, e: Event, d: Mapping[str, Any]) -> None:
    kind = e.kind
    request_id = str(d.get("request_id"))
    if kind == EventKind.TRAFFIC_REQUESTED:
        r.traffic[request_id] = Expected(
            {
                "request_id": d.get("request_id"),
                "action": d.get("action"),
                "from_step": d.get("from_step"),
                "to_step": d.get("to_step"),
                "weight": d.get("weight"),
                "previous_weight": d.get("previous_weight"),
                "reason": d.get("reason"),
                "forced": bool(d.get("forced")),
                "requested_by_id": e.actor_id,
                "requested_by_name": e.actor_name,
                "created_at": e.at,
                "status": "pending",
                "tries": 0,
                "http_status": None,
                "error": None,
                "completed_at": None,
            },
            seq=e.seq,
        )
        return
    tr = r.traffic.get(request_id)
    if tr is None:
        return
    if kind == EventKind.TRAFFIC_SENDING:
        tr.fields["status"] = "sending"
    elif kind in TRAFFIC_OUTCOMES:
        # A request the bot stopped before sending (``traffic_failed`` at the next start) or while
        # sending (``traffic_unknown``) keeps its tries and HTTP status: the event names neither.
        tr.fields.update(
            status=TRAFFIC_OUTCOMES[EventKind(kind)],
            http_status=d.get("http_status", tr.fields["http_status"]),
            tries=d.get("tries", tr.fields["tries"]),
            error=d.get("error"),
            completed_at=e.at,
        )


# ---------------------------------------------------------------------------------------------------
# Compare


async def compare_golive(session: AsyncSession, lid: int, r: Replay) -> list[Mismatch]:
    """The launch's go-live row and traffic requests against the replay."""
    bad: list[Mismatch] = []
    golive = await session.scalar(select(GoLive).where(GoLive.launch_id == lid))
    if r.golive is not None and golive is None:
        bad.append(
            Mismatch("golive", f"launch {lid}", ROW, f"a row (event #{r.golive.seq})", "no row")
        )
    elif golive is not None and r.golive is None:
        bad.append(
            Mismatch("golive", str(golive.id), ROW, "no row (no stage change or hold)", "a row")
        )
    elif golive is not None and r.golive is not None:
        bad += row_mismatches("golive", golive.id, r.golive, golive)
    return bad + await _compare_traffic(session, lid, r)


async def _compare_traffic(session: AsyncSession, lid: int, r: Replay) -> list[Mismatch]:
    bad: list[Mismatch] = []
    requests = (
        await session.scalars(select(TrafficRequest).where(TrafficRequest.launch_id == lid))
    ).all()
    by_request_id = {q.request_id: q for q in requests}
    for request_id, want in r.traffic.items():
        q = by_request_id.get(request_id)
        if q is None:
            bad.append(
                Mismatch("traffic_request", request_id, ROW, f"a row (event #{want.seq})", "no row")
            )
            continue
        bad += row_mismatches("traffic_request", q.id, want, q)
    for q in requests:
        if q.request_id not in r.traffic:
            bad.append(
                Mismatch(
                    "traffic_request",
                    str(q.id),
                    ROW,
                    "no row (no traffic_requested event)",
                    "a row",
                )
            )
    return bad
