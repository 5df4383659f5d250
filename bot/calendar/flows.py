"""The launch calendar's scheduler job: every scheduled post that came due is posted once, with its announcement in the channel."""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta

from bot.calendar import blocks, rules
from bot.checklist.schedule import PHASE, SECTION
from bot.core.kit import MessageView
from bot.core.outbox import queue_notice
from bot.core.scheduler import Job
from bot.deps import Deps

logger = logging.getLogger(__name__)


def announcement(claimed: rules.Claimed) -> MessageView:
    if claimed.kind == PHASE:
        return blocks.phase_posted(claimed)
    if claimed.kind == SECTION:
        return blocks.day_posted(claimed)
    return blocks.evening_summary(claimed)


def late_after(deps: Deps) -> timedelta:
    """How long past due a post counts as late: ``LATE_AFTER``, or three polls of the loop on a
    rehearsal clock (the loop polls at least every 0.05 real seconds, many bot minutes at 60×)."""
    poll = max(deps.config.escalation.poll_seconds, 0.05 * deps.settings.time_scale)
    return max(rules.LATE_AFTER, timedelta(seconds=3 * poll))


async def post_due(deps: Deps, now: datetime) -> int:
    """Post every calendar row due by ``now``, one short transaction each (the row is marked sent in
    the transaction that queues its messages). Returns how many were posted."""
    async with deps.db.read_sessions() as session:
        due = await rules.due_posts(session=session, now=now)
    posted = 0
    for post_id in due:
        async with deps.db.sessions.begin() as session:
            claimed = await rules.claim(
                session=session,
                post_id=post_id,
                now=now,
                rule=deps.config.schedule,
                late_after=late_after(deps),
            )
            if claimed is None:
                continue
            message = await queue_notice(
                session=session,
                launch_id=claimed.launch_id,
                channel_id=claimed.channel_id,
                view=announcement(claimed),
                loud=True,
            )
            await rules.link_message(session=session, post_id=post_id, message_id=message.id)
        if claimed.late:
            logger.info("launch %s: %s posted late (due %s)", claimed.launch_id, claimed.title,
                        claimed.due_at.isoformat())  # fmt: skip
        deps.publisher.kick(claimed.launch_id)
        posted += 1
    return posted


def calendar_job(deps: Deps) -> Job:
    # No ``resume``: a post that came due while the process was down is simply due at the first
    # poll, and marked late then.
    return Job(name="calendar", run=functools.partial(post_due, deps))
