"""The record's ``phases``: every phase, section, group and item, with who ticked or waived it, when,
and the item's history; values replayed from the log where it vouches for them; DB-free."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.audit.record.values import iso_time, person
from bot.audit.replay.expected import Expected
from bot.audit.replay.state import Replay
from bot.checklist.state import ItemState, PhaseState
from bot.core.models import Event

ITEM_EVENTS = ("item_checked", "item_unchecked", "item_waived", "item_unwaived")
ITEM_ACTIONS = {"item_checked": "checked", "item_waived": "waived", "item_unwaived": "unwaived"}


def item_history(events: Sequence[Event]) -> dict[int, list[dict[str, Any]]]:
    """Every tick, untick and waiver of each item, in log order."""
    history: dict[int, list[dict[str, Any]]] = {}
    for e in events:
        if e.kind in ITEM_EVENTS and e.item_id is not None:
            history.setdefault(e.item_id, []).append(
                {
                    "seq": e.seq,
                    "at": iso_time(e.at),
                    "action": ITEM_ACTIONS.get(e.kind, "unchecked"),
                    "by": person(e.actor_id, e.actor_name),
                    # What the bot proved to tick it (bot/checklist/proofs.py), None for a click.
                    "proof": (e.detail or {}).get("proof"),
                }
            )
    return history


def phases_section(
    phases: Sequence[PhaseState], history: Mapping[int, list[dict[str, Any]]], truth: Replay | None
) -> list[Any]:
    return [_phase(p, history, truth) for p in phases]


def _phase(
    p: PhaseState, history: Mapping[int, list[dict[str, Any]]], truth: Replay | None
) -> dict[str, Any]:
    sections: list[dict[str, Any]] = [
        {
            "title": s.title,
            # A section of its own day (T+n: one day's daily checks, the weekly review), else None.
            "day": s.day,
            "groups": [
                {
                    "title": g.title,
                    "stage": g.stage,
                    "duration_minutes": g.duration_minutes,
                    "items": [_item(i, history, truth) for i in g.items],
                }
                for g in s.groups
            ],
        }
        for s in p.sections
    ]
    items = [i for s in sections for g in s["groups"] for i in g["items"]]
    told = (truth.phases.get(p.title) if truth is not None else None) or Expected()
    return {
        "title": p.title,
        "timing": p.timing,
        "kind": p.kind,
        "posted": p.posted,
        "completed_at": iso_time(told.get("completed_at", p.completed_at)),
        "done": sum(1 for i in items if i["checked"]),
        "total": len(items),
        "sections": sections,
    }


def _item(
    i: ItemState, history: Mapping[int, list[dict[str, Any]]], truth: Replay | None
) -> dict[str, Any]:
    told = truth.item(i.id) if truth is not None else Expected()
    return {
        "id": i.id,
        "text": i.text,
        "duration_minutes": i.duration_minutes,
        "checked": bool(told.get("checked", i.checked)),
        "by": person(
            told.get("changed_by_id", i.changed_by_id),
            told.get("changed_by_name", i.changed_by_name),
        ),
        "at": iso_time(told.get("changed_at", i.changed_at)),
        "waived": None
        if told.get("waived", i.waived) is None
        else {
            "kind": told.get("waived", i.waived),
            "by": person(
                told.get("waived_by_id", i.waived_by_id),
                told.get("waived_by_name", i.waived_by_name),
            ),
            "at": iso_time(told.get("waived_at", i.waived_at)),
            "reason": told.get("waive_reason", i.waive_reason),
        },
        "proof": None
        if told.get("proof", i.proof) is None or not bool(told.get("checked", i.checked))
        else {"kind": told.get("proof", i.proof), "link": i.proof_link},
        "history": history.get(i.id, []),
    }
