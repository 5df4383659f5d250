"""The migrations build the schema the models describe, on SQLite and PostgreSQL, and downgrade cleanly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

import bot.core.models  # noqa: F401
from bot import migrate
from bot.core.db import Base


async def test_upgrade_head_matches_models_and_downgrade_empties(database_url: str) -> None:
    await migrate.upgrade(database_url)
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
            assert diff == []
        await migrate.downgrade(database_url, "base")
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        assert set(tables) <= {"alembic_version"}
        await migrate.upgrade(
            database_url
        )  # and back up again: nothing left behind by the downgrade
    finally:
        await engine.dispose()
