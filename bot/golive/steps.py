"""The go-live steps of a checklist, derived from its numbered stage groups (no Slack, no I/O).

The rule, documented in the README: the first section holding numbered stage groups is the go-live
sequence. A stage group with a duration of its own (``1. **Shadow Mode (1 hour)**``) is one step whose
items are ticked by hand before it is left. A stage group without one (``3. **Progressive
Rollout**``) has one step per item that carries a duration or a percentage (``25% traffic (30 min)``):
such an item *is* its step, so the bot ticks it when the step is done and a hand click on it only
explains how to advance. A step's weight (the percent of live traffic) is the first ``NN%`` in its
title or its items; a step named "shadow" without one has weight 0; any other keeps the previous
step's weight. A step's soak time is its duration (none: 0).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

_PERCENT = re.compile(r"(?<![\d.])(\d{1,3})\s*%")
_SHADOW = re.compile(r"\bshadow\b", re.IGNORECASE)


class ItemLike(Protocol):
    @property
    def text(self) -> str: ...

    @property
    def duration_minutes(self) -> int | None: ...


class GroupLike(Protocol):
    @property
    def title(self) -> str | None: ...

    @property
    def stage(self) -> int | None: ...

    @property
    def duration_minutes(self) -> int | None: ...

    @property
    def items(self) -> Sequence[ItemLike]: ...


class SectionLike(Protocol):
    @property
    def title(self) -> str: ...

    @property
    def groups(self) -> Sequence[GroupLike]: ...


@dataclass(frozen=True)
class Step:
    """One go-live step. ``group`` is the position of its stage group in the section; ``items`` the
    positions (in that group) of the items ticked by hand before the step is left; ``self_item`` the
    position of the item that is the step itself (ticked by the bot), if any."""

    number: int
    title: str
    weight: int
    soak_minutes: int
    group: int
    items: tuple[int, ...]
    self_item: int | None = None

    def label(self, total: int) -> str:
        return f"Step {self.number}/{total} · {self.title} · {self.weight}% live"


def weight_in(*texts: str) -> int | None:
    """The first ``NN%`` (0–100) in ``texts``, in order."""
    for text in texts:
        for match in _PERCENT.finditer(text):
            value = int(match.group(1))
            if value <= 100:
                return value
    return None


def is_step_item(item: ItemLike) -> bool:
    """An item of an untimed stage group that is a step of its own: timed or a traffic share."""
    return item.duration_minutes is not None or weight_in(item.text) is not None


def golive_section_index(sections: Sequence[SectionLike]) -> int | None:
    """The first section holding a numbered stage group, or None (a checklist without a go-live)."""
    for index, section in enumerate(sections):
        if any(group.stage is not None for group in section.groups):
            return index
    return None


def derive_steps(section: SectionLike) -> tuple[Step, ...]:
    steps: list[Step] = []
    previous_weight = 0
    for position, group in enumerate(section.groups):
        if group.stage is None:
            continue
        if group.duration_minutes is not None:
            title = group.title or f"Stage {group.stage}"
            weight = weight_in(title, *(i.text for i in group.items))
            if weight is None:
                weight = 0 if _SHADOW.search(title) else previous_weight
            steps.append(
                Step(
                    number=len(steps) + 1,
                    title=title,
                    weight=weight,
                    soak_minutes=group.duration_minutes,
                    group=position,
                    items=tuple(range(len(group.items))),
                )
            )
            previous_weight = weight
            continue
        for item_position, item in enumerate(group.items):
            if not is_step_item(item):
                continue
            weight = weight_in(item.text)
            if weight is None:
                weight = 0 if _SHADOW.search(item.text) else previous_weight
            steps.append(
                Step(
                    number=len(steps) + 1,
                    title=item.text,
                    weight=weight,
                    soak_minutes=item.duration_minutes or 0,
                    group=position,
                    items=(),
                    self_item=item_position,
                )
            )
            previous_weight = weight
    return tuple(steps)


def steps_report(sections: Sequence[SectionLike]) -> list[str]:
    """The lines ``launchbot checklist validate`` prints about the go-live steps."""
    index = golive_section_index(sections)
    if index is None:
        return ["go-live: no numbered stage groups (no go-live sequence)"]
    steps = derive_steps(sections[index])
    lines = [f'go-live: {len(steps)} steps in "{sections[index].title}"']
    for step in steps:
        soak = f"soak {step.soak_minutes} min" if step.soak_minutes else "no soak"
        lines.append(f"  {step.number}. {step.title} · {step.weight}% live · {soak}")
    return lines
