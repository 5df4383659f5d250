"""Pure Block Kit builders for the kill switch: the confirmation modal, the announcements, status.

No I/O. User text (reasons, launch names, config values) is escaped before it goes into mrkdwn;
``<!here>`` appears only in the bot's own announcements.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from bot.checklist.proof_blocks import tick_note
from bot.checklist.proofs import ProofTick
from bot.contacts.blocks import call_list
from bot.contacts.rules import ContactRow
from bot.core.ids import ActionId, CallbackId, IncidentBlock
from bot.core.kit import (
    Block,
    MessageView,
    StateAlarm,
    context_block,
    mention,
    plain_text,
    section_block,
    slack_date,
    tries_text,
    truncate,
)
from bot.core.mrkdwn import escape
from bot.incidents.killswitch_state import KillSwitchSummary, KillSwitchView
from bot.incidents.payloads import KillSwitchAgainValue, KillSwitchFormMeta

MODAL_TITLE_MAX = 24


def _seconds(ms: int | None) -> str:
    return f"{(ms or 0) / 1000:.1f} s"


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
    reason: str | None = None,
) -> dict[str, Any]:
    """The confirmation modal (``reason``: filled in, when firing again a request never sent). Only
    ids travel in private_metadata; who may fire is decided from the submitting user's id when the
    view is submitted."""
    blocks = _modal_warning(launch_name, channel_id, endpoint, tries)
    blocks.append(
        context_block(
            f"Kill switch is {'🔴 *armed*' if armed else '⚪ *not armed*'} · allowed: "
            + (escape(", ".join(allowed_titles)) or "nobody configured")
        )
    )
    if not allowed:
        blocks.append(
            section_block(
                "⚠️ You do not hold a role allowed to fire it: a submission will be refused and logged."
            )
        )
    blocks += _confirmation_inputs(launch_name, reason)
    return {
        "type": "modal",
        "callback_id": CallbackId.KILLSWITCH_FIRE,
        "private_metadata": KillSwitchFormMeta(launch_id=launch_id, channel_id=channel_id).encode(),
        "title": plain_text("Fire kill switch", MODAL_TITLE_MAX),
        "submit": plain_text("Fire kill switch", MODAL_TITLE_MAX),
        "close": plain_text("Cancel", MODAL_TITLE_MAX),
        "blocks": blocks,
    }


def _modal_warning(launch_name: str, channel_id: str, endpoint: str, tries: int) -> list[Block]:
    host = urlsplit(endpoint).netloc or endpoint
    return [
        section_block(
            f"🛑 *This fires the kill switch for {escape(launch_name)}: the trading system halts "
            f"trading.*\nLaunch Control will send a signed request to `{escape(host)}` (up to "
            f"{tries_text(tries)}), then tell everyone in <#{channel_id}> with @here what the trading "
            "system answered."
        )
    ]


def _confirmation_inputs(launch_name: str, reason: str | None) -> list[Block]:
    """Type the launch's name exactly, and say why."""
    reason_input: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": ActionId.KILLSWITCH_REASON,
        "multiline": True,
        "max_length": 1000,
        "placeholder": plain_text("e.g. order gateway rejecting all orders", 150),
    }
    if reason:
        reason_input["initial_value"] = reason[:1000]
    return [
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
            "element": reason_input,
        },
    ]


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
        outcome = {
            "confirmed": "✅ confirmed",
            "failed": "❌ FAILED",
            "unknown": "⚠️ unknown",
            "not_sent": "⚠️ NOT sent",
        }
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
    took = f"{tries_text(request.tries)}, {_seconds(request.duration_ms)}"
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
    request: KillSwitchView, tick: ProofTick | None, people: Sequence[ContactRow]
) -> MessageView:
    """The dry run's result in the launch thread; says "Ticked" only when this test ticked the item."""
    who = mention(request.requested_by_id, request.requested_by_name)
    took = f"{tries_text(request.tries)}, {_seconds(request.duration_ms)}"
    if request.status == "confirmed":
        text = (
            f"🧪 Kill switch test (dry run) by {who} passed: HTTP {request.http_status} ({took})."
            + tick_note(tick)
        )
    elif request.status in ("not_sent", "unknown"):
        outcome = "was never sent" if request.status == "not_sent" else "got no answer"
        text = (
            f"🧪⚠️ Kill switch test (dry run) by {who} {outcome}: {escape(request.error or '')}. "
            "Nothing was ticked; run `/launch killswitch test` again."
        )
    else:
        text = (
            f"🧪❌ Kill switch test (dry run) by {who} FAILED — {escape(request.error or 'no answer')} "
            f"({took}). The kill switch may not work: fix it before going live.\n*Who to call:*\n{call_list(people)}"
        )
    return MessageView(text=text, blocks=[section_block(text)])


def killswitch_not_sent(request: KillSwitchView, people: Sequence[ContactRow]) -> MessageView:
    """A fire request a stop left before it was sent: trading was not halted. The button opens the
    same confirmation again (allowed roles, typed name, reason), never a silent resend."""
    name = escape(request.launch_name)
    text = (
        f"⚠️ <!here> *Kill switch NOT sent* for *{name}*: {escape(request.error or '')}. "
        f"*Trading was not halted.* {_requested(request)}\n"
        "If it is still needed, fire it again (the same confirmation opens).\n"
        f"*Who to call:*\n{call_list(people)}"
    )
    again = {
        "type": "button",
        "action_id": ActionId.KILLSWITCH_AGAIN,
        "text": plain_text("Fire again…", 75),
        "style": "danger",
        "value": KillSwitchAgainValue(request_pk=request.id).encode(),
    }
    return MessageView(
        text=f"<!here> Kill switch NOT sent for {name}: {escape(request.error or '')}",
        blocks=[
            section_block(text),
            {
                "type": "actions",
                "block_id": f"{IncidentBlock.KILLSWITCH_AGAIN}:{request.id}",
                "elements": [again],
            },
            context_block(f"Request `{request.request_id}`"),
        ],
    )


def fire_alarm(fire: KillSwitchView) -> StateAlarm:
    """The launch's state while its latest fire is not resolved (``KillSwitchSummary.unresolved_fire``):
    in flight, UNKNOWN, FAILED or NOT SENT, with when and by whom; it outranks GO, NOT YET GO and
    ON HOLD, and says whether trading may still be running."""
    who = mention(fire.requested_by_id, fire.requested_by_name)
    if fire.status in ("pending", "sending"):
        return StateAlarm(
            "🛑",
            "KILL SWITCH FIRING…",
            f"🛑 *KILL SWITCH FIRING…* (requested at {slack_date(fire.created_at)}, by {who}) — "
            "waiting for the trading system to confirm",
            "the kill switch firing, not yet confirmed",
        )
    at = f"at {slack_date(fire.completed_at or fire.created_at)}, by {who}"
    why = escape(fire.error or "")
    if fire.status == "unknown":
        return StateAlarm(
            "⚠️",
            "KILL SWITCH UNKNOWN",
            f"⚠️ *KILL SWITCH UNKNOWN* ({at}) — {why or 'no answer from the trading system'} — "
            "it may or may not have fired: check the trading system",
            "kill switch state UNKNOWN",
        )
    if fire.status == "not_sent":
        return StateAlarm(
            "⚠️",
            "KILL SWITCH NOT SENT",
            f"⚠️ *KILL SWITCH NOT SENT* (requested at {slack_date(fire.created_at)}, by {who}) — "
            f"{why or 'never sent'} — trading was NOT halted",
            "kill switch NOT sent",
        )
    return StateAlarm(
        "⚠️",
        "KILL SWITCH FAILED",
        f"⚠️ *KILL SWITCH FAILED* ({at}) — {why or 'no answer'} — trading may still be running",
        "kill switch FAILED",
    )


# How the card's kill-switch line ends while a fire is not resolved: what settles it.
UNRESOLVED_HINT = "fire again, or once trading is checked `/launch killswitch disarm` (or `arm`)"


def _request_line(label: str, request: KillSwitchView | None) -> str:
    if request is None:
        return f"*{label}:* never"
    when = slack_date(request.completed_at or request.created_at)
    detail = {
        "confirmed": f"✅ confirmed (HTTP {request.http_status})",
        "failed": f"❌ failed — {escape(request.error or '')}",
        "unknown": "⚠️ unknown",
        "not_sent": "⚠️ never sent (Launch Control stopped first)",
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
    launch_name: str,
    armed: bool,
    user_id: str,
    at: datetime,
    tick: ProofTick | None = None,
    unticked: str | None = None,
) -> MessageView:
    """The channel is told who armed or disarmed it, and what that did to the checklist."""
    state = "🔴 *armed*" if armed else "⚪ *disarmed*"
    text = (
        f"Kill switch for *{escape(launch_name)}* {state} by {mention(user_id)} · {slack_date(at)}."
    )
    if armed:
        text += tick_note(tick)
    elif unticked is not None:
        text += f" Unticked “{escape(unticked)}”: the switch is no longer armed."
    return MessageView(text=text, blocks=[section_block(text)])
