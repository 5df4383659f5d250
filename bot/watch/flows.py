"""Metric watch flows: evaluate every rule for every watched launch from the scheduler loop, read the
rules when asked (``/launch metrics``, the advance gate), and the people's side of an alert
(acknowledge, an immediate trigger reported and paged).

Prometheus is queried outside any transaction; each launch's evaluations are then stored under its
lock in one transaction, with the notices they cause."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from bot.core.config import PrometheusRule
from bot.core.errors import BadInput, NotFound
from bot.core.events import Actor
from bot.core.http import DeliveryFailed, unanswered_tries
from bot.core.kit import MessageView, fit_escaped
from bot.core.launches import active_launch, lock_launch
from bot.core.models import Launch
from bot.core.mrkdwn import escape
from bot.core.outbox import bump_messages, queue_notice
from bot.core.scheduler import Job
from bot.deps import Deps
from bot.incidents.pagerduty import EscalationClient
from bot.watch import alerts, blocks, state
from bot.watch.lines import Trigger, find_trigger, immediate_triggers, unwatched_lines
from bot.watch.prometheus_client import PrometheusClient
from bot.watch.rules import HEALTHY, UNKNOWN, Reading, status_of

logger = logging.getLogger(__name__)


def _client(deps: Deps) -> PrometheusClient:
    return PrometheusClient(deps.http, deps.config.prometheus)


async def read_rules(deps: Deps) -> list[tuple[PrometheusRule, Reading]]:
    rules = list(deps.config.prometheus.rules)
    readings = await _client(deps).read_all(rules)
    return list(zip(rules, readings, strict=True))


def count_evaluations(deps: Deps, readings: list[tuple[PrometheusRule, Reading]]) -> None:
    """``/metrics``: the scheduled evaluations only (a ``/launch metrics`` look is not one)."""
    for rule, reading in readings:
        result = status_of(rule, reading)
        deps.metrics.inc("launchbot_metric_evaluations_total", rule=rule.name, result=result)
        if result == UNKNOWN:
            deps.metrics.inc("launchbot_metric_unknowns_total", rule=rule.name)


async def gate_problems(deps: Deps) -> list[str]:
    """Gate rules not healthy right now, queried now: named with their value or why unknown."""
    gate = [r for r in deps.config.prometheus.rules if r.action == "gate"]
    if not gate:
        return []
    readings = await _client(deps).read_all(gate)
    problems = []
    for rule, reading in zip(gate, readings, strict=True):
        status = status_of(rule, reading)
        if status == HEALTHY:
            continue
        what = (
            f"unknown: {reading.unknown}"
            if reading.value is None
            else f"{blocks.number(reading.value)}, healthy is {rule.healthy}"
        )
        problems.append(escape(f"{rule.name} ({what})"))  # shown as mrkdwn by the gate
    return problems


# ---------------------------------------------------------------------------------------------------
# The scheduler's job


async def evaluate(deps: Deps, now: datetime, *, watching_since: datetime | None = None) -> int:
    """One evaluation of every rule for every watched launch; returns how many launches.
    ``watching_since``: when this process began evaluating (a rule last evaluated before that was
    not watched while the bot was down)."""
    if not deps.config.prometheus.rules:
        return 0
    async with deps.db.read_sessions() as session:
        launches = [launch.id for launch in await state.watched_launches(session)]
    if not launches:
        return 0
    readings = await read_rules(deps)
    count_evaluations(deps, readings)
    for launch_id in launches:
        to_page = await _evaluate_launch(deps, launch_id, readings, now, watching_since)
        deps.publisher.kick(launch_id)
        for alert_id in to_page:  # committed first: the page follows what the channel is told
            deps.tasks.spawn(page_trigger(deps, alert_id), name=f"page-trigger-{alert_id}")
    return len(launches)


async def _evaluate_launch(
    deps: Deps,
    launch_id: int,
    readings: list[tuple[PrometheusRule, Reading]],
    now: datetime,
    watching_since: datetime | None,
) -> list[int]:
    """Store one launch's evaluations; returns the watched immediate triggers that fired."""
    recover_seconds = deps.config.prometheus.recover_seconds
    immediate = {t.text.strip().lower() for t in immediate_triggers(deps.template)}
    to_page: list[int] = []
    async with deps.db.sessions.begin() as session:
        launch = await lock_launch(session, launch_id)
        if launch.closed_at is not None:
            return []
        card_changed = False
        for rule, reading in readings:
            outcome = await state.apply_reading(
                session=session,
                launch=launch,
                rule=rule,
                reading=reading,
                now=now,
                recover_seconds=recover_seconds,
                watching_since=watching_since,
                immediate=rule.name.strip().lower() in immediate,
            )
            if outcome.to_page is not None:
                to_page.append(outcome.to_page)
            card_changed = card_changed or outcome.changed
            if outcome.fired is not None or outcome.realerted is not None:
                deps.metrics.inc("launchbot_metric_alerts_total", rule=rule.name)
            if outcome.recovered is not None:
                await queue_notice(
                    session=session,
                    launch_id=launch.id,
                    channel_id=launch.channel_id,
                    view=blocks.recovered(outcome.recovered),
                    loud=True,
                )
        if card_changed:
            await bump_messages(session, launch.id, [])
    return to_page


def watch_job(deps: Deps) -> Job:
    """Evaluates every ``[prometheus].interval_seconds`` of the bot's clock, whatever the loop's
    poll interval."""
    started: list[datetime] = []
    last: list[datetime] = []

    async def run(now: datetime) -> None:
        interval = deps.config.prometheus.interval_seconds
        if last and (now - last[-1]).total_seconds() < interval:
            return
        last[:] = [now]
        started[:] = started or [now]  # resume() sets it first when the scheduler starts
        await evaluate(deps, now, watching_since=started[0])

    async def resume(started_at: datetime) -> None:
        started[:] = [started_at]
        await retire_unwatched(deps, started_at)
        await resume_pages(deps, started_at)

    return Job(name="watch", run=run, resume=resume)


async def retire_unwatched(deps: Deps, at: datetime) -> None:
    """Rules the config no longer has (removed or renamed since the last start): their stored
    state leaves the card and status, and an alert they left open is closed as no longer watched
    (recorded), so no message keeps live buttons for a rule nothing evaluates."""
    names = {rule.name for rule in deps.config.prometheus.rules}
    async with deps.db.read_sessions() as session:
        launches = [launch.id for launch in await state.watched_launches(session)]
    for launch_id in launches:
        async with deps.db.sessions.begin() as session:
            launch = await lock_launch(session, launch_id)
            retired = await state.retire_rules(session=session, launch=launch, keep=names, at=at)
            if retired:
                await bump_messages(session, launch.id, [])
        if retired:
            deps.publisher.kick(launch_id)


# ---------------------------------------------------------------------------------------------------
# /launch metrics


async def launch_in(deps: Deps, channel_id: str) -> Launch:
    async with deps.db.read_sessions() as session:
        launch = await active_launch(session=session, channel_id=channel_id)
    if launch is None:
        raise NotFound("There is no active launch in this channel.")
    return launch


async def metrics_now(deps: Deps, launch: Launch | None) -> MessageView:
    readings = await read_rules(deps)
    stored = {}
    if launch is not None:
        async with deps.db.read_sessions() as session:
            loaded = await state.load_rule_states(session=session, launch_id=launch.id)
        stored = {s.rule: s for s in loaded}
    now = deps.clock()
    rows = []
    for rule, reading in readings:
        since = stored[rule.name].breached_since if rule.name in stored else None
        if status_of(rule, reading) == "breached" and since is None:
            since = now
        rows.append(blocks.RuleRow(rule, reading, since if reading.value is not None else None))
    return blocks.metrics_view(
        rows,
        unwatched=unwatched_lines(deps.template, deps.config.prometheus.rules),
        now=now,
        configured=bool(deps.config.prometheus.url),
    )


# ---------------------------------------------------------------------------------------------------
# Immediate rollback triggers


# How much of a name that matches no trigger is echoed back (a 5,000-character paste is not).
NAME_ECHO_MAX = 200


def trigger_named(deps: Deps, name: str) -> Trigger:
    trigger = find_trigger(deps.template, name)
    if trigger is None:
        known = ", ".join(f"`{t.slug}`" for t in immediate_triggers(deps.template))
        raise BadInput(
            f"No immediate rollback trigger is called “{fit_escaped(name, NAME_ECHO_MAX)}”. "
            f"Known: {known}."
        )
    return trigger


async def report_trigger(
    deps: Deps, *, actor: Actor, channel_id: str, slug: str, source: str
) -> int:
    """Record the report and its red alert (one transaction); returns the alert id to page."""
    trigger = trigger_named(deps, slug)
    launch = await launch_in(deps, channel_id)
    async with deps.db.sessions.begin() as session:
        locked = await lock_launch(session, launch.id)
        alert = await alerts.report_trigger(
            session=session,
            launch=locked,
            trigger=trigger,
            actor=actor,
            at=deps.clock(),
            source=source,
        )
        alert_id = alert.id
    deps.metrics.inc("launchbot_metric_alerts_total", rule=trigger.slug)
    deps.publisher.kick(launch.id)
    return alert_id


async def page_trigger(deps: Deps, alert_id: int) -> None:
    """Page PagerDuty (critical) for an immediate trigger, with the alert's own dedup key. Claimed
    first (``sending``); a try that got no answer may have paged, so an unconfirmed page is
    ``unknown``, never "failed" (and never "paged")."""
    async with deps.db.read_sessions() as session:
        alert = await state.load_alert(session=session, alert_id=alert_id)
        launch = await session.get(Launch, alert.launch_id)
    assert launch is not None
    async with deps.db.sessions.begin() as session:
        locked = await lock_launch(session, launch.id)
        if not await alerts.claim_page(
            session=session, launch=locked, alert_id=alert_id, at=deps.clock()
        ):
            return
    deps.publisher.kick(launch.id)
    client = EscalationClient(deps.http, deps.config.pagerduty)
    detail: dict[str, Any] = {}
    if not client.configured:
        status = "skipped"
    else:
        event = _page_event(deps, alert, launch)
        try:
            delivery = await client.send(event)
        except DeliveryFailed as exc:
            status = "unknown" if exc.may_have_arrived else "failed"
            detail = {
                "http_status": exc.status,
                "error": str(exc),
                "tries": len(exc.attempts),
                "unanswered_tries": unanswered_tries(exc.attempts),
            }
        else:
            status = "sent"
            detail = {"http_status": delivery.status, "tries": len(delivery.attempts)}
    await _record_page(deps, launch.id, alert_id, status, detail)


async def _record_page(
    deps: Deps, launch_id: int, alert_id: int, status: str, detail: dict[str, Any]
) -> None:
    async with deps.db.sessions.begin() as session:
        locked = await lock_launch(session, launch_id)
        await alerts.record_page(
            session=session,
            launch=locked,
            alert_id=alert_id,
            at=deps.clock(),
            status=status,
            detail=detail,
        )
    deps.publisher.kick(launch_id)


async def resume_pages(deps: Deps, started_at: datetime) -> None:
    """Critical pages a stopped process left: one never sent is sent now; one sent without an
    answer is said to be unknown (PagerDuty may have paged), not sent again behind anyone's back."""
    async with deps.db.read_sessions() as session:
        never_sent, unanswered = await alerts.pages_to_resume(session=session, before=started_at)
        launches = {
            alert_id: (await state.load_alert(session=session, alert_id=alert_id)).launch_id
            for alert_id in unanswered
        }
    for alert_id in unanswered:
        detail = {"error": "Launch Control restarted before PagerDuty answered the page"}
        await _record_page(deps, launches[alert_id], alert_id, "unknown", detail)
    for alert_id in never_sent:
        logger.info("resuming the critical page of metric alert #%s", alert_id)
        await page_trigger(deps, alert_id)


def _page_event(deps: Deps, alert: state.AlertView, launch: Launch) -> dict[str, Any]:
    config = deps.config.pagerduty
    assert config.routing_key is not None
    return {
        "routing_key": config.routing_key.get_secret_value(),
        "event_action": "trigger",
        "dedup_key": state.trigger_dedup_key(launch.id, alert.id),
        "payload": {
            "summary": f"[CRITICAL] {launch.name}: immediate rollback trigger: {alert.name}"[:1024],
            "severity": "critical",
            "source": config.source,
            "component": launch.name[:200],
            "group": "launch",
            "class": "immediate rollback trigger",
            "custom_details": {
                "launch": launch.name,
                "launch_id": launch.id,
                "alert_id": alert.id,
                "trigger": alert.name,
                "reported_by": (
                    f"{alert.reported_by_name} ({alert.reported_by_id})"
                    if alert.reported_by_id
                    else "the metric watch"
                ),
                "value": alert.value,
                "healthy": alert.threshold,
                "query": alert.query,
                "slack_channel": launch.channel_id,
            },
        },
        "client": "Launch Control",
    }


# ---------------------------------------------------------------------------------------------------
# The alert's buttons (Roll back and Hold go through bot.golive from the listener)


async def acknowledge(
    deps: Deps, *, actor: Actor, channel_id: str, alert_id: int, source: str
) -> bool:
    launch = await launch_in(deps, channel_id)
    async with deps.db.sessions.begin() as session:
        locked = await lock_launch(session, launch.id)
        alert = await state.load_alert(session=session, alert_id=alert_id)
        state.alert_launch_check(
            alert, locked, what="a metric alert's Acknowledge button", user_id=actor.user_id
        )
        first = await alerts.acknowledge(
            session=session,
            launch=locked,
            alert_id=alert_id,
            actor=actor,
            at=deps.clock(),
            source=source,
        )
    deps.publisher.kick(launch.id)
    return first


async def record_action(
    deps: Deps,
    *,
    actor: Actor,
    channel_id: str,
    alert_id: int,
    action: str,
    shown: str,
    source: str,
) -> None:
    launch = await launch_in(deps, channel_id)
    async with deps.db.sessions.begin() as session:
        locked = await lock_launch(session, launch.id)
        await alerts.record_action(
            session=session,
            launch=locked,
            alert_id=alert_id,
            actor=actor,
            at=deps.clock(),
            action=action,
            shown=shown,
            source=source,
        )
    deps.publisher.kick(launch.id)


async def check_alert(
    deps: Deps, *, channel_id: str, alert_id: int, what: str, user_id: str | None
) -> Launch:
    """The alert belongs to this channel's active launch (a button from elsewhere is refused and
    logged)."""
    launch = await launch_in(deps, channel_id)
    async with deps.db.read_sessions() as session:
        alert = await state.load_alert(session=session, alert_id=alert_id)
    state.alert_launch_check(alert, launch, what=what, user_id=user_id)
    return launch
