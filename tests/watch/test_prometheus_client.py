"""The Prometheus client against a local server speaking the query API: every failure is "unknown"
with its reason, never a number."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.__main__ import main
from bot.core.config import ConfigError, PrometheusConfig, load_config
from bot.standin.prometheus import _PROM_DURATION, PROM_TIMEOUT, FakePrometheus, PromError
from bot.watch.prometheus_client import PrometheusClient, _sample


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def client(http: httpx.AsyncClient, url: str | None, timeout: float = 1.0) -> PrometheusClient:
    return PrometheusClient(http, PrometheusConfig(url=url, timeout_seconds=timeout))


async def test_one_sample_is_its_value(http: httpx.AsyncClient, prometheus: FakePrometheus) -> None:
    prometheus.set("error_rate", 0.0004)
    reading = await client(http, prometheus.url).query("error_rate")
    assert reading.value == 0.0004 and reading.unknown is None
    assert prometheus.queries[-1]["query"] == "error_rate"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ([], "no data"),
        (
            PromError("bad_data", "parse error at char 4", 400),
            "query failed: bad_data: parse error",
        ),
        (PROM_TIMEOUT, "query failed: timeout"),
        (float("nan"), "not a number (NaN)"),
        ([({"instance": "a"}, 0.1), ({"instance": "b"}, 0.2)], "rule error: the query answers 2"),
    ],
)
async def test_every_failure_is_unknown_with_its_reason(
    http: httpx.AsyncClient, prometheus: FakePrometheus, answer: object, reason: str
) -> None:
    prometheus.set("q", answer)  # type: ignore[arg-type]
    reading = await client(http, prometheus.url).query("q")
    assert reading.value is None
    assert reading.unknown is not None and reading.unknown.startswith(reason), reading.unknown


async def test_a_slow_query_is_unknown_after_the_timeout(
    http: httpx.AsyncClient, prometheus: FakePrometheus
) -> None:
    prometheus.set("slow", "hang")
    reading = await client(http, prometheus.url, timeout=0.3).query("slow")
    assert reading.unknown == "query failed: no answer within 0.3 s"


async def test_unreachable_and_unconfigured_are_unknown(http: httpx.AsyncClient) -> None:
    reading = await client(http, "http://127.0.0.1:9").query("up")
    assert reading.unknown is not None and "unreachable" in reading.unknown
    assert (await client(http, None).query("up")).unknown == (
        "Prometheus is not configured ([prometheus] url)"
    )


def test_a_bad_rule_stops_the_config_naming_the_file_and_the_rule(tmp_path: Path) -> None:
    path = tmp_path / "launchbot.toml"
    path.write_text(
        '[[prometheus.rules]]\nname = "Error rate < 0.1%"\nquery = "x"\nhealthy = "< 0.001"\n'
        'for = "5 min"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message and 'rule "Error rate < 0.1%"' in message
    assert "not a Prometheus duration" in message


def test_checklist_validate_reports_what_each_rule_watches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = Path("bot/checklist/templates/default.md")
    assert main(["checklist", "validate", str(template), "--config", "launchbot.example.toml"]) == 0
    out = capsys.readouterr().out
    assert "Error rate > 1% for 5 minutes (rollback, healthy < 0.01, for 5m): watches" in out
    assert "not watched: 0" in out
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[prometheus.rules]]\nname = "x"\nquery = "q"\nhealthy = "<1"\naction = "page"\n'
    )
    assert main(["checklist", "validate", str(template), "--config", str(bad)]) != 0
    assert 'prometheus.rules.0.action (rule "x")' in capsys.readouterr().err


def test_the_fake_refuses_a_fractional_timeout_as_prometheus_does() -> None:
    assert _PROM_DURATION.match("4500ms") and _PROM_DURATION.match("1m30s")
    assert not _PROM_DURATION.match("4.5s")


def serve_with(tmp_path: Path, config: str) -> subprocess.CompletedProcess[str]:
    """``launchbot serve`` with Slack credentials and ``config`` as its config file."""
    path = tmp_path / "launchbot.toml"
    path.write_text(config)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(Path.cwd()),
        "SLACK_BOT_TOKEN": "xoxb-1234-5678",
        "SLACK_SIGNING_SECRET": "0123456789abcdef0123456789abcdef",
        "LAUNCHBOT_CONFIG": str(path),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--port", "0"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ('healthy = "< 0.001"\nfor = "5 min"', "not a Prometheus duration"),
        ('healthy = "below 0.001"', "healthy"),
        ('healthy = "< 0.001"\naction = "page"', "action"),
        ('healthy = "< 0.001"\nthreshold = "0.001"', "threshold"),
    ],
)
def test_serve_refuses_to_start_on_a_bad_rule_naming_file_rule_and_problem(
    tmp_path: Path, rule: str, problem: str
) -> None:
    result = serve_with(
        tmp_path, f'[[prometheus.rules]]\nname = "Error rate < 0.1%"\nquery = "x"\n{rule}\n'
    )
    assert result.returncode == 2
    assert str(tmp_path / "launchbot.toml") in result.stderr
    assert 'rule "Error rate < 0.1%"' in result.stderr and problem in result.stderr
    assert not (tmp_path / "bot.db").exists()  # refused before touching anything


def test_serve_refuses_two_rules_with_one_name(tmp_path: Path) -> None:
    rule = '[[prometheus.rules]]\nname = "Error rate"\nquery = "x"\nhealthy = "< 0.001"\n'
    result = serve_with(tmp_path, rule + rule)
    assert result.returncode == 2
    assert 'rules 1 and 2 are both named "Error rate"' in result.stderr
    assert not (tmp_path / "bot.db").exists()


def test_a_sample_that_is_not_a_number_is_unknown_and_infinities_are_numbers() -> None:
    assert _sample([1764000000, "12abc"]).unknown == "not a number ('12abc')"
    assert _sample([1764000000, "NaN"]).unknown == "not a number (NaN)"
    assert _sample([1764000000, "+Inf"]).value == float("inf")
    assert _sample(["1764000000"]).unknown == "query failed: a sample without a value"
