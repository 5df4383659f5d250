"""People's side of a metric alert: acknowledgements, what the Roll back and Hold buttons did, an
immediate rollback trigger reported by hand and its page. The caller holds the launch lock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.errors import NotFound
from bot.core.events import Actor, EventKind
from bot.core.models import Event, Launch, MetricAlert
from bot.watch.lines import Trigger
from bot.watch.state import (
    add_alert_message,
    alert_event,
    refresh_alert_messages,
    trigger_dedup_key,
)


async def alert_for_update(session: AsyncSession, alert_id: int) -> MetricAlert:
    row = await session.get(MetricAlert, alert_id, with_for_update=True)
    if row is None:
        raise NotFound(f"There is no metric alert #{alert_id}.")
    return row


async def acknowledge(
    *, session: AsyncSession, launch: Launch, alert_id: int, actor: Actor, at: datetime, source: str
) -> bool:
    """Anyone may acknowledge; the first one is recorded on the alert, every press in the log."""
    alert = await alert_for_update(session, alert_id)
    first = alert.acknowledged_by_id is None
    if first:
        alert.acknowledged_by_id = actor.user_id
        alert.acknowledged_by_name = actor.name
        alert.acknowledged_at = at
        await refresh_alert_messages(session, alert)
    await alert_event(
        session,
        launch,
        EventKind.METRIC_ALERT_ACKNOWLEDGED,
        alert,
        at,
        {"first": first, "source": source},
        actor=actor,
    )
    return first


async def record_action(
    *,
    session: AsyncSession,
    launch: Launch,
    alert_id: int,
    actor: Actor,
    at: datetime,
    action: str,
    shown: str,
    source: str,
) -> None:
    """A Roll back or Hold press that did what the command does: shown on the alert, recorded."""
    alert = await alert_for_update(session, alert_id)
    alert.last_action = shown
    await refresh_alert_messages(session, alert)
    await alert_event(
        session,
        launch,
        EventKind.METRIC_ALERT_ACTION,
        alert,
        at,
        {"action": action, "shown": shown, "source": source},  # shown: log version 3
        actor=actor,
    )


async def report_trigger(
    *,
    session: AsyncSession,
    launch: Launch,
    trigger: Trigger,
    actor: Actor,
    at: datetime,
    source: str,
) -> MetricAlert:
    """An immediate rollback trigger reported by hand: an alert of its own, paged by the caller
    with a dedup key per report. The same Slack request again (``source``: a retry after a late
    answer, a replay) is that report: its alert is returned, nothing new is recorded."""
    key = f"trigger-report:{source}"
    reported = await session.scalar(select(Event).where(Event.dedup_key == key).limit(1))
    if reported is not None:
        return await alert_for_update(session, int(reported.detail["alert_id"]))
    alert = MetricAlert(
        launch_id=launch.id,
        source="trigger",
        name=trigger.text,
        breached_since=at,
        opened_at=at,
        evaluated_at=at,
        status="reported",
        reported_by_id=actor.user_id,
        reported_by_name=actor.name,
        page_status="pending",
    )
    session.add(alert)
    await session.flush()
    alert.page_dedup_key = trigger_dedup_key(launch.id, alert.id)
    await alert_event(
        session,
        launch,
        EventKind.ROLLBACK_TRIGGER_REPORTED,
        alert,
        at,
        {"slug": trigger.slug, "dedup_key": alert.page_dedup_key, "source": source},
        actor=actor,
        dedup_key=key,
    )
    await add_alert_message(session, launch, alert, loud=True)
    return alert


async def claim_page(*, session: AsyncSession, launch: Launch, alert_id: int, at: datetime) -> bool:
    """Mark the critical page as being sent (``sending``) before the first try leaves, so a stop
    mid-send is told apart from a page never sent; False if it is not waiting to be sent."""
    alert = await alert_for_update(session, alert_id)
    if alert.page_status != "pending":
        return False
    alert.page_status = "sending"
    await alert_event(
        session,
        launch,
        EventKind.PAGERDUTY_TRIGGER_SENDING,
        alert,
        at,
        {"dedup_key": alert.page_dedup_key},
    )
    return True


async def pages_to_resume(
    *, session: AsyncSession, before: datetime
) -> tuple[list[int], list[int]]:
    """Critical pages a stopped process left (alerts opened before ``before``, the start): never
    sent (``pending``: send now) and sent without an answer (``sending``: unknown)."""
    rows = (
        await session.execute(
            select(MetricAlert.id, MetricAlert.page_status).where(
                MetricAlert.opened_at < before,
                MetricAlert.page_status.in_(("pending", "sending")),
            )
        )
    ).all()
    never = [int(r[0]) for r in rows if r[1] == "pending"]
    unanswered = [int(r[0]) for r in rows if r[1] == "sending"]
    return never, unanswered


async def record_page(
    *,
    session: AsyncSession,
    launch: Launch,
    alert_id: int,
    at: datetime,
    status: str,
    detail: dict[str, Any],
) -> None:
    """``sent``, ``failed`` (PagerDuty said no), ``unknown`` (no answer: it may have paged) or
    ``skipped`` (PagerDuty not configured)."""
    alert = await alert_for_update(session, alert_id)
    alert.page_status = status
    kind = {
        "sent": EventKind.PAGERDUTY_TRIGGER_SENT,
        "failed": EventKind.PAGERDUTY_TRIGGER_FAILED,
        "unknown": EventKind.PAGERDUTY_TRIGGER_UNKNOWN,
    }.get(status, EventKind.PAGERDUTY_TRIGGER_SKIPPED)
    await alert_event(
        session, launch, kind, alert, at, {"dedup_key": alert.page_dedup_key, **detail}
    )
    await refresh_alert_messages(session, alert)
