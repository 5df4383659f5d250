"""Block Kit validation with Slack's published limits (50 blocks a message, 10 options a checkboxes
element, text lengths per field), as the stand-in enforces them."""

from __future__ import annotations

from typing import Any

MESSAGE_MAX_BLOCKS = 50
VIEW_MAX_BLOCKS = 100
KNOWN_BLOCKS = {
    "header",
    "section",
    "context",
    "divider",
    "actions",
    "input",
    "image",
    "rich_text",
    "file",
    "video",
}
TEXT_TYPES = {"plain_text", "mrkdwn"}


class BlockKitError(ValueError):
    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors))


def _text(obj: Any, where: str, limit: int, errors: list[str], *, plain_only: bool = False) -> None:
    if not isinstance(obj, dict) or obj.get("type") not in TEXT_TYPES:
        errors.append(f"{where}: must be a text object (plain_text or mrkdwn)")
        return
    if plain_only and obj["type"] != "plain_text":
        errors.append(f"{where}: must be plain_text")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        errors.append(f"{where}: text must be a non-empty string")
    elif len(text) > limit:
        errors.append(f"{where}: text is {len(text)} characters, more than {limit}")


def _confirm(obj: Any, where: str, errors: list[str]) -> None:
    if not isinstance(obj, dict):
        errors.append(f"{where}: confirm must be an object")
        return
    for key, limit in (("title", 100), ("text", 300), ("confirm", 30), ("deny", 30)):
        if key not in obj:
            errors.append(f"{where}.{key}: required")
        else:
            _text(obj[key], f"{where}.{key}", limit, errors, plain_only=key != "text")


def _option(obj: Any, where: str, errors: list[str], *, plain_only: bool = False) -> None:
    if not isinstance(obj, dict):
        errors.append(f"{where}: option must be an object")
        return
    _text(obj.get("text"), f"{where}.text", 75, errors, plain_only=plain_only)
    value = obj.get("value")
    if not isinstance(value, str) or not value or len(value) > 150:
        errors.append(f"{where}.value: must be 1-150 characters")
    if "description" in obj:
        _text(obj["description"], f"{where}.description", 75, errors)


CHOICE_ELEMENTS = (
    "checkboxes",
    "radio_buttons",
    "overflow",
    "static_select",
    "multi_static_select",
)
# Elements the bot does not build: known to Slack, not checked further here.
UNCHECKED_ELEMENTS = (
    "image",
    "datepicker",
    "timepicker",
    "users_select",
    "conversations_select",
    "channels_select",
    "multi_users_select",
    "number_input",
    "email_text_input",
    "url_text_input",
)


def _element(el: Any, where: str, errors: list[str]) -> None:
    if not isinstance(el, dict):
        errors.append(f"{where}: element must be an object")
        return
    kind = el.get("type")
    action_id = el.get("action_id")
    if action_id is not None and (not isinstance(action_id, str) or len(action_id) > 255):
        errors.append(f"{where}.action_id: must be a string of at most 255 characters")
    if "confirm" in el:
        _confirm(el["confirm"], f"{where}.confirm", errors)
    if kind == "button":
        _button(el, where, errors)
    elif kind in CHOICE_ELEMENTS:
        _choices(el, kind, where, errors)
    elif kind == "plain_text_input":
        max_length = el.get("max_length")
        if max_length is not None and not (1 <= int(max_length) <= 3000):
            errors.append(f"{where}.max_length: must be 1-3000")
    elif kind not in UNCHECKED_ELEMENTS:
        errors.append(f"{where}: unknown element type {kind!r}")


def _button(el: dict[str, Any], where: str, errors: list[str]) -> None:
    _text(el.get("text"), f"{where}.text", 75, errors, plain_only=True)
    if "value" in el and (not isinstance(el["value"], str) or len(el["value"]) > 2000):
        errors.append(f"{where}.value: at most 2000 characters")
    if "url" in el and len(str(el["url"])) > 3000:
        errors.append(f"{where}.url: at most 3000 characters")
    if "style" in el and el["style"] not in ("primary", "danger"):
        errors.append(f"{where}.style: must be primary or danger")


def _choices(el: dict[str, Any], kind: str, where: str, errors: list[str]) -> None:
    """Checkboxes, radio buttons and menus: their options, and the initial ones among them."""
    options = el.get("options")
    limit = {"overflow": 5, "static_select": 100, "multi_static_select": 100}.get(kind, 10)
    if not isinstance(options, list) or not options:
        errors.append(f"{where}.options: required")
        return
    if len(options) > limit:
        errors.append(f"{where}.options: {len(options)} options, more than {limit}")
    if kind == "overflow" and len(options) < 2:  # older docs and clients want two at least
        errors.append(f"{where}.options: an overflow needs at least 2 options")
    # Menus show plain text only; checkboxes and radio buttons take mrkdwn too.
    plain_only = kind in ("overflow", "static_select", "multi_static_select")
    for i, option in enumerate(options):
        _option(option, f"{where}.options[{i}]", errors, plain_only=plain_only)
    initial = el.get("initial_options", [el["initial_option"]] if "initial_option" in el else [])
    if "initial_options" in el and not initial:
        errors.append(f"{where}.initial_options: must not be empty")
    for i, chosen in enumerate(initial):
        if chosen not in options:
            errors.append(f"{where}.initial_options[{i}]: does not match any option exactly")


def _block(block: Any, where: str, errors: list[str], ids: set[str]) -> None:
    if not isinstance(block, dict):
        errors.append(f"{where}: block must be an object")
        return
    kind = block.get("type")
    if kind not in KNOWN_BLOCKS:
        errors.append(f"{where}: unknown block type {kind!r}")
        return
    block_id = block.get("block_id")
    if block_id is not None:
        if not isinstance(block_id, str) or len(block_id) > 255:
            errors.append(f"{where}.block_id: at most 255 characters")
        elif block_id in ids:
            errors.append(f"{where}.block_id: {block_id!r} is not unique")
        else:
            ids.add(block_id)
    if kind == "header":
        _text(block.get("text"), f"{where}.text", 150, errors, plain_only=True)
    elif kind == "section":
        if "text" not in block and "fields" not in block:
            errors.append(f"{where}: a section needs text or fields")
        if "text" in block:
            _text(block["text"], f"{where}.text", 3000, errors)
        fields = block.get("fields", [])
        if len(fields) > 10:
            errors.append(f"{where}.fields: {len(fields)} fields, more than 10")
        for i, field in enumerate(fields):
            _text(field, f"{where}.fields[{i}]", 2000, errors)
        if "accessory" in block:
            _element(block["accessory"], f"{where}.accessory", errors)
    elif kind == "context":
        elements = block.get("elements") or []
        if not elements or len(elements) > 10:
            errors.append(f"{where}.elements: 1-10 elements")
        for i, element in enumerate(elements):
            if element.get("type") in TEXT_TYPES:
                _text(element, f"{where}.elements[{i}]", 3000, errors)
    elif kind == "actions":
        elements = block.get("elements") or []
        if not elements or len(elements) > 25:
            errors.append(f"{where}.elements: 1-25 elements")
        for i, element in enumerate(elements):
            _element(element, f"{where}.elements[{i}]", errors)
    elif kind == "input":
        _text(block.get("label"), f"{where}.label", 2000, errors, plain_only=True)
        if "hint" in block:
            _text(block["hint"], f"{where}.hint", 2000, errors, plain_only=True)
        _element(block.get("element"), f"{where}.element", errors)


def validate_blocks(blocks: Any, *, max_blocks: int) -> list[str]:
    if not isinstance(blocks, list):
        return ["blocks must be an array"]
    errors: list[str] = []
    if len(blocks) > max_blocks:
        errors.append(f"{len(blocks)} blocks, more than {max_blocks}")
    ids: set[str] = set()
    for i, block in enumerate(blocks):
        _block(block, f"blocks[{i}]", errors, ids)
    return errors


def validate_message_blocks(blocks: Any) -> list[str]:
    return validate_blocks(blocks, max_blocks=MESSAGE_MAX_BLOCKS)


def validate_view(view: Any) -> list[str]:
    if not isinstance(view, dict):
        return ["view must be an object"]
    errors: list[str] = []
    if view.get("type") not in ("modal", "home"):
        errors.append("view.type must be modal or home")
    if view.get("type") == "modal":
        _text(view.get("title"), "view.title", 24, errors, plain_only=True)
        for key in ("submit", "close"):
            if key in view:
                _text(view[key], f"view.{key}", 24, errors, plain_only=True)
        blocks = view.get("blocks")
        has_input = isinstance(blocks, list) and any(
            isinstance(b, dict) and b.get("type") == "input" for b in blocks
        )
        if has_input and "submit" not in view:
            errors.append("view.submit: required when the view has input blocks")
    if len(str(view.get("private_metadata", ""))) > 3000:
        errors.append("view.private_metadata: at most 3000 characters")
    if len(str(view.get("callback_id", ""))) > 255:
        errors.append("view.callback_id: at most 255 characters")
    errors += validate_blocks(view.get("blocks", []), max_blocks=VIEW_MAX_BLOCKS)
    return errors
