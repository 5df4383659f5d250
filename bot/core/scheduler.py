"""The one background loop for timed work: registered jobs polled on the bot's clock.

Timers are database columns (an escalation's ``next_level_at``, later a stage's soak end or a dated
post), never in-memory sleeps, so stopping the process loses nothing: each job finds what came due
at its next poll. At start every job may also finish what a stopped process left half done
(``resume``), given the instant this process started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """``run(now)`` does what is due at ``now`` (bot clock); ``resume(started_at)`` once at start
    picks up work created before this process started and left unfinished."""

    name: str
    run: Callable[[datetime], Awaitable[object]]
    resume: Callable[[datetime], Awaitable[object]] | None = None


class Scheduler:
    def __init__(
        self,
        *,
        clock: Callable[[], datetime],
        poll_seconds: float,
        jobs: tuple[Job, ...] = (),
    ) -> None:
        self._clock = clock
        self._poll = poll_seconds
        self._jobs: list[Job] = list(jobs)
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        # Work created before this process started and left unfinished is resumed; anything newer
        # belongs to a follow-up of this process that may still be running.
        self._started_at = clock()

    def register(self, job: Job) -> None:
        self._jobs.append(job)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="scheduler")

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
        await self.resume()
        while not self._stop.is_set():
            await self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self._poll)

    async def tick(self) -> None:
        """Run every job once at the clock's now; one job failing does not stop the others."""
        now = self._clock()
        for job in self._jobs:
            try:
                await job.run(now)
            except Exception:  # logged; the next poll tries again
                logger.exception("scheduled job %s failed", job.name)

    async def resume(self) -> None:
        for job in self._jobs:
            if job.resume is None:
                continue
            try:
                await job.resume(self._started_at)
            except Exception:  # a failure here must not stop the timer loop
                logger.exception("resuming interrupted work of %s failed", job.name)
