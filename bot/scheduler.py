"""The background loop that fires due escalation levels from the database and resumes interrupted incident work.

The escalation timer is a column (``escalation.next_level_at``), not an in-memory sleep, so stopping
the process loses nothing: the next process finds the due level at its first poll. At start the
loop also finishes what a stopped process left half done (an escalation not yet posted or paged) and
tells the channel about kill-switch requests whose answer never arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot import escalation, incidents
from bot.deps import Deps

logger = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, deps: Deps, *, poll_seconds: float | None = None) -> None:
        self._deps = deps
        self._poll = poll_seconds or deps.config.escalation.poll_seconds
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        # Work created before this process started and left unfinished is resumed; anything newer
        # belongs to a follow-up of this process that may still be running.
        self._started_at = deps.clock()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="escalation-scheduler")

    async def stop(self) -> None:
        """Stop polling; a tick in progress finishes first (it only records and posts)."""
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=self._poll + 10)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None

    async def _run(self) -> None:
        try:
            await self.resume()
        except Exception:  # a failure here must not stop the timer loop
            logger.exception("resuming interrupted incident work failed")
        while not self._stop.is_set():
            try:
                await self.tick()
            except Exception:  # logged; the next poll tries again
                logger.exception("escalation scheduler tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self._poll)

    async def tick(self) -> int:
        """Claim every due level (one transaction), then post each unposted ping. Returns how many
        pings were posted or attempted."""
        deps = self._deps
        now = deps.clock()
        # Most polls find nothing: look with a reader first so the poll never takes the write lock.
        async with deps.db.read_sessions() as session:
            due = await incidents.any_due(session=session, now=now)
        if due:
            async with deps.db.sessions.begin() as session:
                await incidents.claim_due_levels(session=session, now=now)
        async with deps.db.read_sessions() as session:
            pings = await incidents.unposted_pings(session=session)
        for ping in pings:
            await escalation.post_level_ping(deps, ping)
        return len(pings)

    async def resume(self) -> None:
        deps = self._deps
        async with deps.db.read_sessions() as session:
            escalations = await incidents.escalations_to_resume(
                session=session, before=self._started_at
            )
            requests = await incidents.interrupted_killswitch_requests(
                session=session, before=self._started_at
            )
        for escalation_id in escalations:
            logger.info("resuming escalation #%s", escalation_id)
            await escalation.run_escalation(deps, escalation_id)
        for request_pk in requests:
            async with deps.db.sessions.begin() as session:
                changed = await incidents.record_killswitch_unknown(
                    session=session, request_pk=request_pk, at=deps.clock()
                )
            if changed:
                await escalation.announce_unknown(deps, request_pk)
