"""A test driver for one war-room channel: sends Slack-shaped, signed requests through the bot's real
bolt app (``app.async_dispatch``) and reads back what the bot sent to the Slack stand-in."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from slack_bolt.request.async_request import AsyncBoltRequest

from bot.runtime import RunningBot
from bot.standin import SlackStandIn

WAR_ROOM = "C0WARROOM1"


@dataclass
class WarRoom:
    slack: SlackStandIn
    bot: RunningBot
    channel: str = WAR_ROOM

    async def dispatch(self, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        response = await self.bot.app.async_dispatch(
            AsyncBoltRequest(body=body.decode(), headers=headers)
        )
        return response.status, response.body

    async def deliver(self, body: bytes, headers: dict[str, str]) -> Any:
        """Deliver like Slack, which gives up on an answer that takes 3 s or more: every request the
        tests send through the room must be acked in time."""
        sent = await self.slack.deliver_to(self.dispatch, body, headers)
        assert sent.error is None and sent.elapsed < 3.0, (
            f"acked after {sent.elapsed:.2f} s: Slack would show {sent.error}"
        )
        return sent

    def forge(
        self, body: bytes, change: Callable[[dict[str, Any]], None]
    ) -> tuple[bytes, dict[str, str]]:
        """The request as a crafted client gets Slack to send it: ``change`` edits the interaction
        payload (or a slash command's fields), and Slack signs what it relays as usual."""
        fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
        if "payload" in fields:
            payload = json.loads(fields["payload"])
            change(payload)
            fields["payload"] = json.dumps(payload)
        else:
            change(fields)
        forged = urlencode(fields).encode()
        return forged, self.slack.signed_headers(forged)

    async def settle(self) -> None:
        """Wait until the bot's post-ack work (message publishing) is done."""
        await self.bot.deps.tasks.idle()

    async def command(self, user: str, text: str, *, channel: str | None = None) -> Any:
        body, headers = self.slack.slash_command(
            user_id=user, text=text, channel_id=channel or self.channel
        )
        sent = await self.deliver(body, headers)
        await self.settle()
        return sent

    # --- reading the channel -------------------------------------------------------------------
    def top_level(self) -> list[Any]:
        return [
            m
            for m in self.slack.messages.get(self.channel, [])
            if not m.thread_ts or m.thread_ts == m.ts
        ]

    def card(self) -> Any:
        cards = [
            m
            for m in self.top_level()
            if m.blocks and m.blocks[0]["type"] == "header" and "🚀" in m.blocks[0]["text"]["text"]
        ]
        assert cards, "no launch card was posted"
        return cards[-1]

    def thread(self) -> list[Any]:
        return self.slack.thread(self.channel, self.card().ts)

    def message_with_item(self, text: str) -> tuple[Any, dict[str, Any]]:
        for message in self.thread():
            for block in message.blocks or []:
                for element in block.get("elements", []):
                    for option in element.get("options", []):
                        if option["text"]["text"].startswith(text):
                            return message, option
        raise AssertionError(f"no checklist item {text!r} in the thread")

    def item_option(self, text: str) -> dict[str, Any]:
        return self.message_with_item(text)[1]

    def is_checked(self, text: str) -> bool:
        message, option = self.message_with_item(text)
        for block in message.blocks:
            for element in block.get("elements", []):
                if option in element.get("options", []):
                    return option["value"] in {
                        o["value"] for o in element.get("initial_options", [])
                    }
        raise AssertionError(text)

    async def click(
        self,
        user: str,
        item_text: str,
        *,
        view_blocks: list[dict[str, Any]] | None = None,
        settle: bool = True,
    ) -> Any:
        message, option = self.message_with_item(item_text)
        body, headers = self.slack.checkbox_click(
            user_id=user,
            channel_id=self.channel,
            message_ts=message.ts,
            toggle_value=option["value"],
            view_blocks=view_blocks,
        )
        sent = await self.deliver(body, headers)
        if settle:
            await self.settle()
        return sent

    def ephemerals_for(self, user: str) -> list[str]:
        return [e.text or "" for e in self.slack.ephemerals if e.user == user]
