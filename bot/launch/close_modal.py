"""The close confirmation (a modal): what is still open, the outcome and a note; its form, pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.checklist.lifecycle import CLOSE_NOTE_MAX, CLOSE_OUTCOMES
from bot.core.errors import BadInput
from bot.core.ids import ActionId, CallbackId, LaunchBlock
from bot.core.kit import line_sections, plain_text
from bot.core.mrkdwn import escape
from bot.launch.state import LaunchState

VIEW_TITLE_MAX = 24
# Open items named in the confirmation before "and N more".
CLOSE_OPEN_ITEMS = 8
# Section blocks the confirmation may use for what is still open (a modal holds 100 blocks).
CLOSE_TEXT_BLOCKS = 10


class CloseFormMeta(BaseModel):
    """The close confirmation's ``private_metadata``: the launch and the channel it was opened in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    launch_id: int
    channel_id: str

    def encode(self) -> str:
        return self.model_dump_json()

    @classmethod
    def decode(cls, raw: str | None) -> CloseFormMeta:
        try:
            return cls.model_validate_json(raw or "")
        except ValidationError as exc:
            raise BadInput("That close form is not one Launch Control opened.") from exc


def still_open(state: LaunchState) -> list[str]:
    """What closing leaves behind, in mrkdwn lines: open items per posted phase (the current phase's
    named), GO, open escalations and an unfinished go-live sequence."""
    lines: list[str] = []
    for phase in state.checklist_phases:
        if not phase.posted or phase.completed_at is not None:
            continue
        open_items = [item for s in phase.counted_sections for item in s.items if not item.done]
        if not open_items:
            continue
        line = f"• *{escape(phase.title)}*: {len(open_items)} open item(s)"
        if phase.position == state.current_phase:
            named = ", ".join(escape(i.text) for i in open_items[:CLOSE_OPEN_ITEMS])
            more = len(open_items) - CLOSE_OPEN_ITEMS
            line += f" — {named}" + (f" and {more} more" if more > 0 else "")
        lines.append(line)
    unposted = [p for p in state.checklist_phases if not p.posted]
    if unposted:
        lines.append("• Not posted yet: " + ", ".join(f"*{escape(p.title)}*" for p in unposted))
    log = state.sign_offs
    if log is not None and log.current_go is None:
        lines.append("• The launch is *not GO*")
    open_escalations = [e for e in state.escalations.values() if e.status != "resolved"]
    if open_escalations:
        # Closing does not end an incident: say which ones keep paging afterwards.
        named = ", ".join(
            f"#{e.id} {e.severity.upper()} {escape(e.summary)} ({e.status})"
            for e in open_escalations[:CLOSE_OPEN_ITEMS]
        )
        lines.append(
            f"• {len(open_escalations)} escalation(s) not resolved — {named}. Closing does not "
            "resolve them: they keep escalating until someone acknowledges or resolves them"
        )
    golive = state.golive
    if golive is not None and golive.started and golive.completed_at is None:
        lines.append("• The go-live sequence is not finished")
    return lines or ["Nothing: every posted item is done."]


def close_modal(state: LaunchState, meta: CloseFormMeta) -> dict[str, Any]:
    """Asks how the launch ended (completed / abandoned / rolled back) and for a note, after saying
    what is still open; ``private_metadata`` carries ids only."""
    options = [
        {"text": plain_text(label, 75), "value": value} for value, label in CLOSE_OUTCOMES.items()
    ]
    return {
        "type": "modal",
        "callback_id": CallbackId.LAUNCH_CLOSE,
        "private_metadata": meta.encode(),
        "title": plain_text("Close the launch", VIEW_TITLE_MAX),
        "submit": plain_text("Close launch", VIEW_TITLE_MAX),
        "close": plain_text("Cancel", VIEW_TITLE_MAX),
        "blocks": [
            *line_sections(
                [
                    f"You are closing *{escape(state.name)}* (launch #{state.id}). Its checklist "
                    "becomes read-only and the channel is free for the next launch. *Still open:*",
                    *still_open(state),
                ],
                max_blocks=CLOSE_TEXT_BLOCKS,
            ),
            {
                "type": "input",
                "block_id": LaunchBlock.CLOSE_OUTCOME,
                "label": plain_text("How did the launch end?", 2000),
                "element": {
                    "type": "radio_buttons",
                    "action_id": ActionId.CLOSE_OUTCOME,
                    "options": options,
                },
            },
            {
                "type": "input",
                "block_id": LaunchBlock.CLOSE_NOTE,
                "optional": True,
                "label": plain_text("Note (required unless completed)", 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": ActionId.CLOSE_NOTE,
                    "multiline": True,
                    "max_length": CLOSE_NOTE_MAX,
                    "placeholder": plain_text(
                        "e.g. rolled back at 25%: fill latency over SLO", 150
                    ),
                },
            },
        ],
    }


def read_close_form(view: Mapping[str, Any]) -> tuple[str, str, dict[str, str]]:
    """(outcome, note, errors keyed by block_id) from a submitted close confirmation."""
    values = (view.get("state") or {}).get("values") or {}
    choice = (values.get(LaunchBlock.CLOSE_OUTCOME) or {}).get(ActionId.CLOSE_OUTCOME) or {}
    outcome = str((choice.get("selected_option") or {}).get("value") or "")
    field = (values.get(LaunchBlock.CLOSE_NOTE) or {}).get(ActionId.CLOSE_NOTE) or {}
    note = str(field.get("value") or "").strip()
    errors: dict[str, str] = {}
    if outcome not in CLOSE_OUTCOMES:
        errors[LaunchBlock.CLOSE_OUTCOME] = "Choose how the launch ended."
    elif outcome != "completed" and not note:
        errors[LaunchBlock.CLOSE_NOTE] = (
            f"Say what happened: a launch {CLOSE_OUTCOMES[outcome].lower()} needs a note."
        )
    if len(note) > CLOSE_NOTE_MAX:
        errors[LaunchBlock.CLOSE_NOTE] = f"At most {CLOSE_NOTE_MAX} characters."
    return outcome, note, errors
