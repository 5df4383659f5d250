"""The Markdown report, for people: the launch and its audit chain, sign-offs, GO, waived items, the
incident timeline, the go-live sequence, the checklist and the whole event log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.audit.report.markdown_golive import golive_section
from bot.audit.report.markdown_text import md, when, who
from bot.audit.report.timeline import timeline_section
from bot.checklist.lifecycle import CLOSE_OUTCOMES


def render_markdown(record: Mapping[str, Any]) -> str:
    lines = [
        *_launch_lines(record),
        *_sign_off_lines(record["sign_offs"]),
        *_go_lines(record),
        *_waiver_lines(record["phases"]),
        *timeline_section(record["events"]),
        *golive_section(record.get("golive")),
        *_checklist_lines(record["phases"]),
        *_event_log_lines(record["events"]),
    ]
    return "\n".join(lines) + "\n"


def _launch_lines(record: Mapping[str, Any]) -> list[str]:
    launch = record["launch"]
    chain = record["chain"]
    lines = [
        f"# Launch report: {md(launch['name'])} (#{launch['id']})",
        "",
        f"- Template: {md(launch['template'])}",
        f"- Channel: {md(launch['channel_id'])}",
        f"- Started by {who(launch['started_by'])} at {when(launch['started_at'])}",
    ]
    if launch["closed_at"]:
        lines.append(
            f"- Closed by {who(launch['closed_by'])} at {when(launch['closed_at'])}"
            + _outcome(launch)
        )
    else:
        lines.append(f"- Still open; current phase: {md(launch['current_phase'])}")
    return [
        *lines,
        f"- Audit chain: {chain['events']} events, head hash `{chain['head_hash']}`, "
        f"{_verdict(chain)}",
        f"- Generated {when(record['generated_at'])} · schema `{record['schema']}`",
    ]


def _verdict(chain: Mapping[str, Any]) -> str:
    if chain["verified"] and chain["unchecked"]:
        gaps = "; ".join(f"{u['table']} {u['row_id']} {u['field']}" for u in chain["unchecked"])
        return "verified ✅ except what the log could not check: " + md(gaps)
    if chain["verified"]:
        return "verified ✅"
    if chain["first_bad"]:
        bad = chain["first_bad"]
        return f"BROKEN ❌ at event #{bad['seq']} ({md(bad['kind'])}): {md(bad['reason'])}"
    return "BROKEN ❌: " + md("; ".join(chain["mismatches"]))


def _outcome(launch: Mapping[str, Any]) -> str:
    """`` — outcome: Rolled back (“note”)``; empty for a launch closed before outcomes existed."""
    outcome = launch.get("close_outcome")
    if not outcome:
        return ""
    note = launch.get("close_note")
    text = f" — outcome: **{CLOSE_OUTCOMES.get(outcome, md(outcome))}**"
    return text + (f" ({md(note)})" if note else "")


def _sign_off_lines(sign_offs: Mapping[str, Any]) -> list[str]:
    lines = ["", "## Sign-offs", ""]
    if not sign_offs["roles"]:
        return [*lines, "The checklist template has no sign-off table."]
    state = "all roles approved" if sign_offs["all_approved"] else "not all roles approved"
    lines += [
        f"Status: {state}.",
        "",
        "| Role | Status | Required | Approved by |",
        "| --- | --- | --- | --- |",
    ]
    names = _people(sign_offs)
    for role in sign_offs["roles"]:
        approved_by = ", ".join(names.get(u, md(u)) for u in role["approved_by"])
        lines.append(
            f"| {md(role['title'])} | {role['status']} | {role['required']} | "
            f"{approved_by or '—'} |"
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
            revoked = f"{when(r['at'])} by {who(r['by'])}: {md(r['reason'])}"
        lines.append(
            f"| {so['event_seq']} | {md(so['role_title'])} | {who(so['by'])} | "
            f"{when(so['at'])} | {md(so['comment'])} | {md(approved)} | {revoked} |"
        )
    return lines


def _people(sign_offs: Mapping[str, Any]) -> dict[str, str]:
    """Who signed or revoked, by Slack ID, as the other tables name them: ``carol (U0CAROL001)``."""
    names: dict[str, str] = {}
    for so in sign_offs["records"]:
        for person in (so["by"], (so["revoked"] or {}).get("by")):
            if person and person.get("id"):
                names[person["id"]] = who(person)
    return names


def _go_lines(record: Mapping[str, Any]) -> list[str]:
    launch = record["launch"]
    names = _people(record["sign_offs"])
    lines = ["", "## GO", ""]
    if not record["go"]:
        lines.append("Not declared.")
    for go in record["go"]:
        line = (
            f"- GO #{go['number']} at {when(go['at'])} "
            f"(event #{go['event_seq']}, `{go['event_hash']}`)"
        )
        if go["withdrawn"]:
            w = go["withdrawn"]
            line += (
                f" — withdrawn at {when(w['at'])} by {names.get(w['by'], md(w['by']))}: "
                f"{md(w['role'])} "
                f"revoked ({md(w['reason'])})"
            )
        lines.append(line)
    if launch["closed_at"] and record["go"]:
        lines.append(f"- Launch closed at {when(launch['closed_at'])}{_outcome(launch)}")
    return lines


def _waiver_lines(phases: list[Mapping[str, Any]]) -> list[str]:
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
            f"| {md(title)} | {md(item['text'])} | {kind} | {who(w['by'])} | {when(w['at'])} "
            f"| {md(w['reason'])} |"
        )
    return lines


def _checklist_lines(phases: list[Mapping[str, Any]]) -> list[str]:
    lines = ["", "## Checklist"]
    for phase in phases:
        timing = f" ({md(phase['timing'])})" if phase["timing"] else ""
        done = "complete" if phase["completed_at"] else f"{phase['done']}/{phase['total']}"
        kind = " — reference criteria" if phase["kind"] != "checklist" else f" — {done}"
        lines += ["", f"### {md(phase['title'])}{timing}{kind}"]
        for section in phase["sections"]:
            lines += [
                "",
                f"#### {md(section['title'])}",
                "",
                "| Group | Item | State | By | At | History |",
                "| --- | --- | --- | --- | --- | --- |",
            ]
            for group in section["groups"]:
                title = group["title"] or ""
                if group["stage"] is not None:
                    title = f"Stage {group['stage']}: {title}"
                lines += [_item_line(title, item) for item in group["items"]]
    return lines


def _item_line(group_title: str, item: Mapping[str, Any]) -> str:
    if item.get("waived"):
        w = item["waived"]
        kind = "not applicable" if w["kind"] == "not_applicable" else "waived"
        return (
            f"| {md(group_title)} | ~~{md(item['text'])}~~ | ⊘ {kind}: "
            f"{md(w['reason'])} | {who(w['by'])} | {when(w['at'])} | |"
        )
    changes = "; ".join(
        f"#{c['seq']} {c['action']} by {who(c['by'])} {when(c['at'])}"
        + (f" (proof: {c['proof']})" if c.get("proof") else "")
        for c in item["history"]
    )
    return (
        f"| {md(group_title)} | {md(item['text'])} | "
        f"{'☑ checked' if item['checked'] else '☐ open'} | {who(item['by'])} | "
        f"{when(item['at'])} | {md(changes)} |"
    )


def _event_log_lines(events: list[Mapping[str, Any]]) -> list[str]:
    lines = [
        "",
        "## Event log",
        "",
        "| # | At | Event | By | Detail | Hash |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for e in events:
        lines.append(
            f"| {e['seq']} | {when(e['at'])} | {md(e['kind'])} | {who(e['actor'])} | "
            f"{_detail_text(e['detail'])} | `{e['hash'][:16]}` |"
        )
    return lines


def _detail_text(detail: Mapping[str, Any] | None) -> str:
    """An event's detail as ``key: value; …`` (nested values compactly), not a JSON blob."""
    if not detail:
        return "—"
    parts = []
    for key, value in detail.items():
        if value is None or value == "" or value == [] or value == {}:
            continue
        if key == "structure" and isinstance(value, list):
            shown = _structure_text(value)
        elif key == "template_extra" and isinstance(value, Mapping):
            shown = ", ".join(f"{len(v)} {k}" for k, v in value.items() if isinstance(v, list))
        elif isinstance(value, Mapping):
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
    return md("; ".join(parts))


def _structure_text(phases: list[Any]) -> str:
    """``launch_started``'s copy of the checklist, counted (the record's phases show it)."""
    sections = [s for p in phases for s in p.get("sections", [])]
    groups = [g for s in sections for g in s.get("groups", [])]
    items = sum(len(g.get("items", [])) for g in groups)
    return f"{len(phases)} phases, {len(sections)} sections, {len(groups)} groups, {items} items"
