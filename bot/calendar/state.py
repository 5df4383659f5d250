"""The launch calendar's read model: launch day and its scheduled posts, for the card and /launch status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.checklist.schedule import EVENING, PHASE, SECTION
from bot.core.models import Launch, ScheduledPost

KINDS = (PHASE, SECTION, EVENING)


@dataclass(frozen=True)
class PostView:
    kind: str
    title: str
    day: int
    due_at: datetime
    sent_at: datetime | None
    late: bool
    cancelled: bool

    @property
    def pending(self) -> bool:
        return self.sent_at is None and not self.cancelled


@dataclass(frozen=True)
class CalendarView:
    launch_date: date
    posts: tuple[PostView, ...]
    # ``[schedule] timezone`` when the posts were scheduled: launch day is a date there.
    timezone: str = "UTC"

    def days_to_launch(self, now: datetime) -> int:
        """Launch day minus today, both dates in the calendar's zone (negative once past)."""
        return (self.launch_date - now.astimezone(ZoneInfo(self.timezone)).date()).days

    def next_post(self) -> PostView | None:
        return min((p for p in self.posts if p.pending), key=lambda p: p.due_at, default=None)

    def day_of(self, now: datetime) -> int:
        """Today relative to launch day (T+n), both dates in the calendar's zone."""
        return -self.days_to_launch(now)


def post_view(row: ScheduledPost) -> PostView:
    detail = row.detail or {}
    return PostView(
        kind=row.kind,
        title=str(detail.get("title") or ""),
        day=int(str(detail.get("day", 0))),
        due_at=row.due_at,
        sent_at=row.sent_at,
        late=row.late,
        cancelled=row.cancelled_at is not None,
    )


async def load_calendar(*, session: AsyncSession, launch: Launch) -> CalendarView | None:
    if launch.launch_date is None:
        return None
    rows = (
        await session.scalars(
            select(ScheduledPost)
            .where(ScheduledPost.launch_id == launch.id, ScheduledPost.kind.in_(KINDS))
            .order_by(ScheduledPost.due_at, ScheduledPost.id)
        )
    ).all()
    zone = next(
        (str(r.detail["timezone"]) for r in rows if (r.detail or {}).get("timezone")), "UTC"
    )
    return CalendarView(
        launch_date=launch.launch_date,
        timezone=zone,
        posts=tuple(post_view(r) for r in rows),
    )
