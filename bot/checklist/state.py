"""The checklist's read model: items, groups, sections and phases as frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import Item, ItemGroup, Phase, Section

if TYPE_CHECKING:
    pass


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
    # A waiver ("not_applicable" or "waived") by a sign-off role holder, with who, when and why.
    waived: str | None = None
    waived_by_id: str | None = None
    waived_by_name: str | None = None
    waived_at: datetime | None = None
    waive_reason: str | None = None

    @property
    def done(self) -> bool:
        """Ticked or waived: what phase completion counts."""
        return self.checked or self.waived is not None


@dataclass(frozen=True)
class GroupState:
    id: int
    title: str | None
    stage: int | None
    duration_minutes: int | None
    items: tuple[ItemState, ...]

    @property
    def done(self) -> int:
        return sum(1 for i in self.items if i.done)


@dataclass(frozen=True)
class SectionState:
    id: int
    position: int
    title: str
    groups: tuple[GroupState, ...]
    # A section of its own day after launch day (T+n), posted by the calendar on that day.
    day: int | None = None

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


class LaunchChecklist(Protocol):
    """What the checklist's builders read of a launch (``bot.launch.state.LaunchState`` has it)."""

    @property
    def name(self) -> str: ...

    @property
    def is_active(self) -> bool: ...

    @property
    def current_phase(self) -> int: ...

    @property
    def phases(self) -> tuple[PhaseState, ...]: ...


async def load_phases(*, session: AsyncSession, launch_id: int) -> tuple[PhaseState, ...]:
    """The launch's checklist as an immutable tree, in template order."""
    phase_rows = (
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
                waived=i.waived,
                waived_by_id=i.waived_by_id,
                waived_by_name=i.waived_by_name,
                waived_at=i.waived_at,
                waive_reason=i.waive_reason,
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
                day=s.day,
            )
        )

    return tuple(
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
        for p in phase_rows
    )
