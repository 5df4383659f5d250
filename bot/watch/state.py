"""The metric watch's stored state: each rule's last evaluation per launch, alert episodes and their
messages (kind ``metric_alert``, rendered from the alert's snapshot in the message body), and the
hash-chained events of every change. The caller holds the launch lock and owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.binding import WRONG_LAUNCH, refuse_unbound
from bot.core.config import PrometheusRule
from bot.core.errors import NotFound
from bot.core.events import SYSTEM, Actor, EventKind, append_event
from bot.core.models import GoLive, Launch, MetricAlert, MetricRuleState, SlackMessage
from bot.watch.rules import BREACHED, HEALTHY, Prior, Reading, Transition, evaluate, worse

ALERT_MESSAGE = "metric_alert"
# ``MetricAlert.source``: "rule" (a rollback rule), "trigger" (an immediate rollback trigger reported
# by hand) or this: a rule watching an immediate rollback trigger's line, paged like a report.
WATCHED_TRIGGER = "watched_trigger"


def trigger_dedup_key(launch_id: int, alert_id: int) -> str:
    """PagerDuty's dedup key of an immediate trigger's page: one incident per alert."""
    return f"launchbot-{launch_id}-trigger-{alert_id}"


class AlertView(BaseModel):
    """An alert as its message shows it (also the message body's snapshot)."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: int
    launch_id: int
    source: str
    name: str
    query: str | None
    threshold: str | None
    value: float | None
    worst: float | None
    breached_since: datetime
    opened_at: datetime
    evaluated_at: datetime
    status: str
    realerted_at: datetime | None
    recovered_at: datetime | None
    acknowledged_by_id: str | None
    acknowledged_by_name: str | None
    acknowledged_at: datetime | None
    reported_by_id: str | None
    reported_by_name: str | None
    last_action: str | None
    page_status: str | None
    # Why the rule's latest reading has no number (``value`` is then None): an open alert whose
    # metric went unknown must say so, never keep showing its last number as if still measured.
    unknown: str | None = None

    @property
    def open(self) -> bool:
        return self.status in ("firing", "reported")


@dataclass(frozen=True)
class RuleStateView:
    rule: str
    action: str
    status: str
    value: float | None
    reason: str | None
    breached_since: datetime | None
    evaluated_at: datetime
    alert_id: int | None

    def breached_for(self) -> float:
        if self.breached_since is None:
            return 0.0
        return (self.evaluated_at - self.breached_since).total_seconds()


@dataclass(frozen=True)
class Outcome:
    """What one evaluation did, for the caller's notices and counters. ``changed``: what the card
    shows of the rule changed (its state, or the value or reason of a rule not healthy)."""

    changed: bool = False
    fired: AlertView | None = None
    realerted: AlertView | None = None
    recovered: AlertView | None = None

    @property
    def to_page(self) -> int | None:
        """A watched immediate trigger that just fired is paged (critical), as a report is."""
        if self.fired is not None and self.fired.source == WATCHED_TRIGGER:
            return self.fired.id
        return None


# ---------------------------------------------------------------------------------------------------
# Read


async def watched_launches(session: AsyncSession) -> list[Launch]:
    """Open launches whose go-live sequence has started: watched during holds and after rollbacks,
    a rollback to step 0 (before shadow) included: an open alert must still follow its metric."""
    rows = await session.scalars(
        select(Launch)
        .join(GoLive, GoLive.launch_id == Launch.id)
        .where(Launch.closed_at.is_(None), GoLive.step_started_at.is_not(None))
        .order_by(Launch.id)
    )
    return list(rows.all())


def _view(row: MetricRuleState) -> RuleStateView:
    return RuleStateView(
        rule=row.rule,
        action=row.action,
        status=row.status,
        value=row.value,
        reason=row.reason,
        breached_since=row.breached_since,
        evaluated_at=row.evaluated_at,
        alert_id=row.alert_id,
    )


async def load_rule_states(*, session: AsyncSession, launch_id: int) -> tuple[RuleStateView, ...]:
    rows = await session.scalars(
        select(MetricRuleState)
        .where(MetricRuleState.launch_id == launch_id)
        .order_by(MetricRuleState.id)
    )
    return tuple(_view(r) for r in rows.all())


async def load_alert(*, session: AsyncSession, alert_id: int) -> AlertView:
    row = await session.get(MetricAlert, alert_id)
    if row is None:
        raise NotFound(f"There is no metric alert #{alert_id}.")
    return AlertView.model_validate(row)


# ---------------------------------------------------------------------------------------------------
# Evaluate


async def _state_row(
    session: AsyncSession, launch_id: int, rule: PrometheusRule
) -> MetricRuleState | None:
    return await session.scalar(
        select(MetricRuleState).where(
            MetricRuleState.launch_id == launch_id, MetricRuleState.rule == rule.name
        )
    )


async def apply_reading(
    *,
    session: AsyncSession,
    launch: Launch,
    rule: PrometheusRule,
    reading: Reading,
    now: datetime,
    recover_seconds: float,
    watching_since: datetime | None = None,
    immediate: bool = False,
) -> Outcome:
    """Store one evaluation; record a state change, open, re-post or recover the alert.
    ``immediate``: the rule watches one of the template's immediate rollback triggers (its alert
    recommends immediate rollback and is paged by the caller, as a trigger reported by hand)."""
    row = await _state_row(session, launch.id, rule)
    alert = await session.get(MetricAlert, row.alert_id) if row and row.alert_id else None
    prior = _prior(row, alert)
    step = evaluate(
        rule,
        reading,
        prior,
        now=now,
        recover_seconds=recover_seconds,
        # Last evaluated by an earlier process: the downtime in between was not observed.
        unobserved_gap=(
            watching_since is not None and row is not None and row.evaluated_at < watching_since
        ),
    )
    shown_changed = row is None or (
        step.status != HEALTHY and (row.value != reading.value or row.reason != reading.unknown)
    )
    if row is None:
        row = MetricRuleState(launch_id=launch.id, rule=rule.name, action=rule.action)
        session.add(row)
    row.action = rule.action
    row.status = step.status
    row.value = reading.value
    row.reason = reading.unknown
    row.breached_since = step.breached_since
    row.healthy_since = step.healthy_since
    row.evaluated_at = now
    changed = step.changed_from(prior)
    if changed:  # recorded; a new value of an unhealthy rule only re-renders the card
        await append_event(
            session=session,
            launch_id=launch.id,
            actor=SYSTEM,
            kind=EventKind.METRIC_STATE_CHANGED,
            at=now,
            detail={
                "rule": rule.name,
                "action": rule.action,
                "from": prior.status,
                "to": step.status,
                "value": reading.value,
                "reason": reading.unknown,
                "healthy": rule.healthy,
            },
        )
    if step.fire:
        alert = await _open_alert(session, launch, rule, reading, step, now, immediate=immediate)
        row.alert_id = alert.id
        await session.flush()
        return Outcome(True, fired=AlertView.model_validate(alert))
    if alert is None or alert.status != "firing":
        await session.flush()
        return Outcome(changed or shown_changed)
    return await _follow_alert(
        session, launch, rule, reading, step, alert, row, now, changed or shown_changed
    )


def _prior(row: MetricRuleState | None, alert: MetricAlert | None) -> Prior:
    """The rule's state as last stored (nothing yet for a rule never evaluated), and its alert's."""
    if row is None:
        return Prior()
    return Prior(
        status=row.status,
        breached_since=row.breached_since,
        healthy_since=row.healthy_since,
        alert_open=alert is not None and alert.status == "firing",
        realerted=alert is not None and alert.realerted_at is not None,
    )


async def _follow_alert(
    session: AsyncSession,
    launch: Launch,
    rule: PrometheusRule,
    reading: Reading,
    step: Transition,
    alert: MetricAlert,
    row: MetricRuleState,
    now: datetime,
    changed: bool,
) -> Outcome:
    """An open episode: update its value, worst and duration in place; re-post or recover it."""
    alert.evaluated_at = now
    alert.value = reading.value  # None while unknown: the message says why (``AlertView.unknown``)
    if (
        reading.value is not None
        and step.status == BREACHED
        and worse(rule, reading.value, alert.worst)
    ):
        alert.worst = reading.value
    outcome = Outcome(changed)
    if step.realert:
        alert.realerted_at = now
        await alert_event(session, launch, EventKind.METRIC_ALERT_REALERTED, alert, now)
        await add_alert_message(session, launch, alert, loud=True)
        outcome = Outcome(changed, realerted=AlertView.model_validate(alert))
    elif step.recover:
        alert.status = "recovered"
        alert.recovered_at = now
        row.alert_id = None
        row.healthy_since = None
        await alert_event(session, launch, EventKind.METRIC_ALERT_RECOVERED, alert, now)
        outcome = Outcome(changed, recovered=AlertView.model_validate(alert))
    await refresh_alert_messages(session, alert)
    return outcome


async def _open_alert(
    session: AsyncSession,
    launch: Launch,
    rule: PrometheusRule,
    reading: Reading,
    step: Transition,
    now: datetime,
    *,
    immediate: bool,
) -> MetricAlert:
    assert step.breached_since is not None
    alert = MetricAlert(
        launch_id=launch.id,
        source=WATCHED_TRIGGER if immediate else "rule",
        name=rule.name,
        query=rule.query,
        threshold=rule.healthy,
        value=reading.value,
        worst=reading.value,
        breached_since=step.breached_since,
        opened_at=now,
        evaluated_at=now,
        status="firing",
    )
    session.add(alert)
    await session.flush()
    extra: dict[str, Any] = {"for": rule.for_}
    if immediate:
        alert.page_status = "pending"
        alert.page_dedup_key = trigger_dedup_key(launch.id, alert.id)
        extra["dedup_key"] = alert.page_dedup_key
    await alert_event(session, launch, EventKind.METRIC_ALERT_FIRED, alert, now, extra)
    await add_alert_message(session, launch, alert, loud=True)
    return alert


async def alert_event(
    session: AsyncSession,
    launch: Launch,
    kind: EventKind,
    alert: MetricAlert,
    at: datetime,
    extra: dict[str, Any] | None = None,
    actor: Actor = SYSTEM,
    dedup_key: str | None = None,
) -> None:
    await append_event(
        session=session,
        launch_id=launch.id,
        actor=actor,
        kind=kind,
        at=at,
        dedup_key=dedup_key,
        detail={
            "alert_id": alert.id,
            "source": alert.source,
            "name": alert.name,
            "value": alert.value,
            "worst": alert.worst,
            "threshold": alert.threshold,
            "query": alert.query,
            "breached_since": alert.breached_since.isoformat(),
            **(extra or {}),
        },
    )


# ---------------------------------------------------------------------------------------------------
# Messages: the snapshot in the body is what the renderer shows (no state loader needed)


def snapshot(alert: MetricAlert, *, loud: bool, unknown: str | None = None) -> dict[str, Any]:
    view = AlertView.model_validate(alert).model_copy(update={"unknown": unknown})
    return {"alert": view.model_dump(mode="json"), "loud": loud}


async def add_alert_message(
    session: AsyncSession, launch: Launch, alert: MetricAlert, *, loud: bool
) -> None:
    last = await session.scalar(
        select(func.max(SlackMessage.part)).where(
            SlackMessage.launch_id == launch.id, SlackMessage.kind == ALERT_MESSAGE
        )
    )
    session.add(
        SlackMessage(
            launch_id=launch.id,
            kind=ALERT_MESSAGE,
            part=(last or 0) + 1,
            channel_id=launch.channel_id,
            subject_id=alert.id,
            body=snapshot(alert, loud=loud),
        )
    )
    await session.flush()


async def refresh_alert_messages(session: AsyncSession, alert: MetricAlert) -> None:
    """Every message of the episode shows its current state at the next publish (each keeps its
    own ``loud``: only a first post mentions the channel)."""
    await session.flush()
    unknown = None
    if alert.source != "trigger" and alert.value is None:
        unknown = await session.scalar(
            select(MetricRuleState.reason).where(MetricRuleState.alert_id == alert.id)
        )
    messages = await session.scalars(
        select(SlackMessage).where(
            SlackMessage.kind == ALERT_MESSAGE, SlackMessage.subject_id == alert.id
        )
    )
    for message in messages.all():
        loud = bool((message.body or {}).get("loud"))
        body = snapshot(alert, loud=loud, unknown=unknown)
        await session.execute(
            update(SlackMessage)
            .where(SlackMessage.id == message.id)
            .values(body=body, version=SlackMessage.version + 1)
        )


UNWATCHED = (
    "unwatched"  # MetricRuleState.status / MetricAlert.status of a rule no longer configured
)


async def retire_rules(
    *, session: AsyncSession, launch: Launch, keep: set[str], at: datetime
) -> list[str]:
    """Forget the launch's rules not in ``keep`` (the config's), recorded; an alert one left open
    becomes ``unwatched``: nothing evaluates it any more, so nothing will say it recovered."""
    rows = await session.scalars(
        select(MetricRuleState).where(
            MetricRuleState.launch_id == launch.id, MetricRuleState.rule.not_in(keep)
        )
    )
    retired = []
    for row in rows.all():
        retired.append(row.rule)
        await append_event(
            session=session,
            launch_id=launch.id,
            actor=SYSTEM,
            kind=EventKind.METRIC_STATE_CHANGED,
            at=at,
            detail={
                "rule": row.rule,
                "action": row.action,
                "from": row.status,
                "to": UNWATCHED,
                "value": None,
                "reason": "the rule is no longer in the config",
                "healthy": None,
            },
        )
        alert = await session.get(MetricAlert, row.alert_id) if row.alert_id else None
        if alert is not None and alert.status == "firing":
            alert.status = UNWATCHED
            alert.evaluated_at = at
            await alert_event(session, launch, EventKind.METRIC_ALERT_UNWATCHED, alert, at)
            await refresh_alert_messages(session, alert)
        await session.delete(row)
    await session.flush()
    return retired


def alert_launch_check(alert: AlertView, launch: Launch, *, what: str, user_id: str | None) -> None:
    """An alert's button must name an alert of the channel's current launch: refused and logged
    otherwise (another channel's alert, or one of a launch closed before this one)."""
    if alert.launch_id != launch.id:
        raise refuse_unbound(
            what,
            named=f"metric alert {alert.id}",
            of=f"launch {alert.launch_id}",
            here=f"channel {launch.channel_id} (launch {launch.id})",
            user_id=user_id,
            code="wrong_launch",
            message=WRONG_LAUNCH,
        )


def unhealthy_gate_rules(
    states: Sequence[RuleStateView], *, configured: Sequence[str] = ()
) -> list[str]:
    """Gate rules whose last evaluation was not healthy (for the card and status), then the
    ``configured`` gate rules never evaluated for this launch: unknown is never healthy."""
    evaluated = {s.rule for s in states}
    return [s.rule for s in states if s.action == "gate" and s.status != HEALTHY] + [
        f"{name} (not evaluated yet)" for name in configured if name not in evaluated
    ]
