"""Checklist rules: ticking items (set_items_checked) and phase completion; takes an AsyncSession.

Every write function expects the caller to own the transaction (``async with db.sessions.begin()``) and
starts by locking the launch row, so all writes to one launch are serialized on every backend
(``FOR UPDATE`` on PostgreSQL; SQLite writers already hold the database lock from BEGIN IMMEDIATE).
No Slack or HTTP imports here: listeners call these and render the result."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.errors import NotAllowed, NotFound
from bot.core.events import SYSTEM, Actor, EventKind, append_event, seen
from bot.core.launches import lock_launch
from bot.core.models import Item, ItemGroup, Launch, Phase, Section, SlackMessage
from bot.core.mrkdwn import escape
from bot.core.outbox import bump_messages

# What a hand click on a bot-ticked item answers, by ``Item.managed_by``.
MANAGED_EXPLANATIONS = {
    "golive": (
        "“{item}” is a go-live step: the bot ticks it when the step is done. "
        "`/launch advance` moves the rollout on (allowed roles only); `/launch status` shows what "
        "still blocks it."
    ),
}

# ---------------------------------------------------------------------------------------------------
# Writes


@dataclass(frozen=True)
class ToggleResult:
    launch_id: int
    changed: tuple[int, ...]
    duplicate: bool
    phase_completed: bool


async def set_items_checked(
    *,
    session: AsyncSession,
    launch_id: int,
    desired: Mapping[int, bool],
    actor: Actor,
    at: datetime,
    source: str,
    dedup_key: str,
    proof: str | None = None,
) -> ToggleResult:
    """Set each item in ``desired`` to checked/unchecked, recording one event per real change.

    Semantically idempotent: an item already in the desired state is left alone (so a stale view or
    a double click never undoes someone else), and a replayed Slack action (same ``dedup_key``) is a
    no-op. Items must belong to a posted phase of this still-active launch. ``proof``: what the bot
    proved to tick them (``bot.checklist.proofs``), recorded on the items and in their events; a
    change by hand clears it."""
    launch = await lock_launch(session, launch_id)
    if launch.closed_at is not None:
        raise NotAllowed(
            f"Launch *{escape(launch.name)}* is closed; its checklist can no longer change."
        )
    if await seen(session, dedup_key + ":0"):
        return ToggleResult(launch_id, (), duplicate=True, phase_completed=False)
    rows = await _clicked_items(session, launch_id, desired)
    changed, sections, phases = _apply_desired(rows, desired, actor, at, proof)
    # The marker event makes the whole click idempotent even when it changed nothing.
    await append_event(
        session=session,
        launch_id=launch_id,
        actor=actor,
        kind=EventKind.CLICK,
        at=at,
        detail={"items": {str(k): v for k, v in desired.items()}, "changed": changed},
        source=source,
        dedup_key=dedup_key + ":0",
    )
    for item, _section_id, _phase in rows:
        if item.id in changed:
            await _record_change(session, launch_id, item, actor, at, source, proof)
    await session.flush()
    completed = False
    for phase in phases.values():
        completed |= await _update_phase_completion(session, launch, phase, actor, at)
    # Re-render even when nothing changed: the clicker's stale local tick must be corrected.
    await bump_messages(session, launch_id, sections)
    return ToggleResult(launch_id, tuple(changed), duplicate=False, phase_completed=completed)


ClickedRow = tuple[Item, int, Phase]


async def _clicked_items(
    session: AsyncSession, launch_id: int, desired: Mapping[int, bool]
) -> list[ClickedRow]:
    rows = (
        await session.execute(
            select(Item, Section.id, Phase)
            .join(ItemGroup, ItemGroup.id == Item.group_id)
            .join(Section, Section.id == ItemGroup.section_id)
            .join(Phase, Phase.id == Section.phase_id)
            .where(Item.launch_id == launch_id, Item.id.in_(list(desired)))
        )
    ).all()
    if len(rows) != len(desired):
        raise NotFound("That checklist item is not part of this launch.")
    return [(item, section_id, phase) for item, section_id, phase in rows]


def _apply_desired(
    rows: list[ClickedRow],
    desired: Mapping[int, bool],
    actor: Actor,
    at: datetime,
    proof: str | None = None,
) -> tuple[list[int], set[int], dict[int, Phase]]:
    """Set the items that differ from ``desired``; refuse items of an unposted phase, unticking a
    waived item (a tick of one changes nothing: it counts as done) and, for a person, items the bot
    ticks. Returns (changed item ids, sections shown, phases touched)."""
    changed: list[int] = []
    sections: set[int] = set()
    phases: dict[int, Phase] = {}
    for item, section_id, phase in rows:
        if phase.posted_at is None:
            raise NotAllowed(f"Phase *{escape(phase.title)}* has not started yet.")
        want = desired[item.id]
        if item.managed_by is not None and item.checked != want and actor != SYSTEM:
            raise NotAllowed(
                MANAGED_EXPLANATIONS.get(item.managed_by, "").format(item=escape(item.text))
                or f"“{escape(item.text)}” is ticked by the bot, not by hand."
            )
        sections.add(section_id)
        if item.waived is not None:
            if want:  # a stale view's tick: the waiver already counts it as done
                continue
            raise NotAllowed(_waived_explanation(item))
        if item.checked == want:
            continue
        item.checked = want
        item.changed_by_id = actor.user_id
        item.changed_by_name = actor.name
        item.changed_at = at
        item.proof = proof
        item.proof_message_id = None
        changed.append(item.id)
        phases[phase.id] = phase
    return changed, sections, phases


def _waived_explanation(item: Item) -> str:
    """What unticking a waived item answers: it counts as done until a waiver holder undoes it."""
    what = "marked not applicable" if item.waived == "not_applicable" else "waived"
    text = escape(item.text)
    return (
        f"“{text}” is {what}, so it counts as done; unticking it changes nothing. A sign-off role "
        f"holder can open it again: *Undo a waiver…* in its group's ⋯ menu, or `/launch waive "
        f'undo "{text}"`.'
    )


async def _record_change(
    session: AsyncSession,
    launch_id: int,
    item: Item,
    actor: Actor,
    at: datetime,
    source: str,
    proof: str | None,
) -> None:
    detail: dict[str, str] = {"text": item.text}
    if proof is not None:
        detail["proof"] = proof
    await append_event(
        session=session,
        launch_id=launch_id,
        actor=actor,
        kind=EventKind.ITEM_CHECKED if item.checked else EventKind.ITEM_UNCHECKED,
        at=at,
        item_id=item.id,
        detail=detail,
        source=source,
    )


def section_counts() -> ColumnElement[bool]:
    """The one rule of what a phase's progress counts (``Section`` rows, in a query): its ordinary
    sections, and a section of its own day (one first-week day's checks, the weekly review) only
    once it is posted (its messages queued). Until then its items are in no message, nobody can
    tick them, and counting them made T+1 read "Post-Launch 0/50" with 20 items in the thread.
    Every count shown (the card, /launch status, announcements, the Approve dialog, what an
    approval records) follows it; ``SectionState.counted`` is its value, read with the checklist."""
    posted = exists().where(SlackMessage.section_id == Section.id)
    return or_(Section.day.is_(None), posted)


async def open_item_count(session: AsyncSession, phase_id: int) -> int:
    """The phase's open items (neither ticked nor waived) in the sections that count now
    (``section_counts``): what every announcement and refusal says is still open."""
    return await _open_items(session, phase_id, section_counts())


async def _open_items(
    session: AsyncSession, phase_id: int, where: ColumnElement[bool] | None = None
) -> int:
    query = (
        select(func.count(Item.id))
        .join(ItemGroup, ItemGroup.id == Item.group_id)
        .join(Section, Section.id == ItemGroup.section_id)
        .where(Section.phase_id == phase_id, Item.checked.is_(False), Item.waived.is_(None))
    )
    if where is not None:
        query = query.where(where)
    return int(await session.scalar(query) or 0)


async def update_phase_completion(
    session: AsyncSession, launch: Launch, phase: Phase, actor: Actor, at: datetime
) -> bool:
    """Complete or reopen ``phase`` after one of its items changed (ticked, unticked or waived);
    True when it just completed. The caller holds the launch lock."""
    return await _update_phase_completion(session, launch, phase, actor, at)


async def _update_phase_completion(
    session: AsyncSession, launch: Launch, phase: Phase, actor: Actor, at: datetime
) -> bool:
    # Every item, the days still to come included: a phase whose first week is not over (its day
    # sections not all posted and ticked) is not complete, though nothing open is shown yet.
    open_items = await _open_items(session, phase.id)
    if open_items == 0 and phase.completed_at is None:
        phase.completed_at = at
        await append_event(
            session=session,
            launch_id=launch.id,
            actor=actor,
            kind=EventKind.PHASE_COMPLETED,
            at=at,
            detail={"phase": phase.title},
        )
        return True
    if open_items and phase.completed_at is not None:
        phase.completed_at = None
        await append_event(
            session=session,
            launch_id=launch.id,
            actor=actor,
            kind=EventKind.PHASE_REOPENED,
            at=at,
            detail={"phase": phase.title},
        )
    return False


async def section_of_message(*, session: AsyncSession, channel_id: str, ts: str) -> SlackMessage:
    message = await session.scalar(
        select(SlackMessage).where(SlackMessage.channel_id == channel_id, SlackMessage.ts == ts)
    )
    if message is None:
        raise NotFound("That message is not a Launch Control checklist the bot knows about.")
    return message


async def set_item_names(
    *, session: AsyncSession, launch_id: int, user_id: str, name: str, at: datetime
) -> bool:
    """Show ``user_id``'s ticks and waivers under their Slack display name, resolved after they
    were applied (users.info was slow or failed then, or had not been asked yet, so the handle was
    stored). Recorded like a sign-off's (``display_name_resolved`` with ``items``, and ``waivers``
    since waivers are renamed too), so the audit replays it. Returns whether anything changed; the
    messages of the sections concerned re-render if so."""
    name = name.strip()[:200]
    if not name:
        return False
    await lock_launch(session, launch_id)
    rows = (
        await session.execute(
            select(Item, ItemGroup.section_id)
            .join(ItemGroup, ItemGroup.id == Item.group_id)
            .where(
                Item.launch_id == launch_id,
                or_(
                    and_(Item.changed_by_id == user_id, Item.changed_by_name != name),
                    and_(Item.waived_by_id == user_id, Item.waived_by_name != name),
                ),
            )
        )
    ).all()
    if not rows:
        return False
    for item, _ in rows:
        if item.changed_by_id == user_id:
            item.changed_by_name = name
        if item.waived_by_id == user_id:
            item.waived_by_name = name
    await append_event(
        session=session,
        launch_id=launch_id,
        actor=SYSTEM,
        kind=EventKind.DISPLAY_NAME_RESOLVED,
        at=at,
        detail={"user_id": user_id, "name": name, "items": True, "waivers": True},
    )
    await bump_messages(session, launch_id, {section_id for _, section_id in rows})
    return True
