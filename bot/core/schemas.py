"""Pydantic boundary models: LaunchCommand (a parsed /launch), CommandReply (what a subcommand answers)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from bot.core.kit import MessageView


class LaunchCommand(BaseModel):
    """One ``/launch`` invocation. ``user_id`` comes from Slack's signed payload, never from the text."""

    model_config = ConfigDict(frozen=True)

    name: str
    args: list[str]
    rest: str
    user_id: str
    user_name: str
    channel_id: str
    team_id: str
    trigger_id: str = ""
    response_url: str = ""


def is_option(word: str, name: str) -> bool:
    """``word`` is the option ``--name``: in any case, and with the em or en dash (``—force``) that
    Slack clients with smart punctuation make of a typed ``--``."""
    return word.lower() in (f"--{name}", f"—{name}", f"–{name}")


FollowUp = Callable[[], Awaitable["CommandReply | None"]]


class CommandReply(BaseModel):
    """A subcommand's answer, sent in the ack. ``launch_id`` asks the router to publish that launch's
    messages. ``follow_up`` is slow work (an outside HTTP call, views.open) that the router runs in
    the background *after* the ack; if it returns a reply, that goes to the user via response_url.
    Whatever the user asked for must already be stored before ``run`` returns."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    text: str
    blocks: list[dict[str, Any]] | None = None
    response_type: Literal["ephemeral", "in_channel"] = "ephemeral"
    launch_id: int | None = None
    follow_up: FollowUp | None = None

    @classmethod
    def of(
        cls,
        view: MessageView,
        *,
        response_type: Literal["ephemeral", "in_channel"] = "ephemeral",
        launch_id: int | None = None,
    ) -> CommandReply:
        return cls(
            text=view.text, blocks=view.blocks, response_type=response_type, launch_id=launch_id
        )

    def slack_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"response_type": self.response_type, "text": self.text}
        if self.blocks is not None:
            body["blocks"] = self.blocks
        return body
