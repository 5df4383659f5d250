"""One shape for every "no": ``Refused(code, message)``, raised by a rule and rendered by the edge.

``code`` is a short stable string for logs, events and tests (``not_allowed``, ``not_found``,
``bad_input``, ``conflict``, ``wrong_channel``, ``four_eyes`` ...); ``message`` is safe mrkdwn for
the person who acted (already escaped). Listeners, the ``/launch`` router and the ``@app.error``
handler turn it into the same private (ephemeral) answer, or a modal's field error.

A refused attempt that the launch's log must keep (someone pressed Approve without holding the
role) is appended in the same transaction and the refusal raised with ``recorded=True``:
``unit_of_work`` then commits what was written before the refusal propagates. Any other exception,
and a refusal that is not ``recorded``, rolls the transaction back, so a refusal changes nothing
but the log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


class Refused(Exception):
    """A rule said no. ``message`` is meant for the person who acted; ``code`` for machines."""

    def __init__(self, code: str, message: str, *, recorded: bool = False) -> None:
        self.code = code
        self.message = message
        self.recorded = recorded
        super().__init__(message)

    def __repr__(self) -> str:
        return f"Refused({self.code!r}, {self.message!r})"

    @property
    def text(self) -> str:
        """The refusal as the person who acted reads it (one look for every "no")."""
        return warning(self.message)


def warning(message: str) -> str:
    """``message`` (safe mrkdwn) with the warning sign every refusal and failure starts with."""
    return f":warning: {message}"


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """``sessions.begin()``, except that a ``Refused(recorded=True)`` commits (the refused attempt's
    record stays in the log) before it propagates."""
    kept: Refused | None = None
    async with sessions() as session:
        async with session.begin():
            try:
                yield session
            except Refused as exc:
                if not exc.recorded:
                    raise
                kept = exc
    if kept is not None:
        raise kept
