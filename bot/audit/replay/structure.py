"""The checklist's structure: every phase, section, group and item row as ``launch_started`` recorded
it (log version 4, ``bot/checklist/structure.py``), the day sections ``launch_date_moved`` retitled,
and the launch's current phase as ``phase_started`` moves it; compared with the rows.

These are what the gates and the report read: an item's text, a section's or phase's title, a
go-live step's soak (its group's ``duration_minutes``) and stage. An older log did not record them:
they are listed as not checked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit.replay.expected import Expected, OneOf
from bot.audit.replay.findings import ROW, V3_LOG, Mismatch, Unchecked, row_mismatches
from bot.audit.replay.state import Replay, as_date, as_int
from bot.checklist.schedule import retitle
from bot.core.models import Event, Item, ItemGroup, Phase, Section

PHASE_FIELDS = ("position", "title", "timing", "kind")
SECTION_FIELDS = ("phase_id", "position", "title", "day")
GROUP_FIELDS = ("section_id", "position", "title", "stage", "duration_minutes")
ITEM_FIELDS = ("group_id", "position", "text", "duration_minutes", "key")
LAUNCH_FIELDS = ("current_phase", "template_extra")


def _entries(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _row(
    entry: Mapping[str, Any], position: int, names: tuple[str, ...], **parent: Any
) -> Expected:
    fields: dict[str, Any] = {**parent, "position": position}
    fields.update({n: entry.get(n) for n in names if n not in fields})
    return Expected(fields)


# ---------------------------------------------------------------------------------------------------
# Replay


def replay_structure(r: Replay, e: Event, d: Mapping[str, Any]) -> None:
    """The rows ``launch_started`` created (its ``structure``), the launch's first current phase
    and its ``template_extra``; an older log leaves them unknown."""
    assert r.launch is not None
    structure = d.get("structure")
    if not isinstance(structure, list):
        for name in LAUNCH_FIELDS:
            r.launch.unknown[name] = V3_LOG
        return
    r.structured = True
    r.launch.fields["template_extra"] = d.get("template_extra")
    for p_pos, phase in enumerate(_entries(structure)):
        pid = as_int(phase.get("id"))
        r.phase_rows[pid or 0] = _row(phase, p_pos, PHASE_FIELDS)
        for s_pos, section in enumerate(_entries(phase.get("sections"))):
            sid = as_int(section.get("id")) or 0
            r.sections[sid] = _row(section, s_pos, SECTION_FIELDS, phase_id=pid)
            for g_pos, group in enumerate(_entries(section.get("groups"))):
                gid = as_int(group.get("id")) or 0
                r.groups[gid] = _row(group, g_pos, GROUP_FIELDS, section_id=sid)
                for i_pos, item in enumerate(_entries(group.get("items"))):
                    iid = as_int(item.get("id")) or 0
                    logged = _row(item, i_pos, ITEM_FIELDS, group_id=gid)
                    r.items[iid] = Expected({**r.item(iid).fields, **logged.fields}, seq=e.seq)
    # The launch starts on its first checklist phase (bot/checklist/lifecycle.py).
    r.launch.fields["current_phase"] = min(
        (p.fields["position"] for p in r.phase_rows.values() if p.fields["kind"] == "checklist"),
        default=0,
    )


def phase_started(r: Replay, e: Event, d: Mapping[str, Any]) -> None:
    """A posted phase becomes the current one if it lies after it (a phase posted early is the
    current one already)."""
    if not r.structured or r.launch is None:
        return
    title = d.get("phase")
    positions = [p.fields["position"] for p in r.phase_rows.values() if p.fields["title"] == title]
    if not positions:
        titles = tuple(p.fields["title"] for p in r.phase_rows.values())
        r.problems.append(Mismatch("event", f"#{e.seq}", "phase", OneOf(titles), title, True))
    elif len(positions) > 1:
        r.launch.unknown["current_phase"] = "two phases share the title a phase_started names"
    else:
        current = r.launch.fields.get("current_phase")
        r.launch.fields["current_phase"] = max(as_int(current) or 0, positions[0])


def sections_retitled(r: Replay, e: Event, d: Mapping[str, Any]) -> None:
    """A moved launch day retitles the day sections not posted yet: each to its day's new date,
    as ``retitle`` words it; an event saying otherwise disagrees with the log before it."""
    moved_to = as_date(d.get("to"))
    if not r.structured or moved_to is None:
        return
    for entry in _entries(d.get("retitled")):
        sid = as_int(entry.get("section_id")) or 0
        want = r.sections.get(sid)
        day = as_int(want.fields.get("day")) if want is not None else None
        if want is None or day is None:
            r.problems.append(
                Mismatch("section", str(sid), ROW, "a day section", "no such row", True)
            )
            continue
        title = retitle(str(want.fields["title"]), day, moved_to)
        if entry.get("title") != title:
            r.problems.append(
                Mismatch("section", str(sid), "title", title, entry.get("title"), True)
            )
        want.fields["title"] = title


def item_text_logged(r: Replay, item_id: int, text: Any) -> None:
    """The text an item event carries: the structure's, when ``launch_started`` recorded one (a
    different text was read from a row edited before the event)."""
    want = r.items[item_id]
    if r.structured and "group_id" in want.fields:
        if text != want.fields.get("text"):
            r.problems.append(
                Mismatch("item", str(item_id), "text", want.fields.get("text"), text, True)
            )
        return
    want.fields["text"] = text


# ---------------------------------------------------------------------------------------------------
# Compare


async def compare_structure(
    session: AsyncSession, lid: int, r: Replay
) -> tuple[list[Mismatch], list[Unchecked]]:
    """The phase, section and group rows against the structure ``launch_started`` recorded, and
    any item row it did not record (the items' own fields: ``checklist._compare_items``)."""
    if r.launch is None:
        return [], []
    if not r.structured:
        return [], [
            Unchecked(table, "(every row)", ", ".join(names), V3_LOG)
            for table, names in (
                ("phase", ("title", "timing", "kind", "position")),
                ("section", ("title", "day", "position", "phase_id")),
                ("item_group", ("title", "stage", "duration_minutes", "position", "section_id")),
                ("item", ("text", "key", "duration_minutes", "position", "group_id")),
            )
        ]
    bad: list[Mismatch] = []
    bad += _against("phase", r.phase_rows, await _by_id(session, Phase, lid))
    bad += _against("section", r.sections, await _by_id(session, Section, lid))
    bad += _against("item_group", r.groups, await _by_id(session, ItemGroup, lid))
    items = set((await session.scalars(select(Item.id).where(Item.launch_id == lid))).all())
    logged_items = {i for i, want in r.items.items() if "group_id" in want.fields}
    return bad + _extra_rows("item", items - logged_items), []


Row = TypeVar("Row", Phase, Section, ItemGroup)


async def _by_id(session: AsyncSession, model: type[Row], lid: int) -> dict[int, Row]:
    rows = (await session.scalars(select(model).where(model.launch_id == lid))).all()
    return {row.id: row for row in rows}


def _against(table: str, logged: dict[int, Expected], rows: Mapping[int, object]) -> list[Mismatch]:
    """Each logged row's fields against its row; a row missing, or one the log never created."""
    bad: list[Mismatch] = []
    for row_id, want in logged.items():
        row = rows.get(row_id)
        if row is None:
            bad.append(Mismatch(table, str(row_id), ROW, "a row (launch_started)", "no row"))
        else:
            bad += row_mismatches(table, row_id, want, row)
    return bad + _extra_rows(table, rows.keys() - logged.keys())


def _extra_rows(table: str, row_ids: set[int]) -> list[Mismatch]:
    return [
        Mismatch(table, str(row_id), ROW, "no row (not in launch_started)", "a row")
        for row_id in sorted(row_ids)
    ]
