"""Pure Block Kit builders for escalations: the escalation message, level pings and follow-ups.

No I/O. User text (summaries, launch names, config values) is escaped before it goes into mrkdwn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.checklist.proof_blocks import tick_note
from bot.checklist.proofs import ProofTick
from bot.contacts.blocks import call_list
from bot.contacts.rules import ContactRow
from bot.core.ids import ActionId, IncidentBlock
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
    tries_text,
    truncate,
)
from bot.core.mrkdwn import escape
from bot.incidents.escalation_state import EscalationView
from bot.incidents.escalation_test_page import PageTestReply
from bot.incidents.payloads import EscalationValue


def _maybe_paged(answer: PageTestReply, key: str) -> str:
    """A refused test page some try of which went unanswered: that try may have paged anyway."""
    if not answer.may_have_paged:
        return ""
    n = answer.unanswered_tries
    return (
        f"{'One try' if n == 1 else f'{n} tries'} got no answer, so PagerDuty may have paged "
        f"anyway: look for a TEST incident with dedup key {key} in PagerDuty and resolve it if it "
        "is there. "
    )


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
        line = f"📟 PagerDuty paged ({tries_text(view.page_tries)}), dedup key `{escape(view.dedup_key)}`"
        if view.resolve_status == "sent":
            line += " · resolved in PagerDuty"
        elif view.resolve_status == "failed":
            line += " · ⚠️ resolving in PagerDuty failed"
        return line
    if view.page_status == "failed":
        return f"❌ *PagerDuty page FAILED* — {escape(view.page_error or 'unknown error')}. Phone the on-call (see below)."
    if view.page_status == "unknown":
        line = (
            f"⚠️ *PagerDuty page UNKNOWN* — {escape(view.page_error or 'no answer')}: it may or may "
            "not have paged."
        )
        if view.status == "resolved":
            return line + _resolve_in_pagerduty(view)
        return line + (
            " Phone the on-call (see below) or press *Page again* (same dedup key: PagerDuty "
            "pages once)."
        )
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
        blocks.append(
            {
                "type": "actions",
                "block_id": f"{IncidentBlock.ESCALATION_ACTIONS}:{view.id}:v{version}",
                "elements": _escalation_buttons(view),
            }
        )
    blocks.append(context_block(f"Escalation #{view.id} · opened {slack_date(view.created_at)}"))
    first = view.path[0] if view.path else None
    notify = f" — {level_targets(first)}" if first and view.status == "open" else ""
    text = f"🚨 {sev} escalation #{view.id} ({escape(view.launch_name)}): {escape(view.summary)}{notify}"
    return MessageView(text=truncate(text, 3000), blocks=blocks)


def _escalation_buttons(view: EscalationView) -> list[dict[str, Any]]:
    """Acknowledge while open, Page again after a failed or unanswered page, Resolve (confirmed)."""
    value = EscalationValue(escalation_id=view.id).encode()
    buttons: list[dict[str, Any]] = []
    if view.status == "open":
        buttons.append(
            {
                "type": "button",
                "action_id": ActionId.ESCALATION_ACK,
                "text": plain_text("Acknowledge", 75),
                "style": "primary",
                "value": value,
            }
        )
    if view.page_status in ("failed", "unknown"):
        buttons.append(
            {
                "type": "button",
                "action_id": ActionId.ESCALATION_REPAGE,
                "text": plain_text("Page again", 75),
                "value": value,
            }
        )
    buttons.append(
        {
            "type": "button",
            "action_id": ActionId.ESCALATION_RESOLVE,
            "text": plain_text("Resolve", 75),
            "value": value,
            "confirm": {
                "title": plain_text("Resolve this escalation?", 100),
                "text": plain_text("It is resolved in PagerDuty too, and the timer stops.", 300),
                "confirm": plain_text("Resolve", 30),
                "deny": plain_text("Cancel", 30),
            },
        }
    )
    return buttons


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


def _resolve_in_pagerduty(view: EscalationView) -> str:
    """What PagerDuty was told of the resolution of an escalation whose page got no answer (so an
    incident may be open there): never "resolved in PagerDuty" for an incident nobody saw."""
    if view.resolve_status == "sent":
        return " PagerDuty took the resolve (same dedup key): an incident it opened is resolved."
    if view.resolve_status == "failed":
        return (
            " ⚠️ PagerDuty did not confirm the resolve: look for the incident there and resolve it."
        )
    return " Resolving it in PagerDuty too…"


def resolved_note(view: EscalationView) -> MessageView:
    text = f"☑️ Escalation #{view.id} resolved by {mention(view.resolved_by_id, view.resolved_by_name)}."
    if view.page_status == "unknown":
        text += _resolve_in_pagerduty(view)
    elif view.resolve_status == "sent":
        text += " PagerDuty incident resolved."
    elif view.resolve_status == "failed":
        text += " ⚠️ PagerDuty did not confirm the resolve: resolve it there too."
    return MessageView(text=text, blocks=[section_block(text)])


def page_unknown_message(view: EscalationView, people: Sequence[ContactRow]) -> MessageView:
    """A page sent without an answer (every try timed out, or a restart cut it off): PagerDuty
    may or may not have paged anyone."""
    text = (
        f"⚠️ *PagerDuty page state UNKNOWN* for escalation #{view.id} ({view.severity.upper()}: "
        f"{escape(view.summary)}) — {escape(view.page_error or 'no answer')}. It may or may not have "
        "paged: press *Page again* on the escalation (same dedup key: PagerDuty pages once).\n"
        f"*Phone the on-call now:*\n{call_list(people)}"
    )
    return MessageView(
        text=f"PagerDuty page UNKNOWN for escalation #{view.id}", blocks=[section_block(text)]
    )


def pagerduty_failed_note(action: str, error: str) -> MessageView:
    """PagerDuty did not confirm an acknowledge or resolve (refused, or no answer: it may or may
    not have taken it): do it there by hand."""
    text = (
        f":warning: PagerDuty did not confirm the {action} ({escape(error)}). "
        f"Please {action} it in PagerDuty directly."
    )
    return MessageView(text=text, blocks=[section_block(text)])


def escalation_test_report(
    *,
    requested_by_id: str,
    requested_by_name: str,
    answer: PageTestReply,
    dedup_key: str,
    tick: ProofTick | None,
    people: Sequence[ContactRow],
) -> MessageView:
    """The result of ``/launch escalate test`` in the launch thread. "Escalation working" is ticked
    only when PagerDuty accepted the page; a refusal, an error or no answer says so and ticks
    nothing (an unknown outcome is never a success)."""
    who = mention(requested_by_id, requested_by_name)
    key = f"`{escape(dedup_key)}`"
    if answer.accepted:
        text = (
            f"🧪 Escalation test by {who}: PagerDuty *accepted* the TEST page (HTTP "
            f"{answer.http_status}, {tries_text(answer.tries)}; severity info, dedup key {key}). "
            "No escalation was opened here."
            + tick_note(tick)
            + "\n*On-call: acknowledge, then resolve the TEST incident in PagerDuty* "
            "(nothing is wrong; it only proves the page reaches you)."
        )
    elif not answer.answered:
        text = (
            f"🧪⚠️ Escalation test by {who}: PagerDuty *did not answer* the TEST page "
            f"({escape(answer.error or 'no answer')}). It may or may not have paged: look for a "
            f"TEST incident with dedup key {key} in PagerDuty and resolve it if it is there. "
            "Nothing was ticked; run `/launch escalate test` again."
            f"\n*Who to call if something goes wrong:*\n{call_list(people)}"
        )
    else:
        text = (
            f"🧪❌ Escalation test by {who} FAILED: PagerDuty *did not accept* the TEST page — "
            f"{escape(answer.error or 'refused')} ({tries_text(answer.tries)}). "
            + _maybe_paged(answer, key)
            + "Escalations may not reach the on-call: check `[pagerduty]` and run "
            "`/launch escalate test` again. "
            f"Nothing was ticked.\n*Who to call meanwhile:*\n{call_list(people)}"
        )
    return MessageView(text=text, blocks=[section_block(text)])
