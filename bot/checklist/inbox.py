"""The click inbox's write on SQLite without waiting for the event loop.

Why not the ORM: aiosqlite runs every statement in its own thread and hands each result back through
the event loop. When a burst of clicks arrives, the loop has already queued the parsing of every
request of the burst (~0.5 ms each) before a hand-back, so the first click's commit came back only
after the whole burst was parsed, and every click's ack waited for the whole burst (bench: p50 2x
a bare bolt app), however few statements the write took.

So a click is written with one statement,
``INSERT ... VALUES (...), (...) ON CONFLICT (dedup_key) DO NOTHING RETURNING dedup_key``, in
SQLite's autocommit mode: it takes the write lock, inserts and commits atomically (WAL,
``synchronous=NORMAL``, like every other write) and says which clicks were new. ``receive_now`` runs
it on a connection of its own in the calling thread, with no busy wait (~0.1 ms): if another
writer holds the lock (the click applier, the publisher) it gives up at once, and the caller queues
the click for ``receive``, which runs the same statement for a whole batch on the writer engine's
connection (one hand-back). Either way the click is committed before it is acked. The values go
through the columns' own SQLAlchemy bind processors, so rows are stored exactly as the ORM stores
them; PostgreSQL keeps the ORM path.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.checklist.clicks import ReceivedClick
from bot.core.models import ClickInbox

_COLUMNS = (
    "launch_id",
    "message_id",
    "received_at",
    "user_id",
    "user_name",
    "desired",
    "source",
    "dedup_key",
)
logger = logging.getLogger(__name__)
# SQLite allows 32,766 bound variables per statement; stay far below.
MAX_ROWS_PER_STATEMENT = 500


class SqliteInbox:
    """Writes received clicks on a connection of the (single) SQLite writer engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        table = ClickInbox.__table__
        self._processors: list[Callable[[Any], Any] | None] = [
            table.c[name].type.dialect_impl(engine.dialect).bind_processor(engine.dialect)
            for name in _COLUMNS
        ]
        self._row_sql = "(" + ", ".join("?" * len(_COLUMNS)) + ")"
        path = engine.url.database
        # A file database only: ":memory:" would be another database on another connection.
        self._path = path if path and path != ":memory:" and "mode=memory" not in path else None
        self._now: sqlite3.Connection | None = None

    def _sql(self, rows: int) -> str:
        return (
            f"INSERT INTO {ClickInbox.__tablename__} ({', '.join(_COLUMNS)}) VALUES "
            + ", ".join([self._row_sql] * rows)
            + " ON CONFLICT (dedup_key) DO NOTHING RETURNING dedup_key"
        )

    def _row(self, click: ReceivedClick) -> list[Any]:
        values: Sequence[Any] = (
            click.launch_id,
            click.message_id,
            click.at,
            click.actor.user_id,
            click.actor.name,
            {str(k): v for k, v in click.desired.items()},
            click.source,
            click.dedup_key,
        )
        return [
            value if process is None else process(value)
            for value, process in zip(values, self._processors, strict=True)
        ]

    async def receive(self, conn: AsyncConnection, clicks: list[ReceivedClick]) -> set[str]:
        """Store ``clicks`` (committed when this returns); the dedup keys that were new. A replay
        of a stored click, or a second copy within ``clicks``, is skipped."""
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection  # the aiosqlite connection, in autocommit mode
        fresh: set[str] = set()
        for start in range(0, len(clicks), MAX_ROWS_PER_STATEMENT):
            chunk = clicks[start : start + MAX_ROWS_PER_STATEMENT]
            params = [value for click in chunk for value in self._row(click)]
            rows = await driver.execute_fetchall(self._sql(len(chunk)), params)
            fresh.update(str(row[0]) for row in rows)
        return fresh

    def connect(self) -> Any:
        """A writer connection (``async with``); held across consecutive batches."""
        return self._engine.connect()

    def receive_now(self, click: ReceivedClick) -> bool | None:
        """Store one click right now, in this thread (True if new, False for a replay), or None if
        the database is busy with another writer (nothing stored: queue it for ``receive``)."""
        if self._path is None:
            return None
        try:
            if self._now is None:
                self._now = self._open_now(self._path)
            rows = self._now.execute(self._sql(1), self._row(click)).fetchall()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            return None
        return bool(rows)

    @staticmethod
    def _open_now(path: str) -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None)  # autocommit: one statement, one commit
        conn.execute("PRAGMA busy_timeout=0")  # never wait for the lock in the event loop
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        # Checkpoints (page copies and an fsync) are left to the writer engine's connection,
        # which commits in its own thread after every applied click.
        conn.execute("PRAGMA wal_autocheckpoint=0")
        return conn

    def close(self) -> None:
        if self._now is not None:
            self._now.close()
            self._now = None
