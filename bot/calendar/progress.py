"""The checklist's progress a scheduled post reports: the phases posted earlier with items still
open (and in which sections), one phase's open items, and the section owners (``[schedule] owners``)
who have ticked nothing there yet. Reads only; takes an AsyncSession."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.checklist.rules import section_counts
from bot.core.config import ScheduleConfig
from bot.core.models import Item, ItemGroup, Phase, Section


@dataclass(frozen=True)
class OpenPhase:
    """A phase posted before this one with items still open, and where (section, open count)."""

    title: str
    open: int
    sections: tuple[tuple[str, int], ...]


async def _open_by_section(
    session: AsyncSession, phase_ids: list[int]
) -> dict[int, list[tuple[str, int]]]:
    rows = (
        await session.execute(
            select(Section.phase_id, Section.title, func.count(Item.id))
            .join(Phase, Phase.id == Section.phase_id)
            .join(ItemGroup, ItemGroup.section_id == Section.id)
            .join(Item, Item.group_id == ItemGroup.id)
            .where(
                Section.phase_id.in_(phase_ids),
                Phase.posted_at.is_not(None),
                section_counts(),
                Item.checked.is_(False),
                Item.waived.is_(None),
            )
            .group_by(Section.phase_id, Section.id, Section.title, Section.position)
            .order_by(Section.position)
        )
    ).all()
    out: dict[int, list[tuple[str, int]]] = {}
    for phase_id, title, count in rows:
        out.setdefault(int(phase_id), []).append((str(title), int(count)))
    return out


async def open_phases_before(
    session: AsyncSession, launch_id: int, position: int
) -> tuple[OpenPhase, ...]:
    """Posted phases before ``position`` with open items (in posted sections), and where."""
    phases = (
        await session.scalars(
            select(Phase)
            .where(
                Phase.launch_id == launch_id,
                Phase.position < position,
                Phase.kind == "checklist",
                Phase.posted_at.is_not(None),
            )
            .order_by(Phase.position)
        )
    ).all()
    by_phase = await _open_by_section(session, [p.id for p in phases])
    return tuple(
        OpenPhase(p.title, sum(n for _, n in by_phase[p.id]), tuple(by_phase[p.id]))
        for p in phases
        if by_phase.get(p.id)
    )


async def open_in_phase(session: AsyncSession, phase_id: int) -> tuple[OpenPhase, ...]:
    phase = await session.get(Phase, phase_id)
    if phase is None:
        return ()
    by_phase = await _open_by_section(session, [phase_id])
    sections = tuple(by_phase.get(phase_id, []))
    return (OpenPhase(phase.title, sum(n for _, n in sections), sections),)


async def idle_section_owners(
    session: AsyncSession, phase_id: int, rule: ScheduleConfig
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Per section with open items and owners in ``[schedule] owners``: those who ticked none of
    its items yet (matched case-insensitively by section title)."""
    if not rule.owners:
        return ()
    owners = {title.casefold(): users for title, users in rule.owners.items()}
    out: list[tuple[str, tuple[str, ...]]] = []
    sections = (
        await session.scalars(
            select(Section).where(Section.phase_id == phase_id).order_by(Section.position)
        )
    ).all()
    for section in sections:
        users = owners.get(section.title.casefold())
        if not users:
            continue
        items = (
            await session.scalars(
                select(Item)
                .join(ItemGroup, ItemGroup.id == Item.group_id)
                .where(ItemGroup.section_id == section.id)
            )
        ).all()
        if all(i.checked or i.waived is not None for i in items):
            continue
        tickers = {i.changed_by_id for i in items if i.checked}
        idle = tuple(u for u in users if u not in tickers)
        if idle:
            out.append((section.title, idle))
    return tuple(out)
