"""``/launch escalate test``: a TEST page through PagerDuty, recorded before it is sent and with
what PagerDuty answered. It opens no escalation and leaves the on-call path alone: no Escalation
row, no level pings; only its own events (and, when PagerDuty accepted it, the "Escalation working"
tick, ``bot.checklist.proofs``). Takes an AsyncSession; the caller owns the transaction."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.events import Actor, EventKind, append_event, seen
from bot.core.launches import lock_launch
from bot.core.models import Event, Launch


@dataclass(frozen=True)
class PageTestReply:
    """What PagerDuty made of the test page. ``accepted`` only for its "202 Accepted" with status
    "success"; ``answered`` False when the last try got no answer; ``unanswered_tries``: the tries
    that got none after they may have reached PagerDuty (a timeout, a dropped connection; not a
    connection never made): each may or may not have paged, whatever a later try was told."""

    accepted: bool
    answered: bool
    http_status: int | None
    tries: int
    error: str | None
    unanswered_tries: int = 0

    @property
    def may_have_paged(self) -> bool:
        """Not accepted, yet PagerDuty may have paged: some try went unanswered."""
        return not self.accepted and (not self.answered or self.unanswered_tries > 0)


def judge_test_page(
    *, http_status: int | None, body: Any, tries: int, error: str | None, unanswered_tries: int = 0
) -> PageTestReply:
    """Accepted means what PagerDuty says when it took an event: 202 and ``"status": "success"``.
    Anything else (a refusal, an error, another 2xx, no answer) is not. ``unanswered_tries``: how
    many of the ``tries`` may have reached PagerDuty without an answer
    (``bot.core.http.unanswered_tries``)."""
    status = body.get("status") if isinstance(body, dict) else None
    accepted = error is None and http_status == 202 and status == "success"
    if not accepted and error is None:
        error = f"HTTP {http_status}" + (f" with status “{status}”" if status else "")
    return PageTestReply(
        accepted=accepted,
        answered=http_status is not None,
        http_status=http_status,
        tries=tries,
        error=None if accepted else error,
        unanswered_tries=unanswered_tries,
    )


def test_dedup_key(launch_id: int, request_key: str) -> str:
    """The test incident's own PagerDuty key (never an escalation's): one per request, so a replay
    of the same slash command finds the same incident instead of paging again."""
    digest = hashlib.sha256(request_key.encode()).hexdigest()[:16]
    return f"launchbot-{launch_id}-escalation-test-{digest}"


async def request_escalation_test(
    *, session: AsyncSession, launch_id: int, actor: Actor, at: datetime, request_key: str
) -> str | None:
    """Record the test before it is sent; its PagerDuty ``dedup_key``, or None when this request
    was recorded already (a replayed slash command: nothing is sent twice)."""
    await lock_launch(session, launch_id)
    marker = f"escalation-test:{request_key}"
    if await seen(session, marker):
        return None
    dedup_key = test_dedup_key(launch_id, request_key)
    await append_event(
        session=session,
        launch_id=launch_id,
        actor=actor,
        kind=EventKind.ESCALATION_TEST_REQUESTED,
        at=at,
        detail={"dedup_key": dedup_key},
        source=request_key,
        dedup_key=marker,
    )
    return dedup_key


async def record_escalation_test(
    *,
    session: AsyncSession,
    launch_id: int,
    actor: Actor,
    at: datetime,
    dedup_key: str,
    answer: PageTestReply,
) -> None:
    """What PagerDuty answered to the test page (after its retries)."""
    await lock_launch(session, launch_id)
    await append_event(
        session=session,
        launch_id=launch_id,
        actor=actor,
        kind=EventKind.ESCALATION_TEST_ACCEPTED
        if answer.accepted
        else EventKind.ESCALATION_TEST_FAILED,
        at=at,
        detail={
            "dedup_key": dedup_key,
            "http_status": answer.http_status,
            "tries": answer.tries,
            "error": answer.error,
            "answered": answer.answered,
            "unanswered_tries": answer.unanswered_tries,
        },
    )


@dataclass(frozen=True)
class UnfinishedTest:
    """A test page recorded before a stop with no answer recorded after it."""

    launch_id: int
    launch_name: str
    channel_id: str
    actor: Actor
    dedup_key: str


async def unfinished_escalation_tests(
    *, session: AsyncSession, before: datetime
) -> list[UnfinishedTest]:
    """Test pages of open launches recorded before ``before`` (this start) whose answer never was:
    the process stopped between recording one and PagerDuty's answer. Whether it left is not
    recorded; it does not need to be: the test has its own ``dedup_key``, so sending it again
    pages at most once, and gets an answer to report."""
    rows = (
        await session.execute(
            select(Event, Launch.name, Launch.channel_id)
            .join(Launch, Launch.id == Event.launch_id)
            .where(
                Launch.closed_at.is_(None),
                Event.at < before,
                Event.kind.in_(
                    [
                        EventKind.ESCALATION_TEST_REQUESTED,
                        EventKind.ESCALATION_TEST_ACCEPTED,
                        EventKind.ESCALATION_TEST_FAILED,
                    ]
                ),
            )
            .order_by(Event.launch_id, Event.seq)
        )
    ).all()
    answered = {
        e.detail.get("dedup_key")
        for e, _, _ in rows
        if e.kind != EventKind.ESCALATION_TEST_REQUESTED
    }
    return [
        UnfinishedTest(
            launch_id=e.launch_id,
            launch_name=name,
            channel_id=channel_id,
            actor=Actor(e.actor_id, e.actor_name),
            dedup_key=str(e.detail.get("dedup_key")),
        )
        for e, name, channel_id in rows
        if e.kind == EventKind.ESCALATION_TEST_REQUESTED
        and e.detail.get("dedup_key") not in answered
    ]
