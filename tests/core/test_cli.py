"""The ``launchbot`` command line through ``bot.__main__.main``: exit codes and what it prints."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from bot.__main__ import main
from bot.checklist.template import DEFAULT_TEMPLATE_PATH

# sha256 of the product's seed checklist (shared/seeds/000_f446919a7a9d94c8.txt), which the bundled
# template must stay byte for byte: recorded here so no test reads outside the repo.
SEED_SHA256 = "1967c3ff933e4c8a0d12b6d0fcc38e7415327f09db071af85b35adb78ca8f324"


def tables(url: str) -> set[str]:
    async def read() -> set[str]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_db_upgrade_creates_the_schema_and_is_repeatable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out.strip() == f"launchbot: database at {url} is up to date"
    assert {"alembic_version", "launch", "item", "event", "click_inbox"} <= tables(url)
    assert main(["db", "upgrade"]) == 0  # already at head: nothing to do, still success
    assert "is up to date" in capsys.readouterr().out


def test_checklist_validate_good_file_prints_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["checklist", "validate", str(DEFAULT_TEMPLATE_PATH)]) == 0
    first, *steps = capsys.readouterr().out.strip().splitlines()
    assert first == (
        "OK: Production Launch Checklist — 4 phases, 10 sections, 122 items, "
        "10 contacts, 5 sign-off roles"
    )
    assert steps[0] == 'go-live: 6 steps in "Go-Live Sequence"' and len(steps) == 7


def test_checklist_validate_broken_file_prints_line_numbers_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.md"
    path.write_text("# T\n## P (T-1)\n- [ ] foo\n### S\n- bar\n", encoding="utf-8")
    assert main(["checklist", "validate", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[1] for line in lines] == ["3", "4", "5"]
    assert all(line.startswith(f"{path}:") for line in lines)
    assert 'item "- [ ] foo" is not inside a "### Section" heading' in lines[0]


def test_checklist_validate_missing_file_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["checklist", "validate", str(tmp_path / "nope.md")]) == 1
    assert capsys.readouterr().out.startswith(f"{tmp_path / 'nope.md'}:0: cannot read")


def test_bundled_template_is_the_seed_checklist() -> None:
    assert hashlib.sha256(DEFAULT_TEMPLATE_PATH.read_bytes()).hexdigest() == SEED_SHA256


def test_export_of_an_unknown_launch_names_it_as_typed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.delenv("LAUNCHBOT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["db", "upgrade"]) == 0
    capsys.readouterr()
    assert main(["export", "R&D <v2>", "--format", "json"]) == 1
    err = capsys.readouterr().err
    assert "R&D <v2>" in err and "&amp;" not in err, err
