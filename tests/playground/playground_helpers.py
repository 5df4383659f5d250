"""A running playground for tests, and small helpers to read its page state (GET /state)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from bot.playground import Playground

ENGINEER = "U0ALICE001"
CTO = "U0CAROL001"
DEVOPS = "U0DEE00001"
OUTSIDER = "U0MALLORY1"


@asynccontextmanager
async def running_playground(
    db_path: Path, *, fresh: bool = False, speed: float = 1.0
) -> AsyncIterator[Playground]:
    """The playground on a free port with the real bot as its child process, as `launchbot
    playground [--speed N]` runs it (no team config: the playground's own people and roles)."""
    playground = Playground(host="127.0.0.1", port=0, db_path=db_path, fresh=fresh, speed=speed)
    try:
        await playground.start()
        yield playground
    finally:
        await playground.stop()


class Page:
    """The page's side of the playground: what a browser fetches and posts, without a browser."""

    def __init__(self, playground: Playground, http: aiohttp.ClientSession) -> None:
        self.base = playground.url.rstrip("/")
        self.http = http

    async def state(self, user: str) -> dict[str, Any]:
        async with self.http.get(f"{self.base}/state", params={"user": user}) as r:
            assert r.status == 200
            data: dict[str, Any] = await r.json()
            return data

    async def act(self, what: str, **body: Any) -> tuple[int, dict[str, Any]]:
        async with self.http.post(f"{self.base}/act/{what}", json=body) as r:
            try:
                data = await r.json()
            except aiohttp.ContentTypeError:
                data = {"text": await r.text()}
            return r.status, data

    async def type(self, user: str, text: str, thread_ts: str | None = None) -> dict[str, Any]:
        status, data = await self.act("command", user=user, text=text, thread_ts=thread_ts)
        assert status == 200, data
        return data

    async def until(
        self, user: str, check: Callable[[dict[str, Any]], Any], what: str, within: float = 15
    ) -> Any:
        """Poll /state as the page would after an event, until ``check`` returns something truthy."""
        deadline = time.monotonic() + within
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            state = await self.state(user)
            found = check(state)
            if found:
                return found
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; last state: {state}")


def card(state: dict[str, Any]) -> dict[str, Any] | None:
    """The launch card: the channel message with Approve buttons."""
    for m in state["messages"]:
        if not m["thread_ts"] and any(
            e.get("action_id") == "launch-signoff-approve" for b in m["blocks"] for e in _els(b)
        ):
            return m
    return None


def thread_checkboxes(
    state: dict[str, Any], parent_ts: str
) -> list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """Every (message, block, checkboxes element) in the parent's thread."""
    found = []
    for m in state["messages"]:
        if m["thread_ts"] == parent_ts and m["ts"] != parent_ts:
            for b in m["blocks"]:
                for e in _els(b):
                    if e.get("type") == "checkboxes":
                        found.append((m, b, e))
    return found


def ticked_options(state: dict[str, Any], parent_ts: str) -> list[dict[str, Any]]:
    """The checked options of every checklist message in the parent's thread."""
    return [
        o for _, _, e in thread_checkboxes(state, parent_ts) for o in e.get("initial_options", [])
    ]


async def tick(
    page: Page,
    user: str,
    parent_ts: str,
    found: tuple[dict[str, Any], dict[str, Any], dict[str, Any]],
    value: str,
    what: str,
) -> None:
    """Tick one option as the page does (from the view it holds, maybe a moment old) and wait
    until the thread shows it checked."""
    message, block, element = found
    status, result = await page.act(
        "click",
        user=user,
        kind="checkbox",
        ts=message["ts"],
        value=value,
        action_id=element["action_id"],
        block_id=block["block_id"],
    )
    assert status == 200 and result["ok"], result
    await page.until(
        user,
        lambda s: any(o["value"] == value for o in ticked_options(s, parent_ts)),
        what,
    )


def approve_button(message: dict[str, Any], role_title: str) -> tuple[str, dict[str, Any]]:
    """The block_id and element of the Approve button on the row of ``role_title``."""
    blocks = message["blocks"]
    for b in blocks:
        accessory = b.get("accessory") or {}
        if accessory.get("action_id") == "launch-signoff-approve" and role_title in (
            b.get("text") or {}
        ).get("text", ""):
            return b["block_id"], accessory
    raise AssertionError(f"no Approve button for {role_title}")


async def press(
    page: Page, user: str, message: dict[str, Any], block_id: str, button: dict[str, Any]
) -> None:
    """Press a button of a channel message as the page does; the stand-in must deliver it."""
    status, result = await page.act(
        "click",
        user=user,
        kind="button",
        ts=message["ts"],
        action_id=button["action_id"],
        value=button["value"],
        block_id=block_id,
    )
    assert status == 200 and result["ok"], result


def all_text(message: dict[str, Any]) -> str:
    parts = [message.get("text") or ""]
    for b in message.get("blocks") or []:
        parts.append(str(b))
    return "\n".join(parts)


def mrkdwn_texts(message: dict[str, Any]) -> str:
    """The message's text and every mrkdwn text object in its blocks: where Slack parses mentions."""
    found = [message.get("text") or ""]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(str(node.get("text", "")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message.get("blocks") or [])
    return "\n".join(found)


def _els(block: dict[str, Any]) -> list[dict[str, Any]]:
    out = list(block.get("elements") or [])
    if "accessory" in block:
        out.append(block["accessory"])
    return [e for e in out if isinstance(e, dict)]
