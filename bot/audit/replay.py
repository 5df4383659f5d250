"""Replay a launch's event log into the rows it implies, and compare them with the database; DB only.

The hash chain (``record.check_links``) proves the log was not edited. The card, the report and every
rule read the state tables, though, and those carry no hash: an ``UPDATE sign_off SET comment = …``
shows nowhere in the chain. So ``verify`` replays the log (pure, ``replay``) into what each row must
hold, field by field, and ``compare`` names every field that differs: table, row id, field, what the
log says and what the row has.

A field the log cannot vouch for is never passed as checked: events written before a field was added
to their detail (``LOG_VERSION``) leave it *unchecked*, listed with the reason, and the report takes
such a value from the row and says so. Covered: launch (name, team, channel, template, launch day,
started and closed by/at, close outcome and note), phases (posted/completed at), items (checked, by id
and name, at, the proof that ticked it; waiver kind, by, at, reason), sign-offs (role,
required, approver id and name, at, comment, recorded progress with its chain head, event seq,
revocation by/at/reason, slot held), GO declarations and withdrawals (against the approvals standing
then, and their outbox message), escalations (channel, severity, summary, reporter, keys, status,
level, message, page and resolve status, tries, error, paged at, acknowledged and resolved by/at),
kill-switch requests (channel, request, requester, reason, dry run, status, tries, HTTP status, error,
response, duration, completed at), the armed state, the go-live row (step, weight, step
started at, held seconds, on hold since/why/by whom, completed at) and every traffic request (action,
steps, weights, reason, forced, requester, requested at, status, tries, HTTP status, error, completed
at). Not covered (bookkeeping the log
does not describe): render versions, timers (``next_level_at``), permalinks, ``template_extra``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.events import EventKind
from bot.core.models import (
    Escalation,
    Event,
    GoLive,
    Item,
    KillSwitchRequest,
    KillSwitchState,
    Launch,
    Phase,
    SignOff,
    SlackMessage,
    TrafficRequest,
)

LOG_VERSION = 2
"""Written in every new ``launch_started`` detail as ``log_version``. Version 2 events carry the
launch's team, an escalation's and a kill-switch request's channel, the trading system's response,
and a ``display_name_resolved`` event for every approver name replaced after the ack; a version 1
log (no ``log_version``) leaves those fields unchecked."""

UNKNOWN_KS_ERROR = "Launch Control restarted before the trading system answered"


# ---------------------------------------------------------------------------------------------------
# Findings


class Expect:
    """An expected value that is not one exact value."""

    def matches(self, found: Any) -> bool:
        raise NotImplementedError

    def show(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class OneOf(Expect):
    """Any of these (a state the code may move through without an event, e.g. a catch-up)."""

    values: tuple[Any, ...]

    def matches(self, found: Any) -> bool:
        return found in self.values

    def show(self) -> str:
        return " or ".join(_show(v) for v in self.values)


@dataclass(frozen=True)
class NotNone(Expect):
    what: str

    def matches(self, found: Any) -> bool:
        return found is not None

    def show(self) -> str:
        return self.what


def _show(value: Any) -> str:
    if isinstance(value, Expect):
        return value.show()
    if isinstance(value, datetime):
        return value.isoformat()
    return repr(value)


def _json(value: Any) -> Any:
    if isinstance(value, Expect):
        return value.show()
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class Mismatch:
    """A row (or the log against itself) disagreeing with what the event log says."""

    table: str
    row_id: str
    field: str
    expected: Any
    found: Any
    # True when the log disagrees with itself (``found`` is in an event, not in a row).
    in_log: bool = False

    def describe(self) -> str:
        if self.in_log:
            return (
                f"{self.table} {self.row_id}: {self.field} is {_show(self.found)} in its event, "
                f"the events before it say {_show(self.expected)}"
            )
        return (
            f"{self.table} {self.row_id}: {self.field} is {_show(self.found)} in the database, "
            f"the event log says {_show(self.expected)}"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "row_id": self.row_id,
            "field": self.field,
            "expected": _json(self.expected),
            "found": _json(self.found),
        }


@dataclass(frozen=True)
class Unchecked:
    """A field the event log cannot vouch for (its events predate that detail)."""

    table: str
    row_id: str
    field: str
    why: str

    def describe(self) -> str:
        return f"{self.table} {self.row_id}: {self.field} not checked: {self.why}"

    def as_json(self) -> dict[str, Any]:
        return {"table": self.table, "row_id": self.row_id, "field": self.field, "why": self.why}


ROW = "(row)"  # the field name of a finding about a whole row (missing, or without its event)
OLD_LOG = "its events were written before the log recorded it (log version 1)"


# ---------------------------------------------------------------------------------------------------
# Replay: the log → the rows it implies


@dataclass
class Expected:
    """What one row must hold (``fields``) and the fields the log cannot check (``unknown``)."""

    fields: dict[str, Any] = field(default_factory=dict)
    unknown: dict[str, str] = field(default_factory=dict)
    seq: int = 0  # the event that created it

    def get(self, name: str, default: Any = None) -> Any:
        """The log's value, or ``default`` (the row's) where the log cannot say."""
        if name in self.unknown or name not in self.fields:
            return default
        value = self.fields[name]
        return default if isinstance(value, Expect) else value


@dataclass
class Replay:
    launch_id: int
    log_version: int = 1
    launch: Expected | None = None
    phases: dict[str, Expected] = field(default_factory=dict)  # by title
    items: dict[int, Expected] = field(default_factory=dict)
    sign_offs: dict[int, Expected] = field(default_factory=dict)  # in approval order
    go_numbers: list[int] = field(default_factory=list)
    escalations: dict[int, Expected] = field(default_factory=dict)
    killswitch: dict[str, Expected] = field(default_factory=dict)  # by request_id
    killswitch_state: Expected | None = None
    golive: Expected | None = None
    traffic: dict[str, Expected] = field(default_factory=dict)  # by request_id
    problems: list[Mismatch] = field(default_factory=list)  # the log disagrees with itself

    def item(self, item_id: int) -> Expected:
        """An item's state: untouched unless an event changed it."""
        return self.items.get(
            item_id,
            Expected(
                {
                    "checked": False,
                    "changed_by_id": None,
                    "changed_by_name": None,
                    "changed_at": None,
                    "waived": None,
                    "waived_by_id": None,
                    "waived_by_name": None,
                    "waived_at": None,
                    "waive_reason": None,
                    "proof": None,
                }
            ),
        )


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def replay(launch_id: int, events: Sequence[Event]) -> Replay:
    """What the rows of the launch must hold, from its events alone (in ``seq`` order)."""
    r = Replay(launch_id)
    go_current: int | None = None
    for index, e in enumerate(events):
        d: Mapping[str, Any] = e.detail or {}
        kind = e.kind
        if kind == EventKind.LAUNCH_STARTED:
            r.log_version = _int(d.get("log_version")) or 1
            r.launch = Expected(
                {
                    "name": d.get("name"),
                    "channel_id": d.get("channel_id"),
                    "template_title": d.get("template"),
                    "started_by_id": e.actor_id,
                    "started_by_name": e.actor_name,
                    "started_at": e.at,
                    "closed_at": None,
                    "closed_by_id": None,
                    "closed_by_name": None,
                    "close_outcome": None,
                    "close_note": None,
                    "active_channel": d.get("channel_id"),
                    # Launch day, from ``--on`` (absent: an undated launch).
                    "launch_date": _date(d.get("launch_date")),
                },
                seq=e.seq,
            )
            _from_detail(r.launch, d, "team_id")
        elif kind == EventKind.LAUNCH_DATE_MOVED and r.launch is not None:
            r.launch.fields["launch_date"] = _date(d.get("to"))
        elif kind == EventKind.LAUNCH_CLOSED and r.launch is not None:
            r.launch.fields.update(
                closed_at=e.at,
                closed_by_id=e.actor_id,
                closed_by_name=e.actor_name,
                close_outcome=d.get("outcome"),
                close_note=d.get("note"),
            )
            r.launch.fields["active_channel"] = None
        elif kind == EventKind.PHASE_STARTED:
            r.phases.setdefault(str(d.get("phase")), Expected()).fields["posted_at"] = e.at
        elif kind in (EventKind.PHASE_COMPLETED, EventKind.PHASE_REOPENED):
            done = e.at if kind == EventKind.PHASE_COMPLETED else None
            r.phases.setdefault(str(d.get("phase")), Expected()).fields["completed_at"] = done
        elif kind in (EventKind.ITEM_CHECKED, EventKind.ITEM_UNCHECKED) and e.item_id is not None:
            r.items[e.item_id] = Expected(
                {
                    **r.item(e.item_id).fields,
                    "checked": kind == EventKind.ITEM_CHECKED,
                    "changed_by_id": e.actor_id,
                    "changed_by_name": e.actor_name,
                    "changed_at": e.at,
                    # What the bot proved to tick it (bot/checklist/proofs.py); a hand change clears it.
                    "proof": d.get("proof") if kind == EventKind.ITEM_CHECKED else None,
                },
                seq=e.seq,
            )
            if "text" in d:
                r.items[e.item_id].fields["text"] = d["text"]
        elif kind == EventKind.ITEM_WAIVED and e.item_id is not None:
            r.items[e.item_id] = Expected(
                {
                    **r.item(e.item_id).fields,
                    "waived": d.get("kind"),
                    "waived_by_id": e.actor_id,
                    "waived_by_name": e.actor_name,
                    "waived_at": e.at,
                    "waive_reason": d.get("reason"),
                },
                seq=e.seq,
            )
        elif kind == EventKind.ITEM_UNWAIVED and e.item_id is not None:
            r.items[e.item_id] = Expected(
                {
                    **r.item(e.item_id).fields,
                    "waived": None,
                    "waived_by_id": None,
                    "waived_by_name": None,
                    "waived_at": None,
                    "waive_reason": None,
                },
                seq=e.seq,
            )
        elif kind == EventKind.SIGN_OFF_APPROVED:
            _approved(r, e, events[index - 1] if index else None)
        elif kind == EventKind.SIGN_OFF_REVOKED:
            so = r.sign_offs.get(_int(d.get("sign_off_id")) or 0)
            if so is None:
                r.problems.append(
                    Mismatch(
                        "event",
                        f"#{e.seq}",
                        "sign_off_id",
                        "an approved sign-off",
                        d.get("sign_off_id"),
                        in_log=True,
                    )
                )
                continue
            so.fields.update(
                revoked_at=e.at,
                revoked_by_id=e.actor_id,
                revoked_by_name=e.actor_name,
                revoke_reason=d.get("reason"),
                active_slot=None,
            )
            if r.log_version < 2:
                so.unknown["revoked_by_name"] = OLD_LOG
        elif kind == EventKind.DISPLAY_NAME_RESOLVED and d.get("items"):
            # The ticks of a person named after they were applied (bot/checklist/rules.py).
            for item in r.items.values():
                if item.fields.get("changed_by_id") == d.get("user_id"):
                    item.fields["changed_by_name"] = d.get("name")
        elif kind == EventKind.DISPLAY_NAME_RESOLVED:
            for so in r.sign_offs.values():
                if so.fields.get("user_id") == d.get("user_id"):
                    so.fields["user_name"] = d.get("name")
                if so.fields.get("revoked_by_id") == d.get("user_id"):
                    so.fields["revoked_by_name"] = d.get("name")
        elif kind == EventKind.LAUNCH_GO:
            go_current = _int(d.get("number"))
            r.go_numbers.append(go_current or 0)
            declared = sorted(
                _int(a.get("sign_off_id")) or 0
                for a in d.get("approvals") or []
                if isinstance(a, dict)
            )
            standing = sorted(
                i for i, so in r.sign_offs.items() if so.fields.get("revoked_at") is None
            )
            if declared != standing:
                r.problems.append(
                    Mismatch(
                        "go",
                        f"#{go_current}",
                        "approvals (sign-off ids)",
                        standing,
                        declared,
                        in_log=True,
                    )
                )
        elif kind == EventKind.GO_WITHDRAWN:
            number = _int(d.get("number"))
            if number is None or number != go_current:
                r.problems.append(
                    Mismatch(
                        "go", f"#{number}", "withdrawn", f"GO #{go_current}", number, in_log=True
                    )
                )
            go_current = None
        elif kind.startswith(("golive_", "traffic_")):
            _golive(r, e, d)
        else:
            _incident(r, e, d)
    return r


TRAFFIC_OUTCOMES = {
    EventKind.TRAFFIC_CONFIRMED: "confirmed",
    EventKind.TRAFFIC_DECLARED: "declared",
    EventKind.TRAFFIC_FAILED: "failed",
    EventKind.TRAFFIC_UNKNOWN: "unknown",
}


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


def _golive(r: Replay, e: Event, d: Mapping[str, Any]) -> None:
    kind = e.kind
    if kind in (EventKind.GOLIVE_STEP_ENTERED, EventKind.GOLIVE_COMPLETED):
        _golive_row(r, e).fields.update(
            step=d.get("step"),
            weight=d.get("weight"),
            step_started_at=e.at,
            held_seconds=0,
            completed_at=e.at if kind == EventKind.GOLIVE_COMPLETED else None,
        )
    elif kind == EventKind.GOLIVE_HELD:
        _golive_row(r, e).fields.update(
            held_since=e.at, hold_reason=d.get("reason"), held_by_id=e.actor_id
        )
    elif kind == EventKind.GOLIVE_RESUMED:
        f = _golive_row(r, e).fields
        f.update(
            held_seconds=int(f["held_seconds"]) + (_int(d.get("held_seconds")) or 0),
            held_since=None,
            hold_reason=None,
            held_by_id=None,
        )
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


def _from_detail(row: Expected, d: Mapping[str, Any], name: str, key: str | None = None) -> None:
    key = key or name
    if key in d:
        row.fields[name] = d[key]
    else:
        row.unknown[name] = OLD_LOG


def _approved(r: Replay, e: Event, before: Event | None) -> None:
    d = e.detail or {}
    sign_off_id = _int(d.get("sign_off_id")) or 0
    raw = d.get("progress")
    progress: dict[str, Any] = raw if isinstance(raw, dict) else {}
    so = Expected(
        {
            "role_id": d.get("role_id"),
            "role_title": d.get("role_title"),
            "required": d.get("required"),
            "user_id": e.actor_id,
            "user_name": e.actor_name,
            "at": e.at,
            "comment": d.get("comment"),
            "progress": progress,
            "event_seq": e.seq,
            "active_slot": NotNone("a slot (the approval stands)"),
            "revoked_at": None,
            "revoked_by_id": None,
            "revoked_by_name": None,
            "revoke_reason": None,
        },
        seq=e.seq,
    )
    if r.log_version < 2:
        so.unknown["user_name"] = OLD_LOG
    r.sign_offs[sign_off_id] = so
    # What the approver signed names the head of the chain just before the approval: the log's own
    # record of it must be that event's hash (a rewritten tail would recompute hashes, not this).
    head = before.hash if before is not None else None
    after = before.seq if before is not None else 0
    if progress.get("chain_head") != head or progress.get("after_event") != after:
        r.problems.append(
            Mismatch(
                "event",
                f"#{e.seq}",
                "progress.chain_head",
                f"{head} (event #{after})",
                f"{progress.get('chain_head')} (event #{progress.get('after_event')})",
                in_log=True,
            )
        )


def _incident(r: Replay, e: Event, d: Mapping[str, Any]) -> None:
    kind = e.kind
    esc = r.escalations.get(_int(d.get("escalation_id")) or 0)
    if kind == EventKind.ESCALATION_OPENED:
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
        _from_detail(esc, d, "channel_id")
        r.escalations[_int(d.get("escalation_id")) or 0] = esc
    elif esc is not None:
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
            f["page_tries"] = int(f["page_tries"]) + (_int(d.get("tries")) or 0)
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
        return
    ks = r.killswitch.get(str(d.get("request_id")))
    if kind in (EventKind.KILLSWITCH_REQUESTED, EventKind.KILLSWITCH_TEST_REQUESTED):
        ks = Expected(
            {
                "request_id": d.get("request_id"),
                "request_key": e.source,
                "requested_by_id": e.actor_id,
                "requested_by_name": e.actor_name,
                "reason": d.get("reason"),
                "dry_run": kind == EventKind.KILLSWITCH_TEST_REQUESTED,
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
        _from_detail(ks, d, "channel_id")
        r.killswitch[str(d.get("request_id"))] = ks
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
    elif ks is not None:
        f = ks.fields
        if kind == EventKind.KILLSWITCH_SENDING:
            f["status"] = "sending"
        elif kind in (
            EventKind.KILLSWITCH_CONFIRMED,
            EventKind.KILLSWITCH_FAILED,
            EventKind.KILLSWITCH_TEST_CONFIRMED,
            EventKind.KILLSWITCH_TEST_FAILED,
        ):
            f.update(
                status="confirmed" if kind.endswith("confirmed") else "failed",
                tries=d.get("tries"),
                http_status=d.get("http_status"),
                error=d.get("error"),
                duration_ms=d.get("duration_ms"),
                completed_at=e.at,
            )
            _from_detail(ks, d, "response_body")
        elif kind in (EventKind.KILLSWITCH_UNKNOWN, EventKind.KILLSWITCH_NOT_SENT):
            f.update(
                status="unknown" if kind == EventKind.KILLSWITCH_UNKNOWN else "not_sent",
                error=d.get("error", UNKNOWN_KS_ERROR),  # logs before 0007 said it in the code
                completed_at=e.at,
            )


# ---------------------------------------------------------------------------------------------------
# Compare: the rows against the replay


@dataclass(frozen=True)
class Findings:
    replay: Replay
    mismatches: tuple[Mismatch, ...]
    unchecked: tuple[Unchecked, ...]


def _same(expected: Any, found: Any) -> bool:
    if isinstance(expected, Expect):
        return expected.matches(found)
    return bool(expected == found)


def _compare(table: str, row_id: object, want: Expected, row: object) -> list[Mismatch]:
    out: list[Mismatch] = []
    for name, expected in want.fields.items():
        if name in want.unknown:
            continue
        found = getattr(row, name)
        if isinstance(expected, dict) and isinstance(found, dict):
            for key in sorted(set(expected) | set(found)):
                if expected.get(key) != found.get(key):
                    out.append(
                        Mismatch(
                            table, str(row_id), f"{name}.{key}", expected.get(key), found.get(key)
                        )
                    )
        elif not _same(expected, found):
            out.append(Mismatch(table, str(row_id), name, expected, found))
    return out


def _unchecked(table: str, row_id: object, want: Expected) -> list[Unchecked]:
    return [Unchecked(table, str(row_id), name, why) for name, why in want.unknown.items()]


async def compare(*, session: AsyncSession, launch: Launch, events: Sequence[Event]) -> Findings:
    """Every field of every row of the launch that the log describes, against the log."""
    r = replay(launch.id, events)
    bad: list[Mismatch] = list(r.problems)
    unchecked: list[Unchecked] = []
    lid = launch.id

    if r.launch is None:
        unchecked.append(
            Unchecked("launch", str(lid), "(all fields)", "the log has no launch_started event")
        )
    else:
        bad += _compare("launch", lid, r.launch, launch)
        unchecked += _unchecked("launch", lid, r.launch)

    phases = (await session.scalars(select(Phase).where(Phase.launch_id == lid))).all()
    titles = [p.title for p in phases]
    first = min((p.position for p in phases if p.kind == "checklist"), default=None)
    for phase in phases:
        want = Expected(
            {
                "posted_at": r.launch.fields["started_at"]
                if r.launch is not None and phase.position == first
                else None,
                "completed_at": None,
            }
        )
        logged = r.phases.get(phase.title)
        if logged is not None:
            want.fields.update(logged.fields)
        if titles.count(phase.title) > 1:
            unchecked.append(
                Unchecked(
                    "phase", str(phase.id), "posted_at, completed_at", "two phases share its title"
                )
            )
        elif r.launch is not None:
            bad += _compare("phase", phase.id, want, phase)

    items = (await session.scalars(select(Item).where(Item.launch_id == lid))).all()
    for item in items:
        bad += _compare("item", item.id, r.item(item.id), item)
    known_items = {i.id for i in items}
    for item_id in r.items:
        if item_id not in known_items:
            bad.append(
                Mismatch(
                    "item", str(item_id), ROW, f"a row (event #{r.items[item_id].seq})", "no row"
                )
            )

    rows = {
        s.id: s
        for s in (await session.scalars(select(SignOff).where(SignOff.launch_id == lid))).all()
    }
    for so_id, want in r.sign_offs.items():
        row = rows.get(so_id)
        if row is None:
            bad.append(
                Mismatch("sign_off", str(so_id), ROW, f"a row (event #{want.seq})", "no row")
            )
            continue
        bad += _compare("sign_off", so_id, want, row)
        unchecked += _unchecked("sign_off", so_id, want)
    for so_id in rows.keys() - r.sign_offs.keys():
        bad.append(Mismatch("sign_off", str(so_id), ROW, "no row (no approval event)", "a row"))

    go_parts = set(
        (
            await session.scalars(
                select(SlackMessage.part).where(
                    SlackMessage.launch_id == lid, SlackMessage.kind == "go"
                )
            )
        ).all()
    )
    for number in r.go_numbers:
        if number not in go_parts:
            bad.append(Mismatch("slack_message", f"go #{number}", ROW, "the GO message", "no row"))
    for number in sorted(go_parts - set(r.go_numbers)):
        bad.append(
            Mismatch("slack_message", f"go #{number}", ROW, "no GO (no launch_go event)", "a row")
        )

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
        bad += _compare("escalation", esc_id, want, esc)
        unchecked += _unchecked("escalation", esc_id, want)
    for esc_id in sorted(escalations.keys() - r.escalations.keys()):
        bad.append(
            Mismatch("escalation", str(esc_id), ROW, "no row (no escalation_opened event)", "a row")
        )

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
        bad += _compare("kill_switch_request", q.id, want, q)
        unchecked += _unchecked("kill_switch_request", q.id, want)
    for q in requests:
        if q.request_id not in r.killswitch:
            bad.append(
                Mismatch(
                    "kill_switch_request", str(q.id), ROW, "no row (no request event)", "a row"
                )
            )

    state = await session.scalar(select(KillSwitchState).where(KillSwitchState.launch_id == lid))
    if r.killswitch_state is not None and state is None:
        bad.append(Mismatch("kill_switch_state", f"launch {lid}", ROW, "a row", "no row"))
    elif state is not None and r.killswitch_state is None:
        bad.append(
            Mismatch("kill_switch_state", str(state.id), ROW, "no row (never armed)", "a row")
        )
    elif state is not None and r.killswitch_state is not None:
        bad += _compare("kill_switch_state", state.id, r.killswitch_state, state)
    bad += await _compare_golive(session, lid, r)
    return Findings(r, tuple(bad), tuple(unchecked))


async def _compare_golive(session: AsyncSession, lid: int, r: Replay) -> list[Mismatch]:
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
        bad += _compare("golive", golive.id, r.golive, golive)
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
        bad += _compare("traffic_request", q.id, want, q)
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
