"""The whole launch as one immutable tree (checklist, sign-offs, messages) for the card and status."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.calendar.state import CalendarView, load_calendar
from bot.checklist.state import PhaseState, load_phases
from bot.core.db import view_of
from bot.core.errors import NotFound
from bot.core.models import Launch, SlackMessage
from bot.core.outbox import MessageRef
from bot.golive.state import GoLiveView, load_golive
from bot.incidents.escalation_state import EscalationView, launch_escalations
from bot.incidents.killswitch_state import KillSwitchSummary, card_killswitch
from bot.signoffs.log import SignOffLog, load_sign_offs
from bot.watch.state import RuleStateView, load_rule_states


@dataclass(frozen=True)
class LaunchState:
    id: int
    name: str
    channel_id: str
    started_by_id: str
    started_by_name: str
    started_at: datetime
    closed_at: datetime | None
    closed_by_id: str | None
    current_phase: int
    phases: tuple[PhaseState, ...]
    messages: tuple[MessageRef, ...] = field(default=())
    extra: Mapping[str, Any] = field(default_factory=dict)
    # Roles, approvals and GO (bot/signoffs.py owns the model); None when not loaded.
    sign_offs: SignOffLog | None = None
    # The go-live sequence (bot/golive owns the model); None when the checklist has none.
    golive: GoLiveView | None = None
    # When this state was read (the bot's clock): soak times are shown as of then.
    as_of: datetime | None = None
    # What the card says of the kill switch; None until it was armed, disarmed or fired.
    killswitch: KillSwitchSummary | None = None
    # The launch's escalations by id, for their messages (kind "escalation").
    escalations: Mapping[int, EscalationView] = field(default_factory=dict)
    # Launch day and the scheduled posts (bot/calendar owns the model); None for an undated launch.
    calendar: CalendarView | None = None
    # Each Prometheus rule as last evaluated during the go-live sequence (bot/watch owns the model).
    metrics: tuple[RuleStateView, ...] = field(default=())
    # How the launch ended (the close confirmation's outcome key) and the closer's note.
    close_outcome: str | None = None
    close_note: str | None = None

    @property
    def is_active(self) -> bool:
        return self.closed_at is None

    @property
    def current(self) -> PhaseState:
        return self.phases[self.current_phase]

    @property
    def current_open(self) -> tuple[str, int] | None:
        """(current phase title, its open items: neither ticked nor waived) for a checklist phase."""
        if not self.phases or not self.current.is_checklist:
            return None
        current = self.current
        return current.title, current.total - current.done

    @property
    def checklist_phases(self) -> list[PhaseState]:
        return [p for p in self.phases if p.is_checklist]

    @property
    def card(self) -> MessageRef | None:
        return next((m for m in self.messages if m.kind == "card"), None)

    def next_phase(self) -> PhaseState | None:
        return next(
            (p for p in self.phases if p.position > self.current_phase and p.is_checklist), None
        )

    def posting_order(self) -> list[MessageRef]:
        """Card first, then sections in template order, so the thread reads like the checklist;
        then GO, then every other message (incidents) in the order it was written."""
        section_rank: dict[int, tuple[int, int]] = {}
        for phase in self.phases:
            for section in phase.sections:
                section_rank[section.id] = (phase.position, section.position)
        return sorted(
            self.messages,
            key=lambda m: (
                (0, (0, 0), 0)
                if m.kind == "card"
                else (2, (0, 0), m.part)
                if m.kind == "go"
                else (1, section_rank.get(m.section_id, (0, 0)), m.part)
                if m.section_id is not None
                else (3, (0, 0), m.id)
            ),
        )


# ---------------------------------------------------------------------------------------------------
# Read


async def load_state(
    *, session: AsyncSession, launch_id: int, now: datetime | None = None
) -> LaunchState:
    """The whole launch as an immutable tree, in template order.

    The messages (their versions) are read first: on PostgreSQL each statement of a read sees what
    was committed when it began, so a click committed between two reads would otherwise be counted
    in a message's version but missing from the items rendered for it, and the publisher would mark
    a stale render as current. Read first, a version can only be older than the state rendered
    with it, and the next publish catches up."""
    messages = (
        await session.scalars(
            select(SlackMessage)
            .where(SlackMessage.launch_id == launch_id)
            .order_by(SlackMessage.id)
        )
    ).all()
    launch = await session.get(Launch, launch_id)
    if launch is None:
        raise NotFound(f"There is no launch #{launch_id}.")
    phases = await load_phases(session=session, launch_id=launch_id)

    sign_offs = await load_sign_offs(session=session, launch=launch)
    golive = await load_golive(session=session, launch_id=launch_id, phases=phases)
    return LaunchState(
        id=launch.id,
        name=launch.name,
        channel_id=launch.channel_id,
        started_by_id=launch.started_by_id,
        started_by_name=launch.started_by_name,
        started_at=launch.started_at,
        closed_at=launch.closed_at,
        closed_by_id=launch.closed_by_id,
        current_phase=launch.current_phase,
        phases=phases,
        messages=tuple(view_of(MessageRef, m) for m in messages),
        extra=launch.template_extra,
        sign_offs=sign_offs,
        golive=golive,
        as_of=now,
        killswitch=await card_killswitch(session=session, launch=launch),
        escalations=await launch_escalations(session=session, launch=launch),
        calendar=await load_calendar(session=session, launch=launch),
        metrics=await load_rule_states(session=session, launch_id=launch_id),
        close_outcome=launch.close_outcome,
        close_note=launch.close_note,
    )
