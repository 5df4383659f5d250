"""Escalations (with their PagerDuty pages) and the kill switch (requests and the armed state):
replayed from their events, and compared with their rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit.replay.expected import Expected, OneOf
from bot.audit.replay.findings import (
    OLD_LOG,
    ROW,
    V2_LOG,
    Mismatch,
    Unchecked,
    compare_rows,
    row_mismatches,
    unchecked_fields,
)
from bot.audit.replay.state import Replay, as_datetime, as_int, from_detail
from bot.core.events import EventKind
from bot.core.models import (
    Escalation,
    EscalationLevelPing,
    Event,
    KillSwitchRequest,
    KillSwitchState,
)

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
        esc_id = as_int(d.get("escalation_id")) or 0
        r.escalations[esc_id] = _escalation_opened(e, d)
        _level_zero(r, esc_id, e, d)
        return True
    if esc is None:
        return False
    f = esc.fields
    if kind == EventKind.ESCALATION_POSTED:
        f["message_ts"] = d.get("ts")
        _ping_posted(r.pings.get((_esc_id(d), 0)), e, d, first_only=True)
    elif kind in (EventKind.ESCALATION_LEVEL_DUE, EventKind.ESCALATION_PATH_EXHAUSTED):
        f["level"] = d.get("level")
        _level_due(r, e, d)
    elif kind in (EventKind.ESCALATION_LEVEL_PINGED, EventKind.ESCALATION_LEVEL_PING_FAILED):
        _ping_posted(r.pings.get((_esc_id(d), as_int(d.get("level")) or 0)), e, d)
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


def _esc_id(d: Mapping[str, Any]) -> int:
    return as_int(d.get("escalation_id")) or 0


def _ping(e: Event, level: int, due_at: Any) -> Expected:
    return Expected(
        {
            "level": level,
            "due_at": due_at,
            "claimed_at": e.at,
            "posted_at": None,
            "ts": None,
            "attempts": 0,
            "last_error": None,
        },
        seq=e.seq,
    )


def _level_zero(r: Replay, escalation_id: int, e: Event, d: Mapping[str, Any]) -> None:
    """Level 0 is claimed with the escalation when it has a path (its message is the ping)."""
    if "path" not in d:
        r.pings_unknown.add(escalation_id)
    elif d["path"]:
        r.pings[(escalation_id, 0)] = _ping(e, 0, e.at)


def _level_due(r: Replay, e: Event, d: Mapping[str, Any]) -> None:
    level = as_int(d.get("level")) or 0
    ping = _ping(e, level, as_datetime(d.get("due_at")))
    if "due_at" not in d:
        ping.unknown["due_at"] = V2_LOG
    r.pings[(_esc_id(d), level)] = ping


def _ping_posted(
    ping: Expected | None, e: Event, d: Mapping[str, Any], *, first_only: bool = False
) -> None:
    """A level's message was posted (``ts``) or refused (``error``). The escalation message posts
    level 0 once (later answers leave the row alone); a due level's ping counts every answer."""
    if ping is None:
        return
    f = ping.fields
    if first_only:
        if f["posted_at"] is None and d.get("ts"):
            f.update(posted_at=e.at, ts=d.get("ts"), attempts=int(f["attempts"]) + 1)
        return
    ts = d.get("ts")
    f.update(
        posted_at=e.at if ts else None,
        ts=ts,
        last_error=d.get("error"),
        attempts=int(f["attempts"]) + 1,
    )


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
        # An unanswered POST (not a stop) records its tries, as a confirmed or failed one does.
        ks.fields.update({k: d[k] for k in ("tries", "http_status", "duration_ms") if k in d})


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
    ping_bad, ping_unchecked = await _compare_pings(session, lid, r)
    ks_bad, ks_unchecked = await _compare_killswitch_requests(session, lid, r)
    bad = esc_bad + ping_bad + ks_bad + await _compare_killswitch_state(session, lid, r)
    return bad, esc_unchecked + ping_unchecked + ks_unchecked


async def _compare_escalations(
    session: AsyncSession, lid: int, r: Replay
) -> tuple[list[Mismatch], list[Unchecked]]:
    escalations = {
        e.id: e
        for e in (
            await session.scalars(select(Escalation).where(Escalation.launch_id == lid))
        ).all()
    }
    return compare_rows(
        "escalation", r.escalations, escalations, unexplained="no escalation_opened event"
    )


async def _compare_pings(
    session: AsyncSession, lid: int, r: Replay
) -> tuple[list[Mismatch], list[Unchecked]]:
    """Every level ping of the launch's escalations against the levels the log says came due."""
    table = "escalation_level_ping"
    bad: list[Mismatch] = []
    unchecked: list[Unchecked] = []
    rows = (
        await session.scalars(
            select(EscalationLevelPing)
            .join(Escalation, Escalation.id == EscalationLevelPing.escalation_id)
            .where(Escalation.launch_id == lid)
            .order_by(EscalationLevelPing.id)
        )
    ).all()
    found = {(p.escalation_id, p.level): p for p in rows}
    for key, want in r.pings.items():
        ping = found.get(key)
        if ping is None:
            where = f"escalation {key[0]} level {key[1]}"
            bad.append(Mismatch(table, where, ROW, f"a row (event #{want.seq})", "no row"))
            continue
        bad += row_mismatches(table, ping.id, want, ping)
        unchecked += unchecked_fields(table, ping.id, want)
    for key, ping in found.items():
        if key in r.pings:
            continue
        if key[0] in r.pings_unknown and key[1] == 0:
            unchecked.append(Unchecked(table, str(ping.id), ROW, OLD_LOG))
            continue
        bad.append(
            Mismatch(table, str(ping.id), ROW, "no row (no event says it came due)", "a row")
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
