"""Escalations (with their PagerDuty pages) and the kill switch (requests and the armed state):
replayed from their events, and compared with their rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit.replay.expected import Expected, OneOf
from bot.audit.replay.findings import (
    ROW,
    Mismatch,
    Unchecked,
    row_mismatches,
    unchecked_fields,
)
from bot.audit.replay.state import Replay, as_int, from_detail
from bot.core.events import EventKind
from bot.core.models import Escalation, Event, KillSwitchRequest, KillSwitchState

UNKNOWN_KS_ERROR = "Launch Control restarted before the trading system answered"
KS_OUTCOMES = (
    EventKind.KILLSWITCH_CONFIRMED,
    EventKind.KILLSWITCH_FAILED,
    EventKind.KILLSWITCH_TEST_CONFIRMED,
    EventKind.KILLSWITCH_TEST_FAILED,
)

# ---------------------------------------------------------------------------------------------------
# Replay


def replay_incident(r: Replay, e: Event, d: Mapping[str, Any]) -> None:
    """Apply an escalation, page or kill-switch event (any other event changes nothing)."""
    if not _escalation(r, e, d):
        _killswitch(r, e, d)


def _escalation(r: Replay, e: Event, d: Mapping[str, Any]) -> bool:
    """Apply an event of a known escalation (or the one opening it); False for any other."""
    kind = e.kind
    esc = r.escalations.get(as_int(d.get("escalation_id")) or 0)
    if kind == EventKind.ESCALATION_OPENED:
        r.escalations[as_int(d.get("escalation_id")) or 0] = _escalation_opened(e, d)
        return True
    if esc is None:
        return False
    f = esc.fields
    if kind == EventKind.ESCALATION_POSTED:
        f["message_ts"] = d.get("ts")
    elif kind in (EventKind.ESCALATION_LEVEL_DUE, EventKind.ESCALATION_PATH_EXHAUSTED):
        f["level"] = d.get("level")
    elif kind == EventKind.PAGERDUTY_RETRY_REQUESTED:
        f["page_status"] = "pending"
    elif kind.startswith("pagerduty_trigger_"):
        # sending: claimed before the first try; unknown: a stop left it without an answer.
        outcome = kind.removeprefix("pagerduty_trigger_")
        f["page_status"] = outcome
        f["page_tries"] = int(f["page_tries"]) + (as_int(d.get("tries")) or 0)
        f["page_error"] = None if outcome == "sent" else d.get("error")
        if outcome == "sent":
            f["paged_at"] = e.at
    elif kind.startswith("pagerduty_resolve_"):
        f["resolve_status"] = kind.removeprefix("pagerduty_resolve_")
    elif kind == EventKind.ESCALATION_ACKNOWLEDGED:
        f.update(
            status="acknowledged",
            acknowledged_by_id=e.actor_id,
            acknowledged_by_name=e.actor_name,
            acknowledged_at=e.at,
        )
    elif kind == EventKind.ESCALATION_RESOLVED:
        # A page still being sent when it was resolved is resolved in PagerDuty once it lands
        # (``pagerduty_catch_up`` moves "skipped" to "pending" without an event of its own).
        sent = f["page_status"] == "sent"
        f.update(
            status="resolved",
            resolved_by_id=e.actor_id,
            resolved_by_name=e.actor_name,
            resolved_at=e.at,
            resolve_status="pending" if sent else OneOf(("skipped", "pending")),
        )
    return True


def _escalation_opened(e: Event, d: Mapping[str, Any]) -> Expected:
    esc = Expected(
        {
            "severity": d.get("severity"),
            "summary": d.get("summary"),
            "reporter_id": e.actor_id,
            "reporter_name": e.actor_name,
            "created_at": e.at,
            "request_key": e.source,
            "dedup_key": d.get("dedup_key"),
            "status": "open",
            "level": 0,
            "message_ts": None,
            "page_status": "pending",
            "page_tries": 0,
            "page_error": None,
            "paged_at": None,
            "acknowledged_by_id": None,
            "acknowledged_by_name": None,
            "acknowledged_at": None,
            "resolved_by_id": None,
            "resolved_by_name": None,
            "resolved_at": None,
            "resolve_status": None,
        },
        seq=e.seq,
    )
    from_detail(esc, d, "channel_id")
    return esc


def _killswitch(r: Replay, e: Event, d: Mapping[str, Any]) -> None:
    kind = e.kind
    ks = r.killswitch.get(str(d.get("request_id")))
    if kind in (EventKind.KILLSWITCH_REQUESTED, EventKind.KILLSWITCH_TEST_REQUESTED):
        r.killswitch[str(d.get("request_id"))] = _killswitch_requested(e, d)
    elif kind in (EventKind.KILLSWITCH_ARMED, EventKind.KILLSWITCH_DISARMED):
        r.killswitch_state = Expected(
            {
                "armed": kind == EventKind.KILLSWITCH_ARMED,
                "changed_by_id": e.actor_id,
                "changed_by_name": e.actor_name,
                "changed_at": e.at,
            },
            seq=e.seq,
        )
    elif ks is None:
        return
    elif kind == EventKind.KILLSWITCH_SENDING:
        ks.fields["status"] = "sending"
    elif kind in KS_OUTCOMES:
        ks.fields.update(
            status="confirmed" if kind.endswith("confirmed") else "failed",
            tries=d.get("tries"),
            http_status=d.get("http_status"),
            error=d.get("error"),
            duration_ms=d.get("duration_ms"),
            completed_at=e.at,
        )
        from_detail(ks, d, "response_body")
    elif kind in (EventKind.KILLSWITCH_UNKNOWN, EventKind.KILLSWITCH_NOT_SENT):
        ks.fields.update(
            status="unknown" if kind == EventKind.KILLSWITCH_UNKNOWN else "not_sent",
            error=d.get("error", UNKNOWN_KS_ERROR),  # logs before 0007 said it in the code
            completed_at=e.at,
        )


def _killswitch_requested(e: Event, d: Mapping[str, Any]) -> Expected:
    ks = Expected(
        {
            "request_id": d.get("request_id"),
            "request_key": e.source,
            "requested_by_id": e.actor_id,
            "requested_by_name": e.actor_name,
            "reason": d.get("reason"),
            "dry_run": e.kind == EventKind.KILLSWITCH_TEST_REQUESTED,
            "created_at": e.at,
            "status": "pending",
            "tries": 0,
            "http_status": None,
            "error": None,
            "duration_ms": None,
            "completed_at": None,
        },
        seq=e.seq,
    )
    from_detail(ks, d, "channel_id")
    return ks


# ---------------------------------------------------------------------------------------------------
# Compare


async def compare_incidents(
    session: AsyncSession, lid: int, r: Replay
) -> tuple[list[Mismatch], list[Unchecked]]:
    """The launch's escalations, kill-switch requests and armed state against the replay."""
    esc_bad, esc_unchecked = await _compare_escalations(session, lid, r)
    ks_bad, ks_unchecked = await _compare_killswitch_requests(session, lid, r)
    bad = esc_bad + ks_bad + await _compare_killswitch_state(session, lid, r)
    return bad, esc_unchecked + ks_unchecked


async def _compare_escalations(
    session: AsyncSession, lid: int, r: Replay
) -> tuple[list[Mismatch], list[Unchecked]]:
    bad: list[Mismatch] = []
    unchecked: list[Unchecked] = []
    escalations = {
        e.id: e
        for e in (
            await session.scalars(select(Escalation).where(Escalation.launch_id == lid))
        ).all()
    }
    for esc_id, want in r.escalations.items():
        esc = escalations.get(esc_id)
        if esc is None:
            bad.append(
                Mismatch("escalation", str(esc_id), ROW, f"a row (event #{want.seq})", "no row")
            )
            continue
        bad += row_mismatches("escalation", esc_id, want, esc)
        unchecked += unchecked_fields("escalation", esc_id, want)
    for esc_id in sorted(escalations.keys() - r.escalations.keys()):
        bad.append(
            Mismatch("escalation", str(esc_id), ROW, "no row (no escalation_opened event)", "a row")
        )
    return bad, unchecked


async def _compare_killswitch_requests(
    session: AsyncSession, lid: int, r: Replay
) -> tuple[list[Mismatch], list[Unchecked]]:
    bad: list[Mismatch] = []
    unchecked: list[Unchecked] = []
    requests = (
        await session.scalars(select(KillSwitchRequest).where(KillSwitchRequest.launch_id == lid))
    ).all()
    by_request_id = {q.request_id: q for q in requests}
    for request_id, want in r.killswitch.items():
        q = by_request_id.get(request_id)
        if q is None:
            bad.append(
                Mismatch(
                    "kill_switch_request", request_id, ROW, f"a row (event #{want.seq})", "no row"
                )
            )
            continue
        bad += row_mismatches("kill_switch_request", q.id, want, q)
        unchecked += unchecked_fields("kill_switch_request", q.id, want)
    for q in requests:
        if q.request_id not in r.killswitch:
            bad.append(
                Mismatch(
                    "kill_switch_request", str(q.id), ROW, "no row (no request event)", "a row"
                )
            )
    return bad, unchecked


async def _compare_killswitch_state(session: AsyncSession, lid: int, r: Replay) -> list[Mismatch]:
    state = await session.scalar(select(KillSwitchState).where(KillSwitchState.launch_id == lid))
    if r.killswitch_state is not None and state is None:
        return [Mismatch("kill_switch_state", f"launch {lid}", ROW, "a row", "no row")]
    if state is not None and r.killswitch_state is None:
        return [Mismatch("kill_switch_state", str(state.id), ROW, "no row (never armed)", "a row")]
    if state is not None and r.killswitch_state is not None:
        return row_mismatches("kill_switch_state", state.id, r.killswitch_state, state)
    return []
