"""The checklist's read model: items, groups, sections and phases as frozen dataclasses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.checklist.rules import section_counts
from bot.core.db import view_of
from bot.core.models import Item, ItemGroup, Phase, Section, SlackMessage

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
    # Set on an item the bot ticks itself (the kill-switch test, …): people neither tick nor waive it.
    managed_by: str | None = None
    # Ticked by the bot on a proof (``bot.checklist.proofs.Proof``), with the link of the message
    # that records it once Slack gave one.
    key: str | None = None
    proof: str | None = None
    proof_link: str | None = None

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
    # Whether its items count in the phase's progress now (``rules.section_counts``): a day
    # section only once posted.
    counted: bool = True

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
    def counted_sections(self) -> tuple[SectionState, ...]:
        """The sections whose items count now: a day section only once posted."""
        return tuple(s for s in self.sections if s.counted)

    @property
    def done(self) -> int:
        return sum(s.done for s in self.counted_sections)

    @property
    def total(self) -> int:
        return sum(s.total for s in self.counted_sections)

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
    items_by_group: dict[int, list[ItemState]] = {}
    items = await _rows(session, Item, launch_id)
    links = await _proof_links(session, {i.proof_message_id for i in items if i.proof})
    for item in items:
        link = links.get(item.proof_message_id or 0) if item.proof else None
        items_by_group.setdefault(item.group_id, []).append(
            view_of(ItemState, item, proof_link=link)
        )
    groups_by_section: dict[int, list[GroupState]] = {}
    for group in await _rows(session, ItemGroup, launch_id):
        groups_by_section.setdefault(group.section_id, []).append(
            view_of(GroupState, group, items=tuple(items_by_group.get(group.id, [])))
        )
    sections_by_phase: dict[int, list[SectionState]] = {}
    counted = set(
        (
            await session.scalars(
                select(Section.id).where(Section.launch_id == launch_id, section_counts())
            )
        ).all()
    )
    for section in await _rows(session, Section, launch_id):
        sections_by_phase.setdefault(section.phase_id, []).append(
            view_of(
                SectionState,
                section,
                groups=tuple(groups_by_section.get(section.id, [])),
                counted=section.id in counted,
            )
        )
    return tuple(
        view_of(
            PhaseState,
            phase,
            posted=phase.posted_at is not None,
            sections=tuple(sections_by_phase.get(phase.id, [])),
        )
        for phase in await _rows(session, Phase, launch_id)
    )


async def _proof_links(session: AsyncSession, message_ids: set[int | None]) -> dict[int, str]:
    """The permalinks of the messages recording proofs, by message row id (posted ones only)."""
    ids = [i for i in message_ids if i is not None]
    if not ids:
        return {}
    rows = await session.execute(
        select(SlackMessage.id, SlackMessage.permalink).where(SlackMessage.id.in_(ids))
    )
    return {int(r.id): str(r.permalink) for r in rows if r.permalink}


Row = TypeVar("Row", Phase, Section, ItemGroup, Item)


async def _rows(session: AsyncSession, model: type[Row], launch_id: int) -> Sequence[Row]:
    query = select(model).where(model.launch_id == launch_id).order_by(model.position)
    return (await session.scalars(query)).all()
