"""A test driver for one war-room channel: sends Slack-shaped, signed requests through the bot's real
bolt app (``app.async_dispatch``) and reads back what the bot sent to the Slack stand-in."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
from slack_bolt.request.async_request import AsyncBoltRequest
from sqlalchemy import select

from bot.audit.chain import verify_chain
from bot.core.ids import ActionId, CallbackId, LaunchBlock
from bot.core.models import Event
from bot.runtime import RunningBot
from bot.standin import SlackStandIn

BOT_TOKEN = "xoxb-test-0000000000-launchcontrol"
SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
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

    async def close(
        self, user: str, outcome: str | None = "completed", note: str = "", **kw: Any
    ) -> Any:
        """``/launch close``, then submit its confirmation with ``outcome`` and ``note`` (when the
        modal opened); returns the submission's answer, or None when no modal opened."""
        before = {v.id for v in self.slack.open_views(user)}
        await self.command(user, "close", **kw)
        opened = [
            v
            for v in self.slack.open_views(user)
            if v.id not in before and v.view.get("callback_id") == CallbackId.LAUNCH_CLOSE
        ]
        if not opened:
            return None
        return await self.submit_close(user, opened[-1], outcome=outcome, note=note)

    async def submit_close(
        self, user: str, view: Any, *, outcome: str | None = "completed", note: str = ""
    ) -> Any:
        choice = {"type": "radio_buttons", "selected_option": None}
        if outcome is not None:
            choice["selected_option"] = {"value": outcome}
        values = {
            LaunchBlock.CLOSE_OUTCOME: {ActionId.CLOSE_OUTCOME: choice},
            LaunchBlock.CLOSE_NOTE: {
                ActionId.CLOSE_NOTE: {"type": "plain_text_input", "value": note}
            },
        }
        body, headers = self.slack.view_submission(user_id=user, view_id=view.id, values=values)
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

    def message_with_item(self, text: str, *, within: str = "") -> tuple[Any, dict[str, Any]]:
        """The first thread message with an item starting ``text`` (in one whose blocks contain
        ``within``, e.g. one day's daily checks), and that item's checkbox option."""
        for message in self.thread():
            if within and within not in json.dumps(message.blocks or [], ensure_ascii=False):
                continue
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
        within: str = "",
    ) -> Any:
        message, option = self.message_with_item(item_text, within=within)
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

    async def press(self, user: str, message: Any, action_id: str) -> Any:
        """Press a button of ``message`` as ``user``, as Slack sends it; waits for the bot's work."""
        body, headers = self.slack.button_click(
            user_id=user, channel_id=self.channel, message_ts=message.ts, action_id=action_id
        )
        sent = await self.slack.deliver_to(self.dispatch, body, headers)
        await self.settle()
        return sent

    async def choose(self, user: str, message: Any, action_id: str, value: str) -> Any:
        """Choose ``value`` in an overflow ("⋯") menu of ``message`` as ``user``."""
        body, headers = self.slack.overflow_click(
            user_id=user,
            channel_id=self.channel,
            message_ts=message.ts,
            action_id=action_id,
            value=value,
        )
        sent = await self.deliver(body, headers)
        await self.settle()
        return sent

    async def submit(self, user: str, view: Any, values: dict[str, dict[str, Any]]) -> Any:
        """Submit ``view`` with ``values`` (``state.values`` as Slack sends it)."""
        body, headers = self.slack.view_submission(user_id=user, view_id=view.id, values=values)
        sent = await self.deliver(body, headers)
        await self.settle()
        return sent

    async def events(self, kind: str | None = None) -> list[Event]:
        """The launch log (every launch's), in order; only ``kind`` if given."""
        async with self.bot.deps.db.read_sessions() as session:
            query = select(Event).order_by(Event.launch_id, Event.seq)
            if kind is not None:
                query = query.where(Event.kind == kind)
            return list((await session.scalars(query)).all())

    async def chain_ok(self, launch_id: int = 1) -> None:
        """``audit verify`` finds the log intact and every row as the log says."""
        async with self.bot.deps.db.read_sessions() as session:
            report = await verify_chain(session=session, launch_id=launch_id)
        assert report.ok, report.mismatches

    def ephemerals_for(self, user: str) -> list[str]:
        return [e.text or "" for e in self.slack.ephemerals if e.user == user]


# --- a real `launchbot serve` process, and waiting ---------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BotProcess:
    """A real ``launchbot serve``. ``slack``: the stand-in whose requests it answers; its app_url
    follows the port, which changes if another process took the free one before the bot bound it."""

    def __init__(self, env: dict[str, str], port: int, slack: SlackStandIn | None = None) -> None:
        self.env, self.port, self.slack = env, port, slack
        self.proc: subprocess.Popen[bytes] | None = None
        self._output: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        for _ in range(3):
            if await self._start_once():
                return
            self.port = free_port()  # the port was taken between choosing it and binding it
        raise AssertionError("bot could not bind a port: " + self.output())

    async def _start_once(self) -> bool:
        if self.slack is not None:
            self.slack.app_url = f"{self.url}/slack/events"
        self._output = None
        self.proc = subprocess.Popen(  # noqa: ASYNC220 (a child server, not waited on here)
            [sys.executable, "-m", "bot", "serve", "--port", str(self.port)],
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    assert "address already in use" in self.output(), self.output()
                    return False
                try:  # bounded: whatever holds a taken port may never answer
                    async with http.get(
                        self.url + "/healthz", timeout=aiohttp.ClientTimeout(total=2)
                    ) as r:
                        if r.status == 200 and self.proc.poll() is None:
                            return True
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError("bot did not start: " + self.output())

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=20)

    def output(self) -> str:
        """What the exited process printed (read once, then kept)."""
        if self.proc is None or self.proc.stdout is None or self.proc.poll() is None:
            return ""
        if self._output is None:
            self._output = self.proc.stdout.read().decode(errors="replace")
        return self._output


async def wait_for(predicate: Callable[[], bool], what: str, within: float = 10) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def served_env(*, api_url: str, database_url: str, config: Path, **extra: str) -> dict[str, str]:
    """The environment of a served bot: this process's, less every Slack/launchbot/database
    variable, plus the test's token, secret, stand-in URL, database and config (and ``extra``)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "LAUNCHBOT_", "DATABASE_URL"))
    }
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=api_url,
        DATABASE_URL=database_url,
        LAUNCHBOT_CONFIG=str(config),
        **extra,
    )
    return env
