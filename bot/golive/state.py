"""The go-live read model: the launch's steps, the step it is in, soak time, hold, the request in flight."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.checklist.state import ItemState, PhaseState, SectionState, load_phases
from bot.core.db import view_of
from bot.core.models import GoLive, TrafficRequest
from bot.golive.steps import Step, derive_steps, golive_section_index

IN_FLIGHT = ("pending", "sending")


@dataclass(frozen=True)
class TrafficView:
    id: int
    launch_id: int
    request_id: str
    action: str
    from_step: int
    to_step: int
    weight: int
    previous_weight: int
    reason: str | None
    forced: bool
    requested_by_id: str
    requested_by_name: str
    created_at: datetime
    status: str
    tries: int
    http_status: int | None
    error: str | None
    completed_at: datetime | None

    @classmethod
    def of(cls, row: TrafficRequest) -> TrafficView:
        return view_of(cls, row)


@dataclass(frozen=True)
class GoLiveView:
    """Where the go-live sequence stands. ``step`` 0 means not started; steps count from 1."""

    launch_id: int
    phase: PhaseState
    section: SectionState
    steps: tuple[Step, ...]
    step: int = 0
    weight: int = 0
    step_started_at: datetime | None = None
    held_seconds: int = 0
    held_since: datetime | None = None
    hold_reason: str | None = None
    held_by_id: str | None = None
    completed_at: datetime | None = None
    in_flight: TrafficView | None = None
    last_request: TrafficView | None = None
    requests: tuple[TrafficView, ...] = field(default=())

    @property
    def total(self) -> int:
        return len(self.steps)

    @property
    def started(self) -> bool:
        return self.step > 0

    @property
    def current(self) -> Step | None:
        return self.steps[self.step - 1] if 0 < self.step <= len(self.steps) else None

    @property
    def next(self) -> Step | None:
        return self.steps[self.step] if self.step < len(self.steps) else None

    @property
    def on_hold(self) -> bool:
        return self.held_since is not None

    @property
    def unknown_move(self) -> TrafficView | None:
        """The stage change since the last one answered (confirmed or declared) that nobody knows
        whether it moved traffic (no answer, or a restart cut it off): the stage recorded is not
        known to be live, traffic may be at the requested one. A later change that failed (refused,
        or never reached the router) moved nothing, so it does not settle an earlier unknown one."""
        for request in reversed(self.requests):
            if request.status == "unknown":
                return request
            if request.status in ("confirmed", "declared"):
                return None
        return None

    def soaked(self, now: datetime) -> timedelta:
        """Time spent in the current step, hold time not counted."""
        if self.step_started_at is None:
            return timedelta(0)
        held = timedelta(seconds=self.held_seconds)
        if self.held_since is not None:
            held += max(now - self.held_since, timedelta(0))
        return max(now - self.step_started_at - held, timedelta(0))

    def soak_left(self, now: datetime) -> timedelta:
        step = self.current
        if step is None:
            return timedelta(0)
        return max(timedelta(minutes=step.soak_minutes) - self.soaked(now), timedelta(0))

    def step_items(self, step: Step) -> tuple[ItemState, ...]:
        """The items ticked by hand before ``step`` is left."""
        group = self.section.groups[step.group]
        return tuple(group.items[i] for i in step.items)

    def self_item(self, step: Step) -> ItemState | None:
        if step.self_item is None:
            return None
        return self.section.groups[step.group].items[step.self_item]


def find_golive(phases: tuple[PhaseState, ...]) -> tuple[PhaseState, SectionState] | None:
    """The phase and section holding the go-live sequence, if the checklist has one."""
    for phase in phases:
        if not phase.is_checklist:
            continue
        index = golive_section_index(phase.sections)
        if index is not None:
            return phase, phase.sections[index]
    return None


async def load_golive(
    *, session: AsyncSession, launch_id: int, phases: tuple[PhaseState, ...] | None = None
) -> GoLiveView | None:
    """The launch's go-live state; None when its checklist has no go-live sequence."""
    if phases is None:
        phases = await load_phases(session=session, launch_id=launch_id)
    found = find_golive(phases)
    if found is None:
        return None
    phase, section = found
    row = await session.scalar(select(GoLive).where(GoLive.launch_id == launch_id))
    requests = tuple(
        TrafficView.of(r)
        for r in (
            await session.scalars(
                select(TrafficRequest)
                .where(TrafficRequest.launch_id == launch_id)
                .order_by(TrafficRequest.id)
            )
        ).all()
    )
    base = GoLiveView(
        launch_id=launch_id,
        phase=phase,
        section=section,
        steps=derive_steps(section),
        requests=requests,
        in_flight=next((r for r in reversed(requests) if r.status in IN_FLIGHT), None),
        last_request=requests[-1] if requests else None,
    )
    if row is None:
        return base
    return GoLiveView(
        launch_id=launch_id,
        phase=phase,
        section=section,
        steps=base.steps,
        step=row.step,
        weight=row.weight,
        step_started_at=row.step_started_at,
        held_seconds=row.held_seconds,
        held_since=row.held_since,
        hold_reason=row.hold_reason,
        held_by_id=row.held_by_id,
        completed_at=row.completed_at,
        in_flight=base.in_flight,
        last_request=base.last_request,
        requests=requests,
    )
