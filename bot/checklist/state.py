"""The checklist's read model: items, groups, sections and phases as frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

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
