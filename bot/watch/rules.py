"""What a Prometheus reading means for a rule: healthy, breached or unknown, and the episode's next
step (fire after ``for``, re-alert past the second level, recover after the hold-down). Pure: no I/O.

Semantics (README, "Metric watch"): the condition is evaluated at every ``interval_seconds``; a
breach fires once it has been true at every evaluation across ``for`` (a healthy reading resets it,
an unknown one resets nothing); an open alert recovers once healthy at every evaluation across
``[prometheus].recover_after`` (an unknown reading restarts that hold-down: it is not healthy); it is posted again (``@here``) once, if the value goes past the
rule's second level (``realert``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime

from bot.core.config import PrometheusRule, parse_comparison

HEALTHY = "healthy"
BREACHED = "breached"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Reading:
    """One instant query's answer: a number, or why there is none (``unknown``)."""

    value: float | None = None
    unknown: str | None = None

    @classmethod
    def of(cls, value: float) -> Reading:
        if math.isnan(value):
            return cls(unknown="not a number (NaN)")
        return cls(value=value)

    @classmethod
    def failed(cls, reason: str) -> Reading:
        return cls(unknown=reason)


def _holds(op: str, value: float, threshold: float) -> bool:
    if op == "<":
        return value < threshold
    if op == "<=":
        return value <= threshold
    if op == ">":
        return value > threshold
    return value >= threshold


def status_of(rule: PrometheusRule, reading: Reading) -> str:
    """Unknown is never healthy: no number, no verdict."""
    if reading.value is None:
        return UNKNOWN
    op, threshold = parse_comparison(rule.healthy)
    if not _holds(op, reading.value, threshold):
        return BREACHED  # +Inf past an upper bound is a breach, as in Prometheus
    # ±Inf (a ratio over zero requests, a quantile past the last bucket) measures nothing healthy.
    return HEALTHY if math.isfinite(reading.value) else UNKNOWN


def realert_level(rule: PrometheusRule) -> tuple[str, float] | None:
    """The second level: ``realert`` if set; for an upper bound ("< T") twice the threshold."""
    if rule.realert is not None:
        return parse_comparison(rule.realert)
    op, threshold = parse_comparison(rule.healthy)
    if op in ("<", "<=") and threshold > 0:
        return (">=", 2 * threshold)
    return None


def past_realert(rule: PrometheusRule, value: float) -> bool:
    level = realert_level(rule)
    return level is not None and _holds(level[0], value, level[1])


def worse(rule: PrometheusRule, value: float, than: float | None) -> bool:
    """Further from healthy: higher for an upper bound, lower for a lower bound."""
    if than is None:
        return True
    op, _ = parse_comparison(rule.healthy)
    return value > than if op in ("<", "<=") else value < than


@dataclass(frozen=True)
class Prior:
    """What the last evaluation left (``MetricRuleState``) and whether an alert is open."""

    status: str | None = None
    breached_since: datetime | None = None
    healthy_since: datetime | None = None
    alert_open: bool = False
    realerted: bool = False


@dataclass(frozen=True)
class Transition:
    status: str
    breached_since: datetime | None
    healthy_since: datetime | None
    fire: bool = False
    realert: bool = False
    recover: bool = False

    def changed_from(self, prior: Prior) -> bool:
        return self.status != prior.status


def evaluate(
    rule: PrometheusRule,
    reading: Reading,
    prior: Prior,
    *,
    now: datetime,
    recover_seconds: float,
    unobserved_gap: bool = False,
) -> Transition:
    """The rule's next state. Only rollback rules fire; gate rules only change state.
    ``unobserved_gap``: nothing evaluated the rule since ``prior`` (the bot was down), and time
    nobody observed is not healthy time: the recovery hold-down starts over."""
    status = status_of(rule, reading)
    if unobserved_gap:
        prior = replace(prior, healthy_since=None)
    if status == BREACHED:
        breached_since = prior.breached_since or now
    elif status == HEALTHY:
        breached_since = None
    else:  # an unknown gap neither confirms nor resets a breach
        breached_since = prior.breached_since
    if not prior.alert_open:
        held = breached_since is not None and (now - breached_since).total_seconds()
        fire = (
            rule.action == "rollback"
            and status == BREACHED
            and held is not False
            and held >= rule.for_seconds
        )
        return Transition(status, breached_since, None, fire=fire)
    if status == BREACHED:
        assert reading.value is not None
        again = not prior.realerted and past_realert(rule, reading.value)
        return Transition(status, breached_since, None, realert=again)
    if status == HEALTHY:
        healthy_since = prior.healthy_since or now
        recover = (now - healthy_since).total_seconds() >= recover_seconds
        return Transition(status, None, healthy_since, recover=recover)
    # Unknown is never healthy: a gap restarts the recovery hold-down (it is not time healthy).
    return Transition(status, breached_since, None)
