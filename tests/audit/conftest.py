"""The tamper tests' fixtures: a copy of the module's ``lifecycle`` database per test, and the CLI
run against it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from bot.__main__ import main
from bot.core.db import open_database
from tests.audit.tamper import Copy
from tests.conftest import copy_database, drop_copy
from tests.warroom import ROOT


@pytest.fixture
async def copy(lifecycle: str, tmp_path: Path) -> AsyncIterator[Copy]:
    """A copy of the URL the test module's ``lifecycle`` fixture built, for the test to tamper with."""
    url = await copy_database(lifecycle, tmp_path)
    db = open_database(url)
    try:
        yield Copy(url=url, db=db)
    finally:
        await db.dispose()
        await drop_copy(url)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, copy: Copy) -> Callable[..., Coroutine[Any, Any, int]]:
    """``launchbot …`` against the copy, run the way a shell runs it (own event loop)."""
    monkeypatch.setenv("DATABASE_URL", copy.url)
    monkeypatch.setenv("LAUNCHBOT_CONFIG", str(ROOT / "launchbot.example.toml"))

    async def run(*argv: str) -> int:
        return await asyncio.to_thread(main, list(argv))

    return run
