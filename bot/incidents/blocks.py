"""Pure Block Kit builders for incidents: contacts, escalation messages and pings, the kill-switch modal and announcements.

No I/O. User text (summaries, reasons, launch names, config values) is escaped before it goes into
mrkdwn; ``<!here>`` appears only in the bot's own kill-switch announcements.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from bot.contacts.blocks import call_list
from bot.contacts.rules import ContactRow
from bot.core.ids import ActionId, CallbackId, IncidentBlock
from bot.core.kit import (
    Block,
    MessageView,
    context_block,
    group_mention,
    header_block,
    mention,
    mrkdwn_text,
    plain_text,
    section_block,
    slack_date,
    truncate,
)
from bot.core.mrkdwn import escape
from bot.incidents.escalations import EscalationView
from bot.incidents.killswitch import (
    KILLSWITCH_TESTED_ITEM,
    KillSwitchSummary,
    KillSwitchView,
    TestedTick,
)
from bot.incidents.payloads import EscalationValue, KillSwitchFormMeta

SECTION_TEXT_MAX = 3000
MODAL_TITLE_MAX = 24


def _seconds(ms: int | None) -> str:
    return f"{(ms or 0) / 1000:.1f} s"


def _tries(n: int) -> str:
    return f"{n} {'try' if n == 1 else 'tries'}"


# ---------------------------------------------------------------------------------------------------
# Contacts


# ---------------------------------------------------------------------------------------------------
# Escalations


def level_targets(level: Mapping[str, Any]) -> str:
    names = [mention(u) for u in level.get("users") or []]
    names += [group_mention(g) for g in level.get("usergroups") or []]
    return ", ".join(names) or "_nobody listed_"


def _minutes(value: Any) -> str:
    minutes = float(value or 0)
    return f"{minutes:g} min" if minutes >= 1 else f"{minutes * 60:g} s"


def _path_lines(view: EscalationView) -> str:
    if not view.path:
        return "_No escalation path is configured (`[escalation].levels`)._"
    lines = []
    for n, level in enumerate(view.path):
        wait = _minutes(level.get("wait_minutes"))
        # Never a ✓: a level's people are not said to have handled it; who did is in the status line.
        if n < view.level:
            mark, note = "⏭", f"no answer in {wait}"
        elif n == view.level and view.status != "open":
            mark, note = "⏹", f"stopped here: {_stopped_by(view)}"
        elif n == view.level:
            mark, note = "▶️", f"waits {wait}"
        else:
            mark, note = "◻️", f"waits {wait}"
        lines.append(
            f"{mark} {n + 1}. *{escape(str(level.get('name') or f'Level {n + 1}'))}* — "
            f"{level_targets(level)} · {note}"
        )
    return "\n".join(lines)


def _stopped_by(view: EscalationView) -> str:
    if view.acknowledged_by_id or view.acknowledged_by_name:
        return f"acknowledged by {mention(view.acknowledged_by_id, view.acknowledged_by_name)}"
    if view.status == "resolved":
        return f"resolved by {mention(view.resolved_by_id, view.resolved_by_name)}"
    return view.status


def _status_line(view: EscalationView) -> str:
    if view.status == "resolved":
        line = f"☑️ *Resolved* by {mention(view.resolved_by_id, view.resolved_by_name)}"
        return line + (f" · {slack_date(view.resolved_at)}" if view.resolved_at else "")
    if view.status == "acknowledged":
        line = f"✅ *Acknowledged* by {mention(view.acknowledged_by_id, view.acknowledged_by_name)}"
        return line + (f" · {slack_date(view.acknowledged_at)}" if view.acknowledged_at else "")
    line = "🔴 *Open* — waiting for someone to acknowledge"
    if view.next_level_at is not None and view.level + 1 < len(view.path):
        nxt = view.path[view.level + 1]
        line += (
            f"; escalates to *{escape(str(nxt.get('name')))}* at {slack_date(view.next_level_at)}"
        )
    return line


def _page_line(view: EscalationView) -> str:
    if view.page_status == "sent":
        line = (
            f"📟 PagerDuty paged ({_tries(view.page_tries)}), dedup key `{escape(view.dedup_key)}`"
        )
        if view.resolve_status == "sent":
            line += " · resolved in PagerDuty"
        elif view.resolve_status == "failed":
            line += " · ⚠️ resolving in PagerDuty failed"
        return line
    if view.page_status == "failed":
        return f"❌ *PagerDuty page FAILED* — {escape(view.page_error or 'unknown error')}. Phone the on-call (see below)."
    if view.page_status == "skipped":
        return "📟 PagerDuty not paged"
    return "⏳ Paging PagerDuty…"


def escalation_message(view: EscalationView, *, version: int = 1) -> MessageView:
    """The war-room escalation: severity, reporter, what's wrong, the path, the page, who took it.
    ``version`` (of its outbox row) goes into the buttons' block_id, so Slack redraws them."""
    sev = view.severity.upper()
    blocks: list[Block] = [
        header_block(f"🚨 {sev} · Escalation #{view.id} · {view.launch_name}"),
        section_block(f"*What's wrong:* {escape(view.summary)}"),
        {
            "type": "section",
            "fields": [
                mrkdwn_text(f"*Severity*\n{sev}"),
                mrkdwn_text(f"*Reported by*\n{mention(view.reporter_id, view.reporter_name)}"),
            ],
        },
        section_block(_status_line(view)),
        section_block(f"*Escalation path*\n{_path_lines(view)}"),
        section_block(_page_line(view)),
    ]
    if view.status != "resolved":
        buttons: list[dict[str, Any]] = []
        if view.status == "open":
            buttons.append(
                {
                    "type": "button",
                    "action_id": ActionId.ESCALATION_ACK,
                    "text": plain_text("Acknowledge", 75),
                    "style": "primary",
                    "value": EscalationValue(escalation_id=view.id).encode(),
                }
            )
        if view.page_status == "failed":
            buttons.append(
                {
                    "type": "button",
                    "action_id": ActionId.ESCALATION_REPAGE,
                    "text": plain_text("Page again", 75),
                    "value": EscalationValue(escalation_id=view.id).encode(),
                }
            )
        buttons.append(
            {
                "type": "button",
                "action_id": ActionId.ESCALATION_RESOLVE,
                "text": plain_text("Resolve", 75),
                "value": EscalationValue(escalation_id=view.id).encode(),
                "confirm": {
                    "title": plain_text("Resolve this escalation?", 100),
                    "text": plain_text(
                        "It is resolved in PagerDuty too, and the timer stops.", 300
                    ),
                    "confirm": plain_text("Resolve", 30),
                    "deny": plain_text("Cancel", 30),
                },
            }
        )
        blocks.append(
            {
                "type": "actions",
                "block_id": f"{IncidentBlock.ESCALATION_ACTIONS}:{view.id}:v{version}",
                "elements": buttons,
            }
        )
    blocks.append(context_block(f"Escalation #{view.id} · opened {slack_date(view.created_at)}"))
    first = view.path[0] if view.path else None
    notify = f" — {level_targets(first)}" if first and view.status == "open" else ""
    text = f"🚨 {sev} escalation #{view.id} ({escape(view.launch_name)}): {escape(view.summary)}{notify}"
    return MessageView(text=truncate(text, 3000), blocks=blocks)


def page_failed_message(
    view: EscalationView, error: str, people: Sequence[ContactRow]
) -> MessageView:
    text = (
        f"❌ *PagerDuty could not be paged* for escalation #{view.id} ({view.severity.upper()}: "
        f"{escape(view.summary)}) — {escape(error)}.\n*Phone the on-call now:*\n{call_list(people)}"
    )
    return MessageView(
        text=f"PagerDuty page FAILED for escalation #{view.id}: {escape(error)}",
        blocks=[section_block(text)],
    )


def level_ping(view: EscalationView, level: int, people: Sequence[ContactRow]) -> MessageView:
    """A due escalation level; ``level == len(path)`` means the whole path went unanswered."""
    previous = view.path[level - 1] if 0 < level <= len(view.path) else None
    waited = _minutes(previous.get("wait_minutes")) if previous else "a while"
    what = f"escalation #{view.id} ({view.severity.upper()}: {escape(view.summary)})"
    if level < len(view.path):
        target = view.path[level]
        text = (
            f"⏰ Nobody acknowledged {what} within {waited}. Escalating to "
            f"*{escape(str(target.get('name')))}*: {level_targets(target)} — please acknowledge above."
        )
    else:
        text = (
            f"🆘 Nobody acknowledged {what} after the whole escalation path. Phone now:\n"
            f"{call_list(people)}"
        )
    return MessageView(text=text, blocks=[section_block(text)])


def resolved_note(view: EscalationView) -> MessageView:
    text = f"☑️ Escalation #{view.id} resolved by {mention(view.resolved_by_id, view.resolved_by_name)}."
    if view.resolve_status == "sent":
        text += " PagerDuty incident resolved."
    elif view.resolve_status == "failed":
        text += " ⚠️ PagerDuty did not confirm the resolve: resolve it there too."
    return MessageView(text=text, blocks=[section_block(text)])


# ---------------------------------------------------------------------------------------------------
# Kill switch


def killswitch_modal(
    *,
    launch_id: int,
    launch_name: str,
    channel_id: str,
    endpoint: str,
    tries: int,
    armed: bool,
    allowed: bool,
    allowed_titles: Sequence[str],
) -> dict[str, Any]:
    """The confirmation modal. Only ids travel in private_metadata; who may fire is decided from
    the submitting user's id when the view is submitted."""
    host = urlsplit(endpoint).netloc or endpoint
    what = (
        f"🛑 *This fires the kill switch for {escape(launch_name)}: the trading system halts trading.*\n"
        f"Launch Control will send a signed request to `{escape(host)}` (up to {_tries(tries)}), then "
        f"tell everyone in <#{channel_id}> with @here what the trading system answered."
    )
    blocks: list[Block] = [
        section_block(what),
        context_block(
            f"Kill switch is {'🔴 *armed*' if armed else '⚪ *not armed*'} · allowed: "
            + (escape(", ".join(allowed_titles)) or "nobody configured")
        ),
    ]
    if not allowed:
        blocks.append(
            section_block(
                "⚠️ You do not hold a role allowed to fire it: a submission will be refused and logged."
            )
        )
    blocks += [
        {
            "type": "input",
            "block_id": IncidentBlock.KILLSWITCH_NAME,
            "label": plain_text("Type the launch name to confirm", 2000),
            "hint": plain_text(f"Exactly: {launch_name}", 2000),
            "element": {
                "type": "plain_text_input",
                "action_id": ActionId.KILLSWITCH_NAME,
                "max_length": 200,
            },
        },
        {
            "type": "input",
            "block_id": IncidentBlock.KILLSWITCH_REASON,
            "label": plain_text("Reason", 2000),
            "element": {
                "type": "plain_text_input",
                "action_id": ActionId.KILLSWITCH_REASON,
                "multiline": True,
                "max_length": 1000,
                "placeholder": plain_text("e.g. order gateway rejecting all orders", 150),
            },
        },
    ]
    return {
        "type": "modal",
        "callback_id": CallbackId.KILLSWITCH_FIRE,
        "private_metadata": KillSwitchFormMeta(launch_id=launch_id, channel_id=channel_id).encode(),
        "title": plain_text("Fire kill switch", MODAL_TITLE_MAX),
        "submit": plain_text("Fire kill switch", MODAL_TITLE_MAX),
        "close": plain_text("Cancel", MODAL_TITLE_MAX),
        "blocks": blocks,
    }


def _requested(request: KillSwitchView) -> str:
    return (
        f"Requested by {mention(request.requested_by_id, request.requested_by_name)}: "
        f"“{escape(request.reason)}”"
    )


def killswitch_firing(request: KillSwitchView) -> MessageView:
    """The first announcement (sent before the answer) and, updated in place, its final state."""
    name = escape(request.launch_name)
    if request.status in ("pending", "sending"):
        text = f"🛑 <!here> *Firing the kill switch* for *{name}*. {_requested(request)}\nWaiting for the trading system to confirm…"
    else:
        outcome = {"confirmed": "✅ confirmed", "failed": "❌ FAILED", "unknown": "⚠️ unknown"}
        text = (
            f"🛑 Kill switch for *{name}* — {outcome.get(request.status, request.status)} "
            f"(see below). {_requested(request)}"
        )
    return MessageView(text=text, blocks=[section_block(text)])


def _answer(request: KillSwitchView) -> str | None:
    body = (request.response_body or "").strip()
    return (
        f"The trading system said: `{escape(truncate(' '.join(body.split()), 300))}`"
        if body
        else None
    )


def killswitch_outcome(request: KillSwitchView, people: Sequence[ContactRow]) -> MessageView:
    """The @here truth after firing: confirmed (status, time), FAILED (why, who to call), or unknown."""
    name = escape(request.launch_name)
    took = f"{_tries(request.tries)}, {_seconds(request.duration_ms)}"
    if request.status == "confirmed":
        text = (
            f"✅ <!here> *Kill switch FIRED and confirmed* for *{name}*: the trading system answered "
            f"HTTP {request.http_status} ({took}). {_requested(request)}"
        )
        blocks = [section_block(text)]
        answer = _answer(request)
        if answer:
            blocks.append(context_block(answer))
        blocks.append(context_block(f"Request `{request.request_id}`"))
        # <!here> in the top-level text too: that text is what drives the notification.
        return MessageView(
            text=f"<!here> Kill switch FIRED and confirmed for {name}", blocks=blocks
        )
    if request.status == "unknown":
        headline = (
            f"⚠️ <!here> *Kill switch state UNKNOWN* for *{name}*: {escape(request.error or '')}. "
            "It may or may not have fired. *Check the trading system now.*"
        )
    else:
        headline = (
            f"❌ <!here> *Kill switch FAILED* for *{name}* — {escape(request.error or 'no answer')} "
            f"({took}). *Trading may still be running.*"
        )
    text = f"{headline} {_requested(request)}\n*Call now:*\n{call_list(people)}"
    label = "UNKNOWN" if request.status == "unknown" else "FAILED"
    return MessageView(
        text=f"<!here> Kill switch {label} for {name}: {escape(request.error or '')}",
        blocks=[section_block(text), context_block(f"Request `{request.request_id}`")],
    )


def killswitch_test_report(
    request: KillSwitchView, tick: TestedTick | None, people: Sequence[ContactRow]
) -> MessageView:
    """The dry run's result in the launch thread; says "Ticked" only when this test ticked the item."""
    who = mention(request.requested_by_id, request.requested_by_name)
    took = f"{_tries(request.tries)}, {_seconds(request.duration_ms)}"
    if request.status == "confirmed":
        text = (
            f"🧪 Kill switch test (dry run) by {who} passed: HTTP {request.http_status} ({took})."
        )
        item = f"“{KILLSWITCH_TESTED_ITEM}”"
        if tick is not None and tick.ticked:
            text += f" Ticked {item}."
        elif tick is not None and tick.why_not is None:
            by = mention(tick.already_by_id, tick.already_by_name)
            when = f" at {slack_date(tick.already_at)}" if tick.already_at else ""
            text += f" {item} was already ticked by {by}{when}; left as it was."
        else:
            why = (tick.why_not if tick is not None else None) or "nothing was recorded"
            text += f" Not ticked in the checklist: {escape(why)}; the result is in the launch log."
    else:
        text = (
            f"🧪❌ Kill switch test (dry run) by {who} FAILED — {escape(request.error or 'no answer')} "
            f"({took}). The kill switch may not work: fix it before going live.\n*Who to call:*\n{call_list(people)}"
        )
    return MessageView(text=text, blocks=[section_block(text)])


def _request_line(label: str, request: KillSwitchView | None) -> str:
    if request is None:
        return f"*{label}:* never"
    when = slack_date(request.completed_at or request.created_at)
    detail = {
        "confirmed": f"✅ confirmed (HTTP {request.http_status})",
        "failed": f"❌ failed — {escape(request.error or '')}",
        "unknown": "⚠️ unknown",
    }.get(request.status, f"⏳ {request.status}")
    return f"*{label}:* {detail} · by {mention(request.requested_by_id, request.requested_by_name)} · {when}"


def killswitch_status(
    summary: KillSwitchSummary, *, endpoint: str | None, allowed_titles: Sequence[str]
) -> MessageView:
    changed = bool(summary.changed_by_id and summary.changed_at)
    state = "armed" if summary.armed else "disarmed" if changed else "not armed"
    armed = f"🔴 *{state}*" if summary.armed else f"⚪ *{state}*"
    if summary.changed_by_id and summary.changed_at:
        armed += f" (set by {mention(summary.changed_by_id)} · {slack_date(summary.changed_at)})"
    lines = [
        f"*Kill switch · {escape(summary.launch_name)}:* {armed}",
        _request_line("Last fire", summary.last_fire),
        _request_line("Last test", summary.last_test),
        f"*Endpoint:* `{escape(urlsplit(endpoint).netloc or endpoint)}`"
        if endpoint
        else "*Endpoint:* ⚠️ not configured (`[killswitch].url`)",
        f"*Allowed:* {escape(', '.join(allowed_titles)) or 'nobody (set `[killswitch].allowed_roles`)'}",
    ]
    return MessageView(
        text=f"Kill switch status: {state}",
        blocks=[section_block("\n".join(lines))],
    )


def killswitch_armed_notice(
    launch_name: str, armed: bool, user_id: str, at: datetime
) -> MessageView:
    state = "🔴 *armed*" if armed else "⚪ *disarmed*"
    text = (
        f"Kill switch for *{escape(launch_name)}* {state} by {mention(user_id)} · {slack_date(at)}"
    )
    return MessageView(text=text, blocks=[section_block(text)])
