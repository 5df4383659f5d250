"""The Markdown report's incident timeline: escalations, pages, acknowledgements (with the time to
acknowledge), kill-switch requests and outcomes, stage changes and holds, in words, in log order."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from bot.audit.report.markdown_text import md, when, who


def timeline_section(events: list[Mapping[str, Any]]) -> list[str]:
    """Escalations, pages, acknowledgements (with the time to acknowledge), kill-switch requests
    and outcomes, stage changes and holds: what happened when, in words."""
    opened: dict[Any, str] = {}
    paths: dict[Any, list[str]] = {}
    rows = []
    for e in events:
        line = timeline_line(e, opened, paths)
        if line is not None:
            rows.append(f"| {when(e['at'])} | {line} | {who(e['actor'])} | {e['seq']} |")
    lines = ["", "## Incident timeline", ""]
    if not rows:
        return [*lines, "No escalations, kill-switch requests or stage changes."]
    return [*lines, "| At | What happened | By | Event |", "| --- | --- | --- | --- |", *rows]


def timeline_line(
    e: Mapping[str, Any], opened: dict[Any, str], paths: dict[Any, list[str]]
) -> str | None:
    """One incident or stage-change event in words, or None for an event the timeline leaves to
    the event log (ticks, sign-offs, the bot's own bookkeeping). ``opened``: when each escalation
    was opened (by id), for the time to acknowledge and to resolve; ``paths``: each escalation's
    level names (by id), so levels read as the card numbers them (1. On-call engineer, …)."""
    d: Mapping[str, Any] = e["detail"] or {}
    kind = e["kind"]
    if kind.startswith(("escalation_", "pagerduty_")):
        return _escalation_line(kind, d, e["at"], opened, paths)
    if kind.startswith("killswitch_"):
        return _killswitch_line(kind, d)
    if kind.startswith(("traffic_", "golive_")):
        return _golive_line(kind, d)
    if kind == "go_withdrawn":
        return f"⛔ GO #{d.get('number')} withdrawn: {md(d.get('role_title'))} revoked"
    return None


def _escalation_line(
    kind: str,
    d: Mapping[str, Any],
    at: str,
    opened: dict[Any, str],
    paths: dict[Any, list[str]],
) -> str | None:
    esc = f"escalation #{d.get('escalation_id')}"
    path_names = paths.get(d.get("escalation_id"), [])
    if kind == "escalation_opened":
        opened[d.get("escalation_id")] = at
        paths[d.get("escalation_id")] = [str(p) for p in d.get("path") or []]
        path = " → ".join(md(p) for p in d.get("path") or []) or "—"
        return f"🚨 {md(d.get('severity'))} {esc} opened: {md(d.get('summary'))} (path: {path})"
    if kind == "escalation_level_pinged":
        return f"📣 {esc}: {_level(d, path_names)} pinged in the channel"
    if kind == "escalation_level_ping_failed":
        return f"⚠️ {esc}: pinging {_level(d, path_names)} failed{_http(d)}"
    if kind == "escalation_level_due":
        return f"⏫ {esc} escalated to {_level(d, path_names)}"
    if kind == "escalation_path_exhausted":
        return f"⛔ {esc}: the escalation path is exhausted, nobody acknowledged"
    if kind == "escalation_acknowledged":
        took = _took(opened.get(d.get("escalation_id")), at)
        return f"✋ {esc} acknowledged at {_level(d, path_names)} — time to acknowledge {took}"
    if kind == "escalation_resolved":
        took = _took(opened.get(d.get("escalation_id")), at)
        return f"✅ {esc} resolved — {took} after it was opened"
    if kind == "pagerduty_trigger_sent":
        return f"📟 PagerDuty paged for {esc}{_http(d)}"
    if kind in ("pagerduty_trigger_failed", "pagerduty_trigger_unknown"):
        what = "FAILED" if kind.endswith("failed") else "state UNKNOWN"
        return f"⚠️ PagerDuty page for {esc} {what}{_http(d)}"
    if kind == "pagerduty_retry_requested":
        return f"📟 PagerDuty page for {esc} asked again"
    if kind.startswith("escalation_test_"):
        return _escalation_test_line(kind, d)
    return None


def _escalation_test_line(kind: str, d: Mapping[str, Any]) -> str | None:
    """``/launch escalate test``: a TEST page to PagerDuty (no escalation, nobody pinged)."""
    key = f"dedup key `{md(d.get('dedup_key'))}`"
    if kind == "escalation_test_requested":
        return f"🧪 Escalation test: TEST page to PagerDuty requested ({key})"
    if kind == "escalation_test_accepted":
        return f"🧪 Escalation test: PagerDuty accepted the TEST page{_http(d)}"
    if kind == "escalation_test_failed":
        unanswered = d.get("unanswered_tries")
        maybe = (
            f"; {unanswered} unanswered, so PagerDuty may have paged ({key})"
            if isinstance(unanswered, int) and unanswered > 0
            else ""
        )
        return f"⚠️ Escalation test: the TEST page FAILED{_http(d)}{maybe}"
    return None


def _level(d: Mapping[str, Any], path: list[str]) -> str:
    """A level as the escalation card numbers it: ``level 2 (Head of Trading)``; past the last
    level (everyone on the path was pinged): ``the emergency contacts``. The log counts from 0."""
    level = d.get("level")
    if not isinstance(level, int):
        return "level —"
    if path and level >= len(path):
        return "the emergency contacts (after the whole path)"
    name = d.get("name") or (path[level] if 0 <= level < len(path) else None)
    return f"level {level + 1}" + (f" ({md(name)})" if name else "")


def _killswitch_line(kind: str, d: Mapping[str, Any]) -> str | None:
    if kind == "killswitch_requested":
        return f"🛑 Kill switch requested: {md(d.get('reason'))}"
    if kind == "killswitch_test_requested":
        return "🧪 Kill switch test (dry run) requested"
    if kind == "killswitch_refused":
        return f"🚫 Kill switch refused: {md(d.get('why'))}"
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
    return None


def _golive_line(kind: str, d: Mapping[str, Any]) -> str | None:
    if kind == "traffic_requested":
        forced = " (forced past the gate)" if d.get("forced") else ""
        return (
            f"🚦 Stage change requested: {md(d.get('action'))} step {d.get('from_step')} → "
            f"{d.get('to_step')} ({d.get('previous_weight')}% → {d.get('weight')}%){forced}"
            + (f": {md(d.get('reason'))}" if d.get("reason") else "")
        )
    if kind in ("traffic_failed", "traffic_unknown"):
        return f"⚠️ Traffic change {kind.removeprefix('traffic_').upper()}{_http(d)}"
    if kind in ("golive_step_entered", "golive_completed"):
        done = " — rollout complete" if kind == "golive_completed" else ""
        return (
            f"⏩ Stage {d.get('step')}: {md(d.get('title'))}, {d.get('weight')}% live "
            f"({md(d.get('action'))}){done}"
        )
    if kind == "golive_held":
        return f"⏸️ Rollout ON HOLD at step {d.get('step')}: {md(d.get('reason'))}"
    if kind == "golive_resumed":
        return f"▶️ Rollout resumed at step {d.get('step')} after {_took_seconds(d)}"
    return None


def _http(d: Mapping[str, Any]) -> str:
    parts = []
    if d.get("http_status") is not None:
        parts.append(f"HTTP {d['http_status']}")
    if d.get("tries"):
        parts.append(f"{d['tries']} tr{'y' if d['tries'] == 1 else 'ies'}")
    if d.get("error"):
        error = _TRIES_SUFFIX.sub("", str(d["error"]))
        if d.get("http_status") is not None:
            # "HTTP 503: body (after 3 tries)" repeats the status and tries shown just before.
            status = f"HTTP {d['http_status']}"
            error = "" if error == status else error.removeprefix(f"{status}: ")
        if error:
            parts.append(md(error))
    return f" ({', '.join(parts)})" if parts else ""


_TRIES_SUFFIX = re.compile(r"\s*\(after \d+ tr(?:y|ies)\)$")


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


def _took_seconds(d: Mapping[str, Any]) -> str:
    seconds = d.get("held_seconds")
    if not isinstance(seconds, int | float):
        return "—"
    start = datetime(2000, 1, 1)
    return _took(start.isoformat(), (start + timedelta(seconds=seconds)).isoformat())
