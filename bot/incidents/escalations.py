"""Escalation rules and records: severities, the escalation path, levels coming due, acknowledge/resolve."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.contacts.rules import contact_key
from bot.core.config import EscalationLevel
from bot.core.errors import BadInput, NotFound
from bot.core.events import SYSTEM, Actor, EventKind, append_event
from bot.core.launches import lock_launch
from bot.core.models import Escalation, EscalationLevelPing, Launch, SlackMessage
from bot.core.outbox import bump_subject

SEVERITIES = ("sev1", "sev2", "sev3")
DEFAULT_SEVERITY = "sev2"
MAX_SUMMARY = 1000
MAX_REASON = 1000
# A second `/launch escalate` with the same words while the first is open is the same incident:
# paging again would wake the same people twice.
DUPLICATE_WINDOW = timedelta(minutes=10)
# The escalation's own message (SlackMessage.kind), published through the outbox.
ESCALATION_MESSAGE = "escalation"
# Giving up on posting a due level after this many Slack errors (each is logged and recorded).
MAX_PING_ATTEMPTS = 5

EscalationStatus = Literal["open", "acknowledged", "resolved"]


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


def _wait(path: Sequence[Mapping[str, Any]], level: int) -> timedelta:
    return timedelta(minutes=float(path[level].get("wait_minutes") or 0))


# ---------------------------------------------------------------------------------------------------
# Read models


@dataclass(frozen=True)
class EscalationView:
    id: int
    launch_id: int
    launch_name: str
    channel_id: str
    severity: str
    summary: str
    reporter_id: str
    reporter_name: str
    created_at: datetime
    dedup_key: str
    status: str
    path: tuple[Mapping[str, Any], ...]
    level: int
    next_level_at: datetime | None
    message_ts: str | None
    permalink: str | None
    page_status: str
    page_tries: int
    page_error: str | None
    paged_at: datetime | None
    acknowledged_by_id: str | None
    acknowledged_by_name: str | None
    acknowledged_at: datetime | None
    resolved_by_id: str | None
    resolved_by_name: str | None
    resolved_at: datetime | None
    resolve_status: str | None


@dataclass(frozen=True)
class PingView:
    id: int
    escalation_id: int
    level: int
    attempts: int


def _escalation_view(row: Escalation, launch_name: str) -> EscalationView:
    return EscalationView(
        id=row.id,
        launch_id=row.launch_id,
        launch_name=launch_name,
        channel_id=row.channel_id,
        severity=row.severity,
        summary=row.summary,
        reporter_id=row.reporter_id,
        reporter_name=row.reporter_name,
        created_at=row.created_at,
        dedup_key=row.dedup_key,
        status=row.status,
        path=tuple(row.path),
        level=row.level,
        next_level_at=row.next_level_at,
        message_ts=row.message_ts,
        permalink=row.permalink,
        page_status=row.page_status,
        page_tries=row.page_tries,
        page_error=row.page_error,
        paged_at=row.paged_at,
        acknowledged_by_id=row.acknowledged_by_id,
        acknowledged_by_name=row.acknowledged_by_name,
        acknowledged_at=row.acknowledged_at,
        resolved_by_id=row.resolved_by_id,
        resolved_by_name=row.resolved_by_name,
        resolved_at=row.resolved_at,
        resolve_status=row.resolve_status,
    )


async def load_escalation(*, session: AsyncSession, escalation_id: int) -> EscalationView:
    row = (
        await session.execute(
            select(Escalation, Launch.name)
            .join(Launch, Launch.id == Escalation.launch_id)
            .where(Escalation.id == escalation_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"There is no escalation #{escalation_id}.")
    return _escalation_view(row[0], row[1])


# ---------------------------------------------------------------------------------------------------
# Escalations


async def _escalation_for_update(session: AsyncSession, escalation_id: int) -> Escalation:
    row = await session.get(Escalation, escalation_id)
    if row is None:
        raise NotFound(f"There is no escalation #{escalation_id}.")
    await lock_launch(session, row.launch_id)
    await session.refresh(row)  # re-read under the lock: another writer may have just committed
    return row


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
    existing = await session.scalar(select(Escalation).where(Escalation.request_key == request_key))
    if existing is None:
        recent = await session.scalars(
            select(Escalation).where(
                Escalation.launch_id == launch_id,
                Escalation.status != "resolved",
                Escalation.severity == severity,
                Escalation.created_at >= at - DUPLICATE_WINDOW,
            )
        )
        existing = next((e for e in recent if contact_key(e.summary) == contact_key(summary)), None)
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
        next_level_at=at + _wait(path, 0) if path else None,
        page_status="pending",
        page_tries=0,
    )
    session.add(escalation)
    await session.flush()
    # Posted by the publisher once this commits (and after a restart, if it had not been).
    session.add(
        SlackMessage(
            launch_id=launch_id,
            kind=ESCALATION_MESSAGE,
            subject_id=escalation.id,
            channel_id=channel_id,
            version=1,
            rendered_version=0,
        )
    )
    if path:
        # Level 0 is notified by the escalation message itself.
        session.add(
            EscalationLevelPing(escalation_id=escalation.id, level=0, due_at=at, claimed_at=at)
        )
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
    row = await _escalation_for_update(session, escalation_id)
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
    """A follow-up message about the escalation (``message``: page_failed, pagerduty_<action>_failed,
    resolved) was posted (``ts``) or could not be (``error``)."""
    row = await _escalation_for_update(session, escalation_id)
    await append_event(
        session=session,
        launch_id=row.launch_id,
        actor=SYSTEM,
        kind=EventKind.ESCALATION_NOTICE_POSTED if ts else EventKind.ESCALATION_NOTICE_FAILED,
        at=at,
        detail={"escalation_id": escalation_id, "message": message, "ts": ts, "error": error},
    )


async def record_page(
    *,
    session: AsyncSession,
    escalation_id: int,
    action: Literal["trigger", "acknowledge", "resolve"],
    ok: bool,
    tries: int,
    at: datetime,
    http_status: int | None = None,
    error: str | None = None,
    skipped: bool = False,
) -> None:
    """What PagerDuty answered to one event (after its retries), recorded on the escalation."""
    row = await _escalation_for_update(session, escalation_id)
    outcome = "skipped" if skipped else "sent" if ok else "failed"
    if action == "trigger":
        row.page_status = outcome
        row.page_tries += tries
        row.page_error = None if ok else error
        if ok:
            row.paged_at = at
    elif action == "resolve":
        row.resolve_status = outcome
    await bump_subject(session=session, kind=ESCALATION_MESSAGE, subject_id=row.id)
    await append_event(
        session=session,
        launch_id=row.launch_id,
        actor=SYSTEM,
        kind=EventKind(f"pagerduty_{action}_{outcome}"),
        at=at,
        detail={
            "escalation_id": escalation_id,
            "dedup_key": row.dedup_key,
            "tries": tries,
            "http_status": http_status,
            "error": error,
        },
    )


async def retry_page(
    *, session: AsyncSession, escalation_id: int, actor: Actor, at: datetime, source: str
) -> bool:
    """Ask for the PagerDuty trigger to be sent again (same dedup_key); False if it needs no retry."""
    row = await _escalation_for_update(session, escalation_id)
    if row.page_status != "failed" or row.status == "resolved":
        return False
    row.page_status = "pending"
    await bump_subject(session=session, kind=ESCALATION_MESSAGE, subject_id=row.id)
    await append_event(
        session=session,
        launch_id=row.launch_id,
        actor=actor,
        kind=EventKind.PAGERDUTY_RETRY_REQUESTED,
        at=at,
        detail={"escalation_id": escalation_id, "dedup_key": row.dedup_key},
        source=source,
    )
    return True


async def pagerduty_catch_up(
    *, session: AsyncSession, escalation_id: int
) -> Literal["acknowledge", "resolve"] | None:
    """After a trigger finally went through: the event PagerDuty still needs because the escalation
    was acknowledged or resolved in Slack while the trigger was being sent (then the click's own
    follow-up saw no page to update and skipped PagerDuty)."""
    row = await _escalation_for_update(session, escalation_id)
    if row.page_status != "sent":
        return None
    if row.status == "resolved" and row.resolve_status == "skipped":
        row.resolve_status = "pending"
        return "resolve"
    return "acknowledge" if row.status == "acknowledged" else None


async def acknowledge(
    *, session: AsyncSession, escalation_id: int, actor: Actor, at: datetime, source: str
) -> bool:
    """Record who took the escalation and stop its timer. Only the first acknowledgement counts; a
    later click (or one after resolution) changes nothing and returns False."""
    row = await _escalation_for_update(session, escalation_id)
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
    row = await _escalation_for_update(session, escalation_id)
    if row.status == "resolved":
        return False
    row.status = "resolved"
    row.resolved_by_id = actor.user_id
    row.resolved_by_name = actor.name
    row.resolved_at = at
    row.next_level_at = None
    # Only an incident PagerDuty knows about needs resolving there.
    row.resolve_status = "pending" if row.page_status == "sent" else "skipped"
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


async def claim_due_levels(*, session: AsyncSession, now: datetime) -> list[int]:
    """Move every open escalation whose timer ran out to its next level and return the new ping ids.

    The timer lives in the database (``next_level_at``), so a restart only delays a due level until
    the next poll. After the last level's wait one more "nobody answered" ping (level ==
    len(path)) is claimed, and the timer stops."""
    due = (
        await session.scalars(
            select(Escalation.id).where(
                Escalation.status == "open",
                Escalation.next_level_at.is_not(None),
                Escalation.next_level_at <= now,
            )
        )
    ).all()
    claimed: list[int] = []
    for escalation_id in due:
        row = await _escalation_for_update(session, escalation_id)
        if row.status != "open" or row.next_level_at is None or row.next_level_at > now:
            continue  # acknowledged or moved on while we waited for the lock
        level = row.level + 1
        due_at = row.next_level_at
        row.level = level
        row.next_level_at = due_at + _wait(row.path, level) if level < len(row.path) else None
        await bump_subject(session=session, kind=ESCALATION_MESSAGE, subject_id=row.id)
        ping = EscalationLevelPing(escalation_id=row.id, level=level, due_at=due_at, claimed_at=now)
        session.add(ping)
        await session.flush()
        claimed.append(ping.id)
        name = row.path[level]["name"] if level < len(row.path) else None
        await append_event(
            session=session,
            launch_id=row.launch_id,
            actor=SYSTEM,
            kind=EventKind.ESCALATION_LEVEL_DUE if name else EventKind.ESCALATION_PATH_EXHAUSTED,
            at=now,
            detail={"escalation_id": row.id, "level": level, "name": name},
        )
    return claimed


async def unposted_pings(*, session: AsyncSession) -> list[PingView]:
    """Due levels not yet in Slack (a failed post, or a crash between claim and post)."""
    rows = (
        await session.scalars(
            select(EscalationLevelPing)
            .join(Escalation, Escalation.id == EscalationLevelPing.escalation_id)
            .where(
                EscalationLevelPing.posted_at.is_(None),
                EscalationLevelPing.level > 0,
                EscalationLevelPing.attempts < MAX_PING_ATTEMPTS,
                Escalation.status == "open",
            )
            .order_by(EscalationLevelPing.id)
        )
    ).all()
    return [PingView(r.id, r.escalation_id, r.level, r.attempts) for r in rows]


async def record_ping(
    *, session: AsyncSession, ping_id: int, ts: str | None, error: str | None, at: datetime
) -> None:
    ping = await session.get(EscalationLevelPing, ping_id)
    if ping is None:
        return
    row = await _escalation_for_update(session, ping.escalation_id)
    await session.refresh(ping)
    ping.attempts += 1
    if ts is not None:
        ping.posted_at = at
        ping.ts = ts
        ping.last_error = None
    else:
        ping.last_error = error
    await append_event(
        session=session,
        launch_id=row.launch_id,
        actor=SYSTEM,
        kind=EventKind.ESCALATION_LEVEL_PINGED if ts else EventKind.ESCALATION_LEVEL_PING_FAILED,
        at=at,
        detail={"escalation_id": row.id, "level": ping.level, "ts": ts, "error": error},
    )


async def any_due(*, session: AsyncSession, now: datetime) -> bool:
    found = await session.scalar(
        select(Escalation.id)
        .where(
            Escalation.status == "open",
            Escalation.next_level_at.is_not(None),
            Escalation.next_level_at <= now,
        )
        .limit(1)
    )
    if found is not None:
        return True
    return bool(await unposted_pings(session=session))


async def escalations_to_resume(*, session: AsyncSession, before: datetime) -> list[int]:
    """Escalations created before ``before`` whose page never went out (the process stopped in
    between). Their message is the outbox's to recover."""
    rows = await session.scalars(
        select(Escalation.id).where(
            Escalation.created_at < before,
            Escalation.status != "resolved",
            Escalation.page_status == "pending",
        )
    )
    return list(rows.all())


async def launch_escalations(*, session: AsyncSession, launch: Launch) -> dict[int, EscalationView]:
    """Every escalation of the launch by id, for its messages' renderers."""
    rows = await session.scalars(select(Escalation).where(Escalation.launch_id == launch.id))
    return {row.id: _escalation_view(row, launch.name) for row in rows}
