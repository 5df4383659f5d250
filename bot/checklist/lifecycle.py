"""A launch's lifecycle: start it from the template (its own copy), post phases, advance and close. Takes an AsyncSession; the caller owns the transaction and each write locks the launch row."""

from __future__ import annotations

import copy
from datetime import date, datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.checklist.layout import section_part_count
from bot.checklist.rules import open_item_count
from bot.checklist.schedule import first_phase_due, with_days
from bot.checklist.structure import logged_structure
from bot.checklist.template import ChecklistTemplate, TemplateSection
from bot.core.config import ScheduleConfig
from bot.core.errors import BadInput, Conflict, NotAllowed, PhaseIncomplete
from bot.core.events import Actor, EventKind, append_event
from bot.core.launches import active_launch, lock_launch
from bot.core.models import Item, ItemGroup, Launch, Phase, Section, SlackMessage
from bot.core.mrkdwn import escape
from bot.core.outbox import bump_messages

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
    launch_date: date | None = None,
    schedule: ScheduleConfig | None = None,
) -> Launch:
    """Copy ``template`` into a new launch in ``channel_id`` and queue its card and first phase.

    With ``launch_date`` (T-0) the launch is dated: the first week's repeating groups become a
    section per day (``bot.checklist.schedule``), posted by the calendar on their days, and a first
    phase whose date (T-7 at ``post_at``) is still ahead is not posted now but on that date (the
    ``launch_started`` event records when: ``first_phase_due``); the caller schedules it.

    Raises Conflict if the channel already has an active launch (also when two starts race: the UNIQUE
    ``active_channel`` decides)."""
    name = validate_name(name)
    if launch_date is not None:
        template = with_days(template, schedule or ScheduleConfig(), launch_date)
    existing = await active_launch(session=session, channel_id=channel_id)
    if existing is not None:
        raise Conflict(
            f"This channel already has an active launch: *{escape(existing.name)}* (#{existing.id})."
        )
    launch = await _new_launch(session, template, name, team_id, channel_id, actor, at)
    launch.launch_date = launch_date
    first_checklist = await _copy_template(session, launch, template)
    if first_checklist is None:
        raise BadInput("The checklist template has no checklist phase.")
    launch.current_phase = first_checklist.position
    session.add(SlackMessage(launch_id=launch.id, kind="card", channel_id=channel_id, part=0))
    first_due = (
        first_phase_due(first_checklist.timing, launch_date, schedule or ScheduleConfig(), at)
        if launch_date is not None
        else None
    )
    if first_due is None:
        await _post_phase(session, launch, first_checklist, at)
    await session.flush()
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
            # What the audit can check of this log (bot/audit/replay/state.py, ``LOG_VERSION``).
            "log_version": 4,
            **({"launch_date": launch_date.isoformat()} if launch_date is not None else {}),
            # The first phase waits for its date (``phase_started`` says when it was posted).
            **({"first_phase_due": first_due.isoformat()} if first_due is not None else {}),
            # The launch's own copy of the checklist, row by row (bot/checklist/structure.py), and
            # the template's other parts, as frozen at start: verify compares every row with them.
            "structure": await logged_structure(session, launch.id),
            "template_extra": copy.deepcopy(launch.template_extra),
        },
        source=source,
    )
    return launch


async def _new_launch(
    session: AsyncSession,
    template: ChecklistTemplate,
    name: str,
    team_id: str,
    channel_id: str,
    actor: Actor,
    at: datetime,
) -> Launch:
    """The launch row; the UNIQUE ``active_channel`` refuses a second active launch in a channel."""
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
    return launch


async def _copy_template(
    session: AsyncSession, launch: Launch, template: ChecklistTemplate
) -> Phase | None:
    """Copy the template's phases, sections, groups and items into the launch (the launch keeps its
    own copy: a template edited later never changes it). Returns the first checklist phase."""
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
                launch_id=launch.id,
                phase_id=phase.id,
                position=s_pos,
                title=t_section.title,
                day=t_section.day,
            )
            session.add(section)
            await session.flush()
            await _copy_groups(session, launch, section, t_section)
    return first_checklist


async def _copy_groups(
    session: AsyncSession, launch: Launch, section: Section, t_section: TemplateSection
) -> None:
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
                key=t_item.key,
            )
            for i_pos, t_item in enumerate(t_group.items)
        )


async def _post_phase(session: AsyncSession, launch: Launch, phase: Phase, at: datetime) -> None:
    """Queue one message per section of ``phase`` (more if a section is too big for one message);
    a section of its own day (``Section.day``) waits for the calendar to post it on that day."""
    phase.posted_at = at
    sections = (
        await session.scalars(
            select(Section)
            .where(Section.phase_id == phase.id, Section.day.is_(None))
            .order_by(Section.position)
        )
    ).all()
    for section in sections:
        await _queue_section(session, launch, section)
    await session.flush()


async def post_day_section(*, session: AsyncSession, launch: Launch, section: Section) -> None:
    """Queue the messages of a section of its own day (one day's daily checks, the weekly review).
    The caller holds the launch lock and has checked the section was not posted yet."""
    await _queue_section(session, launch, section)
    await session.flush()


async def _queue_section(session: AsyncSession, launch: Launch, section: Section) -> None:
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


async def post_phase_on_date(
    *, session: AsyncSession, launch: Launch, phase: Phase, at: datetime, actor: Actor
) -> str | None:
    """Post a dated phase on its date, open items before it or not (they still count); it becomes
    the current phase. The caller holds the launch lock and has checked it was not posted yet.
    Returns the title of the phase that was current before."""
    phases = (
        await session.scalars(
            select(Phase).where(Phase.launch_id == launch.id).order_by(Phase.position)
        )
    ).all()
    current = phases[launch.current_phase] if launch.current_phase < len(phases) else None
    # The first phase of a launch started ahead of it was current, unposted, until its date.
    before = current.title if current is not None and current.id != phase.id else None
    launch.current_phase = max(launch.current_phase, phase.position)
    await _post_phase(session, launch, phase, at)
    await append_event(
        session=session,
        launch_id=launch.id,
        actor=actor,
        kind=EventKind.PHASE_STARTED,
        at=at,
        detail={"phase": phase.title, "from": before, "on_date": True},
    )
    await bump_messages(session, launch.id, [])
    return before


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
    if current.posted_at is None:
        # The first phase of a launch started ahead of its date: posted early (it has no
        # predecessor); the calendar then does not post it again.
        await _post_phase(session, launch, current, at)
        await append_event(
            session=session,
            launch_id=launch_id,
            actor=actor,
            kind=EventKind.PHASE_STARTED,
            at=at,
            detail={"phase": current.title, "from": None, "early": True},
            source=source,
        )
        await bump_messages(session, launch_id, [])
        return current
    if current.completed_at is None:
        open_items = await open_item_count(session, current.id)
        raise PhaseIncomplete(
            f"*{escape(current.title)}* still has {open_items} open item(s); finish them before moving on."
        )
    # A phase the calendar already posted on its date is never posted again.
    nxt = next(
        (
            p
            for p in phases
            if p.position > current.position and p.kind == "checklist" and p.posted_at is None
        ),
        None,
    )
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


CLOSE_OUTCOMES = {
    "completed": "Completed",
    "abandoned": "Abandoned",
    "rolled_back": "Rolled back",
}
"""How a launch can end (the close confirmation's choices): stored value → label."""

CLOSE_NOTE_MAX = 2000


async def close_launch(
    *,
    session: AsyncSession,
    launch_id: int,
    actor: Actor,
    at: datetime,
    source: str = "",
    outcome: str = "completed",
    note: str = "",
) -> Launch:
    """Close the launch with its ``outcome`` (a key of ``CLOSE_OUTCOMES``) and the closer's note,
    both recorded in the ``launch_closed`` event; every message of the launch re-renders read-only."""
    if outcome not in CLOSE_OUTCOMES:
        raise BadInput(f"`{escape(outcome)}` is not a way a launch can end.")
    note = note.strip()[:CLOSE_NOTE_MAX]
    launch = await lock_launch(session, launch_id)
    if launch.closed_at is not None:
        raise Conflict(f"Launch *{escape(launch.name)}* is already closed.")
    launch.closed_at = at
    launch.closed_by_id = actor.user_id
    launch.closed_by_name = actor.name
    launch.active_channel = None
    launch.close_outcome = outcome
    launch.close_note = note or None
    await append_event(
        session=session,
        launch_id=launch_id,
        actor=actor,
        kind=EventKind.LAUNCH_CLOSED,
        at=at,
        detail={"outcome": outcome, "note": note or None},
        source=source,
    )
    # Every message of the launch re-renders to show it closed.
    await session.execute(
        update(SlackMessage)
        .where(SlackMessage.launch_id == launch_id)
        .values(version=SlackMessage.version + 1)
    )
    return launch
