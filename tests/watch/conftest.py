"""Metric-watch fixtures: a fake Prometheus (and PagerDuty) the config points at, seed-like rules."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from bot.checklist.template import ChecklistTemplate
from bot.core.config import (
    AppConfig,
    GoLiveConfig,
    PagerDutyConfig,
    PrometheusConfig,
    PrometheusRule,
)
from bot.runtime import RunningBot, running_bot
from bot.standin import SlackStandIn
from bot.standin.outside import FakePagerDuty
from bot.standin.prometheus import FakePrometheus
from tests.conftest import ROUTING_KEY, FakeClock, make_settings

ERRORS = "sum(rate(http_errors_total[1m])) / sum(rate(http_requests_total[1m]))"
SUCCESS = "sum(rate(orders_ok_total[1m])) / sum(rate(orders_total[1m]))"
ROLLBACK_ERRORS = "sum(rate(http_errors_total[5m])) / sum(rate(http_requests_total[5m]))"


def seed_rules() -> list[PrometheusRule]:
    return [
        PrometheusRule(name="Error rate < 0.1%", query=ERRORS, healthy="< 0.001"),
        PrometheusRule(name="Order success rate > 99%", query=SUCCESS, healthy="> 0.99"),
        PrometheusRule.model_validate(
            {
                "name": "Error rate > 1% for 5 minutes",
                "query": ROLLBACK_ERRORS,
                "healthy": "< 0.01",
                "for": "5m",
                "action": "rollback",
            }
        ),
    ]


@pytest.fixture
async def prometheus() -> AsyncIterator[FakePrometheus]:
    fake = FakePrometheus(hang_seconds=2.0)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def extra_rules() -> list[PrometheusRule]:
    """Rules a test adds to the seed's (override with ``@pytest.mark.parametrize``)."""
    return []


@pytest.fixture
def config(
    config: AppConfig,
    prometheus: FakePrometheus,
    pagerduty: FakePagerDuty,
    extra_rules: list[PrometheusRule],
) -> AppConfig:
    return config.model_copy(
        update={
            "golive": GoLiveConfig(allowed_roles=["devops_lead", "cto"]),
            "prometheus": PrometheusConfig(
                url=prometheus.url,
                # The tests evaluate when they choose (``tick``); the scheduler's own loop must
                # not race them with extra evaluations as test time passes.
                interval_seconds=86400,
                timeout_seconds=1.0,
                recover_after="1m",
                rules=seed_rules() + extra_rules,
            ),
            "pagerduty": PagerDutyConfig(
                url=pagerduty.url, routing_key=SecretStr(ROUTING_KEY), backoff_seconds=0
            ),
        }
    )


@pytest.fixture
async def running(
    schema_url: str,
    slack: SlackStandIn,
    config: AppConfig,
    template: ChecklistTemplate,
    clock: FakeClock,
) -> AsyncIterator[RunningBot]:
    settings = make_settings(database_url=schema_url, api_url=slack.base_url)
    async with running_bot(settings, config=config, template=template, clock=clock) as bot_:
        yield bot_
