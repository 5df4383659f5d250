"""Audit: verify a launch's hash-chained event log and build its full record (the report's data); DB only.

``verify_chain`` walks the events in order and recomputes every link
(``hash = sha256(prev_hash + canonical(event))``, see ``events.event_hash``): an edited row no
longer matches its hash, a deleted or reordered one breaks the sequence or the next ``prev_hash``.
It then checks that the state tables agree with the log (each item's who/when and each sign-off are
what their events say), because the card and the report read those tables.

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

from bot.core.config import RoleConfig
from bot.core.db import open_database
from bot.core.events import GENESIS_HASH, EventKind, event_hash
from bot.core.launches import active_launch, find_launch
from bot.core.models import Event, Item, Launch, SignOff
from bot.launch.state import LaunchState, load_state
from bot.signoffs.log import EMPTY_LOG, SignOffRecord

REPORT_SCHEMA = "launchbot.report/1"
ITEM_EVENTS = ("item_checked", "item_unchecked")


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
    # State rows that disagree with the (intact) log, e.g. a sign-off edited behind the bot's back.
    mismatches: tuple[str, ...] = field(default=())

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
    """Check the launch's event chain, then that items and sign-offs agree with it."""
    await find_launch(session=session, ref=str(launch_id))
    events = await _events(session, launch_id)
    report = check_links(launch_id, events)
    if report.first_bad is not None:
        return report
    mismatches = [
        *await _item_mismatches(session, launch_id, events),
        *await _sign_off_mismatches(session, launch_id, events),
    ]
    return ChainReport(
        launch_id=launch_id,
        events=report.events,
        head_hash=report.head_hash,
        mismatches=tuple(mismatches),
    )


async def _item_mismatches(
    session: AsyncSession, launch_id: int, events: Sequence[Event]
) -> list[str]:
    last: dict[int, Event] = {}
    for e in events:
        if e.kind in ITEM_EVENTS and e.item_id is not None:
            last[e.item_id] = e
    problems: list[str] = []
    items = (await session.scalars(select(Item).where(Item.launch_id == launch_id))).all()
    for item in items:
        change = last.get(item.id)
        if change is None:
            if item.checked or item.changed_by_id is not None:
                problems.append(f"item {item.id} ({item.text!r}) changed without an event")
            continue
        if item.checked != (change.kind == "item_checked") or item.changed_by_id != change.actor_id:
            problems.append(
                f"item {item.id} ({item.text!r}) does not match event #{change.seq} "
                f"({change.kind} by {change.actor_id})"
            )
    return problems


async def _sign_off_mismatches(
    session: AsyncSession, launch_id: int, events: Sequence[Event]
) -> list[str]:
    approved = {
        int(e.detail.get("sign_off_id", 0)): e
        for e in events
        if e.kind == EventKind.SIGN_OFF_APPROVED
    }
    revoked = {
        int(e.detail.get("sign_off_id", 0)): e
        for e in events
        if e.kind == EventKind.SIGN_OFF_REVOKED
    }
    problems: list[str] = []
    rows = (await session.scalars(select(SignOff).where(SignOff.launch_id == launch_id))).all()
    for row in rows:
        approval = approved.get(row.id)
        if (
            approval is None
            or approval.seq != row.event_seq
            or approval.actor_id != row.user_id
            or approval.detail.get("role_id") != row.role_id
            or approval.at != row.at
        ):
            problems.append(
                f"sign-off {row.id} ({row.role_title} by {row.user_id}) does not match its "
                "approval event"
            )
            continue
        r = revoked.get(row.id)
        if (r is None) != (row.revoked_at is None) or (
            r is not None and (r.actor_id != row.revoked_by_id or r.at != row.revoked_at)
        ):
            problems.append(
                f"sign-off {row.id} ({row.role_title} by {row.user_id}) does not match its "
                "revocation event"
            )
    return problems


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
    closing, the whole event log and the chain's verification. ``roles`` (the config) adds each
    role's required count; without it the count recorded with the approvals is used."""
    state = await load_state(session=session, launch_id=launch_id)
    launch = await session.get(Launch, launch_id)
    assert launch is not None
    events = await _events(session, launch_id)
    chain = await verify_chain(session=session, launch_id=launch_id)
    history: dict[int, list[dict[str, Any]]] = {}
    for e in events:
        if e.kind in ITEM_EVENTS and e.item_id is not None:
            history.setdefault(e.item_id, []).append(
                {
                    "seq": e.seq,
                    "at": _ts(e.at),
                    "action": "checked" if e.kind == "item_checked" else "unchecked",
                    "by": _person(e.actor_id, e.actor_name),
                }
            )
    card = state.card
    return {
        "schema": REPORT_SCHEMA,
        "generated_at": _ts(now),
        "launch": {
            "id": state.id,
            "name": state.name,
            "template": launch.template_title,
            "team_id": launch.team_id,
            "channel_id": state.channel_id,
            "card_permalink": card.permalink if card else None,
            "started_by": _person(state.started_by_id, state.started_by_name),
            "started_at": _ts(state.started_at),
            "closed_by": _person(launch.closed_by_id, launch.closed_by_name),
            "closed_at": _ts(state.closed_at),
            "current_phase": state.current.title if state.phases else None,
        },
        "phases": _phases(state, history),
        "sign_offs": _sign_offs(state, roles),
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
            }
            for g in (state.sign_offs or EMPTY_LOG).go
        ],
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
            "mismatches": list(chain.mismatches),
        },
    }


def _phases(state: LaunchState, history: Mapping[int, list[dict[str, Any]]]) -> list[Any]:
    return [
        {
            "title": p.title,
            "timing": p.timing,
            "kind": p.kind,
            "posted": p.posted,
            "completed_at": _ts(p.completed_at),
            "done": p.done,
            "total": p.total,
            "sections": [
                {
                    "title": s.title,
                    "groups": [
                        {
                            "title": g.title,
                            "stage": g.stage,
                            "duration_minutes": g.duration_minutes,
                            "items": [
                                {
                                    "id": i.id,
                                    "text": i.text,
                                    "duration_minutes": i.duration_minutes,
                                    "checked": i.checked,
                                    "by": _person(i.changed_by_id, i.changed_by_name),
                                    "at": _ts(i.changed_at),
                                    "history": history.get(i.id, []),
                                }
                                for i in g.items
                            ],
                        }
                        for g in s.groups
                    ],
                }
                for s in p.sections
            ],
        }
        for p in state.phases
    ]


def _sign_offs(state: LaunchState, roles: Mapping[str, RoleConfig] | None) -> dict[str, Any]:
    log = state.sign_offs or EMPTY_LOG
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
