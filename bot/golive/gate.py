"""The one gate of the go-live sequence: everything that stands between the launch and its next step.

A refusal lists every unmet condition at once. ``soft`` conditions (open items, soak time, gate
metrics) can be passed by ``/launch advance --force <reason>`` (recorded); ``hard`` ones never: a
missing or withdrawn GO before live traffic, a hold, a traffic change still in flight, a finished
rollout, a closed launch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.checklist.state import ItemState, PhaseState
from bot.core.config import RoleConfig
from bot.core.mrkdwn import escape
from bot.golive.state import GoLiveView
from bot.signoffs.log import SignOffLog, board

# Open items are named up to this many per group of conditions; the rest are counted.
NAMED_ITEMS = 5


@dataclass(frozen=True)
class Blockers:
    hard: tuple[str, ...] = ()
    soft: tuple[str, ...] = ()

    @property
    def clear(self) -> bool:
        return not self.hard and not self.soft


def _names(items: Sequence[ItemState]) -> str:
    shown = ", ".join(f"“{escape(i.text)}”" for i in items[:NAMED_ITEMS])
    more = len(items) - NAMED_ITEMS
    return shown + (f" and {more} more" if more > 0 else "")


def _open(items: Sequence[ItemState]) -> list[ItemState]:
    return [i for i in items if not i.done]


def _before_golive(view: GoLiveView, phases: Sequence[PhaseState]) -> list[str]:
    """For the first step: earlier checklist phases and the go-live phase's earlier sections."""
    unmet: list[str] = []
    for phase in phases:
        if not phase.is_checklist or phase.position >= view.phase.position:
            continue
        open_items = _open([i for s in phase.counted_sections for i in s.items])
        if open_items:
            unmet.append(
                f"*{escape(phase.title)}* is not complete: {len(open_items)} open "
                f"({_names(open_items)})"
            )
    for section in view.phase.sections:
        if section.position >= view.section.position:
            break
        open_items = _open(section.items)
        if open_items:
            unmet.append(
                f"*{escape(section.title)}* is not complete: {len(open_items)} open "
                f"({_names(open_items)})"
            )
    return unmet


def _go_missing(log: SignOffLog | None, roles: Mapping[str, RoleConfig]) -> str | None:
    if log is None:
        return "GO has not been declared (no sign-offs recorded)"
    if log.current_go is not None:
        return None
    missing = [row.role.title for row in board(log, roles) if not row.approved]
    withdrawn = log.go and log.go[-1].withdrawn_at is not None
    lead = "GO was withdrawn" if withdrawn else "GO has not been declared"
    if missing:
        return f"{lead}: sign-offs not in: {escape(', '.join(missing))}"
    return lead


def _minutes(seconds: float) -> int:
    return max(1, math.ceil(seconds / 60))


def advance_blockers(
    view: GoLiveView,
    *,
    phases: Sequence[PhaseState],
    sign_offs: SignOffLog | None,
    roles: Mapping[str, RoleConfig],
    now: datetime,
    launch_closed: bool = False,
    unhealthy_metrics: Sequence[str] = (),
) -> Blockers:
    """Every condition the next ``advance`` does not meet yet."""
    hard: list[str] = []
    soft: list[str] = []
    nxt = view.next
    if launch_closed:
        hard.append("the launch is closed")
    if nxt is None:
        hard.append("the rollout is complete: every step is done")
    if view.in_flight is not None:
        hard.append(
            f"a traffic change is still in flight (request {view.in_flight.request_id[:8]}, "
            f"{view.in_flight.status})"
        )
    if view.on_hold:
        hard.append(
            f"on hold: {escape(view.hold_reason or 'no reason given')} — `/launch resume` first"
        )
    if nxt is not None and nxt.weight > 0:
        missing = _go_missing(sign_offs, roles)
        if missing is not None:
            hard.append(f"{missing} (needed before live traffic)")
    current = view.current
    if current is None:
        soft.extend(_before_golive(view, phases))
    else:
        open_items = _open(view.step_items(current))
        if open_items:
            soft.append(
                f"*{escape(current.title)}* has {len(open_items)} open item"
                f"{'s' if len(open_items) != 1 else ''}: {_names(open_items)}"
            )
        left = view.soak_left(now).total_seconds()
        if left > 0:
            soft.append(
                f"soak: {_minutes(left)} min left of {current.soak_minutes} (hold time not counted)"
            )
    soft.extend(f"metric not healthy: {m}" for m in unhealthy_metrics)
    return Blockers(hard=tuple(hard), soft=tuple(soft))
