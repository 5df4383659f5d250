"""`launchbot serve --socket` as a real process against a local Slack Web API on 127.0.0.1 (nothing
reaches slack.com): health comes up while connecting, SIGTERM/SIGINT stop it even while Slack is
unreachable, a refused app token ends it with a one-line message, and a working token connects."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import BOT_TOKEN
from tests.warroom import free_port, wait_for

APP_TOKEN = "xapp-1-A0TEST-0000-socketmodetest"


@dataclass
class FakeSlack:
    """apps.connections.open answers ``answer``; with answer "ok" it hands out a loopback WebSocket."""

    answer: str
    base_url: str = ""
    calls: list[str] = field(default_factory=list)
    sockets: int = 0

    async def api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.calls.append(method)
        if method == "apps.connections.open":
            if request.headers.get("Authorization") != f"Bearer {APP_TOKEN}":
                return web.json_response({"ok": False, "error": "not_authed"})
            if self.answer == "ok":
                url = self.base_url.replace("http://", "ws://").replace("/api/", "/socket")
                return web.json_response({"ok": True, "url": url})
            return web.json_response({"ok": False, "error": self.answer})
        return web.json_response({"ok": True})

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.sockets += 1
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1}))
        async for _ in ws:
            pass
        return ws


@pytest.fixture
async def fake_slack(request: pytest.FixtureRequest) -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(answer=request.param)
    app = web.Application()
    app.router.add_post("/api/{method}", fake.api)
    app.router.add_get("/socket", fake.socket)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()  # the OS picks the port: no race for it
    port = runner.addresses[0][1]
    fake.base_url = f"http://127.0.0.1:{port}/api/"
    yield fake
    await runner.cleanup()


async def _serve_socket(tmp_path: Path, api_url: str) -> tuple[asyncio.subprocess.Process, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "LAUNCHBOT_", "DATABASE"))
    }
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=APP_TOKEN,
        SLACK_API_URL=api_url,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'socket.db'}",
        HOME=str(tmp_path),
    )
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "serve",
        "--socket",
        "--port",
        str(port),
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return proc, f"http://127.0.0.1:{port}"


async def _status(http: aiohttp.ClientSession, url: str) -> int | None:
    try:
        async with http.get(url) as r:
            return r.status
    except aiohttp.ClientError:
        return None


async def _wait_for(http: aiohttp.ClientSession, url: str, status: int, proc: object) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert getattr(proc, "returncode", None) is None, "serve exited early"
        if await _status(http, url) == status:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never answered {status}")


async def _stop(proc: asyncio.subprocess.Process, sig: int) -> tuple[int, float, str, str]:
    started = time.monotonic()
    proc.send_signal(sig)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=15)
    assert proc.returncode is not None
    return proc.returncode, time.monotonic() - started, stdout.decode(), stderr.decode()


@pytest.mark.parametrize("fake_slack", ["invalid_auth"], indirect=True)
async def test_a_refused_app_token_exits_non_zero_with_one_line(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    proc, _ = await _serve_socket(tmp_path, fake_slack.base_url)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 1
    lines = [line for line in stderr.decode().splitlines() if line.startswith("launchbot:")]
    assert len(lines) == 1, stderr.decode()
    assert "invalid_auth" in lines[0] and "SLACK_APP_TOKEN" in lines[0]
    assert "Traceback" not in stderr.decode()
    assert APP_TOKEN not in stderr.decode() + stdout.decode()
    assert fake_slack.calls == ["apps.connections.open"], "a refused token is not retried"


@pytest.mark.parametrize(
    ("fake_slack", "sig"),
    [("internal_error", signal.SIGTERM), ("unreachable", signal.SIGINT)],
    indirect=["fake_slack"],
)
async def test_stop_signal_is_honoured_while_connecting(
    fake_slack: FakeSlack, sig: int, tmp_path: Path
) -> None:
    # "unreachable": nothing listens on SLACK_API_URL at all.
    api_url = (
        f"http://127.0.0.1:{free_port()}/api/"
        if fake_slack.answer == "unreachable"
        else fake_slack.base_url
    )
    proc, url = await _serve_socket(tmp_path, api_url)
    try:
        async with aiohttp.ClientSession() as http:
            await _wait_for(http, url + "/healthz", 200, proc)
            if fake_slack.answer == "unreachable":
                await asyncio.sleep(1.5)  # at least one failed attempt and a retry wait
            else:  # until the retry arrived (the first wait is 1 s), however busy the machine
                await wait_for(lambda: len(fake_slack.calls) >= 2, "a retry", within=15)
            assert await _status(http, url + "/readyz") == 503, "not connected: not ready"
            assert await _status(http, url + "/healthz") == 200
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    code, took, stdout, _ = await _stop(proc, sig)
    assert code == 0, stdout
    assert took < 5, f"took {took:.1f} s to stop"
    assert "launchbot: stopping" in stdout
    if fake_slack.answer != "unreachable":
        assert set(fake_slack.calls) == {"apps.connections.open"}
        assert len(fake_slack.calls) >= 2, "a transient error is retried"


@pytest.mark.parametrize("fake_slack", ["ok"], indirect=True)
async def test_a_working_app_token_connects_and_is_ready(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    proc, url = await _serve_socket(tmp_path, fake_slack.base_url)
    try:
        async with aiohttp.ClientSession() as http:
            await _wait_for(http, url + "/readyz", 200, proc)
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    assert fake_slack.sockets == 1
    code, took, stdout, _ = await _stop(proc, signal.SIGTERM)
    assert code == 0, stdout
    assert took < 5, f"took {took:.1f} s to stop"
