"""The metric watch: each alert (a rule's held breach, or a trigger reported by hand) and each rule's
state, replayed from the ``metric_*``, ``rollback_trigger_reported`` and the alerts' page events,
and compared with their rows.

Not covered (readings the log does not describe): a rule's last ``value``, ``reason`` and
``evaluated_at`` (rewritten at every evaluation; an event is written only when its status changes),
and, while an alert fires, its ``value``, ``worst`` and ``evaluated_at`` (updated in place at every
evaluation; fixed, and checked, once it recovered). A rule's ``action`` comes from the config; the
log records it at each status change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit.replay.expected import Expected
from bot.audit.replay.findings import V2_LOG, Mismatch, Unchecked, compare_rows
from bot.audit.replay.state import Replay, as_datetime, as_int, from_detail
from bot.core.events import EventKind
from bot.core.models import Event, MetricAlert, MetricRuleState

BREACHED, HEALTHY = "breached", "healthy"
UNWATCHED = "unwatched"  # bot/watch/state.py: a rule no longer in the config
ALERT_PAGES = {
    EventKind.PAGERDUTY_TRIGGER_SENDING: "sending",
    EventKind.PAGERDUTY_TRIGGER_UNKNOWN: "unknown",
    EventKind.PAGERDUTY_TRIGGER_SENT: "sent",
    EventKind.PAGERDUTY_TRIGGER_FAILED: "failed",
    EventKind.PAGERDUTY_TRIGGER_SKIPPED: "skipped",
}
LIVE = ("value", "worst", "evaluated_at")  # an alert's readings while it fires

# ---------------------------------------------------------------------------------------------------
# Replay


def replay_watch(r: Replay, e: Event, d: Mapping[str, Any]) -> bool:
    """Apply a metric-watch event (or an alert's page); False for an event of another table."""
    kind = e.kind
    if kind == EventKind.METRIC_STATE_CHANGED:
        _state_changed(r, e, d)
    elif kind == EventKind.METRIC_ALERT_FIRED:
        _fired(r, e, d)
    elif kind == EventKind.ROLLBACK_TRIGGER_REPORTED:
        _reported(r, e, d)
    elif kind in ALERT_PAGES and "alert_id" in d and "escalation_id" not in d:
        alert = r.alerts.get(as_int(d.get("alert_id")) or 0)
        if alert is not None:
            alert.fields["page_status"] = ALERT_PAGES[EventKind(kind)]
    elif kind in (
        EventKind.METRIC_ALERT_REALERTED,
        EventKind.METRIC_ALERT_RECOVERED,
        EventKind.METRIC_ALERT_ACKNOWLEDGED,
        EventKind.METRIC_ALERT_ACTION,
        EventKind.METRIC_ALERT_UNWATCHED,
    ):
        _alert_changed(r, e, d)
    else:
        return False
    return True


def _state_changed(r: Replay, e: Event, d: Mapping[str, Any]) -> None:
    """A rule's status changed: when its breach began and, while its alert is open, when the
    hold-down began follow from the changes alone (bot/watch/rules.py ``evaluate``)."""
    name = str(d.get("rule"))
    if d.get("to") == UNWATCHED:  # the rule left the config: its state row is gone
        r.rule_states.pop(name, None)
        return
    row = r.rule_states.get(name)
    if row is None:
        row = r.rule_states[name] = Expected(
            {
                "rule": name,
                "action": d.get("action"),
                "status": None,
                "breached_since": None,
                "healthy_since": None,
                "alert_id": None,
            },
            seq=e.seq,
        )
    f = row.fields
    status = d.get("to")
    f.update(action=d.get("action"), status=status)
    if status == BREACHED:
        f["breached_since"] = f["breached_since"] or e.at
    elif status == HEALTHY:
        f["breached_since"] = None
    alert_open = f["alert_id"] is not None
    if alert_open and status == HEALTHY:
        f["healthy_since"] = f["healthy_since"] or e.at
    elif not alert_open or status == BREACHED:
        f["healthy_since"] = None


def _alert(e: Event, d: Mapping[str, Any], **fields: Any) -> Expected:
    return Expected(
        {
            "name": d.get("name"),
            "query": d.get("query"),
            "threshold": d.get("threshold"),
            "value": d.get("value"),
            "worst": d.get("worst"),
            "breached_since": as_datetime(d.get("breached_since")),
            "opened_at": e.at,
            "evaluated_at": e.at,
            "realerted_at": None,
            "recovered_at": None,
            "acknowledged_by_id": None,
            "acknowledged_by_name": None,
            "acknowledged_at": None,
            "reported_by_id": None,
            "reported_by_name": None,
            "last_action": None,
            "page_dedup_key": None,
            "page_status": None,
            **fields,
        },
        seq=e.seq,
    )


def _fired(r: Replay, e: Event, d: Mapping[str, Any]) -> None:
    alert_id = as_int(d.get("alert_id")) or 0
    # A rule watching an immediate trigger's line ("watched_trigger") is paged with a dedup key.
    dedup_key = d.get("dedup_key")
    r.alerts[alert_id] = _alert(
        e,
        d,
        source=d.get("source") or "rule",
        status="firing",
        page_dedup_key=dedup_key,
        page_status="pending" if dedup_key else None,
    )
    rule = r.rule_states.get(str(d.get("name")))
    if rule is not None:
        rule.fields.update(alert_id=alert_id, healthy_since=None)


def _reported(r: Replay, e: Event, d: Mapping[str, Any]) -> None:
    # (The detail's "source" is the Slack request here, the alert's source is the event's kind.)
    r.alerts[as_int(d.get("alert_id")) or 0] = _alert(
        e,
        d,
        source="trigger",
        status="reported",
        reported_by_id=e.actor_id,
        reported_by_name=e.actor_name,
        page_dedup_key=d.get("dedup_key"),
        page_status="pending",
    )


def _alert_changed(r: Replay, e: Event, d: Mapping[str, Any]) -> None:
    alert = r.alerts.get(as_int(d.get("alert_id")) or 0)
    if alert is None:
        return
    f = alert.fields
    kind = e.kind
    if kind == EventKind.METRIC_ALERT_REALERTED:
        f.update(realerted_at=e.at, value=d.get("value"), worst=d.get("worst"), evaluated_at=e.at)
    elif kind == EventKind.METRIC_ALERT_RECOVERED:
        f.update(
            status="recovered",
            recovered_at=e.at,
            value=d.get("value"),
            worst=d.get("worst"),
            evaluated_at=e.at,
        )
        rule = r.rule_states.get(str(d.get("name")))
        if rule is not None and rule.fields["alert_id"] == as_int(d.get("alert_id")):
            rule.fields.update(alert_id=None, healthy_since=None)
    elif kind == EventKind.METRIC_ALERT_UNWATCHED:
        f.update(status=UNWATCHED, value=d.get("value"), worst=d.get("worst"), evaluated_at=e.at)
    elif kind == EventKind.METRIC_ALERT_ACKNOWLEDGED:
        if f["acknowledged_by_id"] is None:  # the first acknowledgement is the alert's
            f.update(
                acknowledged_by_id=e.actor_id,
                acknowledged_by_name=e.actor_name,
                acknowledged_at=e.at,
            )
    else:  # METRIC_ALERT_ACTION: what the button did, as the alert shows it
        alert.unknown.pop("last_action", None)
        from_detail(alert, d, "last_action", "shown", why=V2_LOG)


# ---------------------------------------------------------------------------------------------------
# Compare


async def compare_watch(
    session: AsyncSession, lid: int, r: Replay
) -> tuple[list[Mismatch], list[Unchecked]]:
    """The launch's metric alerts and rule states against the replay."""
    alert_bad, unchecked = await _compare_alerts(session, lid, r)
    return alert_bad + await _compare_rule_states(session, lid, r), unchecked


async def _compare_alerts(
    session: AsyncSession, lid: int, r: Replay
) -> tuple[list[Mismatch], list[Unchecked]]:
    rows = {
        a.id: a
        for a in (
            await session.scalars(select(MetricAlert).where(MetricAlert.launch_id == lid))
        ).all()
    }
    wanted = {
        alert_id: (
            # While it fires, its readings are rewritten in place without an event.
            Expected({k: v for k, v in want.fields.items() if k not in LIVE}, dict(want.unknown))
            if want.fields["status"] == "firing"
            else want
        )
        for alert_id, want in r.alerts.items()
    }
    return compare_rows("metric_alert", wanted, rows, unexplained="no event opened it")


async def _compare_rule_states(session: AsyncSession, lid: int, r: Replay) -> list[Mismatch]:
    rows = {
        s.rule: s
        for s in (
            await session.scalars(select(MetricRuleState).where(MetricRuleState.launch_id == lid))
        ).all()
    }
    bad, _ = compare_rows(
        "metric_rule_state", r.rule_states, rows, unexplained="no metric_state_changed event"
    )
    return bad
