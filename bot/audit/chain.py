"""Audit: verify a launch's hash-chained event log, then every row it describes; DB only.

``verify_chain`` walks the events in order and recomputes every link
(``hash = sha256(prev_hash + canonical(event))``, see ``events.event_hash``): an edited row no
longer matches its hash, a deleted or reordered one breaks the sequence or the next ``prev_hash``.
It then replays the log and compares every row it describes, field by field (``replay.driver.compare``),
because the card and the report read those tables; the report's values come from that replay.

A chain can still be cut off at the end or rewritten from some point on by someone who recomputes
every later hash. The head hash is therefore published outside the database: in the GO message, in
every sign-off's recorded progress, and in each report; compare it with a later ``verify``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit.replay.driver import Findings, compare
from bot.audit.replay.findings import Mismatch, Unchecked
from bot.core.db import open_database
from bot.core.events import GENESIS_HASH, event_hash
from bot.core.launches import find_launch
from bot.core.models import Event


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


async def launch_events(session: AsyncSession, launch_id: int) -> Sequence[Event]:
    """The launch's event log, in ``seq`` order."""
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
    return (await verify_with_findings(session, launch_id))[0]


async def verify_with_findings(
    session: AsyncSession, launch_id: int
) -> tuple[ChainReport, Findings | None]:
    """``verify_chain``'s report and the replay behind it (None when the chain is broken)."""
    launch = await find_launch(session=session, ref=str(launch_id))
    events = await launch_events(session, launch_id)
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


async def verify_launch(database_url: str, ref: str) -> ChainReport:
    """``launchbot audit verify``: open the database, find the launch by id or name, verify."""
    db = open_database(database_url)
    try:
        async with db.read_sessions() as session:
            launch = await find_launch(session=session, ref=ref)
            return await verify_chain(session=session, launch_id=launch.id)
    finally:
        await db.dispose()
