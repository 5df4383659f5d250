"""Moving launch day: /launch date, who may, and rescheduling what has not been posted yet. Takes an AsyncSession; the caller owns the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.calendar.rules import KINDS, MAX_REASON, due_at_of
from bot.checklist.schedule import (
    EVENING,
    SECTION,
    local_today,
    retitle,
)
from bot.core.config import ScheduleConfig
from bot.core.errors import BadInput, Conflict, NotAllowed
from bot.core.events import Actor, EventKind, append_event
from bot.core.launches import lock_launch
from bot.core.models import Launch, ScheduledPost, Section
from bot.core.mrkdwn import escape
from bot.core.outbox import bump_messages


@dataclass(frozen=True)
class DateMove:
    launch_id: int
    channel_id: str
    name: str
    before: date
    after: date
    reason: str
    rescheduled: int
    next_title: str | None
    next_due: datetime | None


def clean_reason(text: str) -> str:
    reason = " ".join(text.split())
    if not reason:
        raise BadInput("Say why launch day moves: `/launch date YYYY-MM-DD &lt;reason&gt;`.")
    if len(reason) > MAX_REASON:
        raise BadInput(f"A reason is at most {MAX_REASON} characters (yours has {len(reason)}).")
    return reason


async def move_date(
    *,
    session: AsyncSession,
    launch_id: int,
    new_date: date,
    reason: str,
    actor: Actor,
    at: datetime,
    rule: ScheduleConfig,
) -> DateMove:
    """Move launch day: every post not sent yet is due on the new calendar (at once if that time has
    passed; the evening summary is dropped then), the titles of day sections not posted yet follow,
    and the move is recorded. What was already posted stays posted."""
    launch = await lock_launch(session, launch_id)
    before = _check_move(launch, new_date, at, rule)
    launch.launch_date = new_date
    pending = await _unsent_posts(session, launch_id)
    moved = 0
    retitled: list[dict[str, object]] = []
    for row in pending:
        moved += await _reschedule(session, row, new_date, at, rule, retitled)
    await append_event(
        session=session,
        launch_id=launch_id,
        actor=actor,
        kind=EventKind.LAUNCH_DATE_MOVED,
        at=at,
        detail={
            "from": before.isoformat(),
            "to": new_date.isoformat(),
            "reason": reason,
            # The day sections not posted yet, with their new titles (``audit verify`` checks them).
            "retitled": retitled,
        },
    )
    await bump_messages(session, launch_id, [])
    live = [r for r in pending if r.cancelled_at is None]
    nxt = min(live, key=lambda r: r.due_at, default=None)
    return DateMove(
        launch_id=launch_id,
        channel_id=launch.channel_id,
        name=launch.name,
        before=before,
        after=new_date,
        reason=reason,
        rescheduled=moved,
        next_title=str((nxt.detail or {}).get("title")) if nxt is not None else None,
        next_due=nxt.due_at if nxt is not None else None,
    )


def _check_move(launch: Launch, new_date: date, at: datetime, rule: ScheduleConfig) -> date:
    """The launch day being moved; refused if the launch is closed or undated, or the new day is
    the same one or in the past."""
    if launch.closed_at is not None:
        raise NotAllowed(f"Launch *{escape(launch.name)}* is closed.")
    before = launch.launch_date
    if before is None:
        raise Conflict(
            f"*{escape(launch.name)}* was started without a date, so its phases follow "
            "`/launch phase next`. Start a launch with `--on YYYY-MM-DD` to put it on a calendar."
        )
    if new_date == before:
        raise Conflict(f"Launch day is already {new_date.isoformat()}. Nothing was changed.")
    if new_date < local_today(at, rule):
        raise BadInput(f"{new_date.isoformat()} is in the past: launch day must be today or later.")
    return before


async def _unsent_posts(session: AsyncSession, launch_id: int) -> list[ScheduledPost]:
    rows = await session.scalars(
        select(ScheduledPost)
        .where(
            ScheduledPost.launch_id == launch_id,
            ScheduledPost.kind.in_(KINDS),
            ScheduledPost.sent_at.is_(None),
            ScheduledPost.cancelled_at.is_(None),
        )
        .order_by(ScheduledPost.id)
    )
    return list(rows.all())


async def _reschedule(
    session: AsyncSession,
    row: ScheduledPost,
    new_date: date,
    at: datetime,
    rule: ScheduleConfig,
    retitled: list[dict[str, object]],
) -> int:
    """Put one unsent post on the new calendar (a day section's title follows it, added to
    ``retitled``); 1 if it is still to be sent, 0 for an evening summary whose time has passed
    (dropped)."""
    detail = dict(row.detail or {})
    when = due_at_of(new_date, detail, rule)
    if row.kind == EVENING and when <= at:
        row.cancelled_at = at
        row.detail = {**detail, "skipped": "launch day moved to the next day or sooner"}
        return 0
    if row.kind == SECTION:
        section = await session.get(Section, int(str(detail.get("section_id"))))
        if section is not None and section.day is not None:
            section.title = retitle(section.title, section.day, new_date)
            row.detail = {**detail, "title": section.title}
            retitled.append({"section_id": section.id, "title": section.title})
    row.due_at = max(when, at)
    return 1
