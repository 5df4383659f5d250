"""Audit: verify a launch's hash-chained event log and build its full record (the report's data); DB only.

``verify_chain`` walks the events in order and recomputes every link
(``hash = sha256(prev_hash + canonical(event))``, see ``events.event_hash``): an edited row no
longer matches its hash, a deleted or reordered one breaks the sequence or the next ``prev_hash``.
It then replays the log and compares every row it describes, field by field (``replay.compare``),
because the card and the report read those tables; the report's values come from that replay.

A chain can still be cut off at the end or rewritten from some point on by someone who recomputes
every later hash. The head hash is therefore published outside the database: in the GO message, in
every sign-off's recorded progress, and in each report; compare it with a later ``verify``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit.golive import golive_record
from bot.audit.replay import Expect, Expected, Findings, Mismatch, Replay, Unchecked, compare
from bot.checklist.state import ItemState
from bot.core.config import RoleConfig
from bot.core.db import open_database
from bot.core.events import GENESIS_HASH, event_hash
from bot.core.launches import active_launch, find_launch
from bot.core.models import Event, Launch
from bot.golive.state import find_golive
from bot.golive.steps import derive_steps
from bot.launch.state import LaunchState, load_state
from bot.signoffs.log import EMPTY_LOG, SignOffLog, SignOffRecord

REPORT_SCHEMA = "launchbot.report/1"
ITEM_EVENTS = ("item_checked", "item_unchecked", "item_waived", "item_unwaived")
ITEM_ACTIONS = {"item_checked": "checked", "item_waived": "waived", "item_unwaived": "unwaived"}


@dataclass(frozen=True)
class ChainBreak:
    """The first event that does not match: where the log stops being trustworthy."""

    seq: int
    event_id: int
    kind: str
    reason: str

    def describe(self) -> str:
        return f"event #{self.seq} ({self.kind}, row id {self.event_id}): {self.reason}"


@dataclass(frozen=True)
class ChainReport:
    launch_id: int
    events: int
    head_hash: str
    first_bad: ChainBreak | None = None
    # Row fields that disagree with the (intact) log, e.g. a sign-off edited behind the bot's back.
    mismatches: tuple[Mismatch, ...] = field(default=())
    # Fields the log cannot vouch for (written before it recorded them): never counted as checked.
    unchecked: tuple[Unchecked, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.first_bad is None and not self.mismatches


async def _events(session: AsyncSession, launch_id: int) -> Sequence[Event]:
    return (
        await session.scalars(
            select(Event).where(Event.launch_id == launch_id).order_by(Event.seq, Event.id)
        )
    ).all()


def check_links(launch_id: int, events: Sequence[Event]) -> ChainReport:
    """Recompute the chain over ``events`` (in ``seq`` order) and name the first one that fails."""
    prev = GENESIS_HASH
    for expected, event in enumerate(events, start=1):
        reason: str | None = None
        if event.seq != expected:
            reason = (
                f"the sequence jumps from #{expected - 1} to #{event.seq}: "
                "events were deleted or renumbered"
            )
        elif event.prev_hash != prev:
            reason = (
                f"its prev_hash does not match the hash of event #{expected - 1}: "
                "an earlier event was rewritten, or the chain was cut here"
            )
        elif event_hash(prev, event) != event.hash:
            reason = "its content does not match its hash: this row was edited"
        if reason is not None:
            return ChainReport(
                launch_id=launch_id,
                events=len(events),
                head_hash=events[-1].hash,
                first_bad=ChainBreak(event.seq, event.id, event.kind, reason),
            )
        prev = event.hash
    return ChainReport(launch_id=launch_id, events=len(events), head_hash=prev)


async def verify_chain(*, session: AsyncSession, launch_id: int) -> ChainReport:
    """Check the launch's event chain, then replay it and compare every row it describes."""
    return (await _verify(session, launch_id))[0]


async def _verify(session: AsyncSession, launch_id: int) -> tuple[ChainReport, Findings | None]:
    launch = await find_launch(session=session, ref=str(launch_id))
    events = await _events(session, launch_id)
    report = check_links(launch_id, events)
    if report.first_bad is not None:
        return report, None
    findings = await compare(session=session, launch=launch, events=events)
    return (
        ChainReport(
            launch_id=launch_id,
            events=report.events,
            head_hash=report.head_hash,
            mismatches=findings.mismatches,
            unchecked=findings.unchecked,
        ),
        findings,
    )


# ---------------------------------------------------------------------------------------------------
# The record: everything the report shows, as JSON-ready data (schema ``launchbot.report/1``).


def _ts(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _person(user_id: str | None, name: str | None) -> dict[str, Any] | None:
    if user_id is None:
        return None
    return {"id": user_id, "name": name}


async def build_record(
    *,
    session: AsyncSession,
    launch_id: int,
    now: datetime,
    roles: Mapping[str, RoleConfig] | None = None,
) -> dict[str, Any]:
    """The launch's full record: launch, every item with who/when and its history, sign-offs, GO,
    the go-live sequence (steps, stage changes, traffic requests, holds), closing, the whole event log and the chain's verification. ``roles`` (the config) adds each
    role's required count; without it the count recorded with the approvals is used.

    Names and values are the ones verify checked: replayed from the (intact) event log, not read
    from rows that may have been edited; a field the log cannot vouch for (``chain.unchecked``) and
    everything of a broken chain come from the rows."""
    state = await load_state(session=session, launch_id=launch_id)
    launch = await session.get(Launch, launch_id)
    assert launch is not None
    events = await _events(session, launch_id)
    chain, findings = await _verify(session, launch_id)
    truth = findings.replay if findings is not None else None
    history: dict[int, list[dict[str, Any]]] = {}
    for e in events:
        if e.kind in ITEM_EVENTS and e.item_id is not None:
            history.setdefault(e.item_id, []).append(
                {
                    "seq": e.seq,
                    "at": _ts(e.at),
                    "action": ITEM_ACTIONS.get(e.kind, "unchecked"),
                    "by": _person(e.actor_id, e.actor_name),
                    # What the bot proved to tick it (bot/checklist/proofs.py), None for a click.
                    "proof": (e.detail or {}).get("proof"),
                }
            )
    card = state.card
    told = truth.launch if truth is not None and truth.launch is not None else Expected()
    log = state.sign_offs or EMPTY_LOG
    if truth is not None:
        log = SignOffLog(roles=log.roles, records=_replayed_sign_offs(truth, log), go=log.go)
    return {
        "schema": REPORT_SCHEMA,
        "generated_at": _ts(now),
        "launch": {
            "id": state.id,
            "name": told.get("name", state.name),
            "template": told.get("template_title", launch.template_title),
            "team_id": told.get("team_id", launch.team_id),
            "channel_id": told.get("channel_id", state.channel_id),
            "card_permalink": card.permalink if card else None,
            "started_by": _person(
                told.get("started_by_id", state.started_by_id),
                told.get("started_by_name", state.started_by_name),
            ),
            "started_at": _ts(told.get("started_at", state.started_at)),
            "closed_by": _person(
                told.get("closed_by_id", launch.closed_by_id),
                told.get("closed_by_name", launch.closed_by_name),
            ),
            "closed_at": _ts(told.get("closed_at", state.closed_at)),
            "close_outcome": told.get("close_outcome", launch.close_outcome),
            "close_note": told.get("close_note", launch.close_note),
            "current_phase": state.current.title if state.phases else None,
        },
        "phases": _phases(state, history, truth),
        "sign_offs": _sign_offs(log, roles),
        "go": [
            {
                "number": g.number,
                "at": _ts(g.at),
                "declared_by": g.actor_id,
                "event_seq": g.event_seq,
                "event_hash": g.event_hash,
                "withdrawn": None
                if g.withdrawn_at is None
                else {
                    "at": _ts(g.withdrawn_at),
                    "by": g.withdrawn_by_id,
                    "role": g.withdrawn_role,
                    "reason": g.withdrawn_reason,
                },
                "readiness": dict(g.readiness) or None,
            }
            for g in log.go
        ],
        "golive": _golive(state, events),
        "events": [
            {
                "seq": e.seq,
                "at": _ts(e.at),
                "kind": e.kind,
                "actor": _person(e.actor_id, e.actor_name),
                "item_id": e.item_id,
                "detail": e.detail,
                "source": e.source,
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            }
            for e in events
        ],
        "chain": {
            "events": chain.events,
            "head_hash": chain.head_hash,
            "verified": chain.ok,
            "first_bad": None
            if chain.first_bad is None
            else {
                "seq": chain.first_bad.seq,
                "kind": chain.first_bad.kind,
                "reason": chain.first_bad.reason,
            },
            "mismatches": [m.describe() for m in chain.mismatches],
            "findings": [m.as_json() for m in chain.mismatches],
            "unchecked": [u.as_json() for u in chain.unchecked],
        },
    }


def _golive(state: LaunchState, events: Sequence[Event]) -> dict[str, Any] | None:
    """The go-live sequence as the log tells it; None when the checklist has none."""
    found = find_golive(state.phases)
    if found is None:
        return None
    return golive_record(derive_steps(found[1]), events)


def _replayed_sign_offs(truth: Replay, log: SignOffLog) -> tuple[SignOffRecord, ...]:
    """Every approval in the log, as the log tells it (a row without an approval event is left out:
    verify names it); only a field the log cannot vouch for is taken from the row."""
    rows = {r.id: r for r in log.records}
    records = []
    for so_id, want in truth.sign_offs.items():
        row = rows.get(so_id)

        def pick(name: str, want: Expected = want, row: SignOffRecord | None = row) -> Any:
            logged = want.fields.get(name)
            if row is not None and (name in want.unknown or isinstance(logged, Expect)):
                return getattr(row, name)
            return logged

        records.append(
            SignOffRecord(
                id=so_id,
                role_id=str(pick("role_id")),
                role_title=str(pick("role_title")),
                required=int(pick("required") or 1),
                user_id=str(pick("user_id")),
                user_name=str(pick("user_name")),
                at=pick("at"),
                comment=pick("comment"),
                progress=pick("progress") or {},
                event_seq=int(pick("event_seq")),
                revoked_at=pick("revoked_at"),
                revoked_by_id=pick("revoked_by_id"),
                revoked_by_name=pick("revoked_by_name"),
                revoke_reason=pick("revoke_reason"),
            )
        )
    return tuple(records)


def _phases(
    state: LaunchState, history: Mapping[int, list[dict[str, Any]]], truth: Replay | None
) -> list[Any]:
    def item(i: ItemState) -> dict[str, Any]:
        told = truth.item(i.id) if truth is not None else Expected()
        return {
            "id": i.id,
            "text": i.text,
            "duration_minutes": i.duration_minutes,
            "checked": bool(told.get("checked", i.checked)),
            "by": _person(
                told.get("changed_by_id", i.changed_by_id),
                told.get("changed_by_name", i.changed_by_name),
            ),
            "at": _ts(told.get("changed_at", i.changed_at)),
            "waived": None
            if told.get("waived", i.waived) is None
            else {
                "kind": told.get("waived", i.waived),
                "by": _person(
                    told.get("waived_by_id", i.waived_by_id),
                    told.get("waived_by_name", i.waived_by_name),
                ),
                "at": _ts(told.get("waived_at", i.waived_at)),
                "reason": told.get("waive_reason", i.waive_reason),
            },
            "proof": None
            if told.get("proof", i.proof) is None or not bool(told.get("checked", i.checked))
            else {"kind": told.get("proof", i.proof), "link": i.proof_link},
            "history": history.get(i.id, []),
        }

    phases = []
    for p in state.phases:
        sections: list[dict[str, Any]] = [
            {
                "title": s.title,
                "groups": [
                    {
                        "title": g.title,
                        "stage": g.stage,
                        "duration_minutes": g.duration_minutes,
                        "items": [item(i) for i in g.items],
                    }
                    for g in s.groups
                ],
            }
            for s in p.sections
        ]
        items = [i for s in sections for g in s["groups"] for i in g["items"]]
        told = (truth.phases.get(p.title) if truth is not None else None) or Expected()
        phases.append(
            {
                "title": p.title,
                "timing": p.timing,
                "kind": p.kind,
                "posted": p.posted,
                "completed_at": _ts(told.get("completed_at", p.completed_at)),
                "done": sum(1 for i in items if i["checked"]),
                "total": len(items),
                "sections": sections,
            }
        )
    return phases


def _sign_offs(log: SignOffLog, roles: Mapping[str, RoleConfig] | None) -> dict[str, Any]:
    role_rows = []
    for role in log.roles:
        records = [r for r in log.records if r.role_id == role.role_id]
        active = [r for r in records if r.active]
        config = (roles or {}).get(role.role_id)
        required = config.required if config else _recorded_required(records)
        role_rows.append(
            {
                "role_id": role.role_id,
                "title": role.title,
                "required": required,
                "status": "approved" if len(active) >= required else "pending",
                "approved_by": [r.user_id for r in active],
            }
        )
    return {
        "all_approved": bool(role_rows) and all(r["status"] == "approved" for r in role_rows),
        "roles": role_rows,
        "records": [
            {
                "id": r.id,
                "role_id": r.role_id,
                "role_title": r.role_title,
                "by": _person(r.user_id, r.user_name),
                "at": _ts(r.at),
                "comment": r.comment,
                "progress": dict(r.progress),
                "event_seq": r.event_seq,
                "revoked": None
                if r.revoked_at is None
                else {
                    "at": _ts(r.revoked_at),
                    "by": _person(r.revoked_by_id, r.revoked_by_name),
                    "reason": r.revoke_reason,
                },
            }
            for r in log.records
        ],
    }


def _recorded_required(records: Sequence[SignOffRecord]) -> int:
    return max([1, *(r.required for r in records)])


async def launch_in_channel(*, session: AsyncSession, channel_id: str) -> Launch | None:
    """The channel's active launch, else its most recent one (a closed launch still has a record)."""
    active = await active_launch(session=session, channel_id=channel_id)
    if active is not None:
        return active
    return await session.scalar(
        select(Launch).where(Launch.channel_id == channel_id).order_by(Launch.id.desc()).limit(1)
    )


async def verify_launch(database_url: str, ref: str) -> ChainReport:
    """``launchbot audit verify``: open the database, find the launch by id or name, verify."""
    db = open_database(database_url)
    try:
        async with db.read_sessions() as session:
            launch = await find_launch(session=session, ref=ref)
            return await verify_chain(session=session, launch_id=launch.id)
    finally:
        await db.dispose()
