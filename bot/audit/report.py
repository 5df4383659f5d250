"""Renders a launch's record (``build_record``) as Markdown, CSV or JSON; the JSON is the versioned schema.

JSON is the record itself, ``"schema": "launchbot.report/1"`` (documented in the README): a reader
checks that field and ignores keys it does not know; a change that removes or redefines a key bumps
the number. Markdown is for people, CSV for spreadsheets (one row per fact, a ``record`` column says
which kind). User text never becomes markup: pipes and newlines are neutralised in Markdown tables,
and CSV cells that a spreadsheet would run as a formula are prefixed with ``'`` (OWASP CSV injection).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from bot.audit.record import build_record
from bot.checklist.lifecycle import CLOSE_OUTCOMES
from bot.core.config import RoleConfig
from bot.core.db import open_database
from bot.core.launches import find_launch

Format = Literal["md", "csv", "json"]
FORMATS: tuple[Format, ...] = ("md", "csv", "json")
MEDIA_TYPES: dict[Format, str] = {
    "md": "text/markdown",
    "csv": "text/csv",
    "json": "application/json",
}


def render(record: Mapping[str, Any], fmt: Format) -> str:
    if fmt == "json":
        return render_json(record)
    if fmt == "csv":
        return render_csv(record)
    return render_markdown(record)


def filename(record: Mapping[str, Any], fmt: Format) -> str:
    launch = record["launch"]
    slug = re.sub(r"[^a-z0-9]+", "-", str(launch["name"]).lower()).strip("-")[:40] or "launch"
    return f"launch-{launch['id']}-{slug}-report.{fmt}"


# ---------------------------------------------------------------------------------------------------
# JSON


def render_json(record: Mapping[str, Any]) -> str:
    return json.dumps(record, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------------------
# CSV

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


def _cell(value: Any) -> str:
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


def _csv_rows(record: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
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
    for phase in record["phases"]:
        for section in phase["sections"]:
            for group in section["groups"]:
                group_title = group["title"] or ""
                if group["stage"] is not None:
                    group_title = f"Stage {group['stage']}: {group_title}".rstrip(": ")
                where = {"phase": phase["title"], "section": section["title"], "group": group_title}
                for item in group["items"]:
                    uid, name = _person(item["by"])
                    waived = item.get("waived")
                    if waived:
                        uid, name = _person(waived["by"])
                    yield {
                        **where,
                        "record": "item",
                        "item": item["text"],
                        "state": waived["kind"]
                        if waived
                        else ("checked" if item["checked"] else "open"),
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
    for so in record["sign_offs"]["records"]:
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
    for go in record["go"]:
        yield {
            "record": "go",
            "state": "withdrawn" if go["withdrawn"] else "go",
            "user_id": go["declared_by"],
            "at": go["at"],
            "detail": go["withdrawn"],
            "seq": go["event_seq"],
            "hash": go["event_hash"],
        }
    yield from _csv_golive(record.get("golive"))
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
    for e in record["events"]:
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


def _csv_golive(golive: Mapping[str, Any] | None) -> Iterator[dict[str, Any]]:
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
    for request in golive["traffic_requests"]:
        uid, name = _person(request["requested_by"])
        yield {
            "record": "traffic_request",
            "item": f"{request['previous_weight']}% → {request['weight']}%",
            "state": request["status"],
            "user_id": uid,
            "user_name": name,
            "at": request["requested_at"],
            "comment": request["reason"],
            "detail": {
                key: request[key]
                for key in (
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
            },
        }
    for hold in golive["holds"]:
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


def render_csv(record: Mapping[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in _csv_rows(record):
        writer.writerow({column: _cell(row.get(column)) for column in CSV_COLUMNS})
    return out.getvalue()


# ---------------------------------------------------------------------------------------------------
# Markdown


# What would make user text markup in a Markdown viewer: ``<`` (a tag, an autolink) and ``>``
# become entities, and an ``&`` only where it would start an entity ("&lt;" typed by a person
# stays "&lt;"). Every other character is left as typed: "P&L Engine" reads as written, raw or
# rendered (escaping every ``&`` showed "P&amp;L" in a plain viewer), and "<script>" is shown,
# never run. Entities, not backslashes: not every Markdown flavour honours ``\<``.
_MD_ENTITY_START = re.compile(r"&(?=#[0-9]+;|#[xX][0-9a-fA-F]+;|[A-Za-z][A-Za-z0-9]*;)")


def _md(value: Any) -> str:
    """User text for the Markdown report: no line breaks, pipes escaped (it cannot break a table),
    ``<``/``>`` and an entity-like ``&`` as entities (``_MD_ENTITY_START``)."""
    if value is None or value == "":
        return "—"
    text = " ".join(str(value).split())
    text = _MD_ENTITY_START.sub("&amp;", text).replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\\", "\\\\").replace("|", "\\|")


def _who(person: Mapping[str, Any] | None) -> str:
    if not person:
        return "—"
    name = person.get("name")
    return _md(f"{name} ({person['id']})" if name and name != person["id"] else person["id"])


def _at(value: str | None) -> str:
    """``2026-12-01T14:02:03.123456+00:00`` → ``2026-12-01 14:02:03 UTC``."""
    if not value:
        return "—"
    return value[:19].replace("T", " ") + " UTC"


def _md_golive(golive: Mapping[str, Any] | None) -> list[str]:
    if not golive:
        return []
    lines = ["", "## Go-live sequence", ""]
    if golive["step"] == 0:
        where = "not started"
    else:
        where = f"step {golive['step']}/{golive['total']}, {golive['weight']}% live"
    if golive["completed_at"]:
        where += f", complete since {_at(golive['completed_at'])}"
    if golive["on_hold"]:
        hold = golive["on_hold"]
        where += (
            f", ON HOLD since {_at(hold['since'])} by {_who(hold['by'])}: {_md(hold['reason'])}"
        )
    lines += [
        f"Now: {where}.",
        "",
        "| Step | Weight | Soak | Entered | Left | By | Action | Reason | Forced |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for step in golive["steps"]:
        title = f"{step['number']}. {step['title']}"
        soak = f"{step['soak_minutes']} min" if step["soak_minutes"] else "—"
        if not step["visits"]:
            lines.append(f"| {_md(title)} | {step['weight']}% | {soak} | — | — | — | — | — | — |")
        for visit in step["visits"]:
            forced = "no"
            if visit["forced"]:
                forced = "yes, past: " + _md("; ".join(visit["forced_past"]))
            lines.append(
                f"| {_md(title)} | {step['weight']}% | {soak} | {_at(visit['entered_at'])} | "
                f"{_at(visit['left_at'])} | {_who(visit['by'])} | {_md(visit['action'])} | "
                f"{_md(visit['reason'])} | {forced} |"
            )
    if golive["traffic_requests"]:
        lines += [
            "",
            "| Requested | By | Action | Steps | Weight | Reason | Status | HTTP | Tries | Error |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for q in golive["traffic_requests"]:
            lines.append(
                f"| {_at(q['requested_at'])} | {_who(q['requested_by'])} | {_md(q['action'])} | "
                f"{q['from_step']} → {q['to_step']} | {q['previous_weight']}% → {q['weight']}% | "
                f"{_md(q['reason'])} | {_md(q['status'])} | {_md(q['http_status'])} | "
                f"{q['tries']} | {_md(q['error'])} |"
            )
    if golive["holds"]:
        lines += [
            "",
            "| Held | By | Step | Reason | Resumed | Resumed by |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for h in golive["holds"]:
            lines.append(
                f"| {_at(h['from'])} | {_who(h['by'])} | {_md(h['step'])} | {_md(h['reason'])} | "
                f"{_at(h['to'])} | {_who(h['resumed_by'])} |"
            )
    return lines


def _md_outcome(launch: Mapping[str, Any]) -> str:
    """`` — outcome: Rolled back (“note”)``; empty for a launch closed before outcomes existed."""
    outcome = launch.get("close_outcome")
    if not outcome:
        return ""
    note = launch.get("close_note")
    text = f" — outcome: **{CLOSE_OUTCOMES.get(outcome, _md(outcome))}**"
    return text + (f" ({_md(note)})" if note else "")


def _md_waivers(phases: list[Mapping[str, Any]]) -> list[str]:
    """Waived and not-applicable items, listed apart from ticked ones, with who and why."""
    rows = [
        (phase["title"], item)
        for phase in phases
        for section in phase["sections"]
        for group in section["groups"]
        for item in group["items"]
        if item.get("waived")
    ]
    if not rows:
        return []
    lines = ["", "## Waived items", "", "| Phase | Item | Kind | By | At | Reason |"]
    lines.append("| --- | --- | --- | --- | --- | --- |")
    for title, item in rows:
        w = item["waived"]
        kind = "not applicable" if w["kind"] == "not_applicable" else "waived"
        lines.append(
            f"| {_md(title)} | {_md(item['text'])} | {kind} | {_who(w['by'])} | {_at(w['at'])} "
            f"| {_md(w['reason'])} |"
        )
    return lines


def _parse_at(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def _took(start: str | None, end: str | None) -> str:
    """``4 min 05 s`` between two recorded times (``—`` if either is missing)."""
    a, b = _parse_at(start), _parse_at(end)
    if a is None or b is None:
        return "—"
    seconds = max(0, int((b - a).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _http(d: Mapping[str, Any]) -> str:
    parts = []
    if d.get("http_status") is not None:
        parts.append(f"HTTP {d['http_status']}")
    if d.get("tries"):
        parts.append(f"{d['tries']} tr{'y' if d['tries'] == 1 else 'ies'}")
    if d.get("error"):
        parts.append(_md(d["error"]))
    return f" ({', '.join(parts)})" if parts else ""


def _timeline_line(e: Mapping[str, Any], opened: dict[Any, str]) -> str | None:
    """One incident or stage-change event in words, or None for an event the timeline leaves to
    the event log (ticks, sign-offs, the bot's own bookkeeping)."""
    d: Mapping[str, Any] = e["detail"] or {}
    kind = e["kind"]
    esc = f"escalation #{d.get('escalation_id')}"
    if kind == "escalation_opened":
        opened[d.get("escalation_id")] = e["at"]
        path = " → ".join(_md(p) for p in d.get("path") or []) or "—"
        return f"🚨 {_md(d.get('severity'))} {esc} opened: {_md(d.get('summary'))} (path: {path})"
    if kind == "escalation_level_pinged":
        return f"📣 {esc}: level {d.get('level')} pinged in the channel"
    if kind == "escalation_level_ping_failed":
        return f"⚠️ {esc}: pinging level {d.get('level')} failed{_http(d)}"
    if kind == "escalation_level_due":
        return f"⏫ {esc} escalated to {_md(d.get('name'))} (level {d.get('level')})"
    if kind == "escalation_path_exhausted":
        return f"⛔ {esc}: the escalation path is exhausted, nobody acknowledged"
    if kind == "escalation_acknowledged":
        took = _took(opened.get(d.get("escalation_id")), e["at"])
        return f"✋ {esc} acknowledged (level {d.get('level')}) — time to acknowledge {took}"
    if kind == "escalation_resolved":
        took = _took(opened.get(d.get("escalation_id")), e["at"])
        return f"✅ {esc} resolved — {took} after it was opened"
    if kind == "pagerduty_trigger_sent":
        return f"📟 PagerDuty paged for {esc}{_http(d)}"
    if kind in ("pagerduty_trigger_failed", "pagerduty_trigger_unknown"):
        what = "FAILED" if kind.endswith("failed") else "state UNKNOWN"
        return f"⚠️ PagerDuty page for {esc} {what}{_http(d)}"
    if kind == "pagerduty_retry_requested":
        return f"📟 PagerDuty page for {esc} asked again"
    if kind == "killswitch_requested":
        return f"🛑 Kill switch requested: {_md(d.get('reason'))}"
    if kind == "killswitch_test_requested":
        return "🧪 Kill switch test (dry run) requested"
    if kind == "killswitch_refused":
        return f"🚫 Kill switch refused: {_md(d.get('why'))}"
    if kind in ("killswitch_confirmed", "killswitch_test_confirmed"):
        test = "test (dry run) " if kind.startswith("killswitch_test") else ""
        return f"🔴 Kill switch {test}FIRED and confirmed{_http(d)}"
    if kind in ("killswitch_failed", "killswitch_test_failed"):
        test = "test (dry run) " if kind.startswith("killswitch_test") else ""
        return f"❌ Kill switch {test}FAILED{_http(d)}"
    if kind in ("killswitch_unknown", "killswitch_not_sent"):
        what = "state UNKNOWN" if kind == "killswitch_unknown" else "never sent"
        return f"⚠️ Kill switch {what}{_http(d)}"
    if kind in ("killswitch_armed", "killswitch_disarmed"):
        return f"🔐 Kill switch {kind.removeprefix('killswitch_')}"
    if kind == "traffic_requested":
        forced = " (forced past the gate)" if d.get("forced") else ""
        return (
            f"🚦 Stage change requested: {_md(d.get('action'))} step {d.get('from_step')} → "
            f"{d.get('to_step')} ({d.get('previous_weight')}% → {d.get('weight')}%){forced}"
            + (f": {_md(d.get('reason'))}" if d.get("reason") else "")
        )
    if kind in ("traffic_failed", "traffic_unknown"):
        return f"⚠️ Traffic change {kind.removeprefix('traffic_').upper()}{_http(d)}"
    if kind in ("golive_step_entered", "golive_completed"):
        done = " — rollout complete" if kind == "golive_completed" else ""
        return (
            f"⏩ Stage {d.get('step')}: {_md(d.get('title'))}, {d.get('weight')}% live "
            f"({_md(d.get('action'))}){done}"
        )
    if kind == "golive_held":
        return f"⏸️ Rollout ON HOLD at step {d.get('step')}: {_md(d.get('reason'))}"
    if kind == "golive_resumed":
        return f"▶️ Rollout resumed at step {d.get('step')} after {_took_seconds(d)}"
    if kind == "go_withdrawn":
        return f"⛔ GO #{d.get('number')} withdrawn: {_md(d.get('role_title'))} revoked"
    return None


def _took_seconds(d: Mapping[str, Any]) -> str:
    seconds = d.get("held_seconds")
    if not isinstance(seconds, int | float):
        return "—"
    start = datetime(2000, 1, 1)
    return _took(start.isoformat(), (start + timedelta(seconds=seconds)).isoformat())


def _md_timeline(events: list[Mapping[str, Any]]) -> list[str]:
    """Escalations, pages, acknowledgements (with the time to acknowledge), kill-switch requests
    and outcomes, stage changes and holds: what happened when, in words."""
    opened: dict[Any, str] = {}
    rows = []
    for e in events:
        line = _timeline_line(e, opened)
        if line is not None:
            rows.append(f"| {_at(e['at'])} | {line} | {_who(e['actor'])} | {e['seq']} |")
    lines = ["", "## Incident timeline", ""]
    if not rows:
        return [*lines, "No escalations, kill-switch requests or stage changes."]
    return [*lines, "| At | What happened | By | Event |", "| --- | --- | --- | --- |", *rows]


def _detail_text(detail: Mapping[str, Any] | None) -> str:
    """An event's detail as ``key: value; …`` (nested values compactly), not a JSON blob."""
    if not detail:
        return "—"
    parts = []
    for key, value in detail.items():
        if value is None or value == "" or value == [] or value == {}:
            continue
        if isinstance(value, Mapping):
            shown = ", ".join(f"{k}={v}" for k, v in value.items())
        elif isinstance(value, list):
            shown = ", ".join(
                "(" + ", ".join(f"{k}={x}" for k, x in v.items()) + ")"
                if isinstance(v, Mapping)
                else str(v)
                for v in value
            )
        else:
            shown = str(value)
        parts.append(f"{key}: {shown}")
    return _md("; ".join(parts))


def render_markdown(record: Mapping[str, Any]) -> str:
    launch = record["launch"]
    chain = record["chain"]
    lines = [
        f"# Launch report: {_md(launch['name'])} (#{launch['id']})",
        "",
        f"- Template: {_md(launch['template'])}",
        f"- Channel: {_md(launch['channel_id'])}",
        f"- Started by {_who(launch['started_by'])} at {_at(launch['started_at'])}",
    ]
    if launch["closed_at"]:
        lines.append(
            f"- Closed by {_who(launch['closed_by'])} at {_at(launch['closed_at'])}"
            + _md_outcome(launch)
        )
    else:
        lines.append(f"- Still open; current phase: {_md(launch['current_phase'])}")
    if chain["verified"] and chain["unchecked"]:
        gaps = "; ".join(f"{u['table']} {u['row_id']} {u['field']}" for u in chain["unchecked"])
        verdict = "verified ✅ except what the log could not check: " + _md(gaps)
    elif chain["verified"]:
        verdict = "verified ✅"
    elif chain["first_bad"]:
        bad = chain["first_bad"]
        verdict = f"BROKEN ❌ at event #{bad['seq']} ({_md(bad['kind'])}): {_md(bad['reason'])}"
    else:
        verdict = "BROKEN ❌: " + _md("; ".join(chain["mismatches"]))
    lines += [
        f"- Audit chain: {chain['events']} events, head hash `{chain['head_hash']}`, {verdict}",
        f"- Generated {_at(record['generated_at'])} · schema `{record['schema']}`",
        "",
        "## Sign-offs",
        "",
    ]
    sign_offs = record["sign_offs"]
    if not sign_offs["roles"]:
        lines.append("The checklist template has no sign-off table.")
    else:
        state = "all roles approved" if sign_offs["all_approved"] else "not all roles approved"
        lines += [
            f"Status: {state}.",
            "",
            "| Role | Status | Required | Approved by |",
            "| --- | --- | --- | --- |",
        ]
        for role in sign_offs["roles"]:
            lines.append(
                f"| {_md(role['title'])} | {role['status']} | {role['required']} | "
                f"{_md(', '.join(role['approved_by']))} |"
            )
        lines += [
            "",
            "| # | Role | By | At | Comment | Progress approved | Revoked |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for so in sign_offs["records"]:
            progress = so["progress"]
            approved = (
                f"{progress.get('done')}/{progress.get('total')} items, "
                f"phase {progress.get('current_phase')}, after event #{progress.get('after_event')}"
            )
            revoked = "—"
            if so["revoked"]:
                r = so["revoked"]
                revoked = f"{_at(r['at'])} by {_who(r['by'])}: {_md(r['reason'])}"
            lines.append(
                f"| {so['event_seq']} | {_md(so['role_title'])} | {_who(so['by'])} | "
                f"{_at(so['at'])} | {_md(so['comment'])} | {_md(approved)} | {revoked} |"
            )
    lines += ["", "## GO", ""]
    if not record["go"]:
        lines.append("Not declared.")
    for go in record["go"]:
        line = f"- GO #{go['number']} at {_at(go['at'])} (event #{go['event_seq']}, `{go['event_hash']}`)"
        if go["withdrawn"]:
            w = go["withdrawn"]
            line += (
                f" — withdrawn at {_at(w['at'])} by {_md(w['by'])}: {_md(w['role'])} "
                f"revoked ({_md(w['reason'])})"
            )
        lines.append(line)
    if launch["closed_at"] and record["go"]:
        lines.append(f"- Launch closed at {_at(launch['closed_at'])}{_md_outcome(launch)}")
    lines += _md_waivers(record["phases"])

    lines += _md_timeline(record["events"])
    lines += _md_golive(record.get("golive"))
    lines += ["", "## Checklist"]
    for phase in record["phases"]:
        timing = f" ({_md(phase['timing'])})" if phase["timing"] else ""
        done = "complete" if phase["completed_at"] else f"{phase['done']}/{phase['total']}"
        kind = " — reference criteria" if phase["kind"] != "checklist" else f" — {done}"
        lines += ["", f"### {_md(phase['title'])}{timing}{kind}"]
        for section in phase["sections"]:
            lines += [
                "",
                f"#### {_md(section['title'])}",
                "",
                "| Group | Item | State | By | At | History |",
                "| --- | --- | --- | --- | --- | --- |",
            ]
            for group in section["groups"]:
                title = group["title"] or ""
                if group["stage"] is not None:
                    title = f"Stage {group['stage']}: {title}"
                for item in group["items"]:
                    if item.get("waived"):
                        w = item["waived"]
                        kind = "not applicable" if w["kind"] == "not_applicable" else "waived"
                        lines.append(
                            f"| {_md(title)} | ~~{_md(item['text'])}~~ | ⊘ {kind}: "
                            f"{_md(w['reason'])} | {_who(w['by'])} | {_at(w['at'])} | |"
                        )
                        continue
                    changes = "; ".join(
                        f"#{c['seq']} {c['action']} by {_who(c['by'])} {_at(c['at'])}"
                        + (f" (proof: {c['proof']})" if c.get("proof") else "")
                        for c in item["history"]
                    )
                    lines.append(
                        f"| {_md(title)} | {_md(item['text'])} | "
                        f"{'☑ checked' if item['checked'] else '☐ open'} | {_who(item['by'])} | "
                        f"{_at(item['at'])} | {_md(changes)} |"
                    )
    lines += [
        "",
        "## Event log",
        "",
        "| # | At | Event | By | Detail | Hash |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for e in record["events"]:
        lines.append(
            f"| {e['seq']} | {_at(e['at'])} | {_md(e['kind'])} | {_who(e['actor'])} | "
            f"{_detail_text(e['detail'])} | `{e['hash'][:16]}` |"
        )
    return "\n".join(lines) + "\n"


async def export_launch(
    database_url: str, ref: str, fmt: Format, *, roles: Mapping[str, RoleConfig], now: datetime
) -> str:
    """``launchbot export``: open the database, find the launch by id or name, render its record."""
    db = open_database(database_url)
    try:
        async with db.read_sessions() as session:
            launch = await find_launch(session=session, ref=ref)
            record = await build_record(session=session, launch_id=launch.id, now=now, roles=roles)
    finally:
        await db.dispose()
    return render(record, fmt)
