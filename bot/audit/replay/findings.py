"""What ``verify`` reports: a field that differs from the log (``Mismatch``), a field the log cannot
vouch for (``Unchecked``), and the field-by-field comparison of one row with what the log says; pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from bot.audit.replay.expected import Expected, json_value, same, show

Key = TypeVar("Key", int, str)
ROW = "(row)"  # the field name of a finding about a whole row (missing, or without its event)
OLD_LOG = "its events were written before the log recorded it (log version 1)"
V2_LOG = "its event was written before the log recorded it (log version 2 or older)"
V3_LOG = (
    "its launch_started event was written before the log recorded the checklist's rows "
    "(log version 3 or older)"
)


@dataclass(frozen=True)
class Mismatch:
    """A row (or the log against itself) disagreeing with what the event log says."""

    table: str
    row_id: str
    field: str
    expected: Any
    found: Any
    # True when the log disagrees with itself (``found`` is in an event, not in a row).
    in_log: bool = False

    def describe(self) -> str:
        if self.in_log:
            return (
                f"{self.table} {self.row_id}: {self.field} is {show(self.found)} in its event, "
                f"the events before it say {show(self.expected)}"
            )
        return (
            f"{self.table} {self.row_id}: {self.field} is {show(self.found)} in the database, "
            f"the event log says {show(self.expected)}"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "row_id": self.row_id,
            "field": self.field,
            "expected": json_value(self.expected),
            "found": json_value(self.found),
        }


@dataclass(frozen=True)
class Unchecked:
    """A field the event log cannot vouch for (its events predate that detail)."""

    table: str
    row_id: str
    field: str
    why: str

    def describe(self) -> str:
        return f"{self.table} {self.row_id}: {self.field} not checked: {self.why}"

    def as_json(self) -> dict[str, Any]:
        return {"table": self.table, "row_id": self.row_id, "field": self.field, "why": self.why}


def row_mismatches(table: str, row_id: object, want: Expected, row: object) -> list[Mismatch]:
    """Every field of ``row`` that differs from ``want`` (a dict field key by key)."""
    out: list[Mismatch] = []
    for name, expected in want.fields.items():
        if name in want.unknown:
            continue
        found = getattr(row, name)
        if isinstance(expected, dict) and isinstance(found, dict):
            for key in sorted(set(expected) | set(found)):
                if expected.get(key) != found.get(key):
                    out.append(
                        Mismatch(
                            table, str(row_id), f"{name}.{key}", expected.get(key), found.get(key)
                        )
                    )
        elif not same(expected, found):
            out.append(Mismatch(table, str(row_id), name, expected, found))
    return out


def unchecked_fields(table: str, row_id: object, want: Expected) -> list[Unchecked]:
    return [Unchecked(table, str(row_id), name, why) for name, why in want.unknown.items()]


def compare_rows(
    table: str, wanted: Mapping[Key, Expected], rows: Mapping[Key, Any], *, unexplained: str
) -> tuple[list[Mismatch], list[Unchecked]]:
    """Each row the log describes against the stored one with the same key: a row missing, every
    field that differs, the fields the log cannot vouch for, and each stored row no event explains
    (``unexplained``: the event it lacks). A stored row is named by its id."""
    bad: list[Mismatch] = []
    unchecked: list[Unchecked] = []
    for key, want in wanted.items():
        row = rows.get(key)
        if row is None:
            bad.append(Mismatch(table, str(key), ROW, f"a row (event #{want.seq})", "no row"))
            continue
        bad += row_mismatches(table, row.id, want, row)
        unchecked += unchecked_fields(table, row.id, want)
    for key in sorted(rows.keys() - wanted.keys()):
        bad.append(Mismatch(table, str(rows[key].id), ROW, f"no row ({unexplained})", "a row"))
    return bad, unchecked
