"""What PagerDuty was asked and answered for an escalation: the trigger claimed before it is sent,
each answer recorded, a page left by a stopped process told apart as never sent or sent unanswered."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.events import SYSTEM, Actor, EventKind, append_event
from bot.core.models import Escalation, Event
from bot.core.outbox import bump_subject
from bot.incidents.escalation_state import ESCALATION_MESSAGE, PAGED_OR_MAYBE
from bot.incidents.escalations import escalation_for_update

PageAction = Literal["trigger", "acknowledge", "resolve"]
# Said of a trigger the process was sending when it stopped: PagerDuty may or may not have it.
UNANSWERED_PAGE = "Launch Control restarted before PagerDuty answered the page"


async def claim_page(*, session: AsyncSession, escalation_id: int, at: datetime) -> bool:
    """Mark the trigger as being sent (``sending``), before the first try leaves; False if it is not
    waiting to be sent (already sent, being sent by another task, or the escalation resolved)."""
    row = await escalation_for_update(session, escalation_id)
    if row.page_status != "pending" or row.status == "resolved":
        return False
    row.page_status = "sending"
    row.page_error = None
    await append_event(
        session=session,
        launch_id=row.launch_id,
        actor=SYSTEM,
        kind=EventKind.PAGERDUTY_TRIGGER_SENDING,
        at=at,
        detail={"escalation_id": escalation_id, "dedup_key": row.dedup_key},
    )
    return True


async def record_page(
    *,
    session: AsyncSession,
    escalation_id: int,
    action: PageAction,
    ok: bool,
    tries: int,
    at: datetime,
    http_status: int | None = None,
    error: str | None = None,
    skipped: bool = False,
    unanswered: bool = False,
) -> str:
    """What PagerDuty answered to one event (after its retries), recorded on the escalation; returns
    the outcome. A trigger some try of which got no answer is ``unknown`` (PagerDuty may have
    paged), not ``failed``; an acknowledge or resolve not taken is ``failed`` either way (the note
    asks for it to be done in PagerDuty by hand)."""
    row = await escalation_for_update(session, escalation_id)
    outcome = (
        "skipped"
        if skipped
        else "sent"
        if ok
        else "unknown"
        if unanswered and action == "trigger"
        else "failed"
    )
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
    return outcome


async def retry_page(
    *, session: AsyncSession, escalation_id: int, actor: Actor, at: datetime, source: str
) -> bool:
    """Ask for the PagerDuty trigger to be sent again (same dedup_key, so PagerDuty pages once);
    False if it needs no retry (only a failed or unanswered trigger does)."""
    row = await escalation_for_update(session, escalation_id)
    if row.page_status not in ("failed", "unknown") or row.status == "resolved":
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
    """After a trigger went through (or got no answer: it may have paged): the event PagerDuty
    still needs because the escalation was acknowledged or resolved in Slack while the trigger was
    being sent (then the click's own follow-up saw no page to update and skipped PagerDuty)."""
    row = await escalation_for_update(session, escalation_id)
    if row.page_status not in PAGED_OR_MAYBE:
        return None
    if row.status == "resolved" and row.resolve_status == "skipped":
        row.resolve_status = "pending"
        return "resolve"
    return "acknowledge" if row.status == "acknowledged" else None


async def pages_to_resume(
    *, session: AsyncSession, before: datetime
) -> tuple[list[int], list[int]]:
    """Escalations created before ``before`` (the start) whose trigger a stopped process left:
    (never sent: still ``pending``, to send now unless resolved since; sent without an answer:
    ``sending``, resolved or not, since PagerDuty may have paged)."""
    rows = (
        await session.execute(
            select(Escalation.id, Escalation.page_status, Escalation.status).where(
                Escalation.created_at < before,
                Escalation.page_status.in_(("pending", "sending")),
            )
        )
    ).all()
    never = [int(r[0]) for r in rows if r[1] == "pending" and r[2] != "resolved"]
    unanswered = [int(r[0]) for r in rows if r[1] == "sending"]
    return never, unanswered


async def follow_ups_to_resume(
    *, session: AsyncSession, before: datetime
) -> tuple[list[int], list[int]]:
    """Acknowledgements and resolutions stored before ``before`` (the start) that a stopped process
    never told PagerDuty: (acknowledged with a page that went, or may have gone, out and no
    ``pagerduty_acknowledge_*`` recorded; resolved with its resolve still ``pending``). Sending
    either again is harmless: PagerDuty applies an event to the open incident of its dedup key."""
    resolves = (
        await session.scalars(
            select(Escalation.id).where(
                Escalation.status == "resolved",
                Escalation.resolve_status == "pending",
                Escalation.resolved_at < before,
            )
        )
    ).all()
    taken = (
        await session.scalars(
            select(Escalation).where(
                Escalation.status == "acknowledged",
                Escalation.page_status.in_(PAGED_OR_MAYBE),
                Escalation.acknowledged_at < before,
            )
        )
    ).all()
    told: set[int] = set()
    if taken:
        answered = await session.scalars(
            select(Event.detail).where(
                Event.launch_id.in_({e.launch_id for e in taken}),
                Event.kind.in_(
                    [
                        EventKind.PAGERDUTY_ACKNOWLEDGE_SENT,
                        EventKind.PAGERDUTY_ACKNOWLEDGE_FAILED,
                        EventKind.PAGERDUTY_ACKNOWLEDGE_SKIPPED,
                    ]
                ),
            )
        )
        told = {int((d or {}).get("escalation_id") or 0) for d in answered.all()}
    acks = [e.id for e in taken if e.id not in told]
    return acks, [int(i) for i in resolves]


async def record_page_unknown(*, session: AsyncSession, escalation_id: int, at: datetime) -> bool:
    """A trigger that was being sent when the process stopped: PagerDuty may or may not have paged.
    Said as such (``unknown``), never re-sent behind anyone's back; "Page again" sends it."""
    row = await escalation_for_update(session, escalation_id)
    if row.page_status != "sending":
        return False
    row.page_status = "unknown"
    row.page_error = UNANSWERED_PAGE
    await bump_subject(session=session, kind=ESCALATION_MESSAGE, subject_id=row.id)
    await append_event(
        session=session,
        launch_id=row.launch_id,
        actor=SYSTEM,
        kind=EventKind.PAGERDUTY_TRIGGER_UNKNOWN,
        at=at,
        detail={
            "escalation_id": escalation_id,
            "dedup_key": row.dedup_key,
            "error": row.page_error,
        },
    )
    return True
