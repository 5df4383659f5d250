"""Pure Block Kit builders: launch_card, section_message, status_view, help_view, notice; state in, blocks out.

No I/O here. Every string that came from a user or a template goes through ``escape`` before it is put
in ``mrkdwn`` (or is put in ``plain_text``, which Slack never parses for mentions), so nobody can
inject ``<!channel>`` or a fake ``<@U…>`` mention.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.checklist import GroupState, ItemState, LaunchState, MessageRef, PhaseState, SectionState
from bot.config import RoleConfig
from bot.ids import ActionId, BlockPrefix
from bot.layout import chunks_by_message
from bot.mrkdwn import escape as escape  # re-exported: listeners import it from here

Block = dict[str, Any]

HEADER_MAX = 150
SECTION_TEXT_MAX = 3000
OPTION_TEXT_MAX = 75
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


@dataclass(frozen=True)
class MessageView:
    """What to send: ``text`` is the notification/fallback text, ``blocks`` the layout."""

    text: str
    blocks: list[Block]


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mention(user_id: str | None, fallback: str | None = None) -> str:
    """``<@U…>`` for a real user id (Slack renders the current display name), else escaped text."""
    if user_id and _USER_ID.match(user_id):
        return f"<@{user_id}>"
    return escape(fallback or user_id or "someone")


def short_time(at: datetime) -> str:
    return at.strftime("%b %d %H:%M UTC")


def slack_date(at: datetime) -> str:
    """A date Slack shows in the reader's own time zone, with a UTC fallback."""
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{short_time(at)}>"


def _plain(text: str, limit: int = SECTION_TEXT_MAX) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, limit) or " ", "emoji": True}


def _mrkdwn(text: str) -> dict[str, Any]:
    # verbatim: no automatic parsing, which would turn a plain "@everyone" in user text into a real
    # mention (FACTS.md §9); the explicit <@U…>, <!date…> and <url|label> markup still works.
    return {"type": "mrkdwn", "text": truncate(text, SECTION_TEXT_MAX) or " ", "verbatim": True}


def _header(text: str, block_id: str | None = None) -> Block:
    block: Block = {"type": "header", "text": _plain(text, HEADER_MAX)}
    if block_id:
        block["block_id"] = block_id
    return block


def _context(text: str) -> Block:
    return {"type": "context", "elements": [_mrkdwn(text)]}


def _bar(done: int, total: int, width: int = 10) -> str:
    filled = round(width * done / total) if total else width
    return "▰" * filled + "▱" * (width - filled)


def duration_label(minutes: int | None) -> str:
    if minutes is None:
        return ""
    if minutes % 1440 == 0:
        n = minutes // 1440
        return f"{n} day" + ("s" if n != 1 else "")
    if minutes % 60 == 0:
        n = minutes // 60
        return f"{n} hour" + ("s" if n != 1 else "")
    return f"{minutes} min"


def phase_label(phase: PhaseState) -> str:
    title = f"*{escape(phase.title)}*"
    return f"{title} ({escape(phase.timing)})" if phase.timing else title


def phase_line(state: LaunchState, phase: PhaseState) -> str:
    counts = f"{phase.done}/{phase.total}"
    if phase.completed_at is not None:
        return f"✅ {phase_label(phase)} — {counts} · complete"
    if phase.position == state.current_phase and state.is_active:
        return f"▶️ {phase_label(phase)} — {counts} {_bar(phase.done, phase.total)}"
    if phase.posted:
        return f"⏸️ {phase_label(phase)} — {counts}"
    return f"◻️ {phase_label(phase)} — {counts}"


def _next_step(state: LaunchState) -> str:
    if not state.is_active:
        closed = f"🔒 Closed by {mention(state.closed_by_id)}"
        return closed + (f" · {slack_date(state.closed_at)}" if state.closed_at else "")
    current = state.current
    if current.completed_at is None:
        open_count = current.total - current.done
        return (
            f"*Now:* {phase_label(current)} — {open_count} item(s) open. Tick them in the thread."
        )
    nxt = state.next_phase()
    if nxt is None:
        return "🎉 *Every phase is complete.*"
    return f"✅ {phase_label(current)} is complete. Type `/launch phase next` to post {phase_label(nxt)}."


def launch_card(
    state: LaunchState, *, roles: Mapping[str, RoleConfig] | None = None
) -> MessageView:
    """The launch's parent message: who/when, progress per phase, the current step, the sign-offs
    (holders and required counts from ``roles``, the config's ``[roles.*]``)."""
    # Imported here: the sign-off builders use this module's helpers.
    from bot.signoff_blocks import signoff_table

    intro = (
        f"*Launch #{state.id}* · started by {mention(state.started_by_id, state.started_by_name)}"
        f" · {slack_date(state.started_at)}"
    )
    progress = "\n".join(phase_line(state, p) for p in state.checklist_phases)
    blocks: list[Block] = [
        _header(f"🚀 {state.name}"),
        {"type": "section", "text": _mrkdwn(intro)},
        {"type": "section", "text": _mrkdwn(progress)},
        {"type": "section", "text": _mrkdwn(_next_step(state))},
        *signoff_table(state, roles or {}),
        *_killswitch_line(state),
        _context("The checklist is in this message's thread · `/launch status` for what is open"),
    ]
    return MessageView(text=f"Launch: {escape(state.name)}", blocks=blocks)


def _killswitch_line(state: LaunchState) -> list[Block]:
    """The kill switch's recorded state (bot/incidents.py keeps a copy in ``extra``), once it has one."""
    shown = state.extra.get("killswitch")
    if not isinstance(shown, Mapping):
        return []
    by = mention(str(shown["changed_by_id"])) if shown.get("changed_by_id") else None
    at = (
        f" · {slack_date(datetime.fromisoformat(str(shown['changed_at'])))}"
        if shown.get("changed_at")
        else ""
    )
    if shown.get("armed"):
        text = "🔴 Kill switch *armed*" + (f" (by {by}{at})" if by else "")
    elif by:
        text = f"⚪ Kill switch *disarmed* by {by}{at}"
    else:
        text = "⚪ Kill switch *not armed*"
    last = shown.get("last_fire")
    if isinstance(last, Mapping):
        outcome = {"confirmed": "✅ fired, confirmed", "failed": "❌ last fire FAILED"}
        text += f" · {outcome.get(str(last.get('status')), '⚠️ last fire unconfirmed')}"
        text += f" {slack_date(datetime.fromisoformat(str(last['at'])))}" if last.get("at") else ""
    return [_context(text)]


def _option_description(item: ItemState) -> str | None:
    if item.changed_by_id is None or item.changed_at is None:
        return None
    who = item.changed_by_name or item.changed_by_id
    mark = "✓" if item.checked else "↺ unticked by"
    return truncate(f"{mark} {who} · {short_time(item.changed_at)}", OPTION_TEXT_MAX)


def _option(item: ItemState) -> dict[str, Any]:
    label = item.text
    if item.duration_minutes is not None:
        label = f"{label} ({duration_label(item.duration_minutes)})"
    option: dict[str, Any] = {"text": _plain(label, OPTION_TEXT_MAX), "value": str(item.id)}
    description = _option_description(item)
    if description:
        option["description"] = _plain(description, OPTION_TEXT_MAX)
    return option


def _group_title(section: SectionState, group: GroupState, part_of: tuple[int, int] | None) -> str:
    title = escape(group.title) if group.title else escape(section.title)
    if group.stage is not None:
        title = f"Stage {group.stage} · {title}"
    text = f"*{title}*"
    if group.duration_minutes is not None:
        text += f" ({duration_label(group.duration_minutes)})"
    if part_of is not None:
        text += f" ({part_of[0]}/{part_of[1]})"
    return f"{text} — {group.done}/{len(group.items)}"


def items_block_id(group_id: int, start: int, version: int) -> str:
    return f"{BlockPrefix.ITEMS}:{group_id}:{start}:v{version}"


def section_message(state: LaunchState, message: MessageRef) -> MessageView:
    """One thread message: a section (or one part of a section too big for one message)."""
    phase, section = _find_section(state, message.section_id)
    parts = chunks_by_message([len(g.items) for g in section.groups])
    title = f"{phase.title} · {section.title}"
    if len(parts) > 1:
        title += f" ({message.part + 1}/{len(parts)})"
    blocks: list[Block] = [_header(title)]
    for chunk in parts[message.part]:
        group = section.groups[chunk.group]
        items = group.items[chunk.start : chunk.end]
        options = [_option(i) for i in items]
        element: dict[str, Any] = {
            "type": "checkboxes",
            "action_id": ActionId.ITEM_TOGGLE,
            "options": options,
        }
        initial = [o for o, i in zip(options, items, strict=True) if i.checked]
        if initial:  # Slack rejects an empty initial_options list
            element["initial_options"] = initial
        blocks.append(
            {"type": "section", "text": _mrkdwn(_group_title(section, group, chunk.part_of))}
        )
        blocks.append(
            {
                "type": "actions",
                "block_id": items_block_id(group.id, chunk.start, message.version),
                "elements": [element],
            }
        )
    if state.is_active:
        footer = f"{escape(state.name)} · {section.done}/{section.total} done in this section"
    else:
        footer = f"🔒 {escape(state.name)} is closed · this checklist is read-only"
    blocks.append(_context(footer))
    text = f"{escape(state.name)}: {escape(phase.title)} · {escape(section.title)}"
    return MessageView(text=text, blocks=blocks)


def _find_section(state: LaunchState, section_id: int | None) -> tuple[PhaseState, SectionState]:
    for phase in state.phases:
        for section in phase.sections:
            if section.id == section_id:
                return phase, section
    raise KeyError(section_id)


def status_view(state: LaunchState, *, card_link: str | None) -> MessageView:
    """The answer to ``/launch status``: progress per phase and section and what is still open."""
    current = state.current
    blocks: list[Block] = [
        _header(f"Status · {state.name}"),
        {
            "type": "section",
            "text": _mrkdwn("\n".join(phase_line(state, p) for p in state.checklist_phases)),
        },
    ]
    per_section = "\n".join(f"• {escape(s.title)} — {s.done}/{s.total}" for s in current.sections)
    blocks.append(
        {"type": "section", "text": _mrkdwn(f"{phase_label(current)} by section:\n{per_section}")}
    )
    open_lines: list[str] = []
    for section in current.sections:
        for group in section.groups:
            still_open = [i for i in group.items if not i.checked]
            if still_open:
                where = escape(section.title) + (f" › {escape(group.title)}" if group.title else "")
                names = ", ".join(escape(i.text) for i in still_open)
                open_lines.append(f"• _{where}_: {names}")
    if open_lines and state.is_active:
        text = f"*Still open in {escape(current.title)}* ({current.total - current.done}):\n"
        text += "\n".join(open_lines)
        blocks.append({"type": "section", "text": _mrkdwn(text)})
    blocks.append({"type": "section", "text": _mrkdwn(_next_step(state))})
    link = f"<{card_link}|Open the launch card>" if card_link else "The card is being posted."
    blocks.append(_context(f"Launch #{state.id} · {link}"))
    return MessageView(text=f"Status of {escape(state.name)}", blocks=blocks)


def notice(text: str) -> MessageView:
    """A short message; ``text`` must already be safe mrkdwn (escape user strings before)."""
    return MessageView(text=text, blocks=[{"type": "section", "text": _mrkdwn(text)}])
