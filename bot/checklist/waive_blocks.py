"""The waiver forms, pure: each item group's "⋯" menu on a checklist message, the modal that waives
one of the group's open items (which item, waived or not applicable, a reason) and the one that
undoes a waiver of the group; reading what was submitted.

The menu is the accessory of the group's title section, so it costs no block of the message's 50.
It always holds both choices (older Slack clients want at least two options in an overflow); a
group with nothing to waive, or nothing waived, answers with a modal that says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.checklist.state import GroupState, ItemState, PhaseState
from bot.checklist.waivers import WAIVE_KINDS, WAIVE_REASON_MAX
from bot.core.errors import BadInput
from bot.core.ids import ActionId, CallbackId, LaunchBlock
from bot.core.kit import (
    OPTION_TEXT_MAX,
    fit_escaped,
    line_sections,
    mrkdwn_text,
    plain_text,
    truncate,
)
from bot.core.mrkdwn import escape

VIEW_TITLE_MAX = 24
SELECT_OPTIONS_MAX = 100  # Slack's limit for a static_select
SECTION_TEXT_MAX = 3000
LISTED_REASON_MAX = 200  # a reason as the undo form lists it (escaped), so a line stays short
LISTED_BLOCKS = 20  # section blocks the undo form may list waivers in (a modal holds 100)
WAIVE, UNWAIVE = "waive", "unwaive"
MENU_LABELS = {WAIVE: "Waive an item…", UNWAIVE: "Undo a waiver…"}
KIND_LABELS = {"waived": "Waived", "not_applicable": "Not applicable"}
KIND_MARKS = {"waived": "waived", "not_applicable": "N/A"}


def group_menu(group_id: int) -> dict[str, Any]:
    """The "⋯" menu of one item group: waive one of its items, or undo a waiver."""
    return {
        "type": "overflow",
        "action_id": ActionId.ITEM_MENU,
        "options": [
            {"text": plain_text(label, OPTION_TEXT_MAX), "value": f"{mode}:{group_id}"}
            for mode, label in MENU_LABELS.items()
        ],
    }


@dataclass(frozen=True)
class MenuChoice:
    undo: bool
    group_id: int

    @classmethod
    def parse(cls, value: object) -> MenuChoice:
        mode, _, group = str(value or "").partition(":")
        if mode not in MENU_LABELS or not group.isdigit():
            raise BadInput("That menu choice is not one Launch Control made.")
        return cls(undo=mode == UNWAIVE, group_id=int(group))


class WaiveFormMeta(BaseModel):
    """A waiver form's ``private_metadata``: the launch, the item group and the channel it was
    opened in (the submission is checked against that channel, as a button's value is)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    launch_id: int
    group_id: int
    channel_id: str

    def encode(self) -> str:
        return self.model_dump_json()

    @classmethod
    def decode(cls, raw: str | None) -> WaiveFormMeta:
        try:
            return cls.model_validate_json(raw or "")
        except ValidationError as exc:
            raise BadInput("That waiver form is not one Launch Control opened.") from exc


def group_name(phase_title: str, section_title: str, group: GroupState) -> str:
    """``Launch Day · Trading systems · Smoke tests`` (the group's own title when it has one)."""
    parts = [phase_title, section_title] + ([group.title] if group.title else [])
    return " · ".join(parts)


def waivable(group: GroupState) -> list[ItemState]:
    """The group's items that can be waived: open, and not ticked by the bot."""
    return [i for i in group.items if not i.done and i.managed_by is None]


def _item_option(item: ItemState, suffix: str = "") -> dict[str, Any]:
    text = truncate(item.text, OPTION_TEXT_MAX - len(suffix)) + suffix
    return {"text": plain_text(text, OPTION_TEXT_MAX), "value": str(item.id)}


def _modal(callback_id: str, title: str, meta: WaiveFormMeta, blocks: list[Any]) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": meta.encode(),
        "title": plain_text(title, VIEW_TITLE_MAX),
        "close": plain_text("Cancel", VIEW_TITLE_MAX),
        "blocks": blocks,
    }


def _intro(text: str) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn_text(truncate(text, SECTION_TEXT_MAX))}


def _item_select(options: list[dict[str, Any]], label: str) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": LaunchBlock.WAIVE_ITEM,
        "label": plain_text(label, 2000),
        "element": {
            "type": "static_select",
            "action_id": ActionId.WAIVE_ITEM,
            "placeholder": plain_text("Choose an item", 150),
            "options": options[:SELECT_OPTIONS_MAX],
        },
    }


def waive_modal(
    launch_name: str, where: str, group: GroupState, meta: WaiveFormMeta
) -> dict[str, Any]:
    """Which open item of the group, waived or not applicable, and why (required)."""
    items = waivable(group)
    place = f"*{escape(where)}* of *{escape(launch_name)}*"
    if not items:
        return _modal(
            CallbackId.ITEM_WAIVE,
            "Waive an item",
            meta,
            [_intro(f"Nothing to waive in {place}: every item is ticked or waived.")],
        )
    kinds = [{"text": plain_text(label, 75), "value": kind} for kind, label in KIND_LABELS.items()]
    view = _modal(
        CallbackId.ITEM_WAIVE,
        "Waive an item",
        meta,
        [
            _intro(
                f"Waive an open item of {place}. It then counts as done, is shown struck through "
                "with your name and the reason, and is recorded. Sign-off role holders only."
            ),
            _item_select([_item_option(i) for i in items], "Item"),
            {
                "type": "input",
                "block_id": LaunchBlock.WAIVE_KIND,
                "label": plain_text("Mark it as", 2000),
                "element": {
                    "type": "radio_buttons",
                    "action_id": ActionId.WAIVE_KIND,
                    "options": kinds,
                    "initial_option": kinds[0],
                },
            },
            {
                "type": "input",
                "block_id": LaunchBlock.WAIVE_REASON,
                "label": plain_text("Reason (shown with the item)", 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": ActionId.WAIVE_REASON,
                    "multiline": True,
                    "max_length": WAIVE_REASON_MAX,
                    "placeholder": plain_text("e.g. single-region launch: no failover", 150),
                },
            },
        ],
    )
    view["submit"] = plain_text("Waive", VIEW_TITLE_MAX)
    return view


def unwaive_modal(
    launch_name: str, where: str, group: GroupState, meta: WaiveFormMeta
) -> dict[str, Any]:
    """Which waived item of the group to open again, after listing the group's waivers."""
    items = [i for i in group.items if i.waived is not None]
    place = f"*{escape(where)}* of *{escape(launch_name)}*"
    if not items:
        return _modal(
            CallbackId.ITEM_UNWAIVE,
            "Undo a waiver",
            meta,
            [_intro(f"No item of {place} is waived.")],
        )
    listed = [
        f"• ~{escape(i.text)}~ — {KIND_MARKS.get(i.waived or '', 'waived')} by "
        f"{escape(i.waived_by_name or i.waived_by_id or '?')}: "
        + fit_escaped(i.waive_reason or "", LISTED_REASON_MAX)
        for i in items
    ]
    intro = (
        "The item you choose is open again (to tick, or to waive anew); the undo is "
        f"recorded. Sign-off role holders only.\n\nWaived in {place}:"
    )
    view = _modal(
        CallbackId.ITEM_UNWAIVE,
        "Undo a waiver",
        meta,
        [
            *line_sections([intro, *listed], max_blocks=LISTED_BLOCKS),
            _item_select(
                [_item_option(i, f" ({KIND_MARKS.get(i.waived or '', 'waived')})") for i in items],
                "Waived item",
            ),
        ],
    )
    view["submit"] = plain_text("Undo waiver", VIEW_TITLE_MAX)
    return view


@dataclass(frozen=True)
class WaiveForm:
    item_id: int | None
    kind: str
    reason: str
    errors: Mapping[str, str]


def _values(view: Mapping[str, Any]) -> Mapping[str, Any]:
    return (view.get("state") or {}).get("values") or {}


def _selected(values: Mapping[str, Any], block_id: str, action_id: str) -> str:
    choice = (values.get(block_id) or {}).get(action_id) or {}
    return str((choice.get("selected_option") or {}).get("value") or "")


def _chosen_item(values: Mapping[str, Any], errors: dict[str, str]) -> int | None:
    value = _selected(values, LaunchBlock.WAIVE_ITEM, ActionId.WAIVE_ITEM)
    if not value.isdigit():
        errors[LaunchBlock.WAIVE_ITEM] = "Choose an item."
        return None
    return int(value)


def read_waive_form(view: Mapping[str, Any]) -> WaiveForm:
    """(item, kind, reason, errors keyed by block_id) from a submitted waiver form."""
    values = _values(view)
    errors: dict[str, str] = {}
    item_id = _chosen_item(values, errors)
    kind = _selected(values, LaunchBlock.WAIVE_KIND, ActionId.WAIVE_KIND)
    if kind not in WAIVE_KINDS:
        errors[LaunchBlock.WAIVE_KIND] = "Choose waived or not applicable."
    field = (values.get(LaunchBlock.WAIVE_REASON) or {}).get(ActionId.WAIVE_REASON) or {}
    reason = " ".join(str(field.get("value") or "").split())
    if not reason:
        errors[LaunchBlock.WAIVE_REASON] = "Give a reason: it is recorded and shown with the item."
    elif len(reason) > WAIVE_REASON_MAX:
        errors[LaunchBlock.WAIVE_REASON] = f"At most {WAIVE_REASON_MAX} characters."
    return WaiveForm(item_id, kind, reason, errors)


def read_unwaive_form(view: Mapping[str, Any]) -> tuple[int | None, dict[str, str]]:
    """(item, errors keyed by block_id) from a submitted undo form."""
    errors: dict[str, str] = {}
    return _chosen_item(_values(view), errors), errors


def find_group(phases: Sequence[PhaseState], group_id: int) -> tuple[str, GroupState] | None:
    """(its name for a modal, the group) of the launch's checklist, or None."""
    for phase in phases:
        for section in phase.sections:
            for group in section.groups:
                if group.id == group_id:
                    return group_name(phase.title, section.title, group), group
    return None
