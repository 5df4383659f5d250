"""Click storage: received checkbox clicks are stored before the ack, then applied in receipt order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.checklist.rules import ToggleResult, set_items_checked
from bot.core.events import Actor
from bot.core.models import ClickInbox
from bot.core.outbox import touch_message
from bot.core.refusal import Refused


@dataclass(frozen=True)
class ReceivedClick:
    launch_id: int
    message_id: int
    desired: Mapping[int, bool]
    actor: Actor
    at: datetime
    source: str
    dedup_key: str


async def receive_clicks(*, session: AsyncSession, clicks: list[ReceivedClick]) -> set[str]:
    """Store clicks as received, all in the caller's one transaction (group commit: a burst of clicks
    costs one commit, not one each). Returns the dedup keys that were new; a replay of a click already
    stored is skipped. ``apply_click`` makes each take effect."""
    keys = [c.dedup_key for c in clicks]
    known = set(
        (
            await session.scalars(
                select(ClickInbox.dedup_key).where(ClickInbox.dedup_key.in_(keys))
            )
        ).all()
    )
    fresh: dict[str, ReceivedClick] = {}
    for click in clicks:
        if click.dedup_key not in known:
            fresh.setdefault(click.dedup_key, click)
    if not fresh:
        return set()
    rows = [
        {
            "launch_id": c.launch_id,
            "message_id": c.message_id,
            "received_at": c.at,
            "user_id": c.actor.user_id,
            "user_name": c.actor.name,
            "desired": {str(k): v for k, v in c.desired.items()},
            "source": c.source,
            "dedup_key": c.dedup_key,
        }
        for c in fresh.values()
    ]
    dialect = session.get_bind().dialect.name
    insert_fn = pg_insert if dialect == "postgresql" else sqlite_insert
    # ON CONFLICT: another process may store the same replayed request between our SELECT and INSERT.
    await session.execute(
        insert_fn(ClickInbox).on_conflict_do_nothing(index_elements=["dedup_key"]), rows
    )
    return set(fresh)


async def pending_clicks(*, session: AsyncSession, limit: int = 100) -> list[int]:
    rows = await session.scalars(
        select(ClickInbox.id)
        .where(ClickInbox.applied_at.is_(None))
        .order_by(ClickInbox.id)
        .limit(limit)
    )
    return list(rows.all())


async def clickers(*, session: AsyncSession, click_ids: Iterable[int]) -> set[str]:
    """The Slack user ids behind these received clicks (to look their display names up first)."""
    rows = await session.scalars(
        select(ClickInbox.user_id).where(ClickInbox.id.in_(list(click_ids))).distinct()
    )
    return set(rows.all())


@dataclass(frozen=True)
class AppliedClick:
    dedup_key: str
    launch_id: int
    message_id: int
    user_id: str
    refusal: str | None
    result: ToggleResult | None
    ticked: int = 0  # items this click really checked (not already checked, not refused)


async def apply_click(
    *,
    session: AsyncSession,
    click_id: int,
    at: datetime,
    names: Mapping[str, str] | None = None,
) -> AppliedClick | None:
    """Apply one received click (in receipt order); a rule that says no (closed launch, phase not
    started) is recorded as the click's outcome and re-renders the message to undo the local tick.
    ``names`` maps user ids to display names; a clicker without one is shown by the stored handle."""
    click = await session.get(ClickInbox, click_id)
    if click is None or click.applied_at is not None:
        return None
    refusal: str | None = None
    result: ToggleResult | None = None
    try:
        async with session.begin_nested():
            result = await set_items_checked(
                session=session,
                launch_id=click.launch_id,
                desired={int(k): bool(v) for k, v in click.desired.items()},
                actor=Actor(click.user_id, (names or {}).get(click.user_id) or click.user_name),
                at=click.received_at,
                source=click.source,
                dedup_key=click.dedup_key,
            )
    except Refused as exc:
        refusal = exc.message
        await touch_message(session=session, message_id=click.message_id)
    click.applied_at = at
    click.outcome = refusal or "applied"
    ticked = 0
    if result is not None and not result.duplicate:
        ticked = sum(1 for item_id in result.changed if click.desired.get(str(item_id)))
    return AppliedClick(
        click.dedup_key, click.launch_id, click.message_id, click.user_id, refusal, result, ticked
    )
