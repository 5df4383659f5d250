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

from bot.calendar.progress import OpenPhase, idle_section_owners, open_in_phase, open_phases_before
from bot.calendar.state import PostView, post_view
from bot.checklist.lifecycle import post_day_section, post_phase_on_date
from bot.checklist.schedule import (
    EVENING,
    PHASE,
    SECTION,
    due_at,
    local_today,
    timing_day,
)
from bot.checklist.template import ChecklistTemplate
from bot.core.config import ScheduleConfig
from bot.core.errors import BadInput, Conflict
from bot.core.events import SYSTEM, EventKind, append_event
from bot.core.launches import lock_launch
from bot.core.models import Item, ItemGroup, Launch, Phase, ScheduledPost, Section, SlackMessage
from bot.core.mrkdwn import escape
from bot.core.outbox import bump_messages

KINDS = (PHASE, SECTION, EVENING)
# Sent more than this after its due time, a post says it is late (the process was down).
LATE_AFTER = timedelta(minutes=5)
MAX_REASON = 500
# How far ahead launch day may be: a mistyped year (2062 for 2026, 9999) is refused, never scheduled
# (the first week's posts of a day near the end of the calendar would not even have a date).
MAX_AHEAD = timedelta(days=5 * 365)


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
    if day > today + MAX_AHEAD:
        raise BadInput(
            f"{day.isoformat()} is more than {MAX_AHEAD.days // 365} years away: launch day must "
            f"be before {(today + MAX_AHEAD).isoformat()}. Check the year."
        )
    return day


def check_dated(template: ChecklistTemplate) -> None:
    """Refuse a launch day for a template with no dated phase (no ``(T-7 days)``, ``(T-0)`` or
    ``(T+1)`` in its phase headings): the date would schedule nothing, and the card would still
    count down to it as if the phases were coming on their own."""
    if any(p.kind == "checklist" and timing_day(p.timing) is not None for p in template.phases):
        return
    raise Conflict(
        "This launch's checklist template has no dated phases (no `(T-7 days)`, `(T-0)` or "
        "`(T+1)` in its phase headings), so a launch day would schedule nothing. Start it without "
        "`--on`: its phases are then posted by `/launch phase next`. Nothing was started."
    )


def due_at_of(launch_date: date, detail: dict[str, object], rule: ScheduleConfig) -> datetime:
    at = rule.evening_at if detail.get("at") == "evening_at" else rule.post_at
    return due_at(launch_date, int(str(detail.get("day", 0))), at, rule)


@dataclass(frozen=True)
class Scheduled:
    """What ``schedule_posts`` scheduled, for the answer to ``/launch start --on``: how many posts,
    the first phase when it waits for its date, and the post due first."""

    count: int
    first_phase: PostView | None
    first_post: PostView | None


async def schedule_posts(
    *, session: AsyncSession, launch_id: int, rule: ScheduleConfig, at: datetime
) -> Scheduled:
    """The scheduled posts of a launch just started with a date: every dated phase not posted yet
    (the first one too when its date is still ahead; ``start_launch`` posted it otherwise), each
    section of its own day, and the evening-before summary. A post whose time has already passed is
    due at once; the evening summary is skipped then. Returns how many were scheduled."""
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
        if phase is checklist[0] and day is not None and day < 0:
            add(EVENING, "evening", {"phase_id": phase.id, "title": phase.title, "day": -1,
                                     "at": "evening_at"})  # fmt: skip
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
    first_id = checklist[0].id if checklist else None
    first = next(
        (r for r in rows if r.kind == PHASE and (r.detail or {}).get("phase_id") == first_id), None
    )
    soonest = min(rows, key=lambda r: r.due_at, default=None)
    return Scheduled(
        count=len(rows),
        first_phase=post_view(first) if first is not None else None,
        first_post=post_view(soonest) if soonest is not None else None,
    )


# ---------------------------------------------------------------------------------------------------
# Posting what is due


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
    taken = await _take(session, post_id, now)
    if taken is None:
        return None
    launch, row = taken
    assert launch.launch_date is not None
    late = now - row.due_at > late_after
    detail = dict(row.detail or {})
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
        posted = await _post_phase(session, launch, row, claimed)
    elif row.kind == SECTION:
        posted = await _post_section(session, launch, row, claimed)
    else:
        posted = await _send_evening(session, row, claimed, rule)
    if posted is None:
        return None
    row.sent_at = now
    row.late = late
    return posted


async def _take(
    session: AsyncSession, post_id: int, now: datetime
) -> tuple[Launch, ScheduledPost] | None:
    """Lock the row's launch and re-read the row: None if it is gone, sent or cancelled, or (then
    cancelled here) if the launch closed or has no date any more."""
    launch_id = await session.scalar(
        select(ScheduledPost.launch_id).where(ScheduledPost.id == post_id)
    )
    if launch_id is None:
        return None
    launch = await lock_launch(session, launch_id)
    row = await session.get(ScheduledPost, post_id, populate_existing=True)
    if row is None or row.sent_at is not None or row.cancelled_at is not None:
        return None
    if launch.closed_at is not None or launch.launch_date is None:
        row.cancelled_at = now
        row.detail = {**(row.detail or {}), "skipped": "the launch is closed"}
        return None
    return launch, row


async def _post_phase(
    session: AsyncSession, launch: Launch, row: ScheduledPost, claimed: Claimed
) -> Claimed | None:
    """A dated phase: posted, with the earlier phases still open; skipped if posted by hand."""
    phase = await session.get(Phase, int(str((row.detail or {}).get("phase_id"))))
    if phase is None or phase.posted_at is not None:
        await _skip(session, row, claimed.sent_at, "posted earlier by /launch phase next")
        return None
    open_before = await open_phases_before(session, launch.id, phase.position)
    await post_phase_on_date(
        session=session, launch=launch, phase=phase, at=claimed.sent_at, actor=SYSTEM
    )
    return replace(claimed, open_before=open_before)


async def _post_section(
    session: AsyncSession, launch: Launch, row: ScheduledPost, claimed: Claimed
) -> Claimed | None:
    """A section of its own day (one day's checks): posted and recorded; skipped if it is already."""
    section_id = int(str((row.detail or {}).get("section_id")))
    section = await session.get(Section, section_id)
    posted = await session.scalar(
        select(func.count(SlackMessage.id)).where(SlackMessage.section_id == section_id)
    )
    if section is None or posted:
        await _skip(session, row, claimed.sent_at, "already posted")
        return None
    await post_day_section(session=session, launch=launch, section=section)
    items = await _item_count(session, section.id)
    await append_event(
        session=session,
        launch_id=launch.id,
        actor=SYSTEM,
        kind=EventKind.DAY_CHECKS_POSTED,
        at=claimed.sent_at,
        detail={"section": section.title, "day": section.day, "items": items},
    )
    await bump_messages(session, launch.id, [])
    return replace(claimed, title=section.title, items=items)


async def _send_evening(
    session: AsyncSession, row: ScheduledPost, claimed: Claimed, rule: ScheduleConfig
) -> Claimed | None:
    """The evening-before summary: what is still open, and the section owners who ticked nothing.
    Skipped (recorded) once launch day has come in ``[schedule] timezone``: "Launch day is tomorrow"
    posted on launch day or later (the bot was down over the evening before) would be wrong."""
    if local_today(claimed.sent_at, rule) >= claimed.launch_date:
        await _skip(session, row, claimed.sent_at, "launch day has come")
        return None
    phase_id = int(str((row.detail or {}).get("phase_id")))
    open_before = await open_in_phase(session, phase_id)
    idle = await idle_section_owners(session, phase_id, rule)
    await append_event(
        session=session,
        launch_id=claimed.launch_id,
        actor=SYSTEM,
        kind=EventKind.EVENING_SUMMARY_SENT,
        at=claimed.sent_at,
        detail={"phase": claimed.title, "open": sum(p.open for p in open_before)},
    )
    return replace(claimed, open_before=open_before, idle_owners=idle)


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
