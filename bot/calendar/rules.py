"""The launch calendar's records: a dated launch's scheduled posts, posting them when due (once, late if the process was down), and moving launch day. Takes an AsyncSession; the caller owns the transaction.

Every post is a ``ScheduledPost`` row (kind ``calendar_phase``, ``calendar_section`` or
``calendar_evening``): its due time, what it posts (``detail``), when it was sent, whether late, and
the announcement it queued (``message_id``, whose ts is the message's). A row is claimed under the
launch lock and marked sent in the same transaction that queues its messages on the outbox, so it is
sent once whatever restarts; one that came due while the process was down is sent at the next poll,
marked late.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.checklist.lifecycle import post_day_section, post_phase_on_date
from bot.checklist.schedule import (
    EVENING,
    PHASE,
    SECTION,
    due_at,
    timing_day,
)
from bot.core.config import ScheduleConfig
from bot.core.errors import BadInput
from bot.core.events import SYSTEM, EventKind, append_event
from bot.core.launches import lock_launch
from bot.core.models import Item, ItemGroup, Phase, ScheduledPost, Section, SlackMessage
from bot.core.mrkdwn import escape
from bot.core.outbox import bump_messages

KINDS = (PHASE, SECTION, EVENING)
# Sent more than this after its due time, a post says it is late (the process was down).
LATE_AFTER = timedelta(minutes=5)
MAX_REASON = 500


# ---------------------------------------------------------------------------------------------------
# Launch day


def parse_launch_date(text: str, *, today: date) -> date:
    """``YYYY-MM-DD``, today or later (``today`` in ``[schedule] timezone``)."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise BadInput(
            f"“{escape(text)}” is not a date: give launch day as YYYY-MM-DD, e.g. "
            f"`{(today + timedelta(days=7)).isoformat()}`."
        ) from None
    if len(text.strip()) != 10:
        raise BadInput(f"Give launch day as YYYY-MM-DD (not “{escape(text)}”).")
    if day < today:
        raise BadInput(
            f"{day.isoformat()} is in the past (today is {today.isoformat()}): launch day must be "
            "today or later."
        )
    return day


def due_at_of(launch_date: date, detail: dict[str, object], rule: ScheduleConfig) -> datetime:
    at = rule.evening_at if detail.get("at") == "evening_at" else rule.post_at
    return due_at(launch_date, int(str(detail.get("day", 0))), at, rule)


async def schedule_posts(
    *, session: AsyncSession, launch_id: int, rule: ScheduleConfig, at: datetime
) -> int:
    """The scheduled posts of a launch just started with a date: every dated phase after the first
    (which is posted at start), each section of its own day, and the evening-before summary. A post
    whose time has already passed is due at once; the evening summary is skipped then. Returns how
    many were scheduled."""
    launch = await lock_launch(session, launch_id)
    assert launch.launch_date is not None
    phases = (
        await session.scalars(
            select(Phase).where(Phase.launch_id == launch_id).order_by(Phase.position)
        )
    ).all()
    rows: list[ScheduledPost] = []

    def add(kind: str, key: str, detail: dict[str, object]) -> None:
        assert launch.launch_date is not None
        detail = {**detail, "timezone": rule.timezone}
        when = due_at_of(launch.launch_date, detail, rule)
        if kind == EVENING and when <= at:
            return
        rows.append(
            ScheduledPost(
                launch_id=launch_id, kind=kind, key=key, due_at=max(when, at), detail=detail
            )
        )

    checklist = [p for p in phases if p.kind == "checklist"]
    for phase in checklist:
        day = timing_day(phase.timing)
        if phase is checklist[0]:
            if day is not None and day < 0:
                add(EVENING, "evening", {"phase_id": phase.id, "title": phase.title, "day": -1,
                                         "at": "evening_at"})  # fmt: skip
            continue
        if day is not None and phase.posted_at is None:
            add(
                PHASE,
                f"phase:{phase.position}",
                {"phase_id": phase.id, "title": phase.title, "day": day, "at": "post_at"},
            )
    sections = (
        await session.scalars(
            select(Section)
            .where(Section.launch_id == launch_id, Section.day.is_not(None))
            .order_by(Section.day, Section.position)
        )
    ).all()
    for section in sections:
        add(
            SECTION,
            f"section:{section.id}",
            {"section_id": section.id, "title": section.title, "day": section.day, "at": "post_at"},
        )
    session.add_all(rows)
    await session.flush()
    return len(rows)


# ---------------------------------------------------------------------------------------------------
# Posting what is due


@dataclass(frozen=True)
class OpenPhase:
    """A phase posted before this one with items still open, and where (section, open count)."""

    title: str
    open: int
    sections: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Claimed:
    """A scheduled post taken by this poll: what the announcement says."""

    post_id: int
    launch_id: int
    channel_id: str
    kind: str
    title: str
    day: int
    launch_date: date
    due_at: datetime
    sent_at: datetime
    late: bool
    items: int = 0
    open_before: tuple[OpenPhase, ...] = ()
    # The evening summary: section owners (``[schedule] owners``) who have ticked nothing there yet.
    idle_owners: tuple[tuple[str, tuple[str, ...]], ...] = ()


async def due_posts(*, session: AsyncSession, now: datetime) -> list[int]:
    rows = await session.scalars(
        select(ScheduledPost.id)
        .where(
            ScheduledPost.kind.in_(KINDS),
            ScheduledPost.sent_at.is_(None),
            ScheduledPost.cancelled_at.is_(None),
            ScheduledPost.due_at <= now,
        )
        .order_by(ScheduledPost.due_at, ScheduledPost.id)
    )
    return list(rows.all())


async def _skip(session: AsyncSession, row: ScheduledPost, now: datetime, why: str) -> None:
    row.cancelled_at = now
    row.detail = {**(row.detail or {}), "skipped": why}
    await append_event(
        session=session,
        launch_id=row.launch_id,
        actor=SYSTEM,
        kind=EventKind.SCHEDULED_POST_SKIPPED,
        at=now,
        detail={"post": row.key, "title": (row.detail or {}).get("title"), "why": why},
    )


async def claim(
    *,
    session: AsyncSession,
    post_id: int,
    now: datetime,
    rule: ScheduleConfig,
    late_after: timedelta = LATE_AFTER,
) -> Claimed | None:
    """Post one due row: queue its messages and mark it sent (under the launch lock, so twice is
    impossible). None if another poll took it, or it has nothing left to post (recorded)."""
    launch_id = await session.scalar(
        select(ScheduledPost.launch_id).where(ScheduledPost.id == post_id)
    )
    if launch_id is None:
        return None
    launch = await lock_launch(session, launch_id)
    row = await session.get(ScheduledPost, post_id, populate_existing=True)
    if row is None or row.sent_at is not None or row.cancelled_at is not None:
        return None
    detail = dict(row.detail or {})
    if launch.closed_at is not None or launch.launch_date is None:
        row.cancelled_at = now
        row.detail = {**detail, "skipped": "the launch is closed"}
        return None
    late = now - row.due_at > late_after
    claimed = Claimed(
        post_id=row.id,
        launch_id=launch.id,
        channel_id=launch.channel_id,
        kind=row.kind,
        title=str(detail.get("title") or ""),
        day=int(str(detail.get("day", 0))),
        launch_date=launch.launch_date,
        due_at=row.due_at,
        sent_at=now,
        late=late,
    )
    if row.kind == PHASE:
        phase = await session.get(Phase, int(str(detail.get("phase_id"))))
        if phase is None or phase.posted_at is not None:
            await _skip(session, row, now, "posted earlier by /launch phase next")
            return None
        open_before = await _open_before(session, launch.id, phase.position)
        await post_phase_on_date(session=session, launch=launch, phase=phase, at=now, actor=SYSTEM)
        claimed = replace(claimed, open_before=open_before)
    elif row.kind == SECTION:
        section = await session.get(Section, int(str(detail.get("section_id"))))
        posted = await session.scalar(
            select(func.count(SlackMessage.id)).where(
                SlackMessage.section_id == int(str(detail.get("section_id")))
            )
        )
        if section is None or posted:
            await _skip(session, row, now, "already posted")
            return None
        await post_day_section(session=session, launch=launch, section=section)
        items = await _item_count(session, section.id)
        await append_event(
            session=session,
            launch_id=launch.id,
            actor=SYSTEM,
            kind=EventKind.DAY_CHECKS_POSTED,
            at=now,
            detail={"section": section.title, "day": section.day, "items": items},
        )
        await bump_messages(session, launch.id, [])
        claimed = replace(claimed, title=section.title, items=items)
    else:
        phase_id = int(str(detail.get("phase_id")))
        open_before = await _open_in(session, phase_id)
        idle = await _idle_owners(session, phase_id, rule)
        await append_event(
            session=session,
            launch_id=launch.id,
            actor=SYSTEM,
            kind=EventKind.EVENING_SUMMARY_SENT,
            at=now,
            detail={"phase": claimed.title, "open": sum(p.open for p in open_before)},
        )
        claimed = replace(claimed, open_before=open_before, idle_owners=idle)
    row.sent_at = now
    row.late = late
    return claimed


async def link_message(*, session: AsyncSession, post_id: int, message_id: int) -> None:
    row = await session.get(ScheduledPost, post_id)
    if row is not None:
        row.message_id = message_id


async def _item_count(session: AsyncSession, section_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count(Item.id))
            .join(ItemGroup, ItemGroup.id == Item.group_id)
            .where(ItemGroup.section_id == section_id)
        )
        or 0
    )


async def _open_by_section(
    session: AsyncSession, phase_ids: list[int]
) -> dict[int, list[tuple[str, int]]]:
    rows = (
        await session.execute(
            select(Section.phase_id, Section.title, func.count(Item.id))
            .join(ItemGroup, ItemGroup.section_id == Section.id)
            .join(Item, Item.group_id == ItemGroup.id)
            .join(SlackMessage, SlackMessage.section_id == Section.id)
            .where(
                Section.phase_id.in_(phase_ids),
                Item.checked.is_(False),
                Item.waived.is_(None),
                SlackMessage.part == 0,
            )
            .group_by(Section.phase_id, Section.id, Section.title, Section.position)
            .order_by(Section.position)
        )
    ).all()
    out: dict[int, list[tuple[str, int]]] = {}
    for phase_id, title, count in rows:
        out.setdefault(int(phase_id), []).append((str(title), int(count)))
    return out


async def _open_before(
    session: AsyncSession, launch_id: int, position: int
) -> tuple[OpenPhase, ...]:
    """Posted phases before ``position`` with open items (in posted sections), and where."""
    phases = (
        await session.scalars(
            select(Phase)
            .where(
                Phase.launch_id == launch_id,
                Phase.position < position,
                Phase.kind == "checklist",
                Phase.posted_at.is_not(None),
            )
            .order_by(Phase.position)
        )
    ).all()
    by_phase = await _open_by_section(session, [p.id for p in phases])
    return tuple(
        OpenPhase(p.title, sum(n for _, n in by_phase[p.id]), tuple(by_phase[p.id]))
        for p in phases
        if by_phase.get(p.id)
    )


async def _open_in(session: AsyncSession, phase_id: int) -> tuple[OpenPhase, ...]:
    phase = await session.get(Phase, phase_id)
    if phase is None:
        return ()
    by_phase = await _open_by_section(session, [phase_id])
    sections = tuple(by_phase.get(phase_id, []))
    return (OpenPhase(phase.title, sum(n for _, n in sections), sections),)


async def _idle_owners(
    session: AsyncSession, phase_id: int, rule: ScheduleConfig
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Per section with open items and owners in ``[schedule] owners``: those who ticked none of
    its items yet (matched case-insensitively by section title)."""
    if not rule.owners:
        return ()
    owners = {title.casefold(): users for title, users in rule.owners.items()}
    out: list[tuple[str, tuple[str, ...]]] = []
    sections = (
        await session.scalars(
            select(Section).where(Section.phase_id == phase_id).order_by(Section.position)
        )
    ).all()
    for section in sections:
        users = owners.get(section.title.casefold())
        if not users:
            continue
        items = (
            await session.scalars(
                select(Item)
                .join(ItemGroup, ItemGroup.id == Item.group_id)
                .where(ItemGroup.section_id == section.id)
            )
        ).all()
        if all(i.checked or i.waived is not None for i in items):
            continue
        tickers = {i.changed_by_id for i in items if i.checked}
        idle = tuple(u for u in users if u not in tickers)
        if idle:
            out.append((section.title, idle))
    return tuple(out)


# ---------------------------------------------------------------------------------------------------
# Moving launch day
