"""The CSV report: one row per fact (the launch, each item and its history, each sign-off and its
revocation, each GO, the go-live sequence, the closing, each event, the chain), a ``record`` column
saying which; a cell a spreadsheet would run as a formula is prefixed with ``'``."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from typing import Any

CSV_COLUMNS = (
    "record",
    "phase",
    "section",
    "group",
    "item",
    "state",
    "user_id",
    "user_name",
    "at",
    "role",
    "comment",
    "detail",
    "seq",
    "hash",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
TRAFFIC_DETAIL = (
    "request_id",
    "action",
    "from_step",
    "to_step",
    "forced",
    "http_status",
    "tries",
    "error",
    "completed_at",
)

Row = dict[str, Any]


def render_csv(record: Mapping[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in _rows(record):
        writer.writerow({column: cell(row.get(column)) for column in CSV_COLUMNS})
    return out.getvalue()


def cell(value: Any) -> str:
    """A value as its CSV cell; one that would start a formula gets a leading ``'``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _person(value: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    if not value:
        return None, None
    return value.get("id"), value.get("name")


def _rows(record: Mapping[str, Any]) -> Iterator[Row]:
    launch = record["launch"]
    uid, name = _person(launch["started_by"])
    yield {
        "record": "launch",
        "item": launch["name"],
        "state": "closed" if launch["closed_at"] else "open",
        "user_id": uid,
        "user_name": name,
        "at": launch["started_at"],
        "detail": {"id": launch["id"], "channel_id": launch["channel_id"]},
    }
    yield from _item_rows(record["phases"])
    yield from _sign_off_rows(record["sign_offs"]["records"])
    yield from _go_rows(record["go"])
    yield from _golive_rows(record.get("golive"))
    if launch["closed_at"]:
        uid, name = _person(launch["closed_by"])
        yield {
            "record": "launch_closed",
            "state": "closed",
            "user_id": uid,
            "user_name": name,
            "at": launch["closed_at"],
            "detail": {"outcome": launch.get("close_outcome"), "note": launch.get("close_note")},
        }
    yield from _event_rows(record["events"])
    chain = record["chain"]
    yield {
        "record": "chain",
        "state": "verified" if chain["verified"] else "BROKEN",
        "detail": chain["first_bad"]
        or chain["mismatches"]
        or ({"unchecked": chain["unchecked"]} if chain["unchecked"] else None),
        "seq": chain["events"],
        "hash": chain["head_hash"],
    }


def _item_rows(phases: list[Mapping[str, Any]]) -> Iterator[Row]:
    for phase in phases:
        for section in phase["sections"]:
            for group in section["groups"]:
                group_title = group["title"] or ""
                if group["stage"] is not None:
                    group_title = f"Stage {group['stage']}: {group_title}".rstrip(": ")
                where = {"phase": phase["title"], "section": section["title"], "group": group_title}
                for item in group["items"]:
                    yield from _item_and_history(where, item)


def _item_and_history(where: Mapping[str, Any], item: Mapping[str, Any]) -> Iterator[Row]:
    uid, name = _person(item["by"])
    waived = item.get("waived")
    if waived:
        uid, name = _person(waived["by"])
    yield {
        **where,
        "record": "item",
        "item": item["text"],
        "state": waived["kind"] if waived else ("checked" if item["checked"] else "open"),
        "user_id": uid,
        "user_name": name,
        "at": waived["at"] if waived else item["at"],
        **({"detail": {"reason": waived["reason"]}} if waived else {}),
    }
    for change in item["history"]:
        uid, name = _person(change["by"])
        yield {
            **where,
            "record": "item_history",
            "item": item["text"],
            "state": change["action"],
            "user_id": uid,
            "user_name": name,
            "at": change["at"],
            "seq": change["seq"],
        }


def _sign_off_rows(records: list[Mapping[str, Any]]) -> Iterator[Row]:
    for so in records:
        uid, name = _person(so["by"])
        progress = so["progress"]
        yield {
            "record": "sign_off",
            "state": "revoked" if so["revoked"] else "approved",
            "user_id": uid,
            "user_name": name,
            "at": so["at"],
            "role": so["role_title"],
            "comment": so["comment"],
            "detail": f"{progress.get('done')}/{progress.get('total')} items done; "
            f"chain head {progress.get('chain_head')}",
            "seq": so["event_seq"],
        }
        if so["revoked"]:
            uid, name = _person(so["revoked"]["by"])
            yield {
                "record": "sign_off_revoked",
                "state": "revoked",
                "user_id": uid,
                "user_name": name,
                "at": so["revoked"]["at"],
                "role": so["role_title"],
                "comment": so["revoked"]["reason"],
            }


def _go_rows(gos: list[Mapping[str, Any]]) -> Iterator[Row]:
    for go in gos:
        yield {
            "record": "go",
            "state": "withdrawn" if go["withdrawn"] else "go",
            "user_id": go["declared_by"],
            "at": go["at"],
            "detail": go["withdrawn"],
            "seq": go["event_seq"],
            "hash": go["event_hash"],
        }


def _golive_rows(golive: Mapping[str, Any] | None) -> Iterator[Row]:
    if not golive:
        return
    for step in golive["steps"]:
        for visit in step["visits"]:
            uid, name = _person(visit["by"])
            yield {
                "record": "golive_step",
                "group": f"Step {step['number']}/{golive['total']}",
                "item": step["title"],
                "state": visit["action"],
                "user_id": uid,
                "user_name": name,
                "at": visit["entered_at"],
                "comment": visit["reason"],
                "detail": {
                    "weight": step["weight"],
                    "soak_minutes": step["soak_minutes"],
                    "left_at": visit["left_at"],
                    "forced": visit["forced"],
                    "forced_past": visit["forced_past"],
                    "request_id": visit["request_id"],
                },
            }
    yield from _traffic_rows(golive["traffic_requests"])
    yield from _hold_rows(golive["holds"])


def _traffic_rows(requests: list[Mapping[str, Any]]) -> Iterator[Row]:
    for request in requests:
        uid, name = _person(request["requested_by"])
        yield {
            "record": "traffic_request",
            "item": f"{request['previous_weight']}% → {request['weight']}%",
            "state": request["status"],
            "user_id": uid,
            "user_name": name,
            "at": request["requested_at"],
            "comment": request["reason"],
            "detail": {key: request[key] for key in TRAFFIC_DETAIL},
        }


def _hold_rows(holds: list[Mapping[str, Any]]) -> Iterator[Row]:
    for hold in holds:
        uid, name = _person(hold["by"])
        yield {
            "record": "golive_hold",
            "state": "held" if hold["to"] is None else "resumed",
            "user_id": uid,
            "user_name": name,
            "at": hold["from"],
            "comment": hold["reason"],
            "detail": {
                "step": hold["step"],
                "to": hold["to"],
                "resumed_by": hold["resumed_by"],
                "held_seconds": hold["held_seconds"],
            },
        }


def _event_rows(events: list[Mapping[str, Any]]) -> Iterator[Row]:
    for e in events:
        uid, name = _person(e["actor"])
        yield {
            "record": "event",
            "state": e["kind"],
            "user_id": uid,
            "user_name": name,
            "at": e["at"],
            "detail": e["detail"],
            "seq": e["seq"],
            "hash": e["hash"],
        }
