"""Waivers: a sign-off role holder marks an item "not applicable" or "waived", with a reason.

A waived item counts as done for phase completion, is shown struck through with who and why, and
is listed apart from ticked items. A waiver is an event like a tick (``item_waived``), and so is
undoing one (``item_unwaived``: the item is open again, its phase reopened if it was complete); the
same people may do both, and a refused attempt at either is recorded (``item_waive_refused``, with
``undo`` for an undo). Takes an AsyncSession; the caller owns the transaction. No Slack or HTTP
imports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.checklist.rules import update_phase_completion
from bot.core.config import RoleConfig
from bot.core.errors import BadInput, Conflict, NotAllowed, NotFound
from bot.core.events import Actor, EventKind, append_event
from bot.core.identity import holds
from bot.core.launches import lock_launch
from bot.core.models import Event, Item, ItemGroup, Launch, Phase, Section
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


async def find_item(*, session: AsyncSession, launch_id: int, ref: str) -> Item:
    """An item of the launch by its text (any case) or a unique part of its text."""
    wanted = " ".join(ref.split()).lower()
    items = (await session.scalars(select(Item).where(Item.launch_id == launch_id))).all()
    exact = [i for i in items if i.text.lower() == wanted]
    found = exact or [i for i in items if wanted and wanted in i.text.lower()]
    if len(found) == 1:
        return found[0]
    if not found:
        raise NotFound(f"No checklist item matches “{escape(ref)}”.")
    named = ", ".join(f"“{escape(i.text)}”" for i in found[:5])
    raise BadInput(f"“{escape(ref)}” matches {len(found)} items ({named}…): give more of the text.")


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
