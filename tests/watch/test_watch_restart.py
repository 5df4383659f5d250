"""The metric watch across restarts: a rule taken out of the config leaves the card and closes the
alert it left open; an immediate trigger's critical page left half sent is said to be unknown, and
one never sent is sent once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import create_async_engine

from bot.core.config import AppConfig, PrometheusRule
from bot.core.models import MetricAlert
from bot.runtime import running_bot
from bot.standin import SlackStandIn
from bot.standin.outside import FakePagerDuty
from bot.standin.prometheus import FakePrometheus
from bot.watch.flows import evaluate
from tests.conftest import FakeClock, make_settings
from tests.golive.test_golive import event_kinds
from tests.warroom import WarRoom
from tests.watch.test_watch import alerts, breach_held, live, shown

UNRECOVERABLE = "sum(rate(orders_failed_unrecoverable_total[1m]))"
IMMEDIATE = PrometheusRule(
    name="Unrecoverable errors > 1%", query=UNRECOVERABLE, healthy="< 0.01", action="rollback"
)


async def until(room: WarRoom, seen: Callable[[], bool], what: str) -> None:
    """Wait (bounded) for the new process's start-up work to show in the channel."""
    for _ in range(200):
        await room.settle()
        if seen():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def test_a_rule_taken_out_of_the_config_leaves_the_card_and_its_open_alert_is_unwatched(
    schema_url: str,
    slack: SlackStandIn,
    config: AppConfig,
    template: Path,
    clock: FakeClock,
    prometheus: FakePrometheus,
) -> None:
    settings = make_settings(database_url=schema_url, api_url=slack.base_url)
    async with running_bot(settings, config=config, template=template, clock=clock) as first:
        room = WarRoom(slack=slack, bot=first)
        await breach_held(room, clock, prometheus)
        assert "Error rate &gt; 1% for 5 minutes" in shown(room.card())
        assert "actions" in [b["type"] for b in alerts(room)[0].blocks]
    clock.advance(minutes=1)
    kept = [r for r in config.prometheus.rules if r.action != "rollback"]
    fewer = config.model_copy(
        update={"prometheus": config.prometheus.model_copy(update={"rules": kept})}
    )
    async with running_bot(settings, config=fewer, template=template, clock=clock) as second:
        room = WarRoom(slack=slack, bot=second)
        await until(room, lambda: "No longer watched" in shown(alerts(room)[0]), "unwatched")
        [alert] = alerts(room)
        assert "actions" not in [b["type"] for b in alert.blocks]
        assert "nothing confirmed a recovery" in shown(alert)
        assert "Error rate &gt; 1% for 5 minutes" not in shown(room.card())
        assert "Metrics:* 2/2 healthy" in shown(room.card())
        kinds = await event_kinds(room)
        assert kinds.count("metric_alert_unwatched") == 1
        await room.chain_ok()


@pytest.mark.parametrize("extra_rules", [[IMMEDIATE]])
async def test_a_critical_page_cut_off_by_a_stop_is_unknown_and_one_never_sent_is_sent_once(
    schema_url: str,
    slack: SlackStandIn,
    config: AppConfig,
    template: Path,
    clock: FakeClock,
    prometheus: FakePrometheus,
    pagerduty: FakePagerDuty,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("bot.runtime.SHUTDOWN_GRACE_SECONDS", 0.3)
    slow = config.model_copy(
        update={"pagerduty": config.pagerduty.model_copy(update={"timeout_seconds": 30})}
    )
    settings = make_settings(database_url=schema_url, api_url=slack.base_url)
    prometheus.set(UNRECOVERABLE, 0.0)
    pagerduty.hang_seconds = 4  # longer than the first bot lives after the page left
    pagerduty.script = ["hang"]
    async with running_bot(settings, config=slow, template=template, clock=clock) as first:
        room = WarRoom(slack=slack, bot=first)
        await live(room, prometheus)
        prometheus.set(UNRECOVERABLE, 0.04)
        clock.advance(minutes=1)
        await evaluate(first.deps, first.deps.clock())  # not settled: the page stays in flight
        for _ in range(200):
            if pagerduty.requests and alerts(room):
                break
            await asyncio.sleep(0.05)
        assert len(pagerduty.requests) == 1
        assert "paging PagerDuty (critical)…" in shown(alerts(room)[0])
    # Stopped while PagerDuty had not answered: it may or may not have paged.
    clock.advance(minutes=1)
    async with running_bot(settings, config=config, template=template, clock=clock) as second:
        room = WarRoom(slack=slack, bot=second)
        await until(room, lambda: "page UNKNOWN" in shown(alerts(room)[0]), "unknown")
        assert "PagerDuty paged" not in shown(alerts(room)[0])
        await asyncio.sleep(0.3)
        assert len(pagerduty.requests) == 1  # not sent again behind anyone's back
        assert "pagerduty_trigger_unknown" in await event_kinds(room)
        await room.chain_ok()

    # A page recorded but never claimed (the process died between the two commits): sent at the
    # next start, once. The row is put back as such a process leaves it.
    engine = create_async_engine(schema_url)
    async with engine.begin() as connection:
        await connection.execute(update(MetricAlert).values(page_status="pending"))
    await engine.dispose()
    async with running_bot(settings, config=config, template=template, clock=clock) as third:
        room = WarRoom(slack=slack, bot=third)
        await until(room, lambda: "PagerDuty paged (critical)" in shown(alerts(room)[0]), "paged")
        assert len(pagerduty.requests) == 2
        assert pagerduty.requests[0]["dedup_key"] == pagerduty.requests[1]["dedup_key"]
        await room.chain_ok()
