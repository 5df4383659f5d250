"""Escalation rules and records: severities, opening one (deduplicated), its message, acknowledge/resolve."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.contacts.rules import contact_key
from bot.core.config import EscalationLevel
from bot.core.errors import BadInput, NotFound
from bot.core.events import SYSTEM, Actor, EventKind, append_event
from bot.core.launches import lock_launch
from bot.core.models import Escalation, EscalationLevelPing, SlackMessage
from bot.core.outbox import bump_subject
from bot.incidents.escalation_state import ESCALATION_MESSAGE, PAGED_OR_MAYBE

SEVERITIES = ("sev1", "sev2", "sev3")
DEFAULT_SEVERITY = "sev2"
MAX_SUMMARY = 1000
MAX_REASON = 1000
# A second `/launch escalate` with the same words while the first is open is the same incident:
# paging again would wake the same people twice.
DUPLICATE_WINDOW = timedelta(minutes=10)


# ---------------------------------------------------------------------------------------------------
# Rules


def parse_escalation(args: Sequence[str], rest: str) -> tuple[str, str]:
    """``[sev1|sev2|sev3] <what's wrong>`` -> (severity, summary); severity defaults to sev2."""
    text = " ".join(rest.split())
    severity = DEFAULT_SEVERITY
    if args and args[0].lower() in SEVERITIES:
        severity = args[0].lower()
        text = text.split(None, 1)[1] if len(text.split(None, 1)) > 1 else ""
    elif args and re.fullmatch(r"sev\d+", args[0].lower()):
        raise BadInput(f"Severity is one of {', '.join(SEVERITIES)} (got `{args[0]}`).")
    if not text:
        raise BadInput(
            "Say what is wrong, e.g. `/launch escalate sev1 order gateway rejecting all orders`."
        )
    if len(text) > MAX_SUMMARY:
        raise BadInput(f"Keep it under {MAX_SUMMARY} characters; details go in the thread.")
    return severity, text


def path_snapshot(levels: Sequence[EscalationLevel]) -> list[dict[str, Any]]:
    return [level.model_dump() for level in levels]


def level_wait(path: Sequence[Mapping[str, Any]], level: int) -> timedelta:
    return timedelta(minutes=float(path[level].get("wait_minutes") or 0))


async def escalation_for_update(session: AsyncSession, escalation_id: int) -> Escalation:
    """The escalation, re-read under its launch's lock (another writer may have just committed)."""
    row = await session.get(Escalation, escalation_id)
    if row is None:
        raise NotFound(f"There is no escalation #{escalation_id}.")
    await lock_launch(session, row.launch_id)
    await session.refresh(row)
    return row


# ---------------------------------------------------------------------------------------------------
# Opening


async def open_escalation(
    *,
    session: AsyncSession,
    launch_id: int,
    channel_id: str,
    severity: str,
    summary: str,
    reporter: Actor,
    path: list[dict[str, Any]],
    at: datetime,
    request_key: str,
) -> tuple[Escalation, bool]:
    """Store a new escalation and start its timer; returns (escalation, created).

    The same Slack request twice, or the same words again while that escalation is still open and
    recent, returns the existing one (created=False): nobody is paged twice for one incident."""
    await lock_launch(session, launch_id)
    existing = await _same_incident(session, launch_id, severity, summary, at, request_key)
    if existing is not None:
        return existing, False
    escalation = Escalation(
        launch_id=launch_id,
        channel_id=channel_id,
        severity=severity,
        summary=summary,
        reporter_id=reporter.user_id,
        reporter_name=reporter.name,
        created_at=at,
        request_key=request_key,
        dedup_key=f"launchbot-{uuid.uuid4().hex}",
        status="open",
        path=path,
        level=0,
        next_level_at=at + level_wait(path, 0) if path else None,
        page_status="pending",
        page_tries=0,
    )
    session.add(escalation)
    await session.flush()
    _queue_escalation_message(session, escalation, at)
    await append_event(
        session=session,
        launch_id=launch_id,
        actor=reporter,
        kind=EventKind.ESCALATION_OPENED,
        at=at,
        detail={
            "escalation_id": escalation.id,
            "channel_id": channel_id,
            "severity": severity,
            "summary": summary,
            "dedup_key": escalation.dedup_key,
            "path": [lvl.get("name") for lvl in path],
        },
        source=request_key,
    )
    return escalation, True


async def _same_incident(
    session: AsyncSession,
    launch_id: int,
    severity: str,
    summary: str,
    at: datetime,
    request_key: str,
) -> Escalation | None:
    """The escalation this request repeats: the same Slack request, or the same words while open."""
    existing = await session.scalar(select(Escalation).where(Escalation.request_key == request_key))
    if existing is not None:
        return existing
    recent = await session.scalars(
        select(Escalation).where(
            Escalation.launch_id == launch_id,
            Escalation.status != "resolved",
            Escalation.severity == severity,
            Escalation.created_at >= at - DUPLICATE_WINDOW,
        )
    )
    return next((e for e in recent if contact_key(e.summary) == contact_key(summary)), None)


def _queue_escalation_message(session: AsyncSession, escalation: Escalation, at: datetime) -> None:
    """Posted by the publisher once this commits (and after a restart, if it had not been)."""
    session.add(
        SlackMessage(
            launch_id=escalation.launch_id,
            kind=ESCALATION_MESSAGE,
            subject_id=escalation.id,
            channel_id=escalation.channel_id,
            version=1,
            rendered_version=0,
        )
    )
    if escalation.path:
        # Level 0 is notified by the escalation message itself.
        session.add(
            EscalationLevelPing(escalation_id=escalation.id, level=0, due_at=at, claimed_at=at)
        )


# ---------------------------------------------------------------------------------------------------
# Its messages


async def record_escalation_message(
    *,
    session: AsyncSession,
    escalation_id: int,
    ts: str | None,
    permalink: str | None,
    error: str | None,
    at: datetime,
) -> None:
    """The escalation message was posted (``ts``) or could not be (``error``)."""
    row = await escalation_for_update(session, escalation_id)
    if ts is not None:
        row.message_ts = ts
        row.permalink = permalink
        await session.execute(
            update(EscalationLevelPing)
            .where(
                EscalationLevelPing.escalation_id == escalation_id,
                EscalationLevelPing.level == 0,
                EscalationLevelPing.posted_at.is_(None),
            )
            .values(posted_at=at, ts=ts, attempts=EscalationLevelPing.attempts + 1)
        )
    await append_event(
        session=session,
        launch_id=row.launch_id,
        actor=SYSTEM,
        kind=EventKind.ESCALATION_POSTED if ts else EventKind.ESCALATION_POST_FAILED,
        at=at,
        detail={"escalation_id": escalation_id, "ts": ts, "error": error},
    )


async def record_escalation_notice(
    *,
    session: AsyncSession,
    escalation_id: int,
    message: str,
    ts: str | None,
    error: str | None,
    at: datetime,
) -> None:
    """A follow-up message about the escalation (``message``: page_failed, page_unknown,
    pagerduty_<action>_failed, resolved) was posted (``ts``) or could not be (``error``)."""
    row = await escalation_for_update(session, escalation_id)
    await append_event(
        session=session,
        launch_id=row.launch_id,
        actor=SYSTEM,
        kind=EventKind.ESCALATION_NOTICE_POSTED if ts else EventKind.ESCALATION_NOTICE_FAILED,
        at=at,
        detail={"escalation_id": escalation_id, "message": message, "ts": ts, "error": error},
    )


# ---------------------------------------------------------------------------------------------------
# Acknowledge, resolve


async def acknowledge(
    *, session: AsyncSession, escalation_id: int, actor: Actor, at: datetime, source: str
) -> bool:
    """Record who took the escalation and stop its timer. Only the first acknowledgement counts; a
    later click (or one after resolution) changes nothing and returns False."""
    row = await escalation_for_update(session, escalation_id)
    if row.status != "open":
        return False
    row.status = "acknowledged"
    row.acknowledged_by_id = actor.user_id
    row.acknowledged_by_name = actor.name
    row.acknowledged_at = at
    row.next_level_at = None
    await bump_subject(session=session, kind=ESCALATION_MESSAGE, subject_id=row.id)
    await append_event(
        session=session,
        launch_id=row.launch_id,
        actor=actor,
        kind=EventKind.ESCALATION_ACKNOWLEDGED,
        at=at,
        detail={"escalation_id": escalation_id, "level": row.level},
        source=source,
    )
    return True


async def resolve(
    *, session: AsyncSession, escalation_id: int, actor: Actor, at: datetime, source: str
) -> bool:
    row = await escalation_for_update(session, escalation_id)
    if row.status == "resolved":
        return False
    row.status = "resolved"
    row.resolved_by_id = actor.user_id
    row.resolved_by_name = actor.name
    row.resolved_at = at
    row.next_level_at = None
    # An incident PagerDuty knows about, or may know about (a page that got no answer may have
    # paged), is resolved there too; a page refused or never sent opened nothing to resolve.
    row.resolve_status = "pending" if row.page_status in PAGED_OR_MAYBE else "skipped"
    await bump_subject(session=session, kind=ESCALATION_MESSAGE, subject_id=row.id)
    await append_event(
        session=session,
        launch_id=row.launch_id,
        actor=actor,
        kind=EventKind.ESCALATION_RESOLVED,
        at=at,
        detail={"escalation_id": escalation_id},
        source=source,
    )
    return True
