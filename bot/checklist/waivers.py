"""Waivers: a sign-off role holder marks an item "not applicable" or "waived", with a reason.

A waived item counts as done for phase completion, is shown struck through with who and why, and
is listed apart from ticked items. A waiver is an event like a tick (``item_waived``), and so is
undoing one (``item_unwaived``: the item is open again, its phase reopened if it was complete); the
same people may do both, and a refused attempt at either is recorded (``item_waive_refused``, with
``undo`` for an undo). Takes an AsyncSession; the caller owns the transaction. No Slack or HTTP
imports."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.checklist.rules import update_phase_completion
from bot.checklist.schedule import local_today
from bot.core.config import RoleConfig, ScheduleConfig
from bot.core.errors import BadInput, Conflict, NotAllowed, NotFound
from bot.core.events import Actor, EventKind, append_event
from bot.core.identity import holds
from bot.core.launches import lock_launch
from bot.core.models import Event, Item, ItemGroup, Launch, Phase, Section, SlackMessage
from bot.core.mrkdwn import escape
from bot.core.outbox import bump_messages

WAIVE_KINDS = {"not_applicable": "not applicable", "waived": "waived"}
WAIVE_REASON_MAX = 500


@dataclass(frozen=True)
class Waived:
    launch_id: int
    item_id: int
    text: str
    kind: str
    phase_completed: bool
    replayed: bool = False  # this request was applied before: nothing changed now


@dataclass(frozen=True)
class Unwaived:
    launch_id: int
    item_id: int
    text: str
    kind: str  # the waiver that was undone
    replayed: bool = False  # this request was applied before: nothing changed now


@dataclass(frozen=True)
class WaiverRules:
    """Who may waive: the configured roles and the actor's user-group memberships as looked up
    (``unchecked``: groups Slack did not answer about in time)."""

    roles: Mapping[str, RoleConfig]
    usergroup_members: Mapping[str, frozenset[str]]
    unchecked_groups: Sequence[str] = ()


def may_waive(
    roles: Mapping[str, RoleConfig], user_id: str, usergroup_members: Mapping[str, frozenset[str]]
) -> bool:
    """A holder of any sign-off role (listed in ``users`` or a member of one of its groups)."""
    return any(holds(role, user_id, usergroup_members) for role in roles.values())


# "Day 3 Morning reconciliation", "day 3: Morning reconciliation": the copy of one day's section.
_DAY_QUALIFIER = re.compile(r"^day\s*(\d{1,3})(?:\s*[:·,-]\s*|\s+)(\S.*)$", re.IGNORECASE)


@dataclass(frozen=True)
class _Found:
    """An item with where it is: its section's day (None for a section of the template as written),
    the section's title, its phase's title, and whether people can see it yet (posted)."""

    item: Item
    day: int | None
    section: str
    phase: str
    phase_posted: bool
    posted: bool


def split_day(ref: str) -> tuple[int | None, str]:
    """``Day 3 Morning reconciliation`` → (3, ``Morning reconciliation``); any other text → (None, it)."""
    text = " ".join(ref.split())
    match = _DAY_QUALIFIER.match(text)
    if match is None:
        return None, text
    return int(match.group(1)), match.group(2)


async def find_item(
    *,
    session: AsyncSession,
    launch_id: int,
    ref: str,
    at: datetime,
    rule: ScheduleConfig,
    undo: bool = False,
) -> Item:
    """An item of the launch by its text (any case) or a unique part of its text, among the items
    people can see: a phase posted, and a section of its own day (a dated launch's daily checks)
    only once that day's section is posted. Each day has its own copy of the same texts, so:
    ``Day 3 <text>`` names day 3's copy; without a day, today's copy (the day whose date is today
    in ``[schedule] timezone``) is the one meant. ``undo``: the one waived copy is the one meant."""
    day, text = split_day(ref)
    found = await _items_where(session, launch_id)
    no_such_day = day if day is not None and not any(f.day == day for f in found) else None
    if no_such_day is not None:
        day, text = None, " ".join(ref.split())  # an item whose own text starts "Day 3"
    pool = [f for f in found if day is None or f.day == day]
    matches = _matching([f for f in pool if f.posted], text)
    if not matches:
        _refuse_unposted(_matching([f for f in pool if not f.posted], text), ref)
        days = sorted({f.day for f in found if f.day is not None})
        if no_such_day is not None and days:
            raise NotFound(
                f"There is no Day {no_such_day} of daily checks: they run Day {days[0]} to "
                f"Day {days[-1]}."
            )
        raise NotFound(f"No checklist item matches “{escape(ref)}”.")
    if len(matches) > 1 and undo:
        matches = [f for f in matches if f.item.waived is not None] or matches
    if len(matches) > 1 and day is None and all(f.day is not None for f in matches):
        launch = await session.get(Launch, launch_id)
        if launch is not None and launch.launch_date is not None:
            today = (local_today(at, rule) - launch.launch_date).days
            matches = [f for f in matches if f.day == today] or matches
    if len(matches) == 1:
        return matches[0].item
    named = ", ".join(
        f"“{escape(f.item.text)}”" + (f" (Day {f.day})" if f.day is not None else "")
        for f in matches[:5]
    )
    hint = ""
    if any(f.day is not None for f in matches):
        example = next(f for f in matches if f.day is not None)
        hint = f", or name the day: `Day {example.day} {escape(example.item.text)}`"
    raise BadInput(
        f"“{escape(ref)}” matches {len(matches)} items ({named}…): give more of the text{hint}."
    )


def _matching(found: Sequence[_Found], text: str) -> list[_Found]:
    """The items whose text is ``text`` (any case); failing that, those that contain it."""
    wanted = text.lower()
    exact = [f for f in found if f.item.text.lower() == wanted]
    return exact or [f for f in found if wanted and wanted in f.item.text.lower()]


def _refuse_unposted(later: Sequence[_Found], ref: str) -> None:
    """Raise for an item people cannot see yet (its phase or its day is still to come)."""
    if not later:
        return
    first = later[0]
    if not first.phase_posted:
        raise NotAllowed(f"Phase *{escape(first.phase)}* has not started yet.")
    raise NotAllowed(
        f"“{escape(first.item.text)}” of *{escape(first.section)}* is not posted yet: a day's "
        "checks can be waived once they are posted on their day."
    )


async def _items_where(session: AsyncSession, launch_id: int) -> list[_Found]:
    """Every item of the launch with its section's day and title, in checklist order."""
    posted_sections = set(
        (
            await session.scalars(
                select(SlackMessage.section_id).where(
                    SlackMessage.launch_id == launch_id, SlackMessage.section_id.is_not(None)
                )
            )
        ).all()
    )
    rows = await session.execute(
        select(Item, Section.id, Section.day, Section.title, Phase.title, Phase.posted_at)
        .join(ItemGroup, ItemGroup.id == Item.group_id)
        .join(Section, Section.id == ItemGroup.section_id)
        .join(Phase, Phase.id == Section.phase_id)
        .where(Item.launch_id == launch_id)
        .order_by(Phase.position, Section.position, ItemGroup.position, Item.position)
    )
    found = []
    for item, section_id, day, section, phase, phase_posted_at in rows.all():
        phase_posted = phase_posted_at is not None
        posted = phase_posted and (day is None or section_id in posted_sections)
        found.append(_Found(item, day, section, phase, phase_posted, posted))
    return found


async def waive_item(
    *,
    session: AsyncSession,
    launch_id: int,
    item_id: int,
    kind: str,
    reason: str,
    actor: Actor,
    at: datetime,
    rules: WaiverRules,
    source: str = "",
    group_id: int | None = None,
    dedup_key: str | None = None,
) -> Waived:
    """Waive one item of a posted phase of the still-active launch. Only a sign-off role holder may
    (anyone else: ``NotAllowed``, recorded); a reason is required; an item already ticked or waived
    is left alone (``Conflict``). Completes the phase when this was its last open item.
    ``group_id``: the item group a form was opened for; an item of another group is refused.
    ``dedup_key`` names the request (a form, a slash command): a replay of it changes nothing."""
    launch = await _open_launch(session, launch_id)
    reason = waiver_reason(kind, reason)
    replay = await _replayed(session, dedup_key)
    if replay is not None:
        return Waived(launch_id, item_id, replay["text"], replay["kind"], False, replayed=True)
    await _refuse_unless_role_holder(session, launch_id, item_id, actor, at, rules, source)
    item, section_id, phase = await _changeable_item(session, launch_id, item_id, group_id)
    if item.waived is not None:
        raise Conflict(f"“{escape(item.text)}” is already {WAIVE_KINDS[item.waived]}.")
    if item.checked:
        raise Conflict(f"“{escape(item.text)}” is already ticked.")
    item.waived, item.waived_by_id, item.waived_by_name = kind, actor.user_id, actor.name
    item.waived_at, item.waive_reason = at, reason
    await append_event(
        session=session,
        launch_id=launch_id,
        actor=actor,
        kind=EventKind.ITEM_WAIVED,
        at=at,
        item_id=item.id,
        detail={"text": item.text, "kind": kind, "reason": reason},
        source=source,
        dedup_key=dedup_key,
    )
    await session.flush()
    completed = await update_phase_completion(session, launch, phase, actor, at)
    await bump_messages(session, launch_id, {section_id})
    return Waived(launch_id, item.id, item.text, kind, completed)


async def unwaive_item(
    *,
    session: AsyncSession,
    launch_id: int,
    item_id: int,
    actor: Actor,
    at: datetime,
    rules: WaiverRules,
    source: str = "",
    group_id: int | None = None,
    dedup_key: str | None = None,
) -> Unwaived:
    """Undo an item's waiver: the item is open again (its phase reopened if it was complete). The
    same people as for a waiver may (anyone else: ``NotAllowed``, recorded); an item that is not
    waived is left alone (``Conflict``). ``group_id`` and ``dedup_key`` as for ``waive_item``."""
    launch = await _open_launch(session, launch_id)
    replay = await _replayed(session, dedup_key)
    if replay is not None:
        return Unwaived(launch_id, item_id, replay["text"], replay["kind"], replayed=True)
    await _refuse_unless_role_holder(
        session, launch_id, item_id, actor, at, rules, source, undo=True
    )
    item, section_id, phase = await _changeable_item(session, launch_id, item_id, group_id)
    if item.waived is None:
        raise Conflict(f"“{escape(item.text)}” is not waived.")
    kind = item.waived
    item.waived = item.waived_by_id = item.waived_by_name = item.waive_reason = None
    item.waived_at = None
    await append_event(
        session=session,
        launch_id=launch_id,
        actor=actor,
        kind=EventKind.ITEM_UNWAIVED,
        at=at,
        item_id=item.id,
        detail={"text": item.text, "kind": kind},
        source=source,
        dedup_key=dedup_key,
    )
    await session.flush()
    await update_phase_completion(session, launch, phase, actor, at)
    await bump_messages(session, launch_id, {section_id})
    return Unwaived(launch_id, item.id, item.text, kind)


def waiver_reason(kind: str, reason: str) -> str:
    """The reason as recorded (whitespace folded); a kind or reason the rules refuse raises."""
    if kind not in WAIVE_KINDS:
        raise BadInput(f"`{escape(kind)}` is not a kind of waiver: use `waived` or `n/a`.")
    reason = " ".join(reason.split())
    if not reason:
        raise BadInput("Give a reason: it is recorded and shown with the waiver.")
    if len(reason) > WAIVE_REASON_MAX:
        raise BadInput(f"Keep the reason under {WAIVE_REASON_MAX} characters.")
    return reason


async def _replayed(session: AsyncSession, dedup_key: str | None) -> dict[str, str] | None:
    """The detail (text, kind) of the waiver or undo ``dedup_key`` already recorded, else None."""
    if dedup_key is None:
        return None
    row = (await session.execute(select(Event.detail).where(Event.dedup_key == dedup_key))).first()
    if row is None:
        return None
    detail = row.detail or {}
    return {"text": str(detail.get("text", "")), "kind": str(detail.get("kind", "waived"))}


async def _open_launch(session: AsyncSession, launch_id: int) -> Launch:
    """The launch, locked; a closed one's checklist no longer changes."""
    launch = await lock_launch(session, launch_id)
    if launch.closed_at is not None:
        raise NotAllowed(
            f"Launch *{escape(launch.name)}* is closed; its checklist can no longer change."
        )
    return launch


async def _refuse_unless_role_holder(
    session: AsyncSession,
    launch_id: int,
    item_id: int,
    actor: Actor,
    at: datetime,
    rules: WaiverRules,
    source: str,
    *,
    undo: bool = False,
) -> None:
    """Raise ``NotAllowed`` (recorded as ``item_waive_refused``) unless the actor holds a sign-off
    role."""
    if may_waive(rules.roles, actor.user_id, rules.usergroup_members):
        return
    why = "usergroup_unchecked" if rules.unchecked_groups else "not_a_role_holder"
    await append_event(
        session=session,
        launch_id=launch_id,
        actor=actor,
        kind=EventKind.ITEM_WAIVE_REFUSED,
        at=at,
        item_id=item_id,
        detail={"reason": why, **({"undo": True} if undo else {})},
        source=source,
    )
    slow = " (Slack did not answer in time about your user groups; try again)"
    raise NotAllowed(
        f"Only a holder of a sign-off role may {'undo a waiver' if undo else 'waive an item'}"
        + (slow if rules.unchecked_groups else "")
        + ". Your attempt was logged.",
        code=why,
        recorded=True,
    )


async def _changeable_item(
    session: AsyncSession, launch_id: int, item_id: int, group_id: int | None = None
) -> tuple[Item, int, Phase]:
    """(item, its section's id, its phase) for an item of a posted phase that people tick (and of
    ``group_id``, when given)."""
    row = (
        await session.execute(
            select(Item, Section.id, Phase)
            .join(ItemGroup, ItemGroup.id == Item.group_id)
            .join(Section, Section.id == ItemGroup.section_id)
            .join(Phase, Phase.id == Section.phase_id)
            .where(Item.launch_id == launch_id, Item.id == item_id)
        )
    ).first()
    if row is None:
        raise NotFound("That checklist item is not part of this launch.")
    item, section_id, phase = row
    if group_id is not None and item.group_id != group_id:
        raise BadInput(
            f"“{escape(item.text)}” is not in the group this form was opened for. Nothing changed."
        )
    if phase.posted_at is None:
        raise NotAllowed(f"Phase *{escape(phase.title)}* has not started yet.")
    if item.managed_by is not None:
        raise NotAllowed(f"“{escape(item.text)}” is ticked by the bot; it cannot be waived.")
    return item, section_id, phase
