"""The SQLite click inbox write (bot/inbox.py): rows exactly as the ORM stores them, replays are
no-ops, and a click that meets another writer holding the lock is still stored before its ack."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from bot.checklist.clicks import ReceivedClick, receive_clicks
from bot.checklist.inbox import SqliteInbox
from bot.core.events import Actor
from bot.core.models import ClickInbox
from tests.warroom import WarRoom

ALICE, BOB = "U0ALICE001", "U0BOB00001"


def _sqlite_path(room: WarRoom) -> str:
    url = room.bot.deps.db.write_engine.url
    if url.get_backend_name() != "sqlite":
        pytest.skip("the SQLite inbox path")
    assert url.database
    return url.database


async def _a_click(room: WarRoom, key: str) -> ReceivedClick:
    await room.command(ALICE, "start Trading v2")
    message, option = room.message_with_item("Failover tested")
    message_id, launch_id = await room.bot.deps.clicks.index.lookup(room.channel, message.ts)
    return ReceivedClick(
        launch_id=launch_id,
        message_id=message_id,
        desired={int(option["value"]): True},
        actor=Actor(ALICE, "alice <&>"),
        at=datetime(2026, 5, 4, 12, 30, 1, 123456, tzinfo=UTC),
        source="block_actions:1.2",
        dedup_key=key,
    )


def _rows(path: str) -> dict[str, tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        cursor = conn.execute(
            "SELECT dedup_key, launch_id, message_id, received_at, user_id, user_name, desired,"
            " source, applied_at, outcome FROM click_inbox"
        )
        return {row[0]: row[1:] for row in cursor}


async def test_rows_written_directly_are_the_rows_the_orm_writes(room: WarRoom) -> None:
    path = _sqlite_path(room)
    click = await _a_click(room, "direct")
    inbox = SqliteInbox(room.bot.deps.db.write_engine)
    try:
        assert inbox.receive_now(click) is True
        assert inbox.receive_now(click) is False, "a replay is a no-op"
        async with inbox.connect() as conn:
            assert await inbox.receive(conn, [replace(click, dedup_key="batched"), click]) == {
                "batched"
            }
    finally:
        inbox.close()
    async with room.bot.deps.db.sessions.begin() as session:
        fresh = await receive_clicks(session=session, clicks=[replace(click, dedup_key="orm")])
    assert fresh == {"orm"}
    rows = _rows(path)
    assert rows["direct"] == rows["orm"] == rows["batched"]
    async with room.bot.deps.db.read_sessions() as session:
        stored = (
            await session.scalars(select(ClickInbox).where(ClickInbox.dedup_key == "direct"))
        ).one()
    assert stored.received_at == click.at
    assert stored.desired == {str(k): v for k, v in click.desired.items()}
    assert stored.user_name == "alice <&>"


async def test_a_click_meeting_another_writer_is_stored_before_its_ack(room: WarRoom) -> None:
    path = _sqlite_path(room)
    await room.command(ALICE, "start Trading v2")
    message, option = room.message_with_item("Failover tested")
    body, headers = room.slack.checkbox_click(
        user_id=BOB, channel_id=room.channel, message_ts=message.ts, toggle_value=option["value"]
    )
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another writer holds SQLite's write lock
        delivery = asyncio.create_task(room.dispatch(body, headers))
        await asyncio.sleep(0.3)
        assert not delivery.done(), "acked although the click could not be stored yet"
        other.execute("COMMIT")
        status, _ = await asyncio.wait_for(delivery, timeout=5)
    finally:
        other.close()
    assert status == 200
    assert any(r[3] == BOB for r in _rows(path).values()), "stored before the ack"
    await room.settle()
    assert room.is_checked("Failover tested")
