"""The go-live scheduler job: soak reminders when they come due, and stage changes a stopped process left behind (never sent, or UNKNOWN)."""

from __future__ import annotations

import functools
from datetime import datetime

from bot.core.launches import lock_launch
from bot.core.outbox import queue_notice
from bot.core.scheduler import Job
from bot.deps import Deps
from bot.golive import blocks, timers
from bot.golive.flows import golive_view, queue_criteria, traffic_request, who_to_call
from bot.golive.hold_flows import hold_after_restart

LATE_REAL_SECONDS = 5.0


def late_after(time_scale: float) -> float:
    """Bot seconds past due after which a reminder is marked late (the bot was down): a minute, or
    five real seconds on a fast clock, where one poll of the scheduler is already minutes of bot time."""
    return max(60.0, LATE_REAL_SECONDS * time_scale)


async def post_due_reminders(deps: Deps, now: datetime) -> int:
    async with deps.db.read_sessions() as session:
        if not await timers.any_reminder_due(session=session, now=now):
            return 0
    launches: set[int] = set()
    async with deps.db.sessions.begin() as session:
        for due in await timers.claim_due_reminders(session=session, now=now):
            launch = await lock_launch(session, due.launch_id)
            await queue_notice(
                session=session,
                launch_id=due.launch_id,
                channel_id=launch.channel_id,
                view=blocks.reminder(
                    due.title,
                    due.minutes,
                    due_at=due.due_at,
                    sent_at=due.sent_at,
                    late_after=late_after(deps.settings.time_scale),
                ),
                loud=False,
            )
            launches.add(due.launch_id)
    for launch_id in launches:
        deps.publisher.kick(launch_id)
    return len(launches)


async def report_interrupted(deps: Deps, started_at: datetime) -> None:
    """Requests a stopped process left: never sent (failed) or sent without an answer (UNKNOWN)."""
    async with deps.db.read_sessions() as session:
        pks = await timers.interrupted_requests(session=session, before=started_at)
    for pk in pks:
        async with deps.db.sessions.begin() as session:
            status = await timers.record_unknown(session=session, request_pk=pk, at=deps.clock())
            if status is None:
                continue
            request = await traffic_request(session, pk)
            view = await golive_view(session, request.launch_id)
            launch = await lock_launch(session, view.launch_id)
            await queue_notice(
                session=session,
                launch_id=launch.id,
                channel_id=launch.channel_id,
                view=blocks.traffic_unconfirmed(
                    view,
                    request,
                    call=who_to_call(deps),
                    unknown=status == "unknown",
                    never_sent=status == "failed",
                ),
                loud=True,
            )
            if request.action != "advance":
                await queue_criteria(session, launch)
        deps.publisher.kick(view.launch_id)


async def resume_golive(deps: Deps, started_at: datetime) -> None:
    """At start: traffic requests a stopped process left, then holds it never applied."""
    await report_interrupted(deps, started_at)
    await hold_after_restart(deps, started_at)


def golive_job(deps: Deps) -> Job:
    return Job(
        name="golive",
        run=functools.partial(post_due_reminders, deps),
        resume=functools.partial(resume_golive, deps),
    )
