"""The bot's clock: every timer and recorded time reads it, never ``datetime.now()`` directly.

``LAUNCHBOT_TIME_SCALE`` bot seconds pass per real second, from ``LAUNCHBOT_CLOCK_START`` (or the
real time) at the moment the process started, so a rehearsal can run a launch day's soak times in
minutes and a test can start the clock on a chosen day.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real time, in UTC: only the clock below and the CLI read it."""
    return datetime.now(UTC)


class BotClock:
    """``now()`` = ``start`` + real time elapsed since construction × ``scale``."""

    def __init__(
        self,
        *,
        scale: float = 1.0,
        start: datetime | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if scale <= 0:
            raise ValueError("the time scale must be positive")
        self.scale = scale
        self._start = (start or utc_now()).astimezone(UTC)
        self._monotonic = monotonic
        self._origin = monotonic()

    def __call__(self) -> datetime:
        return self.now()

    def now(self) -> datetime:
        elapsed = self._monotonic() - self._origin
        return self._start + timedelta(seconds=elapsed * self.scale)

    def real_seconds(self, bot_seconds: float) -> float:
        """How long ``bot_seconds`` of this clock take in real time (for a sleep or a poll)."""
        return bot_seconds / self.scale
