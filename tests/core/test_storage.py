"""Storage guarantees: SQLite pragmas and BEGIN IMMEDIATE writers, no lost update between two
``Database`` objects on one file (two processes), and a running launch frozen against template edits."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from bot.audit.chain import verify_chain
from bot.checklist.blocks import section_message
from bot.checklist.rules import ToggleResult, set_items_checked
from bot.checklist.template import ChecklistTemplate
from bot.core.config import RoleConfig
from bot.core.db import Database, open_database
from bot.core.events import Actor
from bot.core.kit import Block
from bot.core.models import Event, Item
from bot.launch.blocks import launch_card
from bot.launch.state import LaunchState
from tests.checklist.test_checklist import T0, start, state

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def toggle(
    db: Database, launch_id: int, item_id: int, want: bool, n: int, key: str
) -> ToggleResult:
    async with db.sessions.begin() as session:
        return await set_items_checked(
            session=session,
            launch_id=launch_id,
            desired={item_id: want},
            actor=Actor(f"U0USER{n:04d}", f"user{n}"),
            at=T0 + timedelta(seconds=n),
            source="test",
            dedup_key=key,
        )


def sqlite_path(url: str) -> str:
    database = make_url(url).database
    assert database
    return database


# ---------------------------------------------------------------------------------------------------
# 1. How SQLite is opened


@SQLITE_ONLY
async def test_sqlite_is_opened_in_wal_mode_with_busy_timeout_and_foreign_keys(
    schema_url: str,
) -> None:
    db = open_database(schema_url)
    try:
        for engine in (db.write_engine, db.read_engine):
            async with engine.connect() as conn:
                journal = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
                busy = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar()
                fks = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar()
                sync = (await conn.exec_driver_sql("PRAGMA synchronous")).scalar()
            assert str(journal).lower() == "wal", engine.url
            assert busy is not None and int(busy) >= 1000, f"busy_timeout={busy} ms"
            assert fks == 1
            assert sync is not None and int(sync) >= 1, "synchronous=OFF can lose commits"
        # And through the sessions the domain code is given.
        for maker in (db.sessions, db.read_sessions):
            async with maker() as session:
                assert (await session.execute(text("PRAGMA foreign_keys"))).scalar() == 1
                assert (await session.execute(text("PRAGMA busy_timeout"))).scalar() == busy
    finally:
        await db.dispose()
    # WAL is a property of the file: another program opening it sees it too.
    raw = sqlite3.connect(sqlite_path(schema_url))
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        raw.close()


@SQLITE_ONLY
async def test_a_write_transaction_holds_the_write_lock_from_its_first_statement(
    schema_url: str,
) -> None:
    """BEGIN IMMEDIATE: after a mere SELECT the writer already owns the lock, so another writer cannot
    slip in between its read and its write (a deferred BEGIN would only take a read snapshot)."""
    db = open_database(schema_url)
    other = sqlite3.connect(sqlite_path(schema_url), timeout=0, isolation_level=None)
    try:
        async with db.sessions.begin() as session:
            await session.execute(select(Item.id).limit(1))
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            # Readers are not blocked by the writer (WAL + deferred read engine).
            async with db.read_sessions() as reader:
                assert (await reader.execute(text("SELECT count(*) FROM item"))).scalar() == 0
        other.execute("BEGIN IMMEDIATE")  # free again once the writer committed
        other.execute("ROLLBACK")
    finally:
        other.close()
        await db.dispose()


async def test_foreign_keys_are_enforced(schema_url: str) -> None:
    """An item pointing at no launch and no group is refused on every backend."""
    db = open_database(schema_url)
    try:
        with pytest.raises(IntegrityError):
            async with db.sessions.begin() as session:
                session.add(
                    Item(
                        launch_id=424242, group_id=424242, position=0, text="orphan", checked=False
                    )
                )
                await session.flush()
        async with db.read_sessions() as session:
            assert (await session.execute(text("SELECT count(*) FROM item"))).scalar() == 0
    finally:
        await db.dispose()


# ---------------------------------------------------------------------------------------------------
# 2. Two Database objects (two pools, as two processes would have) writing the same launch


async def test_concurrent_ticks_and_unticks_from_two_databases_are_all_recorded(
    schema_url: str, template: ChecklistTemplate
) -> None:
    db_a = open_database(schema_url)
    db_b = open_database(schema_url)
    dbs = (db_a, db_b)
    try:
        launch_id = await start(db_a, template)
        items = [i.id for sec in (await state(db_b, launch_id)).current.sections for i in sec.items]
        n = 20
        # Never all ticked at once, so no phase_completed/phase_reopened events muddle the counts.
        assert len(items) > 2 * n
        first, second = items[:n], items[n : 2 * n]

        # Round 1: n ticks at once, alternating between the two databases.
        round1 = await asyncio.gather(
            *(
                toggle(dbs[k % 2], launch_id, item, True, k, f"r1:{k}")
                for k, item in enumerate(first)
            ),
            return_exceptions=True,
        )
        errors = [r for r in round1 if isinstance(r, BaseException)]
        assert not errors, f"{len(errors)} of {n} ticks failed: {errors[:3]!r}"
        assert [r.changed for r in round1 if not isinstance(r, BaseException)] == [
            (item,) for item in first
        ]

        # Round 2: untick half of those while ticking n more, all at once, from both databases.
        jobs = [(item, False) for item in first[: n // 2]] + [(item, True) for item in second]
        round2 = await asyncio.gather(
            *(
                toggle(dbs[k % 2], launch_id, item, want, 100 + k, f"r2:{k}")
                for k, (item, want) in enumerate(jobs)
            ),
            return_exceptions=True,
        )
        errors = [r for r in round2 if isinstance(r, BaseException)]
        assert not errors, f"{len(errors)} of {len(jobs)} changes failed: {errors[:3]!r}"
        assert [r.changed for r in round2 if not isinstance(r, BaseException)] == [
            (item,) for item, _ in jobs
        ]

        expected = dict.fromkeys(first + second, True) | dict.fromkeys(first[: n // 2], False)
        for db in dbs:  # both processes see every change
            after = {
                i.id: i for sec in (await state(db, launch_id)).current.sections for i in sec.items
            }
            assert {i: after[i].checked for i in expected} == expected
            assert not any(after[i].checked for i in items if i not in expected)

        async with db_b.read_sessions() as session:
            kinds = Counter(
                (
                    await session.scalars(select(Event.kind).where(Event.launch_id == launch_id))
                ).all()
            )
            per_item = Counter(
                (
                    await session.execute(
                        select(Event.item_id, Event.kind).where(
                            Event.launch_id == launch_id, Event.item_id.is_not(None)
                        )
                    )
                ).all()
            )
            report = await verify_chain(session=session, launch_id=launch_id)
        clicks = n + len(jobs)
        assert kinds == Counter(
            launch_started=1, click=clicks, item_checked=2 * n, item_unchecked=n // 2
        )
        assert per_item == Counter(
            {(i, "item_checked"): 1 for i in first + second}
            | {(i, "item_unchecked"): 1 for i in first[: n // 2]}
        )
        assert report.ok, (report.first_bad, report.mismatches)
        assert report.events == 1 + clicks + 2 * n + n // 2
    finally:
        await db_a.dispose()
        await db_b.dispose()


# ---------------------------------------------------------------------------------------------------
# 3. A running launch is a copy of its template


def edited(template: ChecklistTemplate) -> ChecklistTemplate:
    """Change in place: every item text of the first phase, one section gone, a sign-off role gone,
    a contact changed, the title changed."""
    first = template.phases[0]
    for section in first.sections:
        for group in section.groups:
            for item in group.items:
                item.text = f"EDITED {item.text}"[:200]
            if group.title:
                group.title = f"EDITED {group.title}"
    removed = first.sections.pop(1)
    assert removed.title == "Security"
    first.sections[0].title = "Infra (renamed)"
    assert template.sign_off_roles and template.contacts
    template.sign_off_roles.pop()
    template.contacts[0].value = "EDITED contact"
    template.title = "Edited checklist"
    return template


def rendered(s: LaunchState, roles: dict[str, RoleConfig]) -> list[tuple[str, list[Block]]]:
    views = [launch_card(s, roles=roles)]
    views += [section_message(s, m) for m in s.messages if m.kind == "section"]
    return [(v.text, v.blocks) for v in views]


def headers(views: list[tuple[str, list[Block]]]) -> list[str]:
    """The section messages' header texts (views[0] is the card)."""
    return [str(blocks[0]["text"]["text"]) for _text, blocks in views[1:]]


async def test_editing_the_template_never_changes_a_running_launch(
    db: Database, template: ChecklistTemplate
) -> None:
    roles = {
        r.role_id: RoleConfig(title=r.title, users=["U0CTO00001"]) for r in template.sign_off_roles
    }
    mine = template.model_copy(deep=True)
    launch_id = await start(db, mine)
    item = (await state(db, launch_id)).current.sections[0].groups[0].items[0]
    await toggle(db, launch_id, item.id, True, 1, "t1")
    before = await state(db, launch_id)
    views_before = rendered(before, roles)
    assert any("Security" in h for h in headers(views_before))

    # Edit the very object the launch was started from, and build a separate edited template.
    edited(mine)
    new_template = edited(template.model_copy(deep=True))
    assert mine == new_template and mine != template

    after = await state(db, launch_id)
    assert after == before
    assert rendered(after, roles) == views_before
    assert [s.title for s in after.current.sections] == [
        "Infrastructure",
        "Security",
        "Trading System",
    ]
    assert not any("EDITED" in str(v) for v in rendered(after, roles))

    # A new launch (another channel) gets the new template; the running one still does not change.
    new_id = await start(db, new_template, channel="C0OTHER001", name="Risk engine")
    fresh = await state(db, new_id)
    assert [s.title for s in fresh.current.sections] == ["Infra (renamed)", "Trading System"]
    assert all(i.text.startswith("EDITED ") for s in fresh.current.sections for i in s.items)
    assert fresh.extra["contacts"][0]["value"] == "EDITED contact"
    assert len(fresh.extra["sign_off_roles"]) == len(template.sign_off_roles) - 1
    fresh_views = rendered(fresh, roles)
    assert "EDITED " in str(fresh_views)
    assert headers(fresh_views) == [
        h.replace("Infrastructure", "Infra (renamed)")
        for h in headers(views_before)
        if "Security" not in h
    ]
    assert len(headers(fresh_views)) < len(headers(views_before))

    assert await state(db, launch_id) == before
    assert rendered(await state(db, launch_id), roles) == views_before
    async with db.read_sessions() as session:
        assert (await verify_chain(session=session, launch_id=launch_id)).ok
