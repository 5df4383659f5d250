"""The kill-switch read model (requests, armed state, what the card shows) and its messages' kinds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import view_of
from bot.core.errors import NotFound
from bot.core.models import KillSwitchRequest, KillSwitchState, Launch, SlackMessage

# A request's messages in the channel (SlackMessage.kind, subject_id = the request; body tag: firing,
# outcome, unknown, not_sent) and a dry run's report in the card's thread (tag test_report, …).
KILLSWITCH_MESSAGE = "killswitch"
KILLSWITCH_REPORT = "killswitch_test"


@dataclass(frozen=True)
class KillSwitchView:
    id: int
    launch_id: int
    launch_name: str
    channel_id: str
    request_id: str
    requested_by_id: str
    requested_by_name: str
    reason: str
    dry_run: bool
    created_at: datetime
    status: str
    tries: int
    http_status: int | None
    error: str | None
    response_body: str | None
    duration_ms: int | None
    completed_at: datetime | None


# A fire still under way: stored (``pending``) or claimed for sending (``sending``).
IN_FLIGHT = ("pending", "sending")
# How a fire can end without a confirmed halt.
UNCONFIRMED = ("failed", "unknown", "not_sent")


@dataclass(frozen=True)
class KillSwitchSummary:
    launch_id: int
    launch_name: str
    armed: bool
    changed_by_id: str | None
    changed_at: datetime | None
    last_fire: KillSwitchView | None
    last_test: KillSwitchView | None

    @property
    def unresolved_fire(self) -> KillSwitchView | None:
        """The latest fire while nobody knows that it halted trading: still in flight, or ended
        FAILED, UNKNOWN or NOT SENT with the switch neither armed nor disarmed since (someone acted
        on it: it is resolved). Only the latest fire counts: a later one supersedes it, and a later
        confirmed one halts the launch."""
        fire = self.last_fire
        if fire is None or fire.status in IN_FLIGHT:
            return fire
        if fire.status not in UNCONFIRMED:
            return None
        ended = fire.completed_at or fire.created_at
        if self.changed_at is not None and self.changed_at > ended:
            return None
        return fire


async def load_killswitch(*, session: AsyncSession, request_pk: int) -> KillSwitchView:
    row = (
        await session.execute(
            select(KillSwitchRequest, Launch.name)
            .join(Launch, Launch.id == KillSwitchRequest.launch_id)
            .where(KillSwitchRequest.id == request_pk)
        )
    ).first()
    if row is None:
        raise NotFound(f"There is no kill-switch request #{request_pk}.")
    return view_of(KillSwitchView, row[0], launch_name=row[1])


async def killswitch_summary(*, session: AsyncSession, launch_id: int) -> KillSwitchSummary:
    launch = await session.get(Launch, launch_id)
    if launch is None:
        raise NotFound(f"There is no launch #{launch_id}.")
    state = await session.scalar(
        select(KillSwitchState).where(KillSwitchState.launch_id == launch_id)
    )

    return KillSwitchSummary(
        launch_id=launch_id,
        launch_name=launch.name,
        armed=bool(state and state.armed),
        changed_by_id=state.changed_by_id if state else None,
        changed_at=state.changed_at if state else None,
        last_fire=await _last_request(session, launch, dry_run=False),
        last_test=await _last_request(session, launch, dry_run=True),
    )


async def card_killswitch(*, session: AsyncSession, launch: Launch) -> KillSwitchSummary | None:
    """The kill switch as the launch card shows it: None until it was armed, disarmed or fired;
    ``last_fire`` is the latest fire, in flight or finished (the card reads FIRING… while the
    trading system has not answered)."""
    state = await session.scalar(
        select(KillSwitchState).where(KillSwitchState.launch_id == launch.id)
    )
    last_fire = await _last_request(session, launch, dry_run=False)
    if state is None and last_fire is None:
        return None
    return KillSwitchSummary(
        launch_id=launch.id,
        launch_name=launch.name,
        armed=bool(state and state.armed),
        changed_by_id=state.changed_by_id if state else None,
        changed_at=state.changed_at if state else None,
        last_fire=last_fire,
        last_test=None,
    )


async def _last_request(
    session: AsyncSession, launch: Launch, *, dry_run: bool
) -> KillSwitchView | None:
    query = select(KillSwitchRequest).where(
        KillSwitchRequest.launch_id == launch.id, KillSwitchRequest.dry_run.is_(dry_run)
    )
    row = await session.scalar(query.order_by(KillSwitchRequest.id.desc()).limit(1))
    return view_of(KillSwitchView, row, launch_name=launch.name) if row is not None else None


async def firing_message_id(*, session: AsyncSession, request_pk: int) -> int | None:
    """The outbox row of the request's "firing…" message, if one was queued."""
    rows = await session.scalars(
        select(SlackMessage).where(
            SlackMessage.kind == KILLSWITCH_MESSAGE, SlackMessage.subject_id == request_pk
        )
    )
    return next((m.id for m in rows if (m.body or {}).get("tag") == "firing"), None)
