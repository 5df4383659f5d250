"""Domain service: start_launch, set_items_checked, advance_phase, close_launch, load_state; takes an AsyncSession.

Every write function expects the caller to own the transaction (``async with db.sessions.begin()``) and
starts by locking the launch row, so all writes to one launch are serialized on every backend
(``FOR UPDATE`` on PostgreSQL; SQLite writers already hold the database lock from BEGIN IMMEDIATE).
No Slack or HTTP imports here: listeners call these and render the result.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import BadInput, Conflict, LaunchError, NotAllowed, NotFound, PhaseIncomplete
from bot.layout import section_part_count
from bot.models import ClickInbox, Event, Item, ItemGroup, Launch, Phase, Section, SlackMessage
from bot.mrkdwn import escape
from bot.template import ChecklistTemplate

if TYPE_CHECKING:
    from bot.signoffs import SignOffLog

GENESIS_HASH = "0" * 64
MAX_NAME_LENGTH = 80


@dataclass(frozen=True)
class Actor:
    """Who did something: the Slack user id from the verified payload, and a name for display."""

    user_id: str
    name: str


# ---------------------------------------------------------------------------------------------------
# Read model: plain frozen dataclasses the Block Kit builders render.


@dataclass(frozen=True)
class ItemState:
    id: int
    text: str
    checked: bool
    changed_by_id: str | None
    changed_by_name: str | None
    changed_at: datetime | None
    duration_minutes: int | None


@dataclass(frozen=True)
class GroupState:
    id: int
    title: str | None
    stage: int | None
    duration_minutes: int | None
    items: tuple[ItemState, ...]

    @property
    def done(self) -> int:
        return sum(1 for i in self.items if i.checked)


@dataclass(frozen=True)
class SectionState:
    id: int
    position: int
    title: str
    groups: tuple[GroupState, ...]

    @property
    def items(self) -> list[ItemState]:
        return [i for g in self.groups for i in g.items]

    @property
    def done(self) -> int:
        return sum(g.done for g in self.groups)

    @property
    def total(self) -> int:
        return sum(len(g.items) for g in self.groups)


@dataclass(frozen=True)
class PhaseState:
    id: int
    position: int
    title: str
    timing: str | None
    kind: str
    posted: bool
    completed_at: datetime | None
    sections: tuple[SectionState, ...]

    @property
    def done(self) -> int:
        return sum(s.done for s in self.sections)

    @property
    def total(self) -> int:
        return sum(s.total for s in self.sections)

    @property
    def is_checklist(self) -> bool:
        return self.kind == "checklist"


@dataclass(frozen=True)
class MessageRef:
    id: int
    kind: str
    section_id: int | None
    part: int
    channel_id: str
    ts: str | None
    version: int
    rendered_version: int
    permalink: str | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class LaunchState:
    id: int
    name: str
    channel_id: str
    started_by_id: str
    started_by_name: str
    started_at: datetime
    closed_at: datetime | None
    closed_by_id: str | None
    current_phase: int
    phases: tuple[PhaseState, ...]
    messages: tuple[MessageRef, ...] = field(default=())
    extra: Mapping[str, Any] = field(default_factory=dict)
    # Roles, approvals and GO (bot/signoffs.py owns the model); None when not loaded.
    sign_offs: SignOffLog | None = None

    @property
    def is_active(self) -> bool:
        return self.closed_at is None

    @property
    def current(self) -> PhaseState:
        return self.phases[self.current_phase]

    @property
    def checklist_phases(self) -> list[PhaseState]:
        return [p for p in self.phases if p.is_checklist]

    @property
    def card(self) -> MessageRef | None:
        return next((m for m in self.messages if m.kind == "card"), None)

    def next_phase(self) -> PhaseState | None:
        return next(
            (p for p in self.phases if p.position > self.current_phase and p.is_checklist), None
        )

    def section_messages(self, section_id: int) -> list[MessageRef]:
        return sorted(
            (m for m in self.messages if m.section_id == section_id), key=lambda m: m.part
        )


# ---------------------------------------------------------------------------------------------------
# Event log


def _canonical(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(prev_hash: str, event: Event) -> str:
    """The chain link: sha256 over the predecessor's hash and this event's canonical content."""
    content = {
        "launch_id": event.launch_id,
        "seq": event.seq,
        "at": event.at.isoformat(timespec="microseconds"),
        "actor_id": event.actor_id,
        "actor_name": event.actor_name,
        "kind": event.kind,
        "item_id": event.item_id,
        "detail": event.detail,
        "source": event.source,
    }
    return hashlib.sha256((prev_hash + _canonical(content)).encode()).hexdigest()


async def append_event(
    *,
    session: AsyncSession,
    launch_id: int,
    actor: Actor,
    kind: str,
    at: datetime,
    detail: Mapping[str, Any] | None = None,
    item_id: int | None = None,
    source: str = "",
    dedup_key: str | None = None,
) -> Event:
    """Append one event. The caller must hold the launch lock (see ``lock_launch``) so that two
    writers never pick the same ``seq`` or fork the hash chain."""
    last = (
        await session.execute(
            select(Event.seq, Event.hash)
            .where(Event.launch_id == launch_id)
            .order_by(Event.seq.desc())
            .limit(1)
        )
    ).first()
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
    event = Event(
        launch_id=launch_id,
        seq=seq,
        at=at,
        actor_id=actor.user_id,
        actor_name=actor.name,
        kind=kind,
        item_id=item_id,
        detail=dict(detail or {}),
        source=source,
        dedup_key=dedup_key,
        prev_hash=prev_hash,
        hash="",
    )
    event.hash = event_hash(prev_hash, event)
    session.add(event)
    await session.flush()
    return event


async def seen(session: AsyncSession, dedup_key: str) -> bool:
    found = await session.scalar(select(Event.id).where(Event.dedup_key == dedup_key).limit(1))
    return found is not None


# ---------------------------------------------------------------------------------------------------
# Lookups


async def lock_launch(session: AsyncSession, launch_id: int) -> Launch:
    launch = await session.scalar(select(Launch).where(Launch.id == launch_id).with_for_update())
    if launch is None:
        raise NotFound(f"There is no launch #{launch_id}.")
    return launch


async def active_launch(*, session: AsyncSession, channel_id: str) -> Launch | None:
    return await session.scalar(select(Launch).where(Launch.active_channel == channel_id))


async def find_launch(*, session: AsyncSession, ref: str) -> Launch:
    """A launch by id (``12`` or ``#12``) or by exact name (the newest of that name). Not found,
    the message echoes the reference as given (``#99`` stays ``#99``)."""
    typed = ref.strip()
    wanted = typed.lstrip("#")
    if wanted.isdigit():
        launch = await session.get(Launch, int(wanted))
    else:
        launch = await session.scalar(
            select(Launch).where(Launch.name == wanted).order_by(Launch.id.desc()).limit(1)
        )
    if launch is None:
        raise NotFound(f"There is no launch called “{escape(typed)}”.")
    return launch


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
        kind="launch_started",
        at=at,
        detail={"name": name, "channel_id": channel_id, "template": template.title},
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


async def _bump_messages(session: AsyncSession, launch_id: int, section_ids: Iterable[int]) -> None:
    """Mark the card and the given sections' messages as needing a re-render."""
    ids = list(section_ids)
    condition = SlackMessage.kind == "card"
    if ids:
        condition = condition | SlackMessage.section_id.in_(ids)
    await session.execute(
        update(SlackMessage)
        .where(SlackMessage.launch_id == launch_id, condition)
        .values(version=SlackMessage.version + 1)
    )


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
        kind="click",
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
                kind="item_checked" if item.checked else "item_unchecked",
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
    await _bump_messages(session, launch_id, sections)
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
            kind="phase_completed",
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
            kind="phase_reopened",
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
        kind="phase_started",
        at=at,
        detail={"phase": nxt.title, "from": current.title},
        source=source,
    )
    await _bump_messages(session, launch_id, [])
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
        kind="launch_closed",
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
    except LaunchError as exc:
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


async def touch_message(*, session: AsyncSession, message_id: int) -> None:
    """Queue a re-render of one message (e.g. to undo a rejected click in the clicker's view)."""
    await session.execute(
        update(SlackMessage)
        .where(SlackMessage.id == message_id)
        .values(version=SlackMessage.version + 1)
    )


# ---------------------------------------------------------------------------------------------------
# Read


async def load_state(*, session: AsyncSession, launch_id: int) -> LaunchState:
    """The whole launch as an immutable tree, in template order."""
    launch = await session.get(Launch, launch_id)
    if launch is None:
        raise NotFound(f"There is no launch #{launch_id}.")
    phases = (
        await session.scalars(
            select(Phase).where(Phase.launch_id == launch_id).order_by(Phase.position)
        )
    ).all()
    sections = (
        await session.scalars(
            select(Section).where(Section.launch_id == launch_id).order_by(Section.position)
        )
    ).all()
    groups = (
        await session.scalars(
            select(ItemGroup).where(ItemGroup.launch_id == launch_id).order_by(ItemGroup.position)
        )
    ).all()
    items = (
        await session.scalars(
            select(Item).where(Item.launch_id == launch_id).order_by(Item.position)
        )
    ).all()
    messages = (
        await session.scalars(
            select(SlackMessage)
            .where(SlackMessage.launch_id == launch_id)
            .order_by(SlackMessage.id)
        )
    ).all()

    items_by_group: dict[int, list[ItemState]] = {}
    for i in items:
        items_by_group.setdefault(i.group_id, []).append(
            ItemState(
                id=i.id,
                text=i.text,
                checked=i.checked,
                changed_by_id=i.changed_by_id,
                changed_by_name=i.changed_by_name,
                changed_at=i.changed_at,
                duration_minutes=i.duration_minutes,
            )
        )
    groups_by_section: dict[int, list[GroupState]] = {}
    for g in groups:
        groups_by_section.setdefault(g.section_id, []).append(
            GroupState(
                id=g.id,
                title=g.title,
                stage=g.stage,
                duration_minutes=g.duration_minutes,
                items=tuple(items_by_group.get(g.id, [])),
            )
        )
    sections_by_phase: dict[int, list[SectionState]] = {}
    for s in sections:
        sections_by_phase.setdefault(s.phase_id, []).append(
            SectionState(
                id=s.id,
                position=s.position,
                title=s.title,
                groups=tuple(groups_by_section.get(s.id, [])),
            )
        )
    # Imported here: bot.signoffs builds on this module (locks, events).
    from bot.signoffs import load_sign_offs

    sign_offs = await load_sign_offs(session=session, launch=launch)
    return LaunchState(
        id=launch.id,
        name=launch.name,
        channel_id=launch.channel_id,
        started_by_id=launch.started_by_id,
        started_by_name=launch.started_by_name,
        started_at=launch.started_at,
        closed_at=launch.closed_at,
        closed_by_id=launch.closed_by_id,
        current_phase=launch.current_phase,
        phases=tuple(
            PhaseState(
                id=p.id,
                position=p.position,
                title=p.title,
                timing=p.timing,
                kind=p.kind,
                posted=p.posted_at is not None,
                completed_at=p.completed_at,
                sections=tuple(sections_by_phase.get(p.id, [])),
            )
            for p in phases
        ),
        messages=tuple(
            MessageRef(
                id=m.id,
                kind=m.kind,
                section_id=m.section_id,
                part=m.part,
                channel_id=m.channel_id,
                ts=m.ts,
                version=m.version,
                rendered_version=m.rendered_version,
                permalink=m.permalink,
                last_error=m.last_error,
            )
            for m in messages
        ),
        extra=launch.template_extra,
        sign_offs=sign_offs,
    )


async def launches_with_pending_messages(*, session: AsyncSession) -> list[int]:
    rows = await session.scalars(
        select(SlackMessage.launch_id)
        .where(SlackMessage.version > SlackMessage.rendered_version)
        .distinct()
    )
    return list(rows.all())


async def mark_rendered(
    *,
    session: AsyncSession,
    message_id: int,
    version: int,
    ts: str | None,
    error: str | None = None,
    permalink: str | None = None,
) -> None:
    """Record a successful post/update (never moving ``rendered_version`` backwards)."""
    message = await session.get(SlackMessage, message_id, with_for_update=True)
    if message is None:
        return
    if ts is not None:
        message.ts = ts
    if permalink is not None:
        message.permalink = permalink
    message.last_error = error
    if error is None and version > message.rendered_version:
        message.rendered_version = version
