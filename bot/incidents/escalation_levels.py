"""The escalation timer: levels coming due are claimed in the database and queued as messages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.events import SYSTEM, EventKind, append_event
from bot.core.models import Escalation, EscalationLevelPing
from bot.core.outbox import bump_subject, queue_message
from bot.incidents.escalation_state import (
    ESCALATION_MESSAGE,
    ESCALATION_PING,
    escalation_message_id,
)
from bot.incidents.escalations import escalation_for_update, level_wait


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
    return found is not None


async def claim_due_levels(*, session: AsyncSession, now: datetime) -> set[int]:
    """Move every open escalation whose timer ran out to its next level, queue that level's ping
    (an outbox message under the escalation) and return the launches to publish.

    The timer lives in the database (``next_level_at``), so a restart only delays a due level until
    the next poll, and a queued ping survives one (the outbox posts it). After the last level's wait
    one more "nobody answered" ping (level == len(path)) is claimed, and the timer stops."""
    due = (
        await session.scalars(
            select(Escalation.id).where(
                Escalation.status == "open",
                Escalation.next_level_at.is_not(None),
                Escalation.next_level_at <= now,
            )
        )
    ).all()
    launches: set[int] = set()
    for escalation_id in due:
        row = await escalation_for_update(session, escalation_id)
        if row.status != "open" or row.next_level_at is None or row.next_level_at > now:
            continue  # acknowledged or moved on while we waited for the lock
        await _next_level(session, row, now)
        launches.add(row.launch_id)
    return launches


async def _next_level(session: AsyncSession, row: Escalation, now: datetime) -> None:
    assert row.next_level_at is not None
    level = row.level + 1
    due_at = row.next_level_at
    row.level = level
    row.next_level_at = due_at + level_wait(row.path, level) if level < len(row.path) else None
    await bump_subject(session=session, kind=ESCALATION_MESSAGE, subject_id=row.id)
    session.add(
        EscalationLevelPing(escalation_id=row.id, level=level, due_at=due_at, claimed_at=now)
    )
    await queue_message(
        session=session,
        launch_id=row.launch_id,
        kind=ESCALATION_PING,
        channel_id=row.channel_id,
        subject_id=row.id,
        parent_id=await escalation_message_id(session=session, escalation_id=row.id),
        part=level,  # the level it announces (rows of other escalations share the number)
    )
    name = row.path[level]["name"] if level < len(row.path) else None
    await append_event(
        session=session,
        launch_id=row.launch_id,
        actor=SYSTEM,
        kind=EventKind.ESCALATION_LEVEL_DUE if name else EventKind.ESCALATION_PATH_EXHAUSTED,
        at=now,
        detail={
            "escalation_id": row.id,
            "level": level,
            "name": name,
            "due_at": due_at.isoformat(),  # the ping row's due time (log version 3)
        },
    )


async def record_ping(
    *,
    session: AsyncSession,
    escalation_id: int,
    level: int,
    ts: str | None,
    error: str | None,
    at: datetime,
) -> None:
    """A due level's message was posted (``ts``) or Slack refused it (``error``; not posted later)."""
    row = await escalation_for_update(session, escalation_id)
    ping = await session.scalar(
        select(EscalationLevelPing).where(
            EscalationLevelPing.escalation_id == escalation_id, EscalationLevelPing.level == level
        )
    )
    if ping is not None:
        ping.attempts += 1
        ping.posted_at = at if ts is not None else None
        ping.ts = ts
        ping.last_error = error
    await append_event(
        session=session,
        launch_id=row.launch_id,
        actor=SYSTEM,
        kind=EventKind.ESCALATION_LEVEL_PINGED if ts else EventKind.ESCALATION_LEVEL_PING_FAILED,
        at=at,
        detail={"escalation_id": row.id, "level": level, "ts": ts, "error": error},
    )
