"""The escalation read model (what its messages show) and the outbox kinds of its messages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import view_of
from bot.core.errors import NotFound
from bot.core.models import Escalation, Launch, SlackMessage

# The escalation's own message (SlackMessage.kind, subject_id = the escalation), in the channel.
ESCALATION_MESSAGE = "escalation"
# A level that came due (part = the level), a reply under the escalation also sent to the channel.
ESCALATION_PING = "escalation_ping"
# Follow-ups under the escalation (body tag: resolved, pagerduty_<action>_failed) …
ESCALATION_NOTE = "escalation_note"
# … and those the channel must see too (page_failed, page_unknown).
ESCALATION_ALERT = "escalation_alert"

# Trigger outcomes after which PagerDuty has, or may have, an incident under the escalation's
# dedup_key ("unknown": a try got no answer and may have paged): acknowledging or resolving the
# escalation tells PagerDuty too, so it stops paging whoever it did page.
PAGED_OR_MAYBE = ("sent", "unknown")


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
    return view_of(EscalationView, row[0], launch_name=row[1], path=tuple(row[0].path))


async def launch_escalations(*, session: AsyncSession, launch: Launch) -> dict[int, EscalationView]:
    """Every escalation of the launch by id, for its messages' renderers."""
    rows = await session.scalars(select(Escalation).where(Escalation.launch_id == launch.id))
    return {
        row.id: view_of(EscalationView, row, launch_name=launch.name, path=tuple(row.path))
        for row in rows
    }


async def escalation_message_id(*, session: AsyncSession, escalation_id: int) -> int | None:
    """The outbox row of the escalation's own message: the thread its follow-ups go under."""
    found = await session.scalar(
        select(SlackMessage.id).where(
            SlackMessage.kind == ESCALATION_MESSAGE, SlackMessage.subject_id == escalation_id
        )
    )
    return int(found) if found is not None else None
