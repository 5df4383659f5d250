"""GO: declared when the last required approval comes in, with the progress it was given on
(phases, open items) and the chain head; recorded and announced through its own message."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.checklist.rules import section_counts
from bot.core.config import RoleConfig
from bot.core.events import Actor, EventKind, append_event
from bot.core.models import Event, Item, ItemGroup, Launch, Phase, Section, SlackMessage
from bot.signoffs.log import RoleStatus, SignOffLog, all_approved, board, load_sign_offs


async def declare_go_if_complete(
    session: AsyncSession,
    launch: Launch,
    before: SignOffLog,
    roles: Mapping[str, RoleConfig],
    actor: Actor,
    at: datetime,
) -> bool:
    """After an approval: GO is declared once every role is approved (and none was in force)."""
    after = board(await load_sign_offs(session=session, launch=launch), roles)
    if not all_approved(after) or before.current_go is not None:
        return False
    await declare_go(session, launch, after, actor, at, before)
    return True


async def launch_progress(session: AsyncSession, launch: Launch) -> dict[str, Any]:
    """What an approver signs: per-phase progress and the event chain's head at that moment."""
    rows = (
        await session.execute(
            select(
                Phase.position,
                Phase.title,
                Phase.completed_at,
                func.count(Item.id),
                func.sum(case((Item.checked.is_(True) | Item.waived.is_not(None), 1), else_=0)),
            )
            .join(Section, Section.phase_id == Phase.id)
            .join(ItemGroup, ItemGroup.section_id == Section.id)
            .join(Item, Item.group_id == ItemGroup.id)
            .where(Phase.launch_id == launch.id, Phase.kind == "checklist", section_counts())
            .group_by(Phase.id, Phase.position, Phase.title, Phase.completed_at)
            .order_by(Phase.position)
        )
    ).all()
    phases = [
        {
            "title": title,
            "done": int(done or 0),
            "total": int(total),
            "complete": completed_at is not None,
        }
        for _pos, title, completed_at, total, done in rows
    ]
    current = next(
        (p for r, p in zip(rows, phases, strict=True) if r[0] == launch.current_phase), None
    )
    head = (
        await session.execute(
            select(Event.seq, Event.hash)
            .where(Event.launch_id == launch.id)
            .order_by(Event.seq.desc())
            .limit(1)
        )
    ).first()
    return {
        "current_phase": current["title"] if current else None,
        "phases": phases,
        "done": sum(int(p["done"]) for p in phases),
        "total": sum(int(p["total"]) for p in phases),
        "after_event": int(head[0]) if head else 0,
        "chain_head": str(head[1]) if head else None,
    }


# Open items of the current phase named in a GO's readiness (the count is always whole).
READINESS_ITEMS = 50


async def readiness(session: AsyncSession, launch: Launch) -> dict[str, Any]:
    """What GO is given on: per-phase progress (waived items count as done), and the current
    phase's open items (neither ticked nor waived, the first ``READINESS_ITEMS`` named) and waived
    items (with who and why)."""
    progress = await launch_progress(session, launch)
    rows = (
        await session.scalars(
            select(Item)
            .join(ItemGroup, ItemGroup.id == Item.group_id)
            .join(Section, Section.id == ItemGroup.section_id)
            .join(Phase, Phase.id == Section.phase_id)
            .where(
                Phase.launch_id == launch.id,
                Phase.position == launch.current_phase,
                Phase.kind == "checklist",
                section_counts(),
                Item.checked.is_(False),
            )
            .order_by(Section.position, ItemGroup.position, Item.position)
        )
    ).all()
    open_items = [i.text for i in rows if i.waived is None]
    waived = [
        {"text": i.text, "kind": i.waived, "by": i.waived_by_id, "reason": i.waive_reason}
        for i in rows
        if i.waived is not None
    ]
    return {
        "current_phase": progress["current_phase"],
        "phases": progress["phases"],
        "open_count": len(open_items),
        "open_items": open_items[:READINESS_ITEMS],
        "waived": waived,
    }


async def declare_go(
    session: AsyncSession,
    launch: Launch,
    rows: tuple[RoleStatus, ...],
    actor: Actor,
    at: datetime,
    log: SignOffLog,
) -> None:
    number = max((g.number for g in log.go), default=0) + 1
    await append_event(
        session=session,
        launch_id=launch.id,
        actor=actor,
        kind=EventKind.LAUNCH_GO,
        at=at,
        detail={
            "number": number,
            "readiness": await readiness(session, launch),
            "approvals": [
                {"role_id": r.role.role_id, "user_id": a.user_id, "sign_off_id": a.id}
                for r in rows
                for a in r.approvals
            ],
        },
    )
    # One outbox row per GO: the publisher posts it exactly once, across restarts too.
    session.add(
        SlackMessage(launch_id=launch.id, kind="go", part=number, channel_id=launch.channel_id)
    )
    await session.flush()
