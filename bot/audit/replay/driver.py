"""The replay's driver: ``replay`` runs every event of a launch's log through the table that it
changes (pure), ``compare`` sets every table's rows against the result; DB only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit.replay.checklist import compare_checklist, replay_checklist
from bot.audit.replay.findings import Mismatch, Unchecked
from bot.audit.replay.golive import compare_golive, replay_golive
from bot.audit.replay.incidents import compare_incidents, replay_incident
from bot.audit.replay.sign_offs import compare_sign_offs, replay_sign_offs
from bot.audit.replay.state import Replay
from bot.audit.replay.watch import compare_watch, replay_watch
from bot.core.models import Event, Launch


@dataclass(frozen=True)
class Findings:
    replay: Replay
    mismatches: tuple[Mismatch, ...]
    unchecked: tuple[Unchecked, ...]


def replay(launch_id: int, events: Sequence[Event]) -> Replay:
    """What the rows of the launch must hold, from its events alone (in ``seq`` order)."""
    r = Replay(launch_id)
    for index, e in enumerate(events):
        d: Mapping[str, Any] = e.detail or {}
        before = events[index - 1] if index else None
        if replay_checklist(r, e, d) or replay_sign_offs(r, e, d, before) or replay_watch(r, e, d):
            continue
        if e.kind.startswith(("golive_", "traffic_")):
            replay_golive(r, e, d)
        else:
            replay_incident(r, e, d)
    return r


async def compare(*, session: AsyncSession, launch: Launch, events: Sequence[Event]) -> Findings:
    """Every field of every row of the launch that the log describes, against the log."""
    r = replay(launch.id, events)
    lid = launch.id
    checklist_bad, checklist_unchecked = await compare_checklist(session, launch, r)
    sign_off_bad, sign_off_unchecked = await compare_sign_offs(session, lid, r)
    incident_bad, incident_unchecked = await compare_incidents(session, lid, r)
    watch_bad, watch_unchecked = await compare_watch(session, lid, r)
    bad = [
        *r.problems,
        *checklist_bad,
        *sign_off_bad,
        *incident_bad,
        *await compare_golive(session, lid, r),
        *watch_bad,
    ]
    unchecked = [*checklist_unchecked, *sign_off_unchecked, *incident_unchecked, *watch_unchecked]
    return Findings(r, tuple(bad), tuple(unchecked))
