"""The metric watch in the war room: a held breach reaches the channel as one actionable alert,
updated in place, re-posted only past its second level, recovered after the hold-down; gate rules
block /launch advance; the buttons act with the go-live roles; immediate triggers are paged."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.core.config import PrometheusRule
from bot.core.ids import ActionId
from bot.core.models import Event, GoLive, MetricAlert, TrafficRequest
from bot.server import make_web_app
from bot.standin.outside import FakePagerDuty
from bot.standin.prometheus import PROM_TIMEOUT as PROM_ERROR
from bot.standin.prometheus import FakePrometheus
from bot.watch.flows import evaluate
from tests.conftest import FakeClock
from tests.golive.test_golive import (
    ALICE,
    CTO,
    OPS,
    approve_all,
    channel_texts,
    event_kinds,
    last_ephemeral,
    start_and_reach_golive,
)
from tests.warroom import WarRoom
from tests.watch.conftest import ERRORS, ROLLBACK_ERRORS, ROUTING_KEY, SUCCESS


def healthy(prometheus: FakePrometheus) -> None:
    prometheus.set(ERRORS, 0.0002)
    prometheus.set(SUCCESS, 0.998)
    prometheus.set(ROLLBACK_ERRORS, 0.002)


async def live(room: WarRoom, prometheus: FakePrometheus) -> None:
    """Setup: the rollout in its canary step (10% live), every rule healthy."""
    healthy(prometheus)
    await start_and_reach_golive(room)
    await approve_all(room)
    await room.command(OPS, "advance")
    await room.command(OPS, "advance --force canary now")
    await room.settle()


async def breach_held(room: WarRoom, clock: FakeClock, prometheus: FakePrometheus) -> None:
    """Setup: the rollout live, then the rollback rule breached (0.015) for its 5 minutes: one
    alert open."""
    await live(room, prometheus)
    prometheus.set(ROLLBACK_ERRORS, 0.015)
    await tick(room, clock)
    await tick(room, clock, minutes=5)


async def tick(room: WarRoom, clock: FakeClock, minutes: float = 1) -> None:
    clock.advance(minutes=minutes)
    await evaluate(room.bot.deps, room.bot.deps.clock())
    await room.settle()


def alerts(room: WarRoom) -> list[Any]:
    return [m for m in room.top_level() if "Metric alert" in (m.text or "")]


def shown(message: Any) -> str:
    return str(message.blocks)


async def test_a_held_breach_alerts_once_updates_in_place_realerts_worse_and_recovers(
    room: WarRoom, clock: FakeClock, prometheus: FakePrometheus
) -> None:
    await live(room, prometheus)
    await tick(room, clock)
    assert alerts(room) == []
    prometheus.set(ROLLBACK_ERRORS, 0.015)
    for _ in range(4):
        await tick(room, clock)
    assert alerts(room) == []  # breached for 3 min of its 5: pending, not yet an alert
    await tick(room, clock, minutes=2)
    [alert] = alerts(room)
    assert "<!here>" in alert.text
    text = shown(alert)
    assert "Rollback rule breached: Error rate &gt; 1% for 5 minutes" in text
    assert "Value *0.015*" in text and "healthy is `&lt; 0.01`" in text
    assert "breached for 5 min" in text and ROLLBACK_ERRORS[:20] in text
    assert {e["action_id"] for e in alert.blocks[-1]["elements"]} == {
        ActionId.METRIC_ROLLBACK,
        ActionId.METRIC_HOLD,
        ActionId.METRIC_ACK,
    }
    assert all("confirm" in e for e in alert.blocks[-1]["elements"][:2])

    prometheus.set(ROLLBACK_ERRORS, 0.018)
    await tick(room, clock)
    [alert] = alerts(room)  # the same message, updated in place
    assert "Value *0.018*" in shown(alert) and "breached for 6 min" in shown(alert)

    prometheus.set(ROLLBACK_ERRORS, 0.03)  # past the second level (2 × 0.01)
    await tick(room, clock)
    assert len(alerts(room)) == 2 and "<!here>" in alerts(room)[-1].text
    prometheus.set(ROLLBACK_ERRORS, 0.05)
    await tick(room, clock)
    assert len(alerts(room)) == 2  # once per episode
    assert "worst 0.05" in shown(alerts(room)[0])

    prometheus.set(ROLLBACK_ERRORS, 0.002)
    await tick(room, clock)
    prometheus.set(ROLLBACK_ERRORS, 0.012)  # a flap inside the hold-down
    await tick(room, clock)
    prometheus.set(ROLLBACK_ERRORS, 0.002)
    await tick(room, clock)
    assert not any("recovered" in t for t in channel_texts(room))
    await tick(room, clock)
    assert any("Error rate &gt; 1% for 5 minutes* recovered" in t for t in channel_texts(room))
    assert "Recovered: Error rate" in shown(alerts(room)[0])
    await room.chain_ok()
    assert "actions" not in [b["type"] for b in alerts(room)[0].blocks]
    kinds = await event_kinds(room)
    assert kinds.count("metric_alert_fired") == 1
    assert kinds.count("metric_alert_realerted") == 1
    assert kinds.count("metric_alert_recovered") == 1
    metrics = room.bot.deps.metrics
    assert metrics.value("launchbot_metric_alerts_total", rule="Error rate > 1% for 5 minutes") == 2
    await room.chain_ok()  # every alert and rule state is as the log says


async def test_an_unknown_gate_rule_blocks_advance_and_force_passes_it_recorded(
    room: WarRoom, prometheus: FakePrometheus
) -> None:
    healthy(prometheus)
    prometheus.set(SUCCESS, [])  # the series does not exist
    await start_and_reach_golive(room)
    await room.command(OPS, "advance")
    answer = last_ephemeral(room, OPS)
    assert "metric not healthy: Order success rate &gt; 99% (unknown: no data" in answer
    prometheus.set(SUCCESS, 0.95)
    await room.command(OPS, "advance")
    assert "Order success rate &gt; 99% (0.95, healthy is &gt; 0.99)" in last_ephemeral(room, OPS)
    await room.command(OPS, "advance --force prometheus lags, checked the dashboard")
    async with room.bot.deps.db.read_sessions() as session:
        forced = (await session.scalars(select(Event).where(Event.kind == "golive_forced"))).one()
    assert any("Order success rate &gt; 99%" in past for past in forced.detail["past"])


async def test_a_gate_rule_going_unhealthy_shows_on_the_card_and_in_status_without_an_alert(
    room: WarRoom, clock: FakeClock, prometheus: FakePrometheus
) -> None:
    await live(room, prometheus)
    prometheus.set(ERRORS, 0.004)
    prometheus.set(SUCCESS, [])
    await tick(room, clock)
    card = shown(room.card())
    assert "Metrics:* 1/3 healthy" in card
    assert "Error rate &lt; 0.1%* 🔴 breached" in card
    assert "Order success rate &gt; 99%* ❓ unknown: no data" in card
    await room.command(ALICE, "status")
    status = last_ephemeral(room, ALICE)
    assert "metric not healthy: Error rate &lt; 0.1%" in status
    assert alerts(room) == []
    assert "metric_state_changed" in await event_kinds(room)

    # A rule added to the config since the last evaluation is unknown, never counted healthy.
    prometheus.set(ERRORS, 0.0005)
    prometheus.set(SUCCESS, 0.999)
    await tick(room, clock)
    assert "Metrics:* 3/3 healthy" in shown(room.card())
    rules = room.bot.deps.config.prometheus.rules
    rules.append(rules[0].model_copy(update={"name": "Fills per second > 10"}))
    await room.command(ALICE, "status")
    status = last_ephemeral(room, ALICE)
    assert "Metrics:* 3/4 healthy" in status
    assert "*Fills per second &gt; 10* ❓ unknown: not evaluated yet" in status


async def test_roll_back_and_hold_need_the_golive_roles_and_acknowledge_is_open_to_all(
    room: WarRoom, clock: FakeClock, prometheus: FakePrometheus, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.deps")
    await breach_held(room, clock, prometheus)
    [alert] = alerts(room)

    async def press(user: str, action_id: str) -> None:
        body, headers = room.slack.button_click(
            user_id=user, channel_id=room.channel, message_ts=alert.ts, action_id=action_id
        )
        await room.deliver(body, headers)
        await room.settle()

    await press(ALICE, ActionId.METRIC_ROLLBACK)
    assert "Only DevOps Lead, CTO may roll back" in room.ephemerals_for(ALICE)[-1]
    await press(ALICE, ActionId.METRIC_HOLD)
    assert "Only DevOps Lead, CTO may hold" in room.ephemerals_for(ALICE)[-1]
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert f"button {ActionId.METRIC_HOLD} refused (not_allowed) for user {ALICE}" in " ".join(
        refusals
    )
    assert not any("ON HOLD" in t for t in channel_texts(room))
    await press(ALICE, ActionId.METRIC_ACK)
    assert "Acknowledged by <@U0ALICE001>" in shown(alerts(room)[0])

    await press(OPS, ActionId.METRIC_ROLLBACK)
    back = [t for t in channel_texts(room) if "Rolled back:" in t]
    assert back and "Step 1/6 · Shadow Mode · 0% live" in back[-1]
    async with room.bot.deps.db.read_sessions() as session:
        rows = (await session.scalars(select(TrafficRequest))).all()
    assert rows[-1].action == "rollback" and rows[-1].reason == f"metric alert #{1}"
    assert "Rollback to Step 1/6 · Shadow Mode · 0% live requested by <@U0OPS00001>" in shown(
        alerts(room)[0]
    )

    await press(CTO, ActionId.METRIC_HOLD)
    assert any("ON HOLD" in t for t in channel_texts(room))
    # Evaluation goes on during a hold and after a rollback.
    assert await evaluate(room.bot.deps, room.bot.deps.clock()) == 1
    kinds = await event_kinds(room)
    assert kinds.count("metric_alert_acknowledged") == 1
    assert kinds.count("metric_alert_action") == 2
    assert kinds.count("golive_refused") == 2
    await room.chain_ok()  # the alert still firing: what the log says of it is as stored


async def test_alert_buttons_naming_another_launchs_alert_are_refused_and_logged(
    room: WarRoom, clock: FakeClock, prometheus: FakePrometheus, caplog: pytest.LogCaptureFixture
) -> None:
    """Roll back, Hold and Acknowledge pressed in another war room (its own launch) with the value
    of this launch's alert: each is refused privately and logged, and nothing changes anywhere."""
    other = "C0OTHER001"
    await breach_held(room, clock, prometheus)
    [alert] = alerts(room)
    room.slack.add_channel(other, "war-room-2")
    await room.command(ALICE, "start Payments", channel=other)

    def stored() -> Any:
        async def read() -> Any:
            async with room.bot.deps.db.read_sessions() as session:
                alert_row = (await session.scalars(select(MetricAlert))).one()
                golive = (await session.scalars(select(GoLive).order_by(GoLive.id))).all()
                return (
                    (alert_row.acknowledged_by_id, alert_row.last_action),
                    [(g.launch_id, g.step, g.held_since) for g in golive],
                    len((await session.scalars(select(TrafficRequest))).all()),
                    len((await session.scalars(select(Event))).all()),
                )

        return read()

    before = await stored()
    for action_id, button in (
        (ActionId.METRIC_ROLLBACK, "Roll back"),
        (ActionId.METRIC_HOLD, "Hold"),
        (ActionId.METRIC_ACK, "Acknowledge"),
    ):
        body, _ = room.slack.button_click(
            user_id=CTO, channel_id=room.channel, message_ts=alert.ts, action_id=action_id
        )

        def elsewhere(payload: dict[str, Any]) -> None:
            payload["channel"]["id"] = other
            payload["container"]["channel_id"] = other

        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="bot.core.binding"):
            status, _ = await room.dispatch(*room.forge(body, elsewhere))
            await room.settle()
        assert status == 200
        assert "belongs to another launch" in room.ephemerals_for(CTO)[-1], button
        assert (
            f"refused a metric alert's {button} button naming metric alert 1 (of launch 1) "
            f"from channel {other} (launch 2) by {CTO}" in caplog.text
        )
    assert await stored() == before
    assert not any("ON HOLD" in t or "Rolled back" in t for t in channel_texts(room))
    assert not any(
        word in (m.text or "")
        for m in room.slack.messages.get(other, [])
        for word in ("ON HOLD", "Rolled back", "Rollback", "Acknowledged")
    )


async def test_metrics_shows_every_rule_and_the_lines_not_watched(
    room: WarRoom, prometheus: FakePrometheus
) -> None:
    healthy(prometheus)
    prometheus.set(ERRORS, PROM_ERROR)
    await room.command(ALICE, "start Trading v2")
    await room.command(ALICE, "metrics")
    await room.settle()
    answer = last_ephemeral(room, ALICE)
    assert "*Order success rate &gt; 99%* (gate): 0.998 · healthy is `&gt; 0.99` · ✅ healthy" in (
        answer
    )
    assert (
        "*Error rate &lt; 0.1%* (gate): — · healthy is `&lt; 0.001` · ❓ unknown: query failed"
        in (answer)
    )
    assert "Not watched" in answer and "API latency &lt; 100ms (p95)" in answer
    assert "Memory usage &gt; 90% sustained" in answer


async def test_an_immediate_trigger_is_confirmed_alerted_recorded_and_paged_critical(
    room: WarRoom, prometheus: FakePrometheus, pagerduty: FakePagerDuty
) -> None:
    await live(room, prometheus)
    await room.command(ALICE, "trigger")
    assert "`data-corruption-detected` — Data corruption detected" in last_ephemeral(room, ALICE)
    await room.command(ALICE, "trigger data-corruption")
    confirm = [e for e in room.slack.ephemerals if e.user == ALICE][-1]
    button = confirm.blocks[-1]["elements"][0]
    assert button["action_id"] == ActionId.TRIGGER_REPORT and "confirm" in button
    assert not any("Immediate rollback trigger" in t for t in channel_texts(room))
    body, headers = room.slack.ephemeral_button_click(
        user_id=ALICE, ephemeral_ts=confirm.ts, action_id=ActionId.TRIGGER_REPORT
    )
    await room.deliver(body, headers)
    await room.settle()
    [alert] = [m for m in room.top_level() if "Immediate rollback trigger" in (m.text or "")]
    assert "<!here>" in alert.text and "Immediate rollback is recommended" in shown(alert)
    assert "PagerDuty paged (critical)" in shown(alert)
    [event] = [r for r in pagerduty.requests if r.get("event_action") == "trigger"]
    assert event["payload"]["severity"] == "critical"
    assert event["routing_key"] == ROUTING_KEY
    assert event["dedup_key"] == "launchbot-1-trigger-1"
    kinds = await event_kinds(room)
    assert "rollback_trigger_reported" in kinds and "pagerduty_trigger_sent" in kinds

    # A second report is its own incident in PagerDuty: a dedup key per report.
    await room.command(ALICE, "trigger data-corruption")
    confirm = [e for e in room.slack.ephemerals if e.user == ALICE][-1]
    body, headers = room.slack.ephemeral_button_click(
        user_id=ALICE, ephemeral_ts=confirm.ts, action_id=ActionId.TRIGGER_REPORT
    )
    await room.deliver(body, headers)
    await room.settle()
    keys = [r["dedup_key"] for r in pagerduty.requests if r.get("event_action") == "trigger"]
    assert keys == ["launchbot-1-trigger-1", "launchbot-1-trigger-2"]
    await room.chain_ok()


async def test_an_open_alert_whose_metric_goes_unknown_says_so_and_unknown_time_is_not_recovery(
    room: WarRoom, clock: FakeClock, prometheus: FakePrometheus
) -> None:
    await breach_held(room, clock, prometheus)
    [alert] = alerts(room)
    assert "Value *0.015*" in shown(alert)

    prometheus.set(ROLLBACK_ERRORS, PROM_ERROR)
    await tick(room, clock)
    text = shown(alerts(room)[0])
    assert "Value *0.015*" not in text  # never the last number as if still measured
    assert "Value now *unknown: query failed" in text and "worst 0.015" in text
    assert "actions" in [b["type"] for b in alerts(room)[0].blocks]  # still open, still actionable

    # Healthy for 30 s, then unknown for 2 min, then healthy again: the unknown minutes are not
    # healthy time, so the 1-minute hold-down starts over when readings come back.
    prometheus.set(ROLLBACK_ERRORS, 0.002)
    await tick(room, clock, minutes=0.5)
    prometheus.set(ROLLBACK_ERRORS, PROM_ERROR)
    await tick(room, clock)
    await tick(room, clock)
    prometheus.set(ROLLBACK_ERRORS, 0.002)
    await tick(room, clock, minutes=0.5)
    assert not any("recovered" in t for t in channel_texts(room))
    assert "Value *0.002*" in shown(alerts(room)[0])  # measured again: the number is back
    await tick(room, clock)
    assert any("for 5 minutes* recovered" in t for t in channel_texts(room))
    await room.chain_ok()


async def test_after_a_rollback_to_before_shadow_the_watch_goes_on_and_the_alert_recovers(
    room: WarRoom, clock: FakeClock, prometheus: FakePrometheus
) -> None:
    await breach_held(room, clock, prometheus)
    assert len(alerts(room)) == 1
    await room.command(OPS, "rollback all error rate")
    await room.command(OPS, "rollback back to before shadow")
    await room.settle()
    async with room.bot.deps.db.read_sessions() as session:
        rows = (await session.scalars(select(TrafficRequest))).all()
    assert rows[-1].to_step == 0  # the sequence is back before its first step
    prometheus.set(ROLLBACK_ERRORS, 0.002)
    await tick(room, clock)
    await tick(room, clock)
    assert any("for 5 minutes* recovered" in t for t in channel_texts(room))
    await room.chain_ok()
    assert "Recovered: Error rate" in shown(alerts(room)[0])
    await room.chain_ok()


async def test_a_new_breach_after_recovery_is_a_new_alert_and_metrics_counts_it(
    room: WarRoom, clock: FakeClock, prometheus: FakePrometheus
) -> None:
    await live(room, prometheus)
    prometheus.set(SUCCESS, [])  # one gate rule without data all along
    prometheus.set(ROLLBACK_ERRORS, 0.015)
    await tick(room, clock)
    await tick(room, clock, minutes=5)
    prometheus.set(ROLLBACK_ERRORS, 0.002)
    await tick(room, clock)
    await tick(room, clock)
    assert any("recovered" in t for t in channel_texts(room))
    assert len(alerts(room)) == 1

    prometheus.set(ROLLBACK_ERRORS, 0.012)
    await tick(room, clock)
    await tick(room, clock, minutes=5)
    assert len(alerts(room)) == 2  # a new episode: a new message, the channel told again
    first, second = alerts(room)
    assert "<!here>" in second.text and "Value *0.012*" in shown(second)
    assert "Recovered: Error rate" in shown(first)  # the first episode stays recovered
    assert (await event_kinds(room)).count("metric_alert_fired") == 2

    scraped = await scrape(room)
    rollback = "Error rate > 1% for 5 minutes"
    # Evaluations of this test: 1 healthy, then breached at 0 and 5 min (fired), 2 healthy
    # (recovered), then breached twice more; the gate rule without data was unknown at all six.
    assert scraped[("launchbot_metric_evaluations_total", rollback, "breached")] == 4
    assert scraped[("launchbot_metric_evaluations_total", rollback, "healthy")] == 2
    assert (
        scraped[("launchbot_metric_evaluations_total", "Order success rate > 99%", "unknown")] == 6
    )
    assert scraped[("launchbot_metric_unknowns_total", "Order success rate > 99%", "")] == 6
    assert ("launchbot_metric_unknowns_total", rollback, "") not in scraped
    assert scraped[("launchbot_metric_alerts_total", rollback, "")] == 2


async def scrape(room: WarRoom) -> dict[tuple[str, str, str], float]:
    """The watch's counters as GET /metrics shows them: (name, rule, result) → value."""
    async with TestClient(TestServer(make_web_app(room.bot.app, room.bot.deps))) as client:
        response = await client.get("/metrics")
        assert response.status == 200
        text = await response.text()
    samples = {}
    for name, labels, value in re.findall(
        r"^(launchbot_metric_\w+_total)\{(.*)\} (\S+)$", text, re.MULTILINE
    ):
        found = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        samples[(name, found.get("rule", ""), found.get("result", ""))] = float(value)
    return samples


UNRECOVERABLE = "sum(rate(orders_failed_unrecoverable_total[1m]))"


@pytest.mark.parametrize(
    "extra_rules",
    [
        [
            PrometheusRule(
                name="Unrecoverable errors > 1%",
                query=UNRECOVERABLE,
                healthy="< 0.01",
                action="rollback",
            )
        ]
    ],
)
async def test_a_rule_watching_an_immediate_trigger_alerts_at_once_and_pages_critical(
    room: WarRoom, clock: FakeClock, prometheus: FakePrometheus, pagerduty: FakePagerDuty
) -> None:
    prometheus.set(UNRECOVERABLE, 0.0)
    await live(room, prometheus)
    await tick(room, clock)
    assert alerts(room) == [] and pagerduty.requests == []
    prometheus.set(UNRECOVERABLE, 0.04)
    await tick(room, clock)
    await room.bot.deps.tasks.idle()
    await room.settle()
    [alert] = alerts(room)
    text = shown(alert)
    assert "<!here>" in alert.text
    assert "Immediate rollback trigger breached: Unrecoverable errors &gt; 1%" in text
    assert "Immediate rollback is recommended" in text and "Value *0.04*" in text
    assert "PagerDuty paged (critical)" in text
    [event] = [r for r in pagerduty.requests if r.get("event_action") == "trigger"]
    assert event["payload"]["severity"] == "critical"
    assert event["dedup_key"] == "launchbot-1-trigger-1"
    assert event["payload"]["custom_details"]["reported_by"] == "the metric watch"
    assert {e["action_id"] for e in alert.blocks[-1]["elements"]} >= {ActionId.METRIC_ROLLBACK}
    await tick(room, clock)
    assert len([r for r in pagerduty.requests if r.get("event_action") == "trigger"]) == 1
    kinds = await event_kinds(room)
    assert kinds.count("metric_alert_fired") == 1 and "pagerduty_trigger_sent" in kinds
    await room.chain_ok()


async def test_after_a_restart_the_minutes_the_bot_was_down_do_not_count_toward_recovery(
    room: WarRoom, clock: FakeClock, prometheus: FakePrometheus
) -> None:
    await breach_held(room, clock, prometheus)
    prometheus.set(ROLLBACK_ERRORS, 0.002)
    await tick(room, clock)  # healthy once, then the bot is down for 10 minutes
    clock.advance(minutes=10)
    restarted = room.bot.deps.clock()
    await evaluate(room.bot.deps, restarted, watching_since=restarted)
    await room.settle()
    assert not any("recovered" in t for t in channel_texts(room))
    clock.advance(minutes=1)
    await evaluate(room.bot.deps, room.bot.deps.clock(), watching_since=restarted)
    await room.settle()
    assert any("for 5 minutes* recovered" in t for t in channel_texts(room))


async def test_the_card_follows_a_breach_value_by_value_and_never_freezes_a_duration(
    room: WarRoom, clock: FakeClock, prometheus: FakePrometheus
) -> None:
    await live(room, prometheus)
    prometheus.set(ERRORS, 0.004)
    await tick(room, clock)
    card = shown(room.card())
    assert "Error rate &lt; 0.1%* 🔴 breached since <!date^" in card and "(0.004)" in card
    assert "breached for" not in card  # a duration on a message that stays up would go stale
    for value in (0.005, 0.006, 0.009):
        prometheus.set(ERRORS, value)
        await tick(room, clock)
    card = shown(room.card())
    assert "(0.009)" in card and "(0.004)" not in card
    prometheus.set(ERRORS, PROM_ERROR)
    await tick(room, clock)
    assert "Error rate &lt; 0.1%* ❓ unknown: query failed" in shown(room.card())
    await room.command(ALICE, "status")
    assert "Error rate &lt; 0.1%* ❓ unknown: query failed" in last_ephemeral(room, ALICE)
    await room.chain_ok()


async def test_closing_the_launch_with_an_alert_open_takes_its_buttons_and_says_it_is_unwatched(
    room: WarRoom, clock: FakeClock, prometheus: FakePrometheus
) -> None:
    await breach_held(room, clock, prometheus)
    [alert] = alerts(room)
    assert "actions" in [b["type"] for b in alert.blocks]
    await room.close(ALICE, outcome="rolled_back", note="error rate")
    [alert] = alerts(room)
    assert "actions" not in [b["type"] for b in alert.blocks]
    assert "closed <!date^" in shown(alert) and "no longer watched" in shown(alert)
    assert await evaluate(room.bot.deps, room.bot.deps.clock()) == 0
    await room.chain_ok()


async def test_metrics_answers_without_a_launch_and_status_never_reads_an_unevaluated_gate_healthy(
    room: WarRoom, clock: FakeClock, prometheus: FakePrometheus
) -> None:
    healthy(prometheus)
    await room.command(ALICE, "metrics")
    await room.settle()
    assert "*Order success rate &gt; 99%* (gate): 0.998" in last_ephemeral(room, ALICE)
    await start_and_reach_golive(room)
    await room.command(ALICE, "status")
    status = last_ephemeral(room, ALICE)
    # Nothing has evaluated the gate rules for this launch yet: not "nothing blocks it".
    assert "metric not healthy: Error rate &lt; 0.1% (not evaluated yet)" in status
    assert "nothing blocks it" not in status
    before = await scrape(room)
    await room.command(ALICE, "metrics")
    await room.settle()
    assert await scrape(room) == before  # a look is not a scheduled evaluation


async def test_a_report_press_delivered_twice_opens_one_alert_and_pages_once(
    room: WarRoom, prometheus: FakePrometheus, pagerduty: FakePagerDuty
) -> None:
    """The same Report request twice (Slack's retry after a late answer, or a replay within the
    signature's five minutes) is one report: one red alert, one critical page."""
    await live(room, prometheus)
    await room.command(ALICE, "trigger data-corruption")
    confirm = [e for e in room.slack.ephemerals if e.user == ALICE][-1]
    body, headers = room.slack.ephemeral_button_click(
        user_id=ALICE, ephemeral_ts=confirm.ts, action_id=ActionId.TRIGGER_REPORT
    )
    await room.deliver(body, headers)
    await room.settle()
    await room.deliver(body, headers)
    await room.settle()
    reported = [m for m in room.top_level() if "Immediate rollback trigger" in (m.text or "")]
    assert len(reported) == 1
    keys = [r["dedup_key"] for r in pagerduty.requests if r.get("event_action") == "trigger"]
    assert keys == ["launchbot-1-trigger-1"]
    async with room.bot.deps.db.read_sessions() as session:
        assert len((await session.scalars(select(MetricAlert))).all()) == 1
    assert (await event_kinds(room)).count("rollback_trigger_reported") == 1
    await room.chain_ok()


async def test_a_roll_back_press_delivered_twice_rolls_back_one_step(
    room: WarRoom, clock: FakeClock, prometheus: FakePrometheus
) -> None:
    await breach_held(room, clock, prometheus)
    await room.command(OPS, "advance --force on to 25")
    await room.settle()
    [alert] = alerts(room)
    body, headers = room.slack.button_click(
        user_id=OPS,
        channel_id=room.channel,
        message_ts=alert.ts,
        action_id=ActionId.METRIC_ROLLBACK,
    )
    await room.deliver(body, headers)
    await room.settle()
    await room.deliver(body, headers)
    await room.settle()
    async with room.bot.deps.db.read_sessions() as session:
        rows = (await session.scalars(select(TrafficRequest))).all()
    assert [r.action for r in rows][-2:] == ["advance", "rollback"]
    back = [t for t in channel_texts(room) if "Rolled back:" in t]
    assert len(back) == 1 and "Step 2/6 · Canary Deployment · 10% live" in back[-1]
    assert (await event_kinds(room)).count("metric_alert_action") == 1
    await room.chain_ok()
