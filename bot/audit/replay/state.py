"""The rows a launch's event log implies, as the replay builds them (``Replay``), and the readers of
event details every table's replay shares; pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from bot.audit.replay.expected import Expected
from bot.audit.replay.findings import OLD_LOG, Mismatch

LOG_VERSION = 4
"""Written in every new ``launch_started`` detail as ``log_version``. Version 2 events carry the
launch's team, an escalation's and a kill-switch request's channel, the trading system's response,
and a ``display_name_resolved`` event for every approver name replaced after the ack; a version 1
log (no ``log_version``) leaves those fields unchecked. Version 3 events also carry a due
escalation level's due time and what a metric alert's button did (``shown``); events without them
leave those fields unchecked. Version 4's ``launch_started`` carries the checklist's structure
(every phase, section, group and item row: ``bot/checklist/structure.py``) and the template's
other parts (``template_extra``), and ``launch_date_moved`` the day sections it retitled; an older
log leaves the rows' titles, texts, durations and stages, and the launch's current phase,
unchecked."""


@dataclass
class Replay:
    launch_id: int
    log_version: int = 1
    launch: Expected | None = None
    # A dated launch started ahead of its first phase's date posts it then, not at start.
    first_phase_deferred: bool = False
    phases: dict[str, Expected] = field(default_factory=dict)  # by title
    # The checklist's structure as ``launch_started`` recorded it (log version 4; ``structured``
    # False for an older log): phase, section and group rows by id (an item's structural fields
    # are in ``items``), each with its parent's id and its position.
    structured: bool = False
    phase_rows: dict[int, Expected] = field(default_factory=dict)
    sections: dict[int, Expected] = field(default_factory=dict)
    groups: dict[int, Expected] = field(default_factory=dict)
    items: dict[int, Expected] = field(default_factory=dict)
    sign_offs: dict[int, Expected] = field(default_factory=dict)  # in approval order
    go_numbers: list[int] = field(default_factory=list)
    go_current: int | None = None  # the GO standing (its number), None once withdrawn
    escalations: dict[int, Expected] = field(default_factory=dict)
    # Each escalation level that came due, by (escalation id, level); escalations whose log does not
    # say whether level 0 has a row (no ``path`` in its opening event) are in ``pings_unknown``.
    pings: dict[tuple[int, int], Expected] = field(default_factory=dict)
    pings_unknown: set[int] = field(default_factory=set)
    killswitch: dict[str, Expected] = field(default_factory=dict)  # by request_id
    killswitch_state: Expected | None = None
    golive: Expected | None = None
    traffic: dict[str, Expected] = field(default_factory=dict)  # by request_id
    alerts: dict[int, Expected] = field(default_factory=dict)  # metric alerts, by id
    rule_states: dict[str, Expected] = field(default_factory=dict)  # by rule name
    problems: list[Mismatch] = field(default_factory=list)  # the log disagrees with itself

    def item(self, item_id: int) -> Expected:
        """An item's state: untouched unless an event changed it."""
        return self.items.get(
            item_id,
            Expected(
                {
                    "checked": False,
                    "changed_by_id": None,
                    "changed_by_name": None,
                    "changed_at": None,
                    "waived": None,
                    "waived_by_id": None,
                    "waived_by_name": None,
                    "waived_at": None,
                    "waive_reason": None,
                    "proof": None,
                }
            ),
        )


def as_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def from_detail(
    row: Expected, d: Mapping[str, Any], name: str, key: str | None = None, *, why: str = OLD_LOG
) -> None:
    """The row's ``name`` must be the detail's ``key``; a log without that key cannot vouch for it."""
    key = key or name
    if key in d:
        row.fields[name] = d[key]
    else:
        row.unknown[name] = why


def as_datetime(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
