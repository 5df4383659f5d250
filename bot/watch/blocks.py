"""Pure Block Kit builders of the metric watch: the alert (updated in place), recovery, /launch
metrics, /launch trigger's list and confirmation, and the card's metrics line."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.config import PrometheusRule
from bot.core.ids import ActionId
from bot.core.kit import (
    Block,
    MessageView,
    context_block,
    header_block,
    mention,
    notice,
    plain_text,
    section_block,
    slack_date,
)
from bot.core.mrkdwn import escape
from bot.watch.lines import Trigger
from bot.watch.payloads import AlertValue, TriggerValue
from bot.watch.rules import BREACHED, HEALTHY, UNKNOWN, Reading, status_of
from bot.watch.state import UNWATCHED, WATCHED_TRIGGER, AlertView, RuleStateView


def number(value: float | None) -> str:
    if value is None:
        return "—"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.4g}"


def held_for(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return f"{int(seconds)} s"
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def state_text(status: str, *, value: float | None, reason: str | None, seconds: float) -> str:
    """healthy / breached for 3 min / unknown: no data — the words used everywhere."""
    if status == HEALTHY:
        return "✅ healthy"
    if status == BREACHED:
        return f"🔴 breached for {held_for(seconds)}"
    why = reason or ("not a finite number" if value is not None else "no reading")
    return f"❓ unknown: {escape(why)}"


# ---------------------------------------------------------------------------------------------------
# The alert


def _buttons(view: AlertView) -> Block:
    value = AlertValue(alert_id=view.id).encode()
    return {
        "type": "actions",
        "block_id": f"launch-metric-alert-{view.id}",
        "elements": [
            {
                "type": "button",
                "action_id": ActionId.METRIC_ROLLBACK,
                "text": plain_text("Roll back", 75),
                "style": "danger",
                "value": value,
                "confirm": {
                    "title": plain_text("Roll back one step?", 100),
                    "text": plain_text(
                        "Exactly /launch rollback: live traffic goes back one go-live step "
                        "(traffic webhook first), and the channel is told.",
                        300,
                    ),
                    "confirm": plain_text("Roll back", 30),
                    "deny": plain_text("Cancel", 30),
                    "style": "danger",
                },
            },
            {
                "type": "button",
                "action_id": ActionId.METRIC_HOLD,
                "text": plain_text("Hold", 75),
                "value": value,
                "confirm": {
                    "title": plain_text("Hold the rollout?", 100),
                    "text": plain_text(
                        "Exactly /launch hold: the go-live sequence pauses and its soak clock "
                        "stops until /launch resume.",
                        300,
                    ),
                    "confirm": plain_text("Hold", 30),
                    "deny": plain_text("Cancel", 30),
                },
            },
            {
                "type": "button",
                "action_id": ActionId.METRIC_ACK,
                "text": plain_text("Acknowledge", 75),
                "style": "primary",
                "value": value,
            },
        ],
    }


def alert_message(view: AlertView, *, loud: bool) -> MessageView:
    """One episode's message: first post (and a re-alert) with ``@here``; updated in place with
    the value, how long it has held, the worst value, who acknowledged and what was done."""
    here = "<!here> " if loud else ""
    immediate = view.source == WATCHED_TRIGGER
    if view.source == "trigger":
        head = f"🚨 {here}*Immediate rollback trigger reported: {escape(view.name)}*"
        body = (
            f"Reported by {mention(view.reported_by_id, view.reported_by_name)} "
            f"{slack_date(view.opened_at)}. *Immediate rollback is recommended.*"
        )
        lines = [head, body, _page_line(view)]
    else:
        seconds = (view.evaluated_at - view.breached_since).total_seconds()
        worse = " — *worse, past its second level*" if view.realerted_at else ""
        if view.status == "recovered":
            lines = [f"✅ *Recovered: {escape(view.name)}*"]
        elif view.status == UNWATCHED:
            lines = [
                f"⚪ *No longer watched: {escape(view.name)}*",
                f"The rule left the config (restart {slack_date(view.evaluated_at)}): nothing "
                "evaluates it any more, and nothing confirmed a recovery.",
            ]
        elif immediate:
            lines = [
                f"🚨 {here}*Immediate rollback trigger breached: {escape(view.name)}*{worse}",
                "*Immediate rollback is recommended.*",
            ]
        else:
            lines = [f"🔴 {here}*Rollback rule breached: {escape(view.name)}*{worse}"]
        threshold = f"healthy is `{escape(view.threshold or '')}`"
        if view.value is None:
            # Unknown is never healthy, nor a measured breach: say the metric cannot be read.
            lines.append(
                f"❓ Value now *unknown: {escape(view.unknown or 'no reading')}* "
                f"(as of {slack_date(view.evaluated_at)}) · {threshold} · "
                f"breached since {slack_date(view.breached_since)} · worst {number(view.worst)}"
            )
        else:
            lines.append(
                f"Value *{number(view.value)}* · {threshold} · "
                f"breached for {held_for(seconds)} (since {slack_date(view.breached_since)}) · "
                f"worst {number(view.worst)}"
            )
        if view.recovered_at is not None:
            lines.append(f"Recovered {slack_date(view.recovered_at)}")
        lines.append(f"Query: `{escape(view.query or '')}`")
        if immediate:
            lines.append(_page_line(view))
    if view.acknowledged_by_id:
        lines.append(
            f"👀 Acknowledged by {mention(view.acknowledged_by_id, view.acknowledged_by_name)}"
        )
    if view.last_action:
        lines.append(view.last_action)  # built by the listener, user text escaped there
    blocks: list[Block] = [section_block("\n".join(lines))]
    if view.open:
        blocks.append(_buttons(view))
    text = (
        f"{here}Immediate rollback trigger: {escape(view.name)}"
        if view.source == "trigger"
        else f"{here}Metric alert: {escape(view.name)} ({view.status})"
    )
    return MessageView(text=text, blocks=blocks)


def _page_line(view: AlertView) -> str:
    """Where the critical page of an immediate trigger stands: never "paged" before PagerDuty said so."""
    return {
        "sent": "PagerDuty paged (critical)",
        "failed": "⚠️ PagerDuty page FAILED: call the on-call",
        "skipped": "PagerDuty not configured: call the on-call",
        "unknown": "⚠️ PagerDuty page UNKNOWN: no answer, it may or may not have paged — call the "
        "on-call",
    }.get(view.page_status or "", "paging PagerDuty (critical)…")


def render_alert(message: Any, *, launch_closed_at: datetime | None) -> MessageView:
    """The publisher's renderer for ``metric_alert``: the snapshot stored in the message's body.
    Once the launch is closed nothing watches the rule any more: an alert still open says so and
    loses its buttons (they would only answer "no active launch")."""
    body = message.body or {}
    view = AlertView.model_validate(body["alert"])
    shown = alert_message(view, loud=bool(body.get("loud")))
    if launch_closed_at is None or not view.open:
        return shown
    closed = (
        f"🔒 The launch was closed {slack_date(launch_closed_at)} with this alert open: it is no "
        "longer watched, and nothing confirmed a recovery."
    )
    return MessageView(text=shown.text, blocks=[*shown.blocks[:-1], section_block(closed)])


def recovered(view: AlertView) -> MessageView:
    return notice(
        f"✅ *{escape(view.name)}* recovered: {number(view.value)} "
        f"(healthy is `{escape(view.threshold or '')}`); worst was {number(view.worst)}."
    )


# ---------------------------------------------------------------------------------------------------
# /launch metrics


@dataclass(frozen=True)
class RuleRow:
    rule: PrometheusRule
    reading: Reading
    # When the current breach began, as last stored for this launch (None: not breached or never
    # evaluated during the sequence).
    breached_since: datetime | None = None


def metrics_view(
    rows: Sequence[RuleRow], *, unwatched: Sequence[str], now: datetime, configured: bool
) -> MessageView:
    blocks: list[Block] = [header_block("Metrics")]
    if not configured:
        blocks.append(section_block("Prometheus is not configured: `[prometheus] url` is unset."))
    lines = []
    for row in rows:
        status = status_of(row.rule, row.reading)
        seconds = (now - row.breached_since).total_seconds() if row.breached_since else 0.0
        lines.append(
            f"• *{escape(row.rule.name)}* ({row.rule.action}"
            + (f", for {row.rule.for_}" if row.rule.for_seconds else "")
            + f"): {number(row.reading.value)} · healthy is `{escape(row.rule.healthy)}` · "
            + state_text(
                status, value=row.reading.value, reason=row.reading.unknown, seconds=seconds
            )
        )
    if not lines:
        lines.append("No `[[prometheus.rules]]` are configured.")
    blocks.append(section_block("\n".join(lines)))
    if unwatched:
        blocks.append(
            section_block(
                "*Not watched* (no rule names these template lines):\n"
                + "\n".join(f"• {escape(x)}" for x in unwatched)
            )
        )
    blocks.append(
        context_block(f"Queried {slack_date(now)} · gate rules must be healthy to advance")
    )
    return MessageView(text="Metrics", blocks=blocks)


# ---------------------------------------------------------------------------------------------------
# /launch trigger


def trigger_list(triggers: Sequence[Trigger]) -> MessageView:
    if not triggers:
        return notice("The checklist template has no *Immediate Rollback Triggers*.")
    listed = "\n".join(f"• `{t.slug}` — {escape(t.text)}" for t in triggers)
    return notice(
        f"*Immediate rollback triggers* (`/launch trigger &lt;name&gt;` reports one):\n{listed}"
    )


def trigger_confirm(trigger: Trigger) -> MessageView:
    text = (
        f"Report *{escape(trigger.text)}*? The channel gets a red alert recommending immediate "
        "rollback and PagerDuty is paged as critical."
    )
    return MessageView(
        text=text,
        blocks=[
            section_block(text),
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": ActionId.TRIGGER_REPORT,
                        "text": plain_text("Report it", 75),
                        "style": "danger",
                        "value": TriggerValue(slug=trigger.slug).encode(),
                        "confirm": {
                            "title": plain_text("Report this trigger?", 100),
                            "text": plain_text(
                                f"“{trigger.text}”: red alert here and a critical page.", 300
                            ),
                            "confirm": plain_text("Report", 30),
                            "deny": plain_text("Cancel", 30),
                            "style": "danger",
                        },
                    }
                ],
            },
        ],
    )


# ---------------------------------------------------------------------------------------------------
# The card and /launch status


def card_line(
    states: Sequence[RuleStateView], *, configured: Sequence[str] = (), on_card: bool = False
) -> str | None:
    """ "📈 Metrics: 3 healthy · Error rate < 0.1% breached for 3 min · p95 unknown: no data".
    ``configured``: the rules the config watches; one not evaluated for this launch yet (added
    since the last evaluation) counts as unknown, never as healthy. ``on_card``: the card stays
    in the channel, so a breach reads "since <time>" (true however long it stays up) instead of a
    duration frozen at the last render."""
    if not states:
        return None
    evaluated = {s.rule for s in states}
    missing = [name for name in configured if name not in evaluated]
    healthy = sum(1 for s in states if s.status == HEALTHY)
    parts = [f"*Metrics:* {healthy}/{len(states) + len(missing)} healthy"]
    for s in states:
        if s.status == HEALTHY:
            continue
        if on_card and s.status == BREACHED and s.breached_since is not None:
            words = f"🔴 breached since {slack_date(s.breached_since)}"
        else:
            words = state_text(s.status, value=s.value, reason=s.reason, seconds=s.breached_for())
        value = f" ({number(s.value)})" if s.value is not None else ""
        parts.append(f"*{escape(s.rule)}* {words}{value}")
    unknown = state_text(UNKNOWN, value=None, reason="not evaluated yet", seconds=0)
    parts.extend(f"*{escape(name)}* {unknown}" for name in missing)
    return "📈 " + " · ".join(parts)
