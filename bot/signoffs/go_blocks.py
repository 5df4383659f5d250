"""Pure Block Kit builders for GO: the GO message in the channel (what it was given on, and that it
was withdrawn, if it was) and the @here notice when a GO is withdrawn."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.checklist.blocks import outcome_text
from bot.core.kit import (
    Block,
    MessageView,
    StateAlarm,
    line_sections,
    mention,
    mrkdwn_text,
    plain_text,
    slack_date,
)
from bot.core.mrkdwn import escape
from bot.core.outbox import MessageRef
from bot.signoffs.blocks import person_mention, when
from bot.signoffs.log import GoRecord, LaunchSignOffs, board, log_of


def go_message(
    state: LaunchSignOffs, message: MessageRef, *, alarm: StateAlarm | None = None
) -> MessageView:
    """The GO announcement in the channel (one message per GO; it says so if the GO is withdrawn).
    ``alarm``: the kill switch halted the launch since, is firing, or its fire did not confirm, so
    the GO message never reads as a plain GO then."""
    log = log_of(state)
    go = log.go_number(message.part)
    if go is None:
        return MessageView(
            text=f"{escape(state.name)}: sign-off update",
            blocks=[{"type": "section", "text": mrkdwn_text("This GO is no longer on record.")}],
        )
    if go.withdrawn_at is not None:
        return _go_withdrawn(state, go)
    rows = board(log, {})
    approvals = "\n".join(
        f"• *{escape(r.role.title)}* — {person_mention(a.user_id, a.user_name)} · {when(a.at)}"
        for r in rows
        for a in r.approvals
    )
    if alarm is not None:
        head = f"{alarm.mark} GO, then {alarm.label} — {state.name}"
        lead = (
            f"Every sign-off is in for *{escape(state.name)}* (launch #{state.id}), "
            f"but since then: {alarm.line}"
        )
    else:
        head = f"🟢 GO — {state.name}"
        lead = (
            f"Every sign-off is in for *{escape(state.name)}* (launch #{state.id}): "
            "the launch is cleared to go."
        )
    blocks: list[Block] = [
        {"type": "header", "text": plain_text(head, 150)},
        {"type": "section", "text": mrkdwn_text(lead)},
    ]
    if approvals:
        blocks.append({"type": "section", "text": mrkdwn_text(approvals)})
    blocks.extend(line_sections(readiness_lines(go.readiness), max_blocks=READINESS_BLOCKS))
    if not state.is_active and state.close_outcome is not None:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    mrkdwn_text(
                        "🔒 The launch is closed"
                        + outcome_text(state.close_outcome, state.close_note)
                    )
                ],
            }
        )
    blocks.append(_go_context(go))
    if alarm is not None:
        return MessageView(text=f"GO, then {alarm.label}: {escape(state.name)}", blocks=blocks)
    return MessageView(text=f"GO: {escape(state.name)} — every sign-off is in", blocks=blocks)


# Open items named in the GO message before "and N more".
GO_OPEN_ITEMS = 10
WAIVE_LABELS = {"not_applicable": "not applicable", "waived": "waived"}


# Section blocks the GO message may use for what it was given on (each up to 3,000 characters).
READINESS_BLOCKS = 15


def readiness_lines(readiness: Mapping[str, Any]) -> list[str]:
    """What a GO was given on, in mrkdwn lines: each phase's progress, then the current phase's open
    items and its waived items (one a line, with who and why); none for a GO recorded without it."""
    if not readiness:
        return []
    phases = " · ".join(
        f"{escape(str(p.get('title')))} {p.get('done')}/{p.get('total')}"
        + (" ✅" if p.get("complete") else "")
        for p in readiness.get("phases") or []
    )
    lines = [f"*Given on:* {phases}"] if phases else []
    current = escape(str(readiness.get("current_phase") or "the current phase"))
    count = int(readiness.get("open_count") or 0)
    if count:
        named = [escape(str(t)) for t in (readiness.get("open_items") or [])[:GO_OPEN_ITEMS]]
        more = count - len(named)
        lines.append(
            f"*Open in {current}* ({count}): "
            + ", ".join(named)
            + (f" and {more} more" if more > 0 else "")
        )
    else:
        lines.append(f"*Open in {current}:* none")
    waived = readiness.get("waived") or []
    if waived:
        lines.append(f"*Waived in {current}* ({len(waived)}):")
        lines.extend(
            f"• ~{escape(str(w.get('text')))}~ ({WAIVE_LABELS.get(str(w.get('kind')), 'waived')} "
            f"by {mention(w.get('by'))}: {escape(str(w.get('reason') or ''))})"
            for w in waived[:GO_OPEN_ITEMS]
        )
        more = len(waived) - GO_OPEN_ITEMS
        if more > 0:
            lines.append(f"… and {more} more")
    return lines


def _go_withdrawn(state: LaunchSignOffs, go: GoRecord) -> MessageView:
    assert go.withdrawn_at is not None
    reason = f" — “{escape(go.withdrawn_reason)}”" if go.withdrawn_reason else ""
    text = (
        f"~GO for *{escape(state.name)}* ({when(go.at)})~ was withdrawn: "
        f"{mention(go.withdrawn_by_id)} revoked the *{escape(go.withdrawn_role or '')}* sign-off "
        f"· {when(go.withdrawn_at)}{reason}"
    )
    return MessageView(
        text=f"GO withdrawn: {escape(state.name)}",
        blocks=[
            {"type": "header", "text": plain_text(f"⛔ GO withdrawn — {state.name}", 150)},
            {"type": "section", "text": mrkdwn_text(text)},
            _go_context(go),
        ],
    )


def go_withdrawn_notice(
    *,
    launch_name: str,
    number: int,
    role_title: str,
    actor_id: str,
    reason: str,
    at: datetime,
) -> MessageView:
    """The @here channel message when GO is withdrawn (the GO message itself is edited too, but an
    edit is not seen by someone who only glances at the channel)."""
    text = (
        f"⛔ <!here> *GO WITHDRAWN* for *{escape(launch_name)}* (GO #{number}): "
        f"{mention(actor_id)} revoked the *{escape(role_title)}* sign-off · {slack_date(at)}\n"
        f"Reason: “{escape(reason)}”\n"
        "The launch is not GO until every sign-off is in again."
    )
    return MessageView(
        # <!here> in the top-level text too: that text is what drives the notification.
        text=f"<!here> GO withdrawn for {escape(launch_name)}: {escape(role_title)} revoked",
        blocks=[{"type": "section", "text": mrkdwn_text(text)}],
    )


def _go_context(go: GoRecord) -> Block:
    return {
        "type": "context",
        "elements": [
            mrkdwn_text(
                f"GO #{go.number} · {when(go.at)} · audit event #{go.event_seq} "
                f"`{go.event_hash[:16]}` (`launchbot audit verify` checks the chain)"
            )
        ],
    }
