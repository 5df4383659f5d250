"""The hash-chained event log: Actor, EventKind, append_event, seen (dedup keys), event_hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import Event


class EventKind(StrEnum):
    """Every kind of event in the log. The values are published (the JSON report's ``events[].kind``,
    the audit chain): never rename one, only add."""

    LAUNCH_STARTED = "launch_started"
    LAUNCH_CLOSED = "launch_closed"
    LAUNCH_CLOSE_REFUSED = "launch_close_refused"
    PHASE_STARTED = "phase_started"
    PHASE_COMPLETED = "phase_completed"
    PHASE_REOPENED = "phase_reopened"
    ITEM_CHECKED = "item_checked"
    ITEM_UNCHECKED = "item_unchecked"
    ITEM_WAIVED = "item_waived"
    ITEM_WAIVE_REFUSED = "item_waive_refused"
    ITEM_UNWAIVED = "item_unwaived"
    CLICK = "click"
    SIGN_OFF_APPROVED = "sign_off_approved"
    SIGN_OFF_REVOKED = "sign_off_revoked"
    SIGN_OFF_REFUSED = "sign_off_refused"
    LAUNCH_GO = "launch_go"
    GO_WITHDRAWN = "go_withdrawn"
    ESCALATION_OPENED = "escalation_opened"
    ESCALATION_POSTED = "escalation_posted"
    ESCALATION_POST_FAILED = "escalation_post_failed"
    ESCALATION_NOTICE_POSTED = "escalation_notice_posted"
    ESCALATION_NOTICE_FAILED = "escalation_notice_failed"
    ESCALATION_LEVEL_DUE = "escalation_level_due"
    ESCALATION_PATH_EXHAUSTED = "escalation_path_exhausted"
    ESCALATION_LEVEL_PINGED = "escalation_level_pinged"
    ESCALATION_LEVEL_PING_FAILED = "escalation_level_ping_failed"
    ESCALATION_ACKNOWLEDGED = "escalation_acknowledged"
    ESCALATION_RESOLVED = "escalation_resolved"
    PAGERDUTY_RETRY_REQUESTED = "pagerduty_retry_requested"
    PAGERDUTY_TRIGGER_SENDING = "pagerduty_trigger_sending"
    PAGERDUTY_TRIGGER_SENT = "pagerduty_trigger_sent"
    PAGERDUTY_TRIGGER_FAILED = "pagerduty_trigger_failed"
    PAGERDUTY_TRIGGER_SKIPPED = "pagerduty_trigger_skipped"
    PAGERDUTY_TRIGGER_UNKNOWN = "pagerduty_trigger_unknown"
    PAGERDUTY_ACKNOWLEDGE_SENT = "pagerduty_acknowledge_sent"
    PAGERDUTY_ACKNOWLEDGE_FAILED = "pagerduty_acknowledge_failed"
    PAGERDUTY_ACKNOWLEDGE_SKIPPED = "pagerduty_acknowledge_skipped"
    PAGERDUTY_RESOLVE_SENT = "pagerduty_resolve_sent"
    PAGERDUTY_RESOLVE_FAILED = "pagerduty_resolve_failed"
    PAGERDUTY_RESOLVE_SKIPPED = "pagerduty_resolve_skipped"
    KILLSWITCH_REQUESTED = "killswitch_requested"
    KILLSWITCH_TEST_REQUESTED = "killswitch_test_requested"
    KILLSWITCH_REFUSED = "killswitch_refused"
    KILLSWITCH_SENDING = "killswitch_sending"
    KILLSWITCH_CONFIRMED = "killswitch_confirmed"
    KILLSWITCH_FAILED = "killswitch_failed"
    KILLSWITCH_TEST_CONFIRMED = "killswitch_test_confirmed"
    KILLSWITCH_TEST_FAILED = "killswitch_test_failed"
    KILLSWITCH_UNKNOWN = "killswitch_unknown"
    KILLSWITCH_NOT_SENT = "killswitch_not_sent"
    KILLSWITCH_ANNOUNCED = "killswitch_announced"
    KILLSWITCH_ANNOUNCE_FAILED = "killswitch_announce_failed"
    KILLSWITCH_ARMED = "killswitch_armed"
    KILLSWITCH_DISARMED = "killswitch_disarmed"
    KILLSWITCH_TEST_NOT_TICKED = "killswitch_test_not_ticked"
    PROOF_NOT_TICKED = "proof_not_ticked"
    AUDIT_VERIFIED = "audit_verified"
    AUDIT_VERIFY_FAILED = "audit_verify_failed"
    ESCALATION_TEST_REQUESTED = "escalation_test_requested"
    ESCALATION_TEST_ACCEPTED = "escalation_test_accepted"
    ESCALATION_TEST_FAILED = "escalation_test_failed"
    DISPLAY_NAME_RESOLVED = "display_name_resolved"
    GOLIVE_ADVANCE_REFUSED = "golive_advance_refused"
    GOLIVE_FORCED = "golive_forced"
    GOLIVE_REFUSED = "golive_refused"
    GOLIVE_STEP_ENTERED = "golive_step_entered"
    GOLIVE_COMPLETED = "golive_completed"
    GOLIVE_HELD = "golive_held"
    GOLIVE_RESUMED = "golive_resumed"
    TRAFFIC_REQUESTED = "traffic_requested"
    TRAFFIC_SENDING = "traffic_sending"
    TRAFFIC_CONFIRMED = "traffic_confirmed"
    TRAFFIC_FAILED = "traffic_failed"
    TRAFFIC_UNKNOWN = "traffic_unknown"
    TRAFFIC_DECLARED = "traffic_declared"
    SOAK_REMINDER_SENT = "soak_reminder_sent"
    LAUNCH_DATE_MOVED = "launch_date_moved"
    DAY_CHECKS_POSTED = "day_checks_posted"
    EVENING_SUMMARY_SENT = "evening_summary_sent"
    SCHEDULED_POST_SKIPPED = "scheduled_post_skipped"
    METRIC_STATE_CHANGED = "metric_state_changed"
    METRIC_ALERT_FIRED = "metric_alert_fired"
    METRIC_ALERT_REALERTED = "metric_alert_realerted"
    METRIC_ALERT_RECOVERED = "metric_alert_recovered"
    METRIC_ALERT_ACKNOWLEDGED = "metric_alert_acknowledged"
    METRIC_ALERT_ACTION = "metric_alert_action"
    METRIC_ALERT_UNWATCHED = "metric_alert_unwatched"
    ROLLBACK_TRIGGER_REPORTED = "rollback_trigger_reported"


GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class Actor:
    """Who did something: the Slack user id from the verified payload, and a name for display."""

    user_id: str
    name: str

    @classmethod
    def of_user(cls, user: Mapping[str, Any]) -> Actor:
        """The person of a verified Slack payload's ``user`` object, named by their handle."""
        return cls(str(user["id"]), str(user.get("name") or user.get("username") or user["id"]))


# ---------------------------------------------------------------------------------------------------
# Event log


def _canonical(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(prev_hash: str, event: Event) -> str:
    """The chain link: sha256 over the predecessor's hash and this event's canonical content."""
    content = {
        "launch_id": event.launch_id,
        "seq": event.seq,
        "at": event.at.isoformat(timespec="microseconds"),
        "actor_id": event.actor_id,
        "actor_name": event.actor_name,
        "kind": event.kind,
        "item_id": event.item_id,
        "detail": event.detail,
        "source": event.source,
    }
    return hashlib.sha256((prev_hash + _canonical(content)).encode()).hexdigest()


async def append_event(
    *,
    session: AsyncSession,
    launch_id: int,
    actor: Actor,
    kind: EventKind,
    at: datetime,
    detail: Mapping[str, Any] | None = None,
    item_id: int | None = None,
    source: str = "",
    dedup_key: str | None = None,
) -> Event:
    """Append one event. The caller must hold the launch lock (see ``lock_launch``) so that two
    writers never pick the same ``seq`` or fork the hash chain."""
    last = (
        await session.execute(
            select(Event.seq, Event.hash)
            .where(Event.launch_id == launch_id)
            .order_by(Event.seq.desc())
            .limit(1)
        )
    ).first()
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
    event = Event(
        launch_id=launch_id,
        seq=seq,
        at=at,
        actor_id=actor.user_id,
        actor_name=actor.name,
        kind=kind,
        item_id=item_id,
        detail=dict(detail or {}),
        source=source,
        dedup_key=dedup_key,
        prev_hash=prev_hash,
        hash="",
    )
    event.hash = event_hash(prev_hash, event)
    session.add(event)
    await session.flush()
    return event


async def seen(session: AsyncSession, dedup_key: str) -> bool:
    found = await session.scalar(select(Event.id).where(Event.dedup_key == dedup_key).limit(1))
    return found is not None


SYSTEM = Actor("launchbot", "Launch Control")
