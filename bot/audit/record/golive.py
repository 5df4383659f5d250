"""The record's ``golive`` section: the go-live sequence as the event log tells it; pure (no I/O).

The steps (number, title, weight, soak) are the ones the launch's checklist defines (``derive_steps``
over its frozen copy); everything that happened to them comes from the ``golive_*``, ``traffic_*``
and ``soak_reminder_sent`` events alone: each time a step was entered and left, by whom, how
(advance, rollback, rollback all), why and whether forced past something; every traffic request and
its outcome; every hold with who, why, from and to; refusals; soak reminders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.audit.record.values import iso_time
from bot.core.events import EventKind
from bot.core.models import Event
from bot.golive.steps import Step

ENTERED = (EventKind.GOLIVE_STEP_ENTERED, EventKind.GOLIVE_COMPLETED)
OUTCOMES = {
    EventKind.TRAFFIC_CONFIRMED: "confirmed",
    EventKind.TRAFFIC_DECLARED: "declared",
    EventKind.TRAFFIC_FAILED: "failed",
    EventKind.TRAFFIC_UNKNOWN: "unknown",
}


def _actor(e: Event) -> dict[str, Any]:
    return {"id": e.actor_id, "name": e.actor_name}


@dataclass
class _Sequence:
    """The go-live sequence as the events read so far tell it."""

    visits: dict[int, list[dict[str, Any]]]  # by step number
    open_visit: dict[str, Any] | None = None
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)  # by request_id
    forced_past: dict[str, list[str]] = field(default_factory=dict)  # by request_id
    holds: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[dict[str, Any]] = field(default_factory=list)
    reminders: list[dict[str, Any]] = field(default_factory=list)
    step: int = 0
    weight: int = 0
    completed_at: datetime | None = None


def golive_record(steps: Sequence[Step], events: Sequence[Event]) -> dict[str, Any]:
    """The ``golive`` section of ``launchbot.report/1`` (see the README's schema block)."""
    seq = _Sequence(visits={s.number: [] for s in steps})
    for e in events:
        _apply(seq, e)
    holds = seq.holds
    on_hold = holds[-1] if holds and holds[-1]["to"] is None else None
    return {
        "step": seq.step,
        "weight": seq.weight,
        "total": len(steps),
        "completed_at": iso_time(seq.completed_at),
        "on_hold": None
        if on_hold is None
        else {"since": on_hold["from"], "by": on_hold["by"], "reason": on_hold["reason"]},
        "steps": [
            {
                "number": s.number,
                "title": s.title,
                "weight": s.weight,
                "soak_minutes": s.soak_minutes,
                "visits": seq.visits[s.number],
            }
            for s in steps
        ],
        "traffic_requests": list(seq.requests.values()),
        "holds": holds,
        "refusals": seq.refusals,
        "reminders": seq.reminders,
    }


def _apply(seq: _Sequence, e: Event) -> None:
    d: Mapping[str, Any] = e.detail or {}
    kind = e.kind
    request_id = str(d.get("request_id") or "")
    if kind in ENTERED:
        _entered(seq, e, d, request_id)
    elif kind == EventKind.GOLIVE_FORCED:
        seq.forced_past[request_id] = [str(p) for p in d.get("past") or []]
    elif kind == EventKind.TRAFFIC_REQUESTED:
        seq.requests[request_id] = _requested(seq, e, d, request_id)
    elif kind == EventKind.TRAFFIC_SENDING and request_id in seq.requests:
        seq.requests[request_id]["status"] = "sending"
    elif kind in OUTCOMES and request_id in seq.requests:
        request = seq.requests[request_id]
        request.update(
            status=OUTCOMES[EventKind(kind)],
            http_status=d.get("http_status", request["http_status"]),
            tries=d.get("tries", request["tries"]),
            error=d.get("error"),
            completed_at=iso_time(e.at),
        )
    elif kind == EventKind.GOLIVE_HELD:
        seq.holds.append(
            {
                "step": d.get("step"),
                "by": _actor(e),
                "reason": d.get("reason"),
                "from": iso_time(e.at),
                "to": None,
                "resumed_by": None,
                "held_seconds": None,
            }
        )
    elif kind == EventKind.GOLIVE_RESUMED and seq.holds and seq.holds[-1]["to"] is None:
        seq.holds[-1].update(
            to=iso_time(e.at), resumed_by=_actor(e), held_seconds=d.get("held_seconds")
        )
    elif kind in (EventKind.GOLIVE_ADVANCE_REFUSED, EventKind.GOLIVE_REFUSED):
        seq.refusals.append(
            {
                "at": iso_time(e.at),
                "by": _actor(e),
                "action": d.get("action"),
                "reasons": [str(r) for r in d.get("reasons") or []],
                "not_allowed": kind == EventKind.GOLIVE_REFUSED,
            }
        )
    elif kind == EventKind.SOAK_REMINDER_SENT:
        seq.reminders.append(
            {"step": d.get("step"), "due_at": d.get("due_at"), "sent_at": iso_time(e.at)}
        )


def _entered(seq: _Sequence, e: Event, d: Mapping[str, Any], request_id: str) -> None:
    """A step entered (or the rollout completed): the visit before it ends, a new one starts."""
    if seq.open_visit is not None:
        seq.open_visit["left_at"] = iso_time(e.at)
        seq.open_visit = None
    seq.step, seq.weight = int(d.get("step") or 0), int(d.get("weight") or 0)
    seq.completed_at = e.at if e.kind == EventKind.GOLIVE_COMPLETED else None
    if seq.step in seq.visits:
        seq.open_visit = {
            "entered_at": iso_time(e.at),
            "left_at": None,
            "action": d.get("action"),
            "by": _actor(e),
            "reason": d.get("reason"),
            "forced": bool(d.get("forced")),
            "forced_past": seq.forced_past.get(request_id, []),
            "request_id": d.get("request_id"),
        }
        seq.visits[seq.step].append(seq.open_visit)


def _requested(seq: _Sequence, e: Event, d: Mapping[str, Any], request_id: str) -> dict[str, Any]:
    return {
        "request_id": d.get("request_id"),
        "action": d.get("action"),
        "from_step": d.get("from_step"),
        "to_step": d.get("to_step"),
        "weight": d.get("weight"),
        "previous_weight": d.get("previous_weight"),
        "reason": d.get("reason"),
        "forced": bool(d.get("forced")),
        "forced_past": seq.forced_past.get(request_id, []),
        "requested_by": _actor(e),
        "requested_at": iso_time(e.at),
        "status": "pending",
        "http_status": None,
        "tries": 0,
        "error": None,
        "completed_at": None,
    }
