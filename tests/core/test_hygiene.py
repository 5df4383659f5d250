"""Operational hygiene: secrets never reach the logs, /readyz tells the truth, config errors are clear."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.core.config import ConfigError, Settings, load_config
from bot.core.db import open_database
from bot.server import make_web_app
from tests.conftest import BOT_TOKEN, SIGNING_SECRET
from tests.warroom import WarRoom

ALICE = "U0ALICE001"


async def test_debug_logs_never_contain_tokens_or_the_signing_secret(
    room: WarRoom, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await room.command(ALICE, "start Trading v2")
    await room.click(ALICE, "Failover tested")
    await room.command(ALICE, "status")
    assert caplog.records, "expected debug logs"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert BOT_TOKEN not in logged
    assert SIGNING_SECRET not in logged
    assert "/hooks/" not in logged, "response_urls are credentials too"


async def test_readyz_is_503_when_the_database_does_not_answer(
    room: WarRoom, tmp_path: Path
) -> None:
    broken = open_database(f"sqlite+aiosqlite:///{tmp_path}/missing/dir/x.db")
    deps = room.bot.deps
    from dataclasses import replace

    app = make_web_app(room.bot.app, replace(deps, db=broken))
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/readyz")).status == 503
        assert (await client.get("/healthz")).status == 200
    await broken.dispose()
    healthy = make_web_app(room.bot.app, deps)
    async with TestClient(TestServer(healthy)) as client:
        assert (await client.get("/readyz")).status == 200


def test_socket_mode_without_app_token_names_the_variable(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "SLACK_BOT_TOKEN": "xoxb-1234", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--socket"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SLACK_APP_TOKEN" in result.stderr


def test_placeholder_secrets_count_as_missing() -> None:
    settings = Settings.model_validate(
        {"SLACK_BOT_TOKEN": "xoxb-your-token", "SLACK_SIGNING_SECRET": "changeme"}
    )
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        settings.require(socket_mode=False)


def test_bad_config_file_is_reported_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "launchbot.toml"
    path.write_text("[roles.cto]\nusers = 'not a list'\n")
    with pytest.raises(ConfigError, match=str(path)):
        load_config(path)
