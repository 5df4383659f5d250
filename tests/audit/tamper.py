"""Tampering with a copy of a lifecycle's database behind the bot's back, and what `audit verify` and
the export then say: shared by the tamper tests (their fixtures: tests/audit/conftest.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.sql import Executable

from bot.audit.report.export import export_launch
from bot.core.db import Database
from tests.conftest import base_config


@dataclass(frozen=True)
class Copy:
    """One test's copy of the lifecycle's database."""

    url: str
    db: Database


async def sql(copy: Copy, *statements: Executable) -> None:
    """Someone with database access, behind the bot's back: plain SQL, no event written."""
    async with copy.db.sessions.begin() as session:
        for statement in statements:
            await session.execute(statement)


async def verdict(cli: Any, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = await cli("audit", "verify", "1")
    return code, capsys.readouterr().out


async def record(copy: Copy) -> dict[str, Any]:
    """What `launchbot export 1 --format json` writes (the function the CLI calls)."""
    exported = await export_launch(
        copy.url, "1", "json", roles=base_config().roles, now=datetime.now(UTC)
    )
    return dict(json.loads(exported))


async def edited_and_named(
    copy: Copy,
    cli: Any,
    capsys: pytest.CaptureFixture[str],
    edit: list[Executable],
    table: str,
    field: str,
    logged: Any,
) -> None:
    """After ``edit``, `audit verify` exits 1 naming ``table`` and ``field`` (with what the log
    says, ``logged``, unless None) and the export says the launch is not verified."""
    await sql(copy, *edit)
    code, out = await verdict(cli, capsys)
    assert code == 1, out
    assert "the chain is intact but" in out
    assert f"  - {table} " in out and f": {field} is " in out, out
    if logged is not None:
        assert f"the event log says {logged!r}" in out, out
    chain = (await record(copy))["chain"]
    assert chain["verified"] is False and chain["first_bad"] is None
    named = [f for f in chain["findings"] if (f["table"], f["field"]) == (table, field)]
    assert named, chain["findings"]
    if logged is not None:
        assert named[0]["expected"] == logged
    assert len(chain["mismatches"]) == len(chain["findings"])
