"""The report's ``golive`` section: the go-live sequence as the event log tells it; pure (no I/O).

The steps (number, title, weight, soak) are the ones the launch's checklist defines (``derive_steps``
over its frozen copy); everything that happened to them comes from the ``golive_*``, ``traffic_*``
and ``soak_reminder_sent`` events alone: each time a step was entered and left, by whom, how
(advance, rollback, rollback all), why and whether forced past something; every traffic request and
its outcome; every hold with who, why, from and to; refusals; soak reminders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

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


def _ts(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _person(e: Event) -> dict[str, Any]:
    return {"id": e.actor_id, "name": e.actor_name}


def golive_record(steps: Sequence[Step], events: Sequence[Event]) -> dict[str, Any]:
    """The ``golive`` section of ``launchbot.report/1`` (see the README's schema block)."""
    visits: dict[int, list[dict[str, Any]]] = {s.number: [] for s in steps}
    open_visit: dict[str, Any] | None = None
    requests: dict[str, dict[str, Any]] = {}
    forced_past: dict[str, list[str]] = {}
    holds: list[dict[str, Any]] = []
    refusals: list[dict[str, Any]] = []
    reminders: list[dict[str, Any]] = []
    step = weight = 0
    completed_at: datetime | None = None
    for e in events:
        d: Mapping[str, Any] = e.detail or {}
        kind = e.kind
        request_id = str(d.get("request_id") or "")
        if kind in ENTERED:
            if open_visit is not None:
                open_visit["left_at"] = _ts(e.at)
                open_visit = None
            step, weight = int(d.get("step") or 0), int(d.get("weight") or 0)
            completed_at = e.at if kind == EventKind.GOLIVE_COMPLETED else None
            if step in visits:
                open_visit = {
                    "entered_at": _ts(e.at),
                    "left_at": None,
                    "action": d.get("action"),
                    "by": _person(e),
                    "reason": d.get("reason"),
                    "forced": bool(d.get("forced")),
                    "forced_past": forced_past.get(request_id, []),
                    "request_id": d.get("request_id"),
                }
                visits[step].append(open_visit)
        elif kind == EventKind.GOLIVE_FORCED:
            forced_past[request_id] = [str(p) for p in d.get("past") or []]
        elif kind == EventKind.TRAFFIC_REQUESTED:
            requests[request_id] = {
                "request_id": d.get("request_id"),
                "action": d.get("action"),
                "from_step": d.get("from_step"),
                "to_step": d.get("to_step"),
                "weight": d.get("weight"),
                "previous_weight": d.get("previous_weight"),
                "reason": d.get("reason"),
                "forced": bool(d.get("forced")),
                "forced_past": forced_past.get(request_id, []),
                "requested_by": _person(e),
                "requested_at": _ts(e.at),
                "status": "pending",
                "http_status": None,
                "tries": 0,
                "error": None,
                "completed_at": None,
            }
        elif kind == EventKind.TRAFFIC_SENDING and request_id in requests:
            requests[request_id]["status"] = "sending"
        elif kind in OUTCOMES and request_id in requests:
            request = requests[request_id]
            request.update(
                status=OUTCOMES[EventKind(kind)],
                http_status=d.get("http_status", request["http_status"]),
                tries=d.get("tries", request["tries"]),
                error=d.get("error"),
                completed_at=_ts(e.at),
            )
        elif kind == EventKind.GOLIVE_HELD:
            holds.append(
                {
                    "step": d.get("step"),
                    "by": _person(e),
                    "reason": d.get("reason"),
                    "from": _ts(e.at),
                    "to": None,
                    "resumed_by": None,
                    "held_seconds": None,
                }
            )
        elif kind == EventKind.GOLIVE_RESUMED and holds and holds[-1]["to"] is None:
            holds[-1].update(
                to=_ts(e.at), resumed_by=_person(e), held_seconds=d.get("held_seconds")
            )
        elif kind in (EventKind.GOLIVE_ADVANCE_REFUSED, EventKind.GOLIVE_REFUSED):
            refusals.append(
                {
                    "at": _ts(e.at),
                    "by": _person(e),
                    "action": d.get("action"),
                    "reasons": [str(r) for r in d.get("reasons") or []],
                    "not_allowed": kind == EventKind.GOLIVE_REFUSED,
                }
            )
        elif kind == EventKind.SOAK_REMINDER_SENT:
            reminders.append(
                {"step": d.get("step"), "due_at": d.get("due_at"), "sent_at": _ts(e.at)}
            )
    on_hold = holds[-1] if holds and holds[-1]["to"] is None else None
    return {
        "step": step,
        "weight": weight,
        "total": len(steps),
        "completed_at": _ts(completed_at),
        "on_hold": None
        if on_hold is None
        else {"since": on_hold["from"], "by": on_hold["by"], "reason": on_hold["reason"]},
        "steps": [
            {
                "number": s.number,
                "title": s.title,
                "weight": s.weight,
                "soak_minutes": s.soak_minutes,
                "visits": visits[s.number],
            }
            for s in steps
        ],
        "traffic_requests": list(requests.values()),
        "holds": holds,
        "refusals": refusals,
        "reminders": reminders,
    }
