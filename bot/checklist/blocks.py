"""Pure Block Kit builders for the checklist: one section's checkbox message, phase lines and labels."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.checklist.layout import chunks_by_message
from bot.checklist.lifecycle import CLOSE_OUTCOMES
from bot.checklist.proofs import PROOF_LABELS
from bot.checklist.state import GroupState, ItemState, LaunchChecklist, PhaseState, SectionState
from bot.checklist.waive_blocks import group_menu
from bot.core.ids import ActionId, BlockPrefix
from bot.core.kit import (
    OPTION_TEXT_MAX,
    Block,
    MessageView,
    context_block,
    fit_escaped,
    header_block,
    mention,
    mrkdwn_text,
    plain_text,
    slack_date,
)
from bot.core.mrkdwn import escape as escape
from bot.core.outbox import MessageRef


def outcome_text(outcome: str | None, note: str | None) -> str:
    """`` · outcome: *Rolled back* — “note”`` for a closed launch (empty before outcomes existed)."""
    if outcome is None:
        return ""
    said = f" — “{escape(note)}”" if note else ""
    return f" · outcome: *{escape(CLOSE_OUTCOMES.get(outcome, outcome))}*{said}"


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


def phase_line(state: LaunchChecklist, phase: PhaseState) -> str:
    counts = f"{phase.done}/{phase.total}"
    if phase.completed_at is not None:
        return f"✅ {phase_label(phase)} — {counts} · complete"
    if phase.position == state.current_phase and state.is_active:
        return f"▶️ {phase_label(phase)} — {counts} {_bar(phase.done, phase.total)}"
    if phase.posted:
        return f"⏸️ {phase_label(phase)} — {counts}"
    return f"◻️ {phase_label(phase)} — {counts}"


WAIVE_MARKS = {"not_applicable": "N/A", "waived": "waived"}


def _option_description(item: ItemState) -> dict[str, Any] | None:
    """``✓ Carol Diaz · <date>``: who changed the item and when, in the reader's own time zone
    (mrkdwn, which checkbox descriptions take). Within the 75 characters Slack allows, the date
    markup is kept whole and the name shortened; "unticked by" becomes "↺" when space is short."""
    if item.waived is not None:
        who = item.waived_by_name or item.waived_by_id or "?"
        mark = WAIVE_MARKS.get(item.waived, "waived")
        # Fitted once escaped: "&" takes five characters, and over 75 Slack refuses the message.
        return mrkdwn_text(
            fit_escaped(f"⊘ {mark} by {who}: {item.waive_reason or ''}", OPTION_TEXT_MAX)
        )
    if item.changed_by_id is None or item.changed_at is None:
        return None
    who = item.changed_by_name or item.changed_by_id
    when = slack_date(item.changed_at, compact=True)
    marks = ("✓",) if item.checked else ("↺ unticked by", "↺")
    for mark in marks:
        room = OPTION_TEXT_MAX - len(f"{mark}  · {when}")
        if room >= min(len(who), 8) or mark == marks[-1]:
            return mrkdwn_text(f"{mark} {fit_escaped(who, room)} · {when}")
    return None


def _option(item: ItemState) -> dict[str, Any]:
    label = item.text
    if item.duration_minutes is not None:
        label = f"{label} ({duration_label(item.duration_minutes)})"
    text = plain_text(label, OPTION_TEXT_MAX)
    if item.waived is not None:  # struck through: mrkdwn, the item's own text escaped
        # Fitted escaped, inside the marks: a cut never splits "&amp;" or drops the closing "~".
        text = {"type": "mrkdwn", "text": f"~{fit_escaped(label, OPTION_TEXT_MAX - 2)}~"}
    option: dict[str, Any] = {"text": text, "value": str(item.id)}
    description = _option_description(item)
    if description:
        option["description"] = description
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


def _proof_lines(items: list[ItemState]) -> str:
    """Under a group's title, for each item the bot ticked on a proof: what proved it, linked to the
    bot's message recording it (once Slack gave its permalink)."""
    lines = []
    for item in items:
        if not item.checked or item.proof is None:
            continue
        label = escape(PROOF_LABELS.get(item.proof, item.proof))
        link = item.proof_link
        if link and link.startswith(("https://", "http://")) and not set(link) & set("<>| \n"):
            lines.append(f"\n🔗 “{escape(item.text)}” — proof: <{link}|{label}>")
        else:
            lines.append(f"\n🤖 “{escape(item.text)}” — proof: {label}")
    return "".join(lines)


def items_block_id(group_id: int, start: int, version: int) -> str:
    return f"{BlockPrefix.ITEMS}:{group_id}:{start}:v{version}"


def section_message(state: LaunchChecklist, message: MessageRef) -> MessageView:
    """One thread message: a section (or one part of a section too big for one message)."""
    phase, section = _find_section(state, message.section_id)
    parts = chunks_by_message([len(g.items) for g in section.groups])
    title = f"{phase.title} · {section.title}"
    if len(parts) > 1:
        title += f" ({message.part + 1}/{len(parts)})"
    blocks: list[Block] = [header_block(title)]
    for chunk in parts[message.part]:
        group = section.groups[chunk.group]
        items = group.items[chunk.start : chunk.end]
        options = [_option(i) for i in items]
        element: dict[str, Any] = {
            "type": "checkboxes",
            "action_id": ActionId.ITEM_TOGGLE,
            "options": options,
        }
        initial = [o for o, i in zip(options, items, strict=True) if i.done]
        if initial:  # Slack rejects an empty initial_options list
            element["initial_options"] = initial
        title = _group_title(section, group, chunk.part_of) + _proof_lines(list(items))
        heading: Block = {"type": "section", "text": mrkdwn_text(title)}
        if state.is_active:  # the group's "⋯" menu: waive an item, undo a waiver (no extra block)
            heading["accessory"] = group_menu(group.id)
        blocks.append(heading)
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
    blocks.append(context_block(footer))
    text = f"{escape(state.name)}: {escape(phase.title)} · {escape(section.title)}"
    return MessageView(text=text, blocks=blocks)


def _find_section(
    state: LaunchChecklist, section_id: int | None
) -> tuple[PhaseState, SectionState]:
    for phase in state.phases:
        for section in phase.sections:
            if section.id == section_id:
                return phase, section
    raise KeyError(section_id)


# --- channel announcements of the lifecycle (new messages, so a glance at the channel sees them) ---


def phase_posted(
    *, launch_name: str, title: str, timing: str, open_items: int, actor_id: str, at: datetime
) -> MessageView:
    """``/launch phase next`` moved the launch on: the next phase is posted in the card's thread."""
    label = f"*{escape(title)}*" + (f" ({escape(timing)})" if timing else "")
    text = (
        f"▶️ {label} is posted in the launch thread of *{escape(launch_name)}* — "
        f"{open_items} item(s) to tick · moved on by {mention(actor_id)} · {slack_date(at)}"
    )
    return MessageView(
        text=f"{escape(title)} is posted: {open_items} item(s) to tick",
        blocks=[{"type": "section", "text": mrkdwn_text(text)}],
    )
