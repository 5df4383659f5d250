"""Benchmark: bursts of N signed concurrent checkbox clicks against a running `launchbot serve` and the
Slack stand-in, compared with a bare slack-bolt app that only acks, measured in the same run
(``python -m bot.bench``).

The workload is the war room's: N people click at once (a burst), then the bot catches up before the
next burst. Both servers run as separate processes on 127.0.0.1 and are driven by one aiohttp client
(httpx's client, measured on loopback, was slower than the bot itself); bursts alternate between the two so
the machine's noise hits both alike, and each burst starts once the bot has caught up with the
previous one (the bot's post-ack work never lands in the bare app's burst). Reported: ack latency
p50/p95/p99 for each, the p99 ratio, Slack Web API calls per click, and lost clicks (clicks acked
200 whose effect is not in the database)."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bot.standin import SlackStandIn

BOT_TOKEN = "xoxb-bench-000000000000"
SECRET = "bench-signing-secret-0123456789"
CHANNEL = "C0WARROOM1"
WARM_UP_BURSTS = 3
BENCH_USERS = 50


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Result:
    name: str
    latencies_ms: list[float]
    failures: int

    def pct(self, q: float) -> float:
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(q * len(data)))] if data else float("nan")


async def _wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"server exited early with {proc.returncode}")
            try:
                async with http.get(url + "/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("server did not become healthy")


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def _drive(
    name: str,
    url: str,
    requests: list[tuple[bytes, dict[str, str]]],
    concurrency: int,
) -> Result:
    latencies: list[float] = []
    failures = 0
    gate = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def one(body: bytes, headers: dict[str, str]) -> None:
            nonlocal failures
            async with gate:
                started = time.perf_counter()
                async with http.post(url + "/slack/events", data=body, headers=headers) as r:
                    await r.read()
                    if r.status != 200:
                        failures += 1
                latencies.append((time.perf_counter() - started) * 1000)

        await asyncio.gather(*(one(b, h) for b, h in requests))
    return Result(name, latencies, failures)


def _click_requests(slack: SlackStandIn, n: int, offset: int) -> list[tuple[bytes, dict[str, str]]]:
    thread = [m for m in slack.messages[CHANNEL] if m.thread_ts and m.thread_ts != m.ts]
    options = [
        (m.ts, o["value"])
        for m in thread
        for b in m.blocks or []
        for e in b.get("elements", [])
        for o in e.get("options", [])
    ]
    out = []
    for i in range(n):
        ts, value = options[(i + offset) % len(options)]
        out.append(
            slack.checkbox_click(
                user_id=f"U0BENCH{i % BENCH_USERS:03d}",
                channel_id=CHANNEL,
                message_ts=ts,
                toggle_value=value,
            )
        )
    return out


async def run(clicks: int, rounds: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="launchbot-bench-"))
    bot_port, bare_port = _free_port(), _free_port()
    slack = _bench_slack(bot_port)
    await slack.start()
    env = _server_env(slack, workdir)
    bot = _spawn(["-m", "bot", "serve", "--port", str(bot_port)], env)
    bare = _spawn(["-m", "bot.bench_bare", str(bare_port)], env)
    servers = [
        ("launchbot", f"http://127.0.0.1:{bot_port}"),
        ("bare bolt", f"http://127.0.0.1:{bare_port}"),
    ]
    try:
        await _wait_healthy(servers[0][1], bot)
        await _wait_healthy(servers[1][1], bare)
        await _start_launch(slack)
        await _warm_up(slack, clicks, servers, workdir)
        calls_before = len(slack.calls)
        results = await _measure(slack, clicks, rounds, servers, workdir)
        await asyncio.sleep(1.0)  # the publisher's last (coalesced) chat.update calls
        api_calls = len(slack.calls) - calls_before
    finally:
        for proc in (bot, bare):
            proc.terminate()
            proc.wait(timeout=20)
        await slack.stop()
    total = clicks * rounds
    lost = total - results["launchbot"].failures - _recorded_clicks(workdir / "bench.db", clicks)
    _report(results, total=total, burst=clicks, api_calls=api_calls, lost=lost)


def _bench_slack(bot_port: int) -> SlackStandIn:
    slack = SlackStandIn(
        bot_token=BOT_TOKEN,
        signing_secret=SECRET,
        app_url=f"http://127.0.0.1:{bot_port}/slack/events",
    )
    for i in range(BENCH_USERS):  # a real workspace knows its members: users.info answers
        slack.add_user(f"U0BENCH{i:03d}", f"bench{i:03d}", f"Bench User {i:03d}")
    return slack


def _server_env(slack: SlackStandIn, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LAUNCHBOT_"))}
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=slack.base_url,
        DATABASE_URL=f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
        LAUNCHBOT_LOG_LEVEL="WARNING",
    )
    return env


async def _start_launch(slack: SlackStandIn) -> None:
    await slack.send(*slack.slash_command(user_id="U0BENCH000", text="start Bench launch"))
    deadline = time.monotonic() + 15
    while len(slack.messages.get(CHANNEL, [])) < 4 and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)


async def _warm_up(
    slack: SlackStandIn, clicks: int, servers: list[tuple[str, str]], workdir: Path
) -> None:
    """Warm both servers the way they are then measured: bolt's lazy auth.test, the database
    connection pools, SQLAlchemy's statement cache, which launch each message belongs to."""
    for w in range(WARM_UP_BURSTS):
        warm = _click_requests(slack, clicks, clicks * w)
        for _name, url in servers:
            await _drive("warm", url, warm, clicks)
        await _caught_up(workdir / "bench.db")


async def _measure(
    slack: SlackStandIn,
    clicks: int,
    rounds: int,
    servers: list[tuple[str, str]],
    workdir: Path,
) -> dict[str, Result]:
    results = {name: Result(name, [], 0) for name, _url in servers}
    for r in range(rounds):
        batch = _click_requests(slack, clicks, clicks * (r + WARM_UP_BURSTS))
        for name, url in servers if r % 2 == 0 else servers[::-1]:
            got = await _drive(name, url, batch, concurrency=clicks)
            results[name].latencies_ms += got.latencies_ms
            results[name].failures += got.failures
            # The bot's post-ack work (applying, re-rendering) is done before the next burst,
            # so it never runs during the bare app's burst and makes that one look slower.
            await _caught_up(workdir / "bench.db")
    return results


def _recorded_clicks(path: Path, clicks: int) -> int:
    """Clicks applied after the warm-up: every click leaves one "click" event when applied (even
    one that changed nothing)."""
    db = sqlite3.connect(path)
    try:
        applied = db.execute("SELECT count(*) FROM event WHERE kind = 'click'").fetchone()[0]
    finally:
        db.close()
    return int(applied) - clicks * WARM_UP_BURSTS


async def _caught_up(path: Path) -> None:
    """Wait until the bot has applied every stored click and re-rendered its messages (reads the
    SQLite file directly)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        db = sqlite3.connect(path)
        pending = db.execute(
            "SELECT count(*) FROM click_inbox WHERE applied_at IS NULL"
        ).fetchone()[0]
        pending += db.execute(
            "SELECT count(*) FROM slack_message WHERE version > rendered_version"
        ).fetchone()[0]
        db.close()
        if pending == 0:
            return
        await asyncio.sleep(0.05)
    raise SystemExit("the bot did not apply the stored clicks within 30 s")


def _report(
    results: dict[str, Result], *, total: int, burst: int, api_calls: int, lost: int
) -> None:
    lines = [
        f"{total} signed checkbox clicks in bursts of {burst} at once, HTTP on 127.0.0.1 (ms)",
        f"{'server':<12} {'p50':>8} {'p95':>8} {'p99':>8} {'mean':>8} {'non-200':>8}",
    ]
    for r in results.values():
        lines.append(
            f"{r.name:<12} {r.pct(0.50):8.2f} {r.pct(0.95):8.2f} {r.pct(0.99):8.2f} "
            f"{statistics.fmean(r.latencies_ms):8.2f} {r.failures:8d}"
        )
    ours, bare = results["launchbot"], results["bare bolt"]
    lines.append(
        f"p99 ratio launchbot / bare bolt: {ours.pct(0.99) / bare.pct(0.99):.2f} (target <= 1.5)"
    )
    lines.append(f"p50 ratio launchbot / bare bolt: {ours.pct(0.50) / bare.pct(0.50):.2f}")
    lines.append(f"Slack Web API calls per click: {api_calls / total:.3f}")
    lines.append(f"lost clicks: {lost}")
    print("\n".join(lines))  # noqa: T201


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.bench", description=__doc__)
    parser.add_argument("--clicks", type=int, default=30, help="clicks per burst (all at once)")
    parser.add_argument("--rounds", type=int, default=20, help="bursts per server")
    args = parser.parse_args()
    asyncio.run(run(args.clicks, args.rounds))


if __name__ == "__main__":
    main()
