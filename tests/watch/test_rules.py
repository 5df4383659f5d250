"""Rule semantics without I/O: comparisons, Prometheus' ``for``, unknown gaps, hold-down, re-alert;
and the template lines the watch knows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from bot.checklist.parser import load_template
from bot.core.config import AppConfig, PrometheusRule
from bot.watch.lines import find_trigger, immediate_triggers, unwatched_lines, watchable_lines
from bot.watch.rules import BREACHED, HEALTHY, UNKNOWN, Prior, Reading, evaluate, status_of

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ROLLBACK = PrometheusRule.model_validate(
    {"name": "e", "query": "q", "healthy": "< 0.01", "for": "5m", "action": "rollback"}
)


def run(readings: list[Reading | float]) -> list[tuple[str, bool, bool]]:
    """Feed readings 1 min apart; (status, fire, recover) per step, carrying the state along."""
    out = []
    prior = Prior()
    for n, raw in enumerate(readings):
        reading = Reading.of(raw) if isinstance(raw, float) else raw
        now = T0 + timedelta(minutes=n)
        step = evaluate(ROLLBACK, reading, prior, now=now, recover_seconds=120)
        fired = prior.alert_open or step.fire
        prior = Prior(
            status=step.status,
            breached_since=step.breached_since,
            healthy_since=step.healthy_since,
            alert_open=fired and not step.recover,
            realerted=prior.realerted or step.realert,
        )
        out.append((step.status, step.fire, step.recover))
    return out


def test_unknown_is_never_healthy() -> None:
    assert status_of(ROLLBACK, Reading.failed("no data")) == UNKNOWN
    assert status_of(ROLLBACK, Reading.of(float("nan"))) == UNKNOWN
    assert status_of(ROLLBACK, Reading.of(0.001)) == HEALTHY
    assert status_of(ROLLBACK, Reading.of(0.01)) == BREACHED  # "< 0.01": equal is a breach
    assert status_of(ROLLBACK, Reading.of(float("inf"))) == BREACHED
    assert (
        status_of(ROLLBACK, Reading.of(float("-inf"))) == UNKNOWN
    )  # below "< 0.01", yet no number
    lower = PrometheusRule(name="ok", query="q", healthy="> 0.99")
    assert status_of(lower, Reading.of(float("inf"))) == UNKNOWN  # e.g. a ratio over zero orders


def test_breach_fires_once_after_holding_for_its_window() -> None:
    steps = run([0.02] * 8)
    assert [fire for _, fire, _ in steps] == [False] * 5 + [True, False, False]


def test_a_healthy_reading_resets_the_window_and_an_unknown_gap_does_not() -> None:
    reset = run([0.02, 0.02, 0.02, 0.001, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02])
    assert [fire for _, fire, _ in reset].index(True) == 9
    gap = run([0.02, 0.02, Reading.failed("no data"), 0.02, 0.02, 0.02])
    assert gap[2][0] == UNKNOWN
    assert [fire for _, fire, _ in gap].index(True) == 5


def test_recovery_needs_the_hold_down_and_a_flap_restarts_it() -> None:
    steps = run([0.02] * 6 + [0.001, 0.02, 0.001, 0.001, 0.001])
    recovered = [n for n, (_, _, rec) in enumerate(steps) if rec]
    assert recovered == [10]  # healthy from minute 8, recovered 2 min later; one alert only
    assert sum(fire for _, fire, _ in steps) == 1


def test_unknown_readings_during_recovery_do_not_count_as_healthy_time() -> None:
    gap = Reading.failed("query failed: no answer within 5 s")
    steps = run([0.02] * 6 + [0.001, gap, gap, gap, 0.001, 0.001, 0.001])
    recovered = [n for n, (_, _, rec) in enumerate(steps) if rec]
    # Healthy at minute 6, unknown 7-9: the hold-down restarts at minute 10 and ends at 12.
    assert recovered == [12]


def test_downtime_is_not_healthy_time_the_hold_down_starts_over_after_a_restart() -> None:
    open_alert = Prior(status=HEALTHY, breached_since=None, healthy_since=T0, alert_open=True)
    later = T0 + timedelta(minutes=10)
    assert evaluate(ROLLBACK, Reading.of(0.001), open_alert, now=later, recover_seconds=120).recover
    after_restart = evaluate(
        ROLLBACK, Reading.of(0.001), open_alert, now=later, recover_seconds=120, unobserved_gap=True
    )
    assert not after_restart.recover and after_restart.healthy_since == later


@pytest.mark.parametrize(
    ("healthy", "realert", "ok"),
    [
        ("< 0.01", ">= 0.05", True),
        ("< 0.01", "> 0.01", True),
        ("< 0.01", "< 0.05", False),  # on the healthy side: would re-post @here at once
        ("< 0.01", ">= 0.005", False),  # below the threshold
        ("> 0.99", "<= 0.9", True),
        ("> 0.99", ">= 0.995", False),
    ],
)
def test_the_second_level_must_be_past_the_threshold(healthy: str, realert: str, ok: bool) -> None:
    rule = {"name": "e", "query": "q", "healthy": healthy, "realert": realert}
    if ok:
        assert PrometheusRule.model_validate(rule).realert == realert
    else:
        with pytest.raises(ValidationError, match="is not past healthy"):
            PrometheusRule.model_validate(rule)


def test_two_rules_with_one_name_are_a_config_error() -> None:
    rule = {"query": "q", "healthy": "< 1"}
    with pytest.raises(ValidationError, match='rules 1 and 3 are both named "Error rate"'):
        AppConfig.model_validate(
            {
                "prometheus": {
                    "rules": [
                        {"name": "error rate", **rule},
                        {"name": "p95", **rule},
                        {"name": "Error rate", **rule},
                    ]
                }
            }
        )


def test_realert_only_past_the_second_level_and_once() -> None:
    prior = Prior(status=BREACHED, breached_since=T0, alert_open=True)
    assert not evaluate(ROLLBACK, Reading.of(0.015), prior, now=T0, recover_seconds=60).realert
    assert evaluate(ROLLBACK, Reading.of(0.02), prior, now=T0, recover_seconds=60).realert
    again = Prior(status=BREACHED, breached_since=T0, alert_open=True, realerted=True)
    assert not evaluate(ROLLBACK, Reading.of(0.5), again, now=T0, recover_seconds=60).realert


def test_gate_rules_never_fire() -> None:
    gate = PrometheusRule(name="g", query="q", healthy="> 0.99")
    assert not evaluate(gate, Reading.of(0.5), Prior(), now=T0, recover_seconds=60).fire


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("healthy", "=< 0.1", "not a comparison"),
        ("for", "5 minutes", "not a Prometheus duration"),
        ("action", "page", "'gate' or 'rollback'"),
        ("fro", "5m", "Extra inputs are not permitted"),
    ],
)
def test_bad_rules_are_refused_with_what_is_wrong(field: str, value: str, message: str) -> None:
    rule = {"name": "Error rate < 0.1%", "query": "q", "healthy": "< 0.001", field: value}
    with pytest.raises(ValidationError, match=message):
        AppConfig.model_validate({"prometheus": {"rules": [rule]}})


def test_the_template_lines_watched_and_the_immediate_triggers() -> None:
    template = load_template()
    lines = watchable_lines(template)
    assert lines[:3] == [
        "Order success rate > 99%",
        "API latency < 100ms (p95)",
        "Error rate < 0.1%",
    ]
    assert "Memory usage > 90% sustained" in lines and "Reconciliation failures" in lines
    assert "Unrecoverable errors > 1%" not in lines  # an immediate trigger, reported by hand
    rules = [PrometheusRule(name="error rate < 0.1%", query="q", healthy="< 0.001")]
    assert "Error rate < 0.1%" not in unwatched_lines(template, rules)
    assert [t.slug for t in immediate_triggers(template)][0] == "data-corruption-detected"
    found = find_trigger(template, "data-corruption")
    assert found is not None and found.text == "Data corruption detected"
