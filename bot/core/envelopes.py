"""What a request to /slack/events must look like before bolt sees it: pure parsing and pydantic
models of each payload kind Slack sends (slash command form, block_actions, view_submission,
view_closed, Events API url_verification / event_callback, ssl_check). No Slack imports.

``parse_envelope`` takes the signed raw body and its content type and returns the parsed body, or
raises ``MalformedRequest`` with a short reason made of our own words and field locations (never
the sender's values), so the one log line it becomes cannot be used to inject into the log.

The models check the envelope only (who, where, which kind, which action or view): what listeners
read without a guard. What a button's value or a modal's inputs mean is the listeners' business.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, unquote_plus

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
MAX_FORM_FIELDS = 64
MAX_JSON_DEPTH = (
    48  # Slack's deepest payloads (rich text inside a message inside an action) nest ~12
)
MAX_REASON_CHARS = 200

# Slack ids: T…, U…/W…, C…/G…/D…, E…, V…, A…: upper-case letters and digits.
SlackId = Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Z0-9]{2,64}$")]
Text = Annotated[str, StringConstraints(strict=True, max_length=12_000)]
Short = Annotated[str, StringConstraints(strict=True, max_length=255)]
NonEmptyShort = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=255)]
Metadata = Annotated[str, StringConstraints(strict=True, max_length=3000)]


class MalformedRequest(ValueError):
    """Signed, but not a request Slack sends: the sender's fault, answered with 400."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason[:MAX_REASON_CHARS])
        self.reason = reason[:MAX_REASON_CHARS]


class _Model(BaseModel):
    # Slack adds fields over time: unknown ones are kept (bolt and listeners see the body as sent).
    model_config = ConfigDict(extra="allow", strict=True, frozen=True)


class SlashCommand(_Model):
    command: Annotated[str, StringConstraints(strict=True, pattern=r"^/[^\s/]{1,64}$")]
    text: Text = ""
    user_id: SlackId
    user_name: Short = ""
    channel_id: SlackId
    team_id: SlackId
    enterprise_id: SlackId | None = None
    trigger_id: Short = ""
    response_url: Metadata = ""


class SslCheck(_Model):
    ssl_check: Literal["1"]
    token: Short = ""


class User(_Model):
    id: SlackId
    team_id: SlackId | None = None
    name: Short | None = None
    username: Short | None = None


class Team(_Model):
    id: SlackId


class Channel(_Model):
    id: SlackId


class Container(_Model):
    type: NonEmptyShort
    channel_id: SlackId | None = None
    message_ts: Short | None = None
    view_id: SlackId | None = None
    is_ephemeral: bool | None = None


class Option(_Model):
    value: Metadata


class Action(_Model):
    action_id: NonEmptyShort
    block_id: Short | None = None
    type: NonEmptyShort
    action_ts: Short | None = None
    value: Annotated[str, StringConstraints(strict=True, max_length=2000)] | None = None
    selected_options: list[Option] | None = None
    selected_option: Option | None = None


class ViewState(_Model):
    values: dict[str, dict[str, dict[str, Any]]]


class View(_Model):
    id: SlackId
    type: Literal["modal", "home"]
    callback_id: Short
    private_metadata: Metadata = ""
    hash: Short | None = None
    state: ViewState | None = None


class BlockActions(_Model):
    type: Literal["block_actions"]
    user: User
    team: Team
    actions: Annotated[list[Action], Field(min_length=1, max_length=25)]
    container: Container
    channel: Channel | None = None
    view: View | None = None
    message: dict[str, Any] | None = None
    trigger_id: Short | None = None
    response_url: Metadata | None = None

    @model_validator(mode="after")
    def _placed(self) -> BlockActions:
        """A click in a message says which channel and message; a click in a view carries it."""
        if self.container.type == "message":
            if self.channel is None or not self.container.message_ts:
                raise ValueError("a click in a message without its channel and message_ts")
            if self.container.channel_id not in (None, self.channel.id):
                raise ValueError("container.channel_id differs from channel.id")
        elif self.container.type == "view":
            if self.view is None:
                raise ValueError("a click in a view without the view")
        else:
            raise ValueError("container.type is neither message nor view")
        return self


class ViewSubmission(_Model):
    type: Literal["view_submission"]
    user: User
    team: Team
    view: View
    trigger_id: Short | None = None


class ViewClosed(_Model):
    type: Literal["view_closed"]
    user: User
    team: Team
    view: View


class UrlVerification(_Model):
    type: Literal["url_verification"]
    challenge: NonEmptyShort


class Event(_Model):
    type: NonEmptyShort


class EventCallback(_Model):
    type: Literal["event_callback"]
    team_id: SlackId
    api_app_id: SlackId
    event_id: NonEmptyShort
    event: Event


class AppRateLimited(_Model):
    type: Literal["app_rate_limited"]
    team_id: SlackId
    api_app_id: SlackId


INTERACTIVE: dict[str, type[_Model]] = {
    "block_actions": BlockActions,
    "view_submission": ViewSubmission,
    "view_closed": ViewClosed,
}
EVENTS: dict[str, type[_Model]] = {
    "url_verification": UrlVerification,
    "event_callback": EventCallback,
    "app_rate_limited": AppRateLimited,
}


@dataclass(frozen=True)
class Envelope:
    """A request that has the shape of one Slack sends. ``kind``: ``command``, ``ssl_check`` or the
    payload's ``type``; ``body``: the parsed body, as bolt parses it."""

    kind: str
    body: dict[str, Any]


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def parse_envelope(raw: bytes, content_type: str, parsed: dict[str, Any] | None = None) -> Envelope:
    """``parsed``: the body as bolt already parsed it, if it did. The form's keys are still read
    from the raw text (duplicates, ``payload=`` alone), but its values are not decoded a second
    time: url-decoding a 13 kB payload twice was the slowest step of a click's ack."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest("body is not UTF-8") from None
    media = media_type(content_type)
    if media == FORM:
        return _form(text, parsed)
    if media == JSON:
        body = parsed if parsed is not None else _json_object(text, "body")
        return _event(_checked_object(body, "body"))
    raise MalformedRequest("unsupported content type")


def _form_keys(text: str) -> list[str]:
    """The form's field names, read strictly (every field ``name=value``) without decoding values."""
    if not text:
        return []
    parts = text.split("&")
    if len(parts) > MAX_FORM_FIELDS:
        raise MalformedRequest("body is not a form")
    keys = []
    for part in parts:
        key, equals, _ = part.partition("=")
        if not equals:
            raise MalformedRequest("body is not a form")
        keys.append(unquote_plus(key))
    return keys


def _form(text: str, parsed: dict[str, Any] | None) -> Envelope:
    keys = _form_keys(text)
    if len(set(keys)) != len(keys):
        raise MalformedRequest("a form field appears twice")
    if "payload" in keys:
        if len(keys) != 1:
            raise MalformedRequest("payload= with other fields")
        if parsed is None:
            parsed = _json_object(
                dict(parse_qsl(text, keep_blank_values=True))["payload"], "payload"
            )
        body = _checked_object(parsed, "payload")
        kind = body.get("type")
        model = INTERACTIVE.get(kind) if isinstance(kind, str) else None
        if model is None:
            raise MalformedRequest("payload type is not one this app receives")
        return Envelope(str(kind), _validated(model, body))
    fields = parsed if parsed is not None else dict(parse_qsl(text, keep_blank_values=True))
    if "command" in keys:
        return Envelope("command", _validated(SlashCommand, fields))
    if "ssl_check" in keys:
        return Envelope("ssl_check", _validated(SslCheck, fields))
    raise MalformedRequest("form is neither a command nor an interaction")


def _event(body: dict[str, Any]) -> Envelope:
    kind = body.get("type")
    model = EVENTS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise MalformedRequest("JSON body type is not one this app receives")
    return Envelope(str(kind), _validated(model, body))


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise MalformedRequest(f"{what} is not JSON") from None
    return _checked_object(value, what)


def _checked_object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedRequest(f"{what} is not a JSON object")
    if _depth(value) > MAX_JSON_DEPTH:
        raise MalformedRequest(f"{what} nests deeper than {MAX_JSON_DEPTH}")
    return value


def _depth(value: object) -> int:
    """How deep containers nest (iterative: a deep value must not exhaust the stack here)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _validated(model: type[_Model], body: dict[str, Any]) -> dict[str, Any]:
    try:
        model.model_validate(body)
    except ValidationError as exc:
        raise MalformedRequest(f"{model.__name__}: {_where(exc)}") from None
    return body


def _where(exc: ValidationError) -> str:
    """Which fields failed, as locations (repr'd, so a key holding a newline stays on one line)."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False)[:3]:
        loc = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{loc!r} {error['type']}")
    return ", ".join(parts)
