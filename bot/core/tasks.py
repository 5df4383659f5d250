"""Background work owned by the process: every post-ack task is referenced until done and drained on stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger(__name__)


class BackgroundTasks:
    """A task set with strong references (asyncio may garbage-collect unreferenced tasks mid-flight)
    and a drain with a deadline for shutdown. Nothing a user did lives only here: tasks only publish
    state that is already committed, so a task lost to a crash is redone at the next start."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(
        self, coro: Coroutine[Any, Any, Any], *, name: str | None = None
    ) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("background task %s failed", task.get_name(), exc_info=task.exception())

    def __len__(self) -> int:
        return len(self._tasks)

    async def idle(self, deadline: float = 10.0) -> None:
        """Wait until no task is running (tasks may spawn more tasks while we wait)."""
        async with asyncio.timeout(deadline):
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def drain(self, grace: float) -> None:
        """Let running work finish for up to ``grace`` seconds, then cancel the rest."""
        try:
            await self.idle(grace)
        except TimeoutError:
            pending = list(self._tasks)
            logger.warning("cancelling %d background task(s) at shutdown", len(pending))
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)


class RequestGauge:
    """How many requests from Slack are being answered right now. Post-ack work (applying clicks,
    re-rendering) waits briefly for them: a burst of clicks is acked first, then caught up with."""

    def __init__(self) -> None:
        self.in_flight = 0

    @contextmanager
    def serving(self) -> Iterator[None]:
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1

    async def quiet(self, max_wait: float = 0.25) -> None:
        """Return once no request is in flight, or after ``max_wait`` seconds (never starve)."""
        waited = 0.0
        while self.in_flight and waited < max_wait:
            await asyncio.sleep(0.002)
            waited += 0.002
