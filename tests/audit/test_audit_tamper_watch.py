"""`audit verify` sees the escalation level pings, the metric alerts and the rules' states too: a field
of theirs edited with SQL behind the bot's back is named (table, row, field, what the log says), exit
1, and the export says the launch is not verified."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, update
from sqlalchemy.sql import Executable

from bot.checklist.template import ChecklistTemplate
from bot.core.config import GoLiveConfig, PrometheusConfig
from bot.core.ids import ActionId
from bot.core.models import EscalationLevelPing, MetricAlert, MetricRuleState
from bot.runtime import running_bot
from bot.standin import SlackStandIn
from bot.standin.outside import FakePagerDuty
from bot.standin.prometheus import FakePrometheus
from tests.audit.tamper import Copy, edited_and_named, record, sql, verdict
from tests.audit.test_audit import as_an_old_log
from tests.conftest import (
    BOT_TOKEN,
    ROUTING_KEY,
    SIGNING_SECRET,
    USERS,
    FakeClock,
    base_config,
    create_schema,
    drop_copy,
    make_settings,
    new_database,
    on_own_loop,
)
from tests.incidents.test_incidents import (
    TRADING_LEAD,
    escalation_message,
    eventually,
    incident_config,
    posted_levels,
    wait_for,
)
from tests.incidents.test_incidents import click as press
from tests.warroom import WarRoom
from tests.watch.conftest import ROLLBACK_ERRORS, seed_rules
from tests.watch.test_watch import ALICE, CTO, alerts, live, tick

pytestmark = pytest.mark.xdist_group("audit-tamper-watch")

RULE = "Error rate > 1% for 5 minutes"
FORGED_AT = datetime(2020, 1, 1, 12, 0, tzinfo=UTC)


async def watched(room: WarRoom, clock: FakeClock, prometheus: FakePrometheus) -> None:
    """A launch whose rollback rule breached (alert #1: acknowledged, held from its button, re-posted
    worse, recovered), whose trigger was reported (alert #2, paged), and whose escalation climbed
    one level before it was acknowledged."""
    await live(room, prometheus)
    prometheus.set(ROLLBACK_ERRORS, 0.015)
    await tick(room, clock)
    await tick(room, clock, minutes=5)
    [alert] = alerts(room)
    await press(room, ALICE, alert, ActionId.METRIC_ACK)
    await press(room, CTO, alert, ActionId.METRIC_HOLD)
    prometheus.set(ROLLBACK_ERRORS, 0.03)
    await tick(room, clock)
    prometheus.set(ROLLBACK_ERRORS, 0.002)
    await tick(room, clock)
    await tick(room, clock, minutes=2)
    await room.command(ALICE, "trigger data-corruption")
    confirm = [e for e in room.slack.ephemerals if e.user == ALICE][-1]
    body, headers = room.slack.ephemeral_button_click(
        user_id=ALICE, ephemeral_ts=confirm.ts, action_id=ActionId.TRIGGER_REPORT
    )
    await room.deliver(body, headers)
    await room.settle()
    await room.command(ALICE, "escalate sev1 order gateway rejecting all orders")
    message = escalation_message(room)
    clock.advance(minutes=5, seconds=1)
    await wait_for(lambda: room.slack.thread(room.channel, message.ts) != [], "level 2 ping")
    await eventually(lambda: posted_levels(room), [(0, True), (1, True)])
    await press(
        room, TRADING_LEAD, room.slack.message(room.channel, message.ts), ActionId.ESCALATION_ACK
    )
    await room.settle()


async def a_watched_launch(url: str, template: ChecklistTemplate) -> None:
    """``watched`` through the real bolt app against the Slack stand-in, Prometheus and PagerDuty,
    on the database at ``url``; everything is stopped and disconnected when it returns."""
    await create_schema(url)
    async with AsyncExitStack() as stack:
        slack = SlackStandIn(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET)
        for user_id, (name, real_name) in USERS.items():
            slack.add_user(user_id, name, real_name)
        pagerduty = FakePagerDuty(routing_key=ROUTING_KEY)
        prometheus = FakePrometheus(hang_seconds=2.0)
        for server in (slack, pagerduty, prometheus):
            await server.start()
            stack.push_async_callback(server.stop)
        config = incident_config(
            base_config(), pagerduty_url=pagerduty.url, killswitch_url="http://127.0.0.1:9/kill"
        )
        config = config.model_copy(
            update={
                "golive": GoLiveConfig(allowed_roles=["devops_lead", "cto"]),
                "prometheus": PrometheusConfig(
                    url=prometheus.url,
                    interval_seconds=15,
                    timeout_seconds=1.0,
                    recover_after="1m",
                    rules=seed_rules(),
                ),
            }
        )
        clock = FakeClock()
        settings = make_settings(database_url=url, api_url=slack.base_url)
        bot = await stack.enter_async_context(
            running_bot(settings, config=config, template=template, clock=clock)
        )
        await watched(WarRoom(slack=slack, bot=bot), clock, prometheus)


@pytest.fixture(scope="module")
def lifecycle(
    backend: str, tmp_path_factory: pytest.TempPathFactory, template: ChecklistTemplate
) -> Iterator[str]:
    """The URL of the database as the bot left it after ``watched``, built once per database kind
    and copied for each test (tests/audit/conftest.py)."""
    url = on_own_loop(new_database(backend, tmp_path_factory.mktemp("watched")))
    try:
        on_own_loop(a_watched_launch(url, template))
        yield url
    finally:
        on_own_loop(drop_copy(url))


async def test_an_untampered_watched_launch_verifies(
    copy: Copy, cli: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = await verdict(cli, capsys)
    assert code == 0, out
    assert "could not be checked" not in out
    exported = await record(copy)
    assert exported["chain"]["verified"] is True and exported["chain"]["unchecked"] == []
    kinds = {e["kind"] for e in exported["events"]}
    assert {
        "metric_state_changed",
        "metric_alert_fired",
        "metric_alert_acknowledged",
        "metric_alert_action",
        "metric_alert_realerted",
        "metric_alert_recovered",
        "rollback_trigger_reported",
        "escalation_level_due",
        "escalation_level_pinged",
    } <= kinds


def _rule() -> Any:
    return MetricRuleState.rule == RULE


def _level(level: int) -> Any:
    return EscalationLevelPing.level == level


# (what was edited, the SQL, table, field, what the log says — None: only named)
Tampering = tuple[str, Callable[[], list[Executable]], str, str, Any]
TAMPERINGS: list[Tampering] = [
    (
        "level ping never posted",
        lambda: [update(EscalationLevelPing).where(_level(1)).values(posted_at=None, ts=None)],
        "escalation_level_ping",
        "posted_at",
        None,
    ),
    (
        "level ping tries",
        lambda: [update(EscalationLevelPing).where(_level(1)).values(attempts=3)],
        "escalation_level_ping",
        "attempts",
        1,
    ),
    (
        "level ping due time",
        lambda: [update(EscalationLevelPing).where(_level(1)).values(due_at=FORGED_AT)],
        "escalation_level_ping",
        "due_at",
        None,
    ),
    (
        "level 0 ping error",
        lambda: [
            update(EscalationLevelPing).where(_level(0)).values(last_error="channel_not_found")
        ],
        "escalation_level_ping",
        "last_error",
        None,
    ),
    (
        "level ping deleted",
        lambda: [delete(EscalationLevelPing).where(_level(1))],
        "escalation_level_ping",
        "(row)",
        None,
    ),
    (
        "alert acknowledged by",
        lambda: [update(MetricAlert).where(MetricAlert.id == 1).values(acknowledged_by_id=CTO)],
        "metric_alert",
        "acknowledged_by_id",
        ALICE,
    ),
    (
        "alert button's action",
        lambda: [update(MetricAlert).where(MetricAlert.id == 1).values(last_action=None)],
        "metric_alert",
        "last_action",
        f"⏸️ Held by <@{CTO}>",
    ),
    (
        "alert worst value",
        lambda: [update(MetricAlert).where(MetricAlert.id == 1).values(worst=0.011)],
        "metric_alert",
        "worst",
        0.03,
    ),
    (
        "alert never recovered",
        lambda: [
            update(MetricAlert)
            .where(MetricAlert.id == 1)
            .values(status="firing", recovered_at=None)
        ],
        "metric_alert",
        "status",
        "recovered",
    ),
    (
        "alert threshold",
        lambda: [update(MetricAlert).where(MetricAlert.id == 1).values(threshold="< 0.5")],
        "metric_alert",
        "threshold",
        "< 0.01",
    ),
    (
        "trigger reporter",
        lambda: [update(MetricAlert).where(MetricAlert.id == 2).values(reported_by_id=CTO)],
        "metric_alert",
        "reported_by_id",
        ALICE,
    ),
    (
        "trigger page status",
        lambda: [update(MetricAlert).where(MetricAlert.id == 2).values(page_status="pending")],
        "metric_alert",
        "page_status",
        "sent",
    ),
    (
        "alert deleted",
        lambda: [delete(MetricAlert).where(MetricAlert.id == 2)],
        "metric_alert",
        "(row)",
        None,
    ),
    (
        "rule status",
        lambda: [update(MetricRuleState).where(_rule()).values(status="breached")],
        "metric_rule_state",
        "status",
        "healthy",
    ),
    (
        "rule's open alert",
        lambda: [update(MetricRuleState).where(_rule()).values(alert_id=1)],
        "metric_rule_state",
        "alert_id",
        None,
    ),
    (
        "rule's breach start",
        lambda: [update(MetricRuleState).where(_rule()).values(breached_since=FORGED_AT)],
        "metric_rule_state",
        "breached_since",
        None,
    ),
    (
        "rule's action",
        lambda: [update(MetricRuleState).where(_rule()).values(action="gate")],
        "metric_rule_state",
        "action",
        "rollback",
    ),
    (
        "rule state deleted",
        lambda: [delete(MetricRuleState).where(_rule())],
        "metric_rule_state",
        "(row)",
        None,
    ),
]


@pytest.mark.parametrize(
    ("edit", "table", "field", "logged"),
    [pytest.param(t[1], t[2], t[3], t[4], id=t[0]) for t in TAMPERINGS],
)
async def test_a_watch_or_level_ping_field_edited_behind_the_bots_back_is_named(
    copy: Copy,
    cli: Any,
    capsys: pytest.CaptureFixture[str],
    edit: Callable[[], list[Executable]],
    table: str,
    field: str,
    logged: Any,
) -> None:
    await edited_and_named(copy, cli, capsys, edit(), table, field, logged)


async def test_an_older_log_leaves_the_due_time_and_the_buttons_action_unchecked_and_says_so(
    copy: Copy, cli: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    await as_an_old_log(copy.db)
    code, out = await verdict(cli, capsys)
    assert code == 0, out
    assert "these fields could not be checked, so they are not verified" in out
    assert "last_action not checked: its event was written before the log recorded it" in out
    chain = (await record(copy))["chain"]
    assert chain["verified"] is True and chain["findings"] == []
    unchecked = {(u["table"], u["field"]) for u in chain["unchecked"]}
    assert {("escalation_level_ping", "due_at"), ("metric_alert", "last_action")} <= unchecked
    # What it can check of those rows, it still checks.
    await sql(copy, update(EscalationLevelPing).where(_level(1)).values(attempts=3))
    code, out = await verdict(cli, capsys)
    assert code == 1 and ": attempts is 3 in the database" in out
