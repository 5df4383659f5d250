"""The launch, its phases and its items: replayed from the ``launch_*``, ``phase_*`` and ``item_*``
events, and compared with their rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit.replay.expected import Expected
from bot.audit.replay.findings import (
    ROW,
    Mismatch,
    Unchecked,
    row_mismatches,
    unchecked_fields,
)
from bot.audit.replay.state import Replay, as_date, as_int, from_detail
from bot.audit.replay.structure import (
    compare_structure,
    item_text_logged,
    phase_started,
    replay_structure,
    sections_retitled,
)
from bot.core.events import EventKind
from bot.core.models import Event, Item, Launch, Phase

# ---------------------------------------------------------------------------------------------------
# Replay


def replay_checklist(r: Replay, e: Event, d: Mapping[str, Any]) -> bool:
    """Apply a launch, phase or item event; False for an event of another table."""
    kind = e.kind
    if kind == EventKind.LAUNCH_STARTED:
        _launch_started(r, e, d)
    elif kind == EventKind.LAUNCH_DATE_MOVED and r.launch is not None:
        r.launch.fields["launch_date"] = as_date(d.get("to"))
        sections_retitled(r, e, d)
    elif kind == EventKind.LAUNCH_CLOSED and r.launch is not None:
        r.launch.fields.update(
            closed_at=e.at,
            closed_by_id=e.actor_id,
            closed_by_name=e.actor_name,
            close_outcome=d.get("outcome"),
            close_note=d.get("note"),
        )
        r.launch.fields["active_channel"] = None
    elif kind == EventKind.PHASE_STARTED:
        r.phases.setdefault(str(d.get("phase")), Expected()).fields["posted_at"] = e.at
        phase_started(r, e, d)
    elif kind in (EventKind.PHASE_COMPLETED, EventKind.PHASE_REOPENED):
        done = e.at if kind == EventKind.PHASE_COMPLETED else None
        r.phases.setdefault(str(d.get("phase")), Expected()).fields["completed_at"] = done
    elif kind in (EventKind.ITEM_CHECKED, EventKind.ITEM_UNCHECKED) and e.item_id is not None:
        _item_ticked(r, e, e.item_id, d)
    elif kind == EventKind.ITEM_WAIVED and e.item_id is not None:
        _item_waived(r, e, e.item_id, d)
    elif kind == EventKind.ITEM_UNWAIVED and e.item_id is not None:
        _item_unwaived(r, e, e.item_id)
    elif kind == EventKind.DISPLAY_NAME_RESOLVED and d.get("items"):
        # The ticks (and, since ``waivers`` was logged, the waivers) of a person named after they
        # were applied (bot/checklist/rules.py).
        for item in r.items.values():
            if item.fields.get("changed_by_id") == d.get("user_id"):
                item.fields["changed_by_name"] = d.get("name")
            if d.get("waivers") and item.fields.get("waived_by_id") == d.get("user_id"):
                item.fields["waived_by_name"] = d.get("name")
    else:
        return False
    return True


def _launch_started(r: Replay, e: Event, d: Mapping[str, Any]) -> None:
    r.log_version = as_int(d.get("log_version")) or 1
    r.first_phase_deferred = bool(d.get("first_phase_due"))
    r.launch = Expected(
        {
            "name": d.get("name"),
            "channel_id": d.get("channel_id"),
            "template_title": d.get("template"),
            "started_by_id": e.actor_id,
            "started_by_name": e.actor_name,
            "started_at": e.at,
            "closed_at": None,
            "closed_by_id": None,
            "closed_by_name": None,
            "close_outcome": None,
            "close_note": None,
            "active_channel": d.get("channel_id"),
            # Launch day, from ``--on`` (absent: an undated launch).
            "launch_date": as_date(d.get("launch_date")),
        },
        seq=e.seq,
    )
    from_detail(r.launch, d, "team_id")
    replay_structure(r, e, d)


def _item_ticked(r: Replay, e: Event, item_id: int, d: Mapping[str, Any]) -> None:
    r.items[item_id] = Expected(
        {
            **r.item(item_id).fields,
            "checked": e.kind == EventKind.ITEM_CHECKED,
            "changed_by_id": e.actor_id,
            "changed_by_name": e.actor_name,
            "changed_at": e.at,
            # What the bot proved to tick it (bot/checklist/proofs.py); a hand change clears it.
            "proof": d.get("proof") if e.kind == EventKind.ITEM_CHECKED else None,
        },
        seq=e.seq,
    )
    if "text" in d:
        item_text_logged(r, item_id, d["text"])


def _item_waived(r: Replay, e: Event, item_id: int, d: Mapping[str, Any]) -> None:
    r.items[item_id] = Expected(
        {
            **r.item(item_id).fields,
            "waived": d.get("kind"),
            "waived_by_id": e.actor_id,
            "waived_by_name": e.actor_name,
            "waived_at": e.at,
            "waive_reason": d.get("reason"),
        },
        seq=e.seq,
    )


def _item_unwaived(r: Replay, e: Event, item_id: int) -> None:
    r.items[item_id] = Expected(
        {
            **r.item(item_id).fields,
            "waived": None,
            "waived_by_id": None,
            "waived_by_name": None,
            "waived_at": None,
            "waive_reason": None,
        },
        seq=e.seq,
    )


# ---------------------------------------------------------------------------------------------------
# Compare


async def compare_checklist(
    session: AsyncSession, launch: Launch, r: Replay
) -> tuple[list[Mismatch], list[Unchecked]]:
    """The launch row, its phases and its items against the replay."""
    bad: list[Mismatch] = []
    unchecked: list[Unchecked] = []
    lid = launch.id
    if r.launch is None:
        unchecked.append(
            Unchecked("launch", str(lid), "(all fields)", "the log has no launch_started event")
        )
    else:
        bad += row_mismatches("launch", lid, r.launch, launch)
        unchecked += unchecked_fields("launch", lid, r.launch)
    phase_bad, phase_unchecked = await _compare_phases(session, lid, r)
    rows_bad, rows_unchecked = await compare_structure(session, lid, r)
    return (
        bad + phase_bad + rows_bad + await _compare_items(session, lid, r),
        unchecked + phase_unchecked + rows_unchecked,
    )


async def _compare_phases(
    session: AsyncSession, lid: int, r: Replay
) -> tuple[list[Mismatch], list[Unchecked]]:
    bad: list[Mismatch] = []
    unchecked: list[Unchecked] = []
    phases = (await session.scalars(select(Phase).where(Phase.launch_id == lid))).all()

    def told(phase: Phase, name: str) -> Any:
        """The phase's title, position or kind as ``launch_started`` recorded it (log version 4;
        ``structure`` compares the row's own)."""
        logged = r.phase_rows.get(phase.id)
        return logged.fields[name] if logged is not None else getattr(phase, name)

    titles = [told(p, "title") for p in phases]
    first = min(
        (told(p, "position") for p in phases if told(p, "kind") == "checklist"), default=None
    )
    for phase in phases:
        title = told(phase, "title")
        want = Expected(
            {
                "posted_at": r.launch.fields["started_at"]
                if r.launch is not None
                and told(phase, "position") == first
                and not r.first_phase_deferred
                else None,
                "completed_at": None,
            }
        )
        logged = r.phases.get(title)
        if logged is not None:
            want.fields.update(logged.fields)
        if titles.count(title) > 1:
            unchecked.append(
                Unchecked(
                    "phase", str(phase.id), "posted_at, completed_at", "two phases share its title"
                )
            )
        elif r.launch is not None:
            bad += row_mismatches("phase", phase.id, want, phase)
    return bad, unchecked


async def _compare_items(session: AsyncSession, lid: int, r: Replay) -> list[Mismatch]:
    bad: list[Mismatch] = []
    items = (await session.scalars(select(Item).where(Item.launch_id == lid))).all()
    for item in items:
        bad += row_mismatches("item", item.id, r.item(item.id), item)
    known_items = {i.id for i in items}
    for item_id in r.items:
        if item_id not in known_items:
            bad.append(
                Mismatch(
                    "item", str(item_id), ROW, f"a row (event #{r.items[item_id].seq})", "no row"
                )
            )
    return bad
