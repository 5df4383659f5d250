"""The checklist the record shows: the phases, sections, groups and items as ``launch_started``
recorded them (titles, texts, durations, stages, order; ``replay.structure``), with each row's
state read from the database (the record then overrides what the log vouches for); DB-free.

A log that did not record the structure (log version 3 or older) leaves the rows as they are. A row
the log never created is left out; one it created that is gone is shown as created."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.audit.replay.expected import Expected
from bot.audit.replay.state import Replay, as_int
from bot.checklist.state import GroupState, ItemState, PhaseState, SectionState


def logged_phases(phases: tuple[PhaseState, ...], truth: Replay | None) -> tuple[PhaseState, ...]:
    if truth is None or not truth.structured:
        return phases
    sections = {s.id: s for p in phases for s in p.sections}
    groups = {g.id: g for s in sections.values() for g in s.groups}
    items = {i.id: i for g in groups.values() for i in g.items}
    logged_items = {i: w for i, w in truth.items.items() if "group_id" in w.fields}
    rows = {p.id: p for p in phases}

    def item(iid: int, want: Expected) -> ItemState:
        f = want.fields
        text, minutes, key = (
            str(f.get("text") or ""),
            as_int(f.get("duration_minutes")),
            f.get("key"),
        )
        row = items.get(iid)
        if row is not None:
            return replace(row, text=text, duration_minutes=minutes, key=key)
        return ItemState(iid, text, False, None, None, None, minutes, key=key)

    def group(gid: int, want: Expected) -> GroupState:
        f = want.fields
        title, stage, minutes = (
            f.get("title"),
            as_int(f.get("stage")),
            as_int(f.get("duration_minutes")),
        )
        its = tuple(item(i, w) for i, w in _children(logged_items, "group_id", gid))
        row = groups.get(gid)
        if row is not None:
            return replace(row, title=title, stage=stage, duration_minutes=minutes, items=its)
        return GroupState(gid, title, stage, minutes, its)

    def section(sid: int, want: Expected) -> SectionState:
        f = want.fields
        position, title, day = (
            as_int(f.get("position")) or 0,
            str(f.get("title")),
            as_int(f.get("day")),
        )
        gs = tuple(group(g, w) for g, w in _children(truth.groups, "section_id", sid))
        row = sections.get(sid)
        if row is not None:
            return replace(row, position=position, title=title, day=day, groups=gs)
        return SectionState(sid, position, title, gs, day=day)

    def phase(pid: int, want: Expected) -> PhaseState:
        f = want.fields
        position, title = as_int(f.get("position")) or 0, str(f.get("title"))
        timing, kind = f.get("timing"), str(f.get("kind"))
        ss = tuple(section(s, w) for s, w in _children(truth.sections, "phase_id", pid))
        row = rows.get(pid)
        if row is not None:
            return replace(
                row, position=position, title=title, timing=timing, kind=kind, sections=ss
            )
        return PhaseState(pid, position, title, timing, kind, False, None, ss)

    ordered = sorted(truth.phase_rows.items(), key=lambda p: as_int(p[1].fields["position"]) or 0)
    return tuple(phase(pid, want) for pid, want in ordered)


def _children(
    logged: dict[int, Expected], parent: str, parent_id: Any
) -> list[tuple[int, Expected]]:
    """The logged rows under ``parent_id``, in order."""
    found = [(i, w) for i, w in logged.items() if w.fields.get(parent) == parent_id]
    return sorted(found, key=lambda c: as_int(c[1].fields.get("position")) or 0)
