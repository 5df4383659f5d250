"""Checklist rules: start_launch, set_items_checked, advance_phase, close_launch; takes an AsyncSession.

Every write function expects the caller to own the transaction (``async with db.sessions.begin()``) and
starts by locking the launch row, so all writes to one launch are serialized on every backend
(``FOR UPDATE`` on PostgreSQL; SQLite writers already hold the database lock from BEGIN IMMEDIATE).
No Slack or HTTP imports here: listeners call these and render the result."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.checklist.layout import section_part_count
from bot.checklist.template import ChecklistTemplate
from bot.core.errors import BadInput, Conflict, NotAllowed, NotFound, PhaseIncomplete
from bot.core.events import SYSTEM, Actor, EventKind, append_event, seen
from bot.core.launches import active_launch, lock_launch
from bot.core.models import Item, ItemGroup, Launch, Phase, Section, SlackMessage
from bot.core.mrkdwn import escape
from bot.core.outbox import bump_messages

if TYPE_CHECKING:
    pass


MAX_NAME_LENGTH = 80


def validate_name(raw: str) -> str:
    name = " ".join(raw.split())
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'“”":
        name = name[1:-1].strip()
    name = name.strip("“”\"'").strip()
    if not name:
        raise BadInput("Give the launch a name, e.g. `/launch start Trading v2`.")
    if len(name) > MAX_NAME_LENGTH:
        raise BadInput(
            f"A launch name is at most {MAX_NAME_LENGTH} characters (yours has {len(name)})."
        )
    return name


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


async def start_launch(
    *,
    session: AsyncSession,
    template: ChecklistTemplate,
    name: str,
    team_id: str,
    channel_id: str,
    actor: Actor,
    at: datetime,
    source: str = "",
) -> Launch:
    """Copy ``template`` into a new launch in ``channel_id`` and queue its card and first phase.

    Raises Conflict if the channel already has an active launch (also when two starts race: the UNIQUE
    ``active_channel`` decides)."""
    name = validate_name(name)
    existing = await active_launch(session=session, channel_id=channel_id)
    if existing is not None:
        raise Conflict(
            f"This channel already has an active launch: *{escape(existing.name)}* (#{existing.id})."
        )
    launch = Launch(
        name=name,
        team_id=team_id,
        channel_id=channel_id,
        active_channel=channel_id,
        started_by_id=actor.user_id,
        started_by_name=actor.name,
        started_at=at,
        current_phase=0,
        template_title=template.title,
        template_extra={
            "contacts": [c.model_dump() for c in template.contacts],
            "sign_off_roles": [r.model_dump() for r in template.sign_off_roles],
        },
    )
    session.add(launch)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict("This channel already has an active launch.") from exc

    first_checklist: Phase | None = None
    for p_pos, t_phase in enumerate(template.phases):
        phase = Phase(
            launch_id=launch.id,
            position=p_pos,
            title=t_phase.title,
            timing=t_phase.timing,
            kind=t_phase.kind,
        )
        session.add(phase)
        await session.flush()
        if first_checklist is None and t_phase.kind == "checklist":
            first_checklist = phase
        for s_pos, t_section in enumerate(t_phase.sections):
            section = Section(
                launch_id=launch.id, phase_id=phase.id, position=s_pos, title=t_section.title
            )
            session.add(section)
            await session.flush()
            for g_pos, t_group in enumerate(t_section.groups):
                group = ItemGroup(
                    launch_id=launch.id,
                    section_id=section.id,
                    position=g_pos,
                    title=t_group.title,
                    stage=t_group.stage,
                    duration_minutes=t_group.duration_minutes,
                )
                session.add(group)
                await session.flush()
                session.add_all(
                    Item(
                        launch_id=launch.id,
                        group_id=group.id,
                        position=i_pos,
                        text=t_item.text,
                        duration_minutes=t_item.duration_minutes,
                        checked=False,
                    )
                    for i_pos, t_item in enumerate(t_group.items)
                )
    if first_checklist is None:
        raise BadInput("The checklist template has no checklist phase.")
    launch.current_phase = first_checklist.position
    session.add(SlackMessage(launch_id=launch.id, kind="card", channel_id=channel_id, part=0))
    await _post_phase(session, launch, first_checklist, at)
    await append_event(
        session=session,
        launch_id=launch.id,
        actor=actor,
        kind=EventKind.LAUNCH_STARTED,
        at=at,
        detail={
            "name": name,
            "channel_id": channel_id,
            "team_id": team_id,
            "template": template.title,
            # What the audit can check of this log (bot/audit/replay.py, ``LOG_VERSION``).
            "log_version": 2,
        },
        source=source,
    )
    return launch


async def _post_phase(session: AsyncSession, launch: Launch, phase: Phase, at: datetime) -> None:
    """Queue one message per section of ``phase`` (more if a section is too big for one message)."""
    phase.posted_at = at
    sections = (
        await session.scalars(
            select(Section).where(Section.phase_id == phase.id).order_by(Section.position)
        )
    ).all()
    for section in sections:
        group_sizes = (
            (
                await session.execute(
                    select(func.count(Item.id))
                    .join(ItemGroup, ItemGroup.id == Item.group_id)
                    .where(ItemGroup.section_id == section.id)
                    .group_by(ItemGroup.id)
                    .order_by(ItemGroup.position)
                )
            )
            .scalars()
            .all()
        )
        for part in range(section_part_count(list(group_sizes))):
            session.add(
                SlackMessage(
                    launch_id=launch.id,
                    kind="section",
                    section_id=section.id,
                    part=part,
                    channel_id=launch.channel_id,
                )
            )
    await session.flush()


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
) -> ToggleResult:
    """Set each item in ``desired`` to checked/unchecked, recording one event per real change.

    Semantically idempotent: an item already in the desired state is left alone (so a stale view or
    a double click never undoes someone else), and a replayed Slack action (same ``dedup_key``) is a
    no-op. Items must belong to a posted phase of this still-active launch."""
    launch = await lock_launch(session, launch_id)
    if launch.closed_at is not None:
        raise NotAllowed(
            f"Launch *{escape(launch.name)}* is closed; its checklist can no longer change."
        )
    if await seen(session, dedup_key + ":0"):
        return ToggleResult(launch_id, (), duplicate=True, phase_completed=False)
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
    changed: list[int] = []
    sections: set[int] = set()
    phases: dict[int, Phase] = {}
    for item, section_id, phase in rows:
        if phase.posted_at is None:
            raise NotAllowed(f"Phase *{escape(phase.title)}* has not started yet.")
        wanted_change = item.checked != desired[item.id]
        if item.managed_by is not None and wanted_change and actor.user_id != SYSTEM.user_id:
            raise NotAllowed(
                MANAGED_EXPLANATIONS.get(item.managed_by, "").format(item=escape(item.text))
                or f"“{escape(item.text)}” is ticked by the bot, not by hand."
            )
        sections.add(section_id)
        want = desired[item.id]
        if item.checked == want:
            continue
        item.checked = want
        item.changed_by_id = actor.user_id
        item.changed_by_name = actor.name
        item.changed_at = at
        changed.append(item.id)
        phases[phase.id] = phase
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
            await append_event(
                session=session,
                launch_id=launch_id,
                actor=actor,
                kind=EventKind.ITEM_CHECKED if item.checked else EventKind.ITEM_UNCHECKED,
                at=at,
                item_id=item.id,
                detail={"text": item.text},
                source=source,
            )
    await session.flush()
    completed = False
    for phase in phases.values():
        completed |= await _update_phase_completion(session, launch, phase, actor, at)
    # Re-render even when nothing changed: the clicker's stale local tick must be corrected.
    await bump_messages(session, launch_id, sections)
    return ToggleResult(launch_id, tuple(changed), duplicate=False, phase_completed=completed)


async def _open_items(session: AsyncSession, phase_id: int) -> int:
    count = await session.scalar(
        select(func.count(Item.id))
        .join(ItemGroup, ItemGroup.id == Item.group_id)
        .join(Section, Section.id == ItemGroup.section_id)
        .where(Section.phase_id == phase_id, Item.checked.is_(False))
    )
    return int(count or 0)


async def _update_phase_completion(
    session: AsyncSession, launch: Launch, phase: Phase, actor: Actor, at: datetime
) -> bool:
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


async def advance_phase(
    *, session: AsyncSession, launch_id: int, actor: Actor, at: datetime, source: str = ""
) -> Phase:
    """Move to the next checklist phase and queue its messages. The current phase must be complete."""
    launch = await lock_launch(session, launch_id)
    if launch.closed_at is not None:
        raise NotAllowed(f"Launch *{escape(launch.name)}* is closed.")
    phases = (
        await session.scalars(
            select(Phase).where(Phase.launch_id == launch_id).order_by(Phase.position)
        )
    ).all()
    current = phases[launch.current_phase]
    if current.completed_at is None:
        open_items = await _open_items(session, current.id)
        raise PhaseIncomplete(
            f"*{escape(current.title)}* still has {open_items} open item(s); finish them before moving on."
        )
    nxt = next((p for p in phases if p.position > current.position and p.kind == "checklist"), None)
    if nxt is None:
        raise Conflict("This is the last phase; there is nothing to move on to.")
    launch.current_phase = nxt.position
    await _post_phase(session, launch, nxt, at)
    await append_event(
        session=session,
        launch_id=launch_id,
        actor=actor,
        kind=EventKind.PHASE_STARTED,
        at=at,
        detail={"phase": nxt.title, "from": current.title},
        source=source,
    )
    await bump_messages(session, launch_id, [])
    return nxt


async def close_launch(
    *, session: AsyncSession, launch_id: int, actor: Actor, at: datetime, source: str = ""
) -> Launch:
    launch = await lock_launch(session, launch_id)
    if launch.closed_at is not None:
        raise Conflict(f"Launch *{escape(launch.name)}* is already closed.")
    launch.closed_at = at
    launch.closed_by_id = actor.user_id
    launch.closed_by_name = actor.name
    launch.active_channel = None
    await append_event(
        session=session,
        launch_id=launch_id,
        actor=actor,
        kind=EventKind.LAUNCH_CLOSED,
        at=at,
        source=source,
    )
    # Every message of the launch re-renders to show it closed.
    await session.execute(
        update(SlackMessage)
        .where(SlackMessage.launch_id == launch_id)
        .values(version=SlackMessage.version + 1)
    )
    return launch


async def section_of_message(*, session: AsyncSession, channel_id: str, ts: str) -> SlackMessage:
    message = await session.scalar(
        select(SlackMessage).where(SlackMessage.channel_id == channel_id, SlackMessage.ts == ts)
    )
    if message is None:
        raise NotFound("That message is not a Launch Control checklist the bot knows about.")
    return message
