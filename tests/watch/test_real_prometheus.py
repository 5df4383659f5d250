"""The metric watch against a real Prometheus (Debian's ``prometheus`` binary, run here, not its
service) scraping a tiny exporter this test runs: healthy → a held breach → one alert in the war
room → healthy again → recovered.

The bot's windows (``for``, ``recover_after``) are measured on the bot's clock, so the test clock
covers them; real seconds pass only while Prometheus scrapes a changed value (every second)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from bot.core.config import AppConfig, PrometheusConfig, PrometheusRule
from bot.watch.flows import watch_job
from tests.conftest import FakeClock
from tests.golive.test_golive import OPS, approve_all, channel_texts, start_and_reach_golive
from tests.warroom import WarRoom, free_port
from tests.watch.test_watch import alerts, shown

PROMETHEUS = (
    os.environ.get("LAUNCHBOT_PROMETHEUS") or shutil.which("prometheus") or "/usr/bin/prometheus"
)
if not Path(PROMETHEUS).exists():
    # CI installs it (.ci/run); there a missing server is a failure, not a skip.
    if os.environ.get("CI"):
        raise RuntimeError(f"CI needs Prometheus at {PROMETHEUS} (.ci/run installs it)")
    pytest.skip("needs Debian's prometheus", allow_module_level=True)

METRIC = "trading_error_ratio"
RULE = "Error rate > 1% for 30 seconds"
INTERVAL = 10  # [prometheus] interval_seconds (bot clock): each tick advances the test clock by it
HEALTHY, BREACHED = 0.002, 0.015  # under the second level (2 × 0.01): one alert, no re-post
WAIT = 30.0  # bounded waits for a loaded machine: start, first scrape, a changed value scraped


class Exporter:
    """``/metrics`` in Prometheus' text format with one gauge whose value the test sets."""

    def __init__(self, value: float) -> None:
        self.value = value
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _metrics(self, request: web.Request) -> web.Response:
        body = f"# HELP {METRIC} Failed orders / all orders.\n# TYPE {METRIC} gauge\n"
        body += f"{METRIC} {self.value!r}\n"
        return web.Response(body=body.encode(), content_type="text/plain; version=0.0.4")


class PrometheusServer:
    """``prometheus`` with a generated config: the exporter its only target, scraped every second,
    its TSDB in the test's tmp dir, listening on a free local port."""

    def __init__(self, tmp: Path, target: str) -> None:
        self.tmp = tmp
        self.log = tmp / "prometheus.log"
        self.config = tmp / "prometheus.yml"
        self.config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: exporter\n"
            f"    static_configs:\n      - targets: ['{target}']\n"
        )
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Start it and wait (bounded) until it is ready; another port if its free one was taken."""
        for _ in range(3):
            if await self._start_once():
                return
        raise AssertionError("prometheus could not bind a port: " + self.output())

    async def _start_once(self) -> bool:
        self.port = free_port()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 (a child server, not waited on here)
                [
                    PROMETHEUS,
                    f"--config.file={self.config}",
                    f"--storage.tsdb.path={self.tmp / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.tmp,
            )
        deadline = time.monotonic() + WAIT
        async with httpx.AsyncClient() as http:
            while time.monotonic() < deadline:
                if self.exited():
                    assert "address already in use" in self.output(), self.output()
                    return False
                try:
                    if (await http.get(self.url + "/-/ready", timeout=2.0)).status_code == 200:
                        return True
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"prometheus was not ready within {WAIT:g} s: " + self.output())

    def exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


async def query(http: httpx.AsyncClient, server: PrometheusServer, promql: str) -> float | None:
    """The query's one sample now, or None (not up yet, no data yet)."""
    try:
        response = await http.get(
            server.url + "/api/v1/query", params={"query": promql}, timeout=3.0
        )
        result = response.json()["data"]["result"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None
    return float(result[0]["value"][1]) if len(result) == 1 else None


async def scraped(server: PrometheusServer, value: float) -> None:
    """Wait (bounded) until Prometheus answers the exporter's current value."""
    deadline = time.monotonic() + WAIT
    async with httpx.AsyncClient() as http:
        while (seen := await query(http, server, METRIC)) != value:
            assert not server.exited(), "prometheus exited: " + server.output()
            assert time.monotonic() < deadline, (
                f"prometheus did not scrape {METRIC}={value} within {WAIT:g} s "
                f"(answers {seen}): " + server.output()
            )
            await asyncio.sleep(0.2)


@pytest.fixture
async def exporter() -> AsyncIterator[Exporter]:
    served = Exporter(HEALTHY)
    await served.start()
    try:
        yield served
    finally:
        await served.stop()


@pytest.fixture
async def real_prometheus(tmp_path: Path, exporter: Exporter) -> AsyncIterator[PrometheusServer]:
    server = PrometheusServer(tmp_path, f"127.0.0.1:{exporter.port}")
    try:
        await server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def config(config: AppConfig, real_prometheus: PrometheusServer) -> AppConfig:
    """The watch's config (go-live roles), its [prometheus] pointed at the real server."""
    rule = {
        "name": RULE,
        "query": f"max({METRIC})",
        "healthy": "< 0.01",
        "for": "30s",
        "action": "rollback",
    }
    return config.model_copy(
        update={
            "prometheus": PrometheusConfig(
                url=real_prometheus.url,
                interval_seconds=INTERVAL,
                recover_after="20s",
                rules=[PrometheusRule.model_validate(rule)],
            )
        }
    )


async def test_a_breach_in_a_real_prometheus_alerts_once_and_recovers(
    room: WarRoom, clock: FakeClock, exporter: Exporter, real_prometheus: PrometheusServer
) -> None:
    job = watch_job(room.bot.deps)

    async def tick(times: int = 1) -> None:
        for _ in range(times):
            clock.advance(seconds=INTERVAL)
            await job.run(clock())
            await room.settle()

    await start_and_reach_golive(room)
    await approve_all(room)
    await room.command(OPS, "advance")
    await room.command(OPS, "advance --force canary now")  # the rollout live: rules evaluated
    # Prometheus starts scraping some 5 s after it starts (its target updates are batched): that
    # wait overlaps the war room's setup above.
    await scraped(real_prometheus, HEALTHY)
    await tick()
    assert "Metrics:* 1/1 healthy" in shown(room.card())

    exporter.value = BREACHED
    await scraped(real_prometheus, BREACHED)
    await tick(2)  # breached for 10 s of its 30: pending
    assert alerts(room) == []
    await tick(2)  # held for 30 s
    [alert] = alerts(room)
    assert "<!here>" in alert.text
    assert f"Rollback rule breached: {RULE.replace('>', '&gt;')}" in shown(alert)
    assert "Value *0.015*" in shown(alert) and f"max({METRIC})" in shown(alert)
    await tick(2)
    assert len(alerts(room)) == 1  # one episode, one message

    exporter.value = HEALTHY
    await scraped(real_prometheus, HEALTHY)
    await tick()
    assert not any("recovered" in t for t in channel_texts(room))  # the hold-down
    await tick(2)
    assert any(f"{RULE.replace('>', '&gt;')}* recovered" in t for t in channel_texts(room))
    assert "Recovered: Error rate" in shown(alerts(room)[0])
    assert len(alerts(room)) == 1
    kinds = [e.kind for e in await room.events()]
    assert kinds.count("metric_alert_fired") == 1
    assert kinds.count("metric_alert_recovered") == 1
