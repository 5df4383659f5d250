"""Waiving from Slack: who may (user groups looked up, cached and bounded), the form a group's "⋯"
menu opens, and the submissions' one transaction each. ``/launch waive`` shares the rules."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.checklist.name_flows import name_later
from bot.checklist.state import load_phases
from bot.checklist.waive_blocks import (
    WaiveForm,
    WaiveFormMeta,
    find_group,
    unwaive_modal,
    waive_modal,
)
from bot.checklist.waivers import Unwaived, Waived, WaiverRules, unwaive_item, waive_item
from bot.core.binding import launch_in_channel
from bot.core.errors import BadInput, NotFound
from bot.core.events import Actor
from bot.core.identity import usergroup_membership
from bot.core.models import Launch
from bot.core.refusal import unit_of_work
from bot.deps import Deps


async def waiver_rules(deps: Deps, user_id: str) -> WaiverRules:
    """Who may waive, for ``user_id``: every sign-off role's user groups are looked up (cached,
    bounded), none when the user is listed in a role directly (the common case needs no call)."""
    roles = deps.config.roles
    groups: tuple[str, ...] = ()
    if not any(user_id in role.users for role in roles.values()):
        groups = tuple(dict.fromkeys(g for role in roles.values() for g in role.usergroups))
    membership = await usergroup_membership(deps.identity, user_id, groups)
    return WaiverRules(roles, membership.members, membership.unchecked)


async def waiver_form(deps: Deps, meta: WaiveFormMeta, *, undo: bool) -> dict[str, object]:
    """The modal a group's menu opens: waive one of its open items, or undo one of its waivers."""
    async with deps.db.read_sessions() as session:
        launch = await session.get(Launch, meta.launch_id)
        phases = await load_phases(session=session, launch_id=meta.launch_id)
    found = find_group(phases, meta.group_id)
    if launch is None or found is None:
        raise NotFound("That checklist group is not part of this launch.")
    where, group = found
    build = unwaive_modal if undo else waive_modal
    return build(launch.name, where, group, meta)


async def _bound(session: AsyncSession, meta: WaiveFormMeta, actor: Actor) -> None:
    """The form's launch must live in the channel the form was opened from."""
    await launch_in_channel(
        session, meta.launch_id, meta.channel_id, what="a waiver form", user_id=actor.user_id
    )


async def waive_from_form(
    deps: Deps, meta: WaiveFormMeta, actor: Actor, form: WaiveForm, *, view_id: str | None
) -> Waived:
    """The submitted waiver, under the same rules as ``/launch waive``; a refusal is raised (and
    recorded when the person may not waive). A replay of the same form's submission changes
    nothing (``Waived.replayed``)."""
    async with deps.db.read_sessions() as session:
        await _bound(session, meta, actor)
    rules = await waiver_rules(deps, actor.user_id)
    if form.item_id is None:
        raise BadInput("Choose an item.")
    async with unit_of_work(deps.db.sessions) as session:
        return await waive_item(
            session=session,
            launch_id=meta.launch_id,
            item_id=form.item_id,
            kind=form.kind,
            reason=form.reason,
            actor=actor,
            at=deps.clock(),
            rules=rules,
            source=f"view:{view_id}",
            group_id=meta.group_id,
            dedup_key=f"waive-form:{view_id}" if view_id else None,
        )


def name_waiver_later(deps: Deps, waived: Waived, actor: Actor) -> None:
    """Post-ack work of a waiver: stored under the handle (Slack's display name was not cached
    yet), it shows the display name once users.info answers, as a tick does
    (``ClickApplier.name_later``)."""
    if not waived.replayed:
        name_later(deps, actor, waived.launch_id, what="waiver")


async def unwaive_from_form(
    deps: Deps, meta: WaiveFormMeta, actor: Actor, item_id: int, *, view_id: str | None
) -> Unwaived:
    """The submitted undo, under the same rules as a waiver; a replay of it changes nothing."""
    async with deps.db.read_sessions() as session:
        await _bound(session, meta, actor)
    rules = await waiver_rules(deps, actor.user_id)
    async with unit_of_work(deps.db.sessions) as session:
        return await unwaive_item(
            session=session,
            launch_id=meta.launch_id,
            item_id=item_id,
            actor=actor,
            at=deps.clock(),
            rules=rules,
            source=f"view:{view_id}",
            group_id=meta.group_id,
            dedup_key=f"unwaive-form:{view_id}" if view_id else None,
        )
