"""``build_record``: a launch's full record (the report's data, schema ``launchbot.report/1``), and
``launch_in_channel``, the launch a channel's report is about; DB only.

Names and values are the ones verify checked: replayed from the (intact) event log, not read from
rows that may have been edited; a field the log cannot vouch for (``chain.unchecked``) and everything
of a broken chain come from the rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit.chain import ChainReport, launch_events, verify_with_findings
from bot.audit.record.checklist import item_history, phases_section
from bot.audit.record.golive import golive_record
from bot.audit.record.sign_offs import go_section, replayed_sign_offs, sign_offs_section
from bot.audit.record.structure import logged_phases
from bot.audit.record.values import iso_time, person
from bot.audit.replay.expected import Expected
from bot.audit.replay.state import Replay
from bot.checklist.state import PhaseState
from bot.core.config import RoleConfig
from bot.core.launches import active_launch
from bot.core.models import Event, Launch
from bot.golive.state import find_golive
from bot.golive.steps import derive_steps
from bot.launch.state import LaunchState, load_state
from bot.signoffs.log import EMPTY_LOG, SignOffLog

REPORT_SCHEMA = "launchbot.report/1"


async def build_record(
    *,
    session: AsyncSession,
    launch_id: int,
    now: datetime,
    roles: Mapping[str, RoleConfig] | None = None,
) -> dict[str, Any]:
    """The launch's full record: launch, every item with who/when and its history, sign-offs, GO,
    the go-live sequence (steps, stage changes, traffic requests, holds), closing, the whole event log and the chain's verification. ``roles`` (the config) adds each
    role's required count; without it the count recorded with the approvals is used."""
    state = await load_state(session=session, launch_id=launch_id)
    launch = await session.get(Launch, launch_id)
    assert launch is not None
    events = await launch_events(session, launch_id)
    chain, findings = await verify_with_findings(session, launch_id)
    truth = findings.replay if findings is not None else None
    # The checklist as the log recorded it: titles, texts and go-live soaks are the log's.
    phases = logged_phases(state.phases, truth)
    log = state.sign_offs or EMPTY_LOG
    if truth is not None:
        log = SignOffLog(roles=log.roles, records=replayed_sign_offs(truth, log), go=log.go)
    return {
        "schema": REPORT_SCHEMA,
        "generated_at": iso_time(now),
        "launch": _launch_section(state, launch, truth, phases),
        "phases": phases_section(phases, item_history(events), truth),
        "sign_offs": sign_offs_section(log, roles),
        "go": go_section(log),
        "golive": _golive_section(phases, events),
        "events": [_event(e) for e in events],
        "chain": _chain_section(chain),
    }


def _launch_section(
    state: LaunchState, launch: Launch, truth: Replay | None, phases: tuple[PhaseState, ...]
) -> dict[str, Any]:
    card = state.card
    told = truth.launch if truth is not None and truth.launch is not None else Expected()
    current = told.get("current_phase", state.current_phase)
    return {
        "id": state.id,
        "name": told.get("name", state.name),
        "template": told.get("template_title", launch.template_title),
        "team_id": told.get("team_id", launch.team_id),
        "channel_id": told.get("channel_id", state.channel_id),
        "card_permalink": card.permalink if card else None,
        "started_by": person(
            told.get("started_by_id", state.started_by_id),
            told.get("started_by_name", state.started_by_name),
        ),
        "started_at": iso_time(told.get("started_at", state.started_at)),
        "closed_by": person(
            told.get("closed_by_id", launch.closed_by_id),
            told.get("closed_by_name", launch.closed_by_name),
        ),
        "closed_at": iso_time(told.get("closed_at", state.closed_at)),
        "close_outcome": told.get("close_outcome", launch.close_outcome),
        "close_note": told.get("close_note", launch.close_note),
        "current_phase": next((p.title for p in phases if p.position == current), None),
    }


def _golive_section(
    phases: tuple[PhaseState, ...], events: Sequence[Event]
) -> dict[str, Any] | None:
    """The go-live sequence as the log tells it; None when the checklist has none."""
    found = find_golive(phases)
    if found is None:
        return None
    return golive_record(derive_steps(found[1]), events)


def _event(e: Event) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "at": iso_time(e.at),
        "kind": e.kind,
        "actor": person(e.actor_id, e.actor_name),
        "item_id": e.item_id,
        "detail": e.detail,
        "source": e.source,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    }


def _chain_section(chain: ChainReport) -> dict[str, Any]:
    return {
        "events": chain.events,
        "head_hash": chain.head_hash,
        "verified": chain.ok,
        "first_bad": None
        if chain.first_bad is None
        else {
            "seq": chain.first_bad.seq,
            "kind": chain.first_bad.kind,
            "reason": chain.first_bad.reason,
        },
        "mismatches": [m.describe() for m in chain.mismatches],
        "findings": [m.as_json() for m in chain.mismatches],
        "unchecked": [u.as_json() for u in chain.unchecked],
    }


async def launch_in_channel(*, session: AsyncSession, channel_id: str) -> Launch | None:
    """The channel's active launch, else its most recent one (a closed launch still has a record)."""
    active = await active_launch(session=session, channel_id=channel_id)
    if active is not None:
        return active
    return await session.scalar(
        select(Launch).where(Launch.channel_id == channel_id).order_by(Launch.id.desc()).limit(1)
    )
