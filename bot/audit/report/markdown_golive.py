"""The Markdown report's go-live section: where the rollout stands, every step with each time it was
entered and left, every traffic request, every hold."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.audit.report.markdown_text import md, when, who


def golive_section(golive: Mapping[str, Any] | None) -> list[str]:
    if not golive:
        return []
    return [
        "",
        "## Go-live sequence",
        "",
        f"Now: {_where(golive)}.",
        "",
        *_step_table(golive["steps"]),
        *_traffic_table(golive["traffic_requests"]),
        *_hold_table(golive["holds"]),
    ]


def _where(golive: Mapping[str, Any]) -> str:
    if golive["step"] == 0:
        where = "not started"
    else:
        where = f"step {golive['step']}/{golive['total']}, {golive['weight']}% live"
    if golive["completed_at"]:
        where += f", complete since {when(golive['completed_at'])}"
    if golive["on_hold"]:
        hold = golive["on_hold"]
        where += f", ON HOLD since {when(hold['since'])} by {who(hold['by'])}: {md(hold['reason'])}"
    return where


def _step_table(steps: list[Mapping[str, Any]]) -> list[str]:
    lines = [
        "| Step | Weight | Soak | Entered | Left | By | Action | Reason | Forced |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for step in steps:
        title = f"{step['number']}. {step['title']}"
        soak = f"{step['soak_minutes']} min" if step["soak_minutes"] else "—"
        if not step["visits"]:
            lines.append(f"| {md(title)} | {step['weight']}% | {soak} | — | — | — | — | — | — |")
        for visit in step["visits"]:
            forced = "no"
            if visit["forced"]:
                forced = "yes, past: " + md("; ".join(visit["forced_past"]))
            lines.append(
                f"| {md(title)} | {step['weight']}% | {soak} | {when(visit['entered_at'])} | "
                f"{when(visit['left_at'])} | {who(visit['by'])} | {md(visit['action'])} | "
                f"{md(visit['reason'])} | {forced} |"
            )
    return lines


def _traffic_table(requests: list[Mapping[str, Any]]) -> list[str]:
    if not requests:
        return []
    lines = [
        "",
        "| Requested | By | Action | Steps | Weight | Reason | Status | HTTP | Tries | Error |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for q in requests:
        lines.append(
            f"| {when(q['requested_at'])} | {who(q['requested_by'])} | {md(q['action'])} | "
            f"{q['from_step']} → {q['to_step']} | {q['previous_weight']}% → {q['weight']}% | "
            f"{md(q['reason'])} | {md(q['status'])} | {md(q['http_status'])} | "
            f"{q['tries']} | {md(q['error'])} |"
        )
    return lines


def _hold_table(holds: list[Mapping[str, Any]]) -> list[str]:
    if not holds:
        return []
    lines = [
        "",
        "| Held | By | Step | Reason | Resumed | Resumed by |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for h in holds:
        lines.append(
            f"| {when(h['from'])} | {who(h['by'])} | {md(h['step'])} | {md(h['reason'])} | "
            f"{when(h['to'])} | {who(h['resumed_by'])} |"
        )
    return lines
