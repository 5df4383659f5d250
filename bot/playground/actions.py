"""What a Slack client does when a person acts on the page (POST /act/...): runs a slash command
or posts their message, sends a click as the message version they saw, submits or closes a modal;
each a signed Slack-shaped request to the bot through the stand-in, with Slack's own refusals."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from bot.core.ids import SLASH_COMMAND
from bot.core.mrkdwn import escape
from bot.playground.state import CHANNEL, PageState
from bot.standin import View

# Slack answers a slash command the app did not ack in 3 s with "operation_timeout".
ACK_TIMEOUT_SECONDS = 3.0

Blocks = list[dict[str, Any]]


def error(status: int, message: str) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=status)


class PageActions:
    def __init__(self, page: PageState) -> None:
        self.page = page
        self.standin = page.standin

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/act/command", self.command)
        app.router.add_post("/act/click", self.click)
        app.router.add_post("/act/submit", self.submit)
        app.router.add_post("/act/close", self.close)

    async def _body(self, request: web.Request) -> tuple[dict[str, Any], str]:
        """The JSON body and its acting user, who must be someone in the workspace.

        Only the page itself may act: another site open in the same browser could otherwise post
        a no-preflight form or text body to 127.0.0.1 and approve as the CTO. A JSON content type
        forces a CORS preflight (which this server never grants), and a browser's own
        Origin/Sec-Fetch-Site headers must say the request came from this page."""
        if request.content_type != "application/json":
            raise web.HTTPUnsupportedMediaType(text="send application/json")
        site = request.headers.get("Sec-Fetch-Site")
        origin = request.headers.get("Origin")
        if (site is not None and site not in ("same-origin", "none")) or (
            origin is not None and origin != f"{request.scheme}://{request.host}"
        ):
            raise web.HTTPForbidden(text="only the playground page may act")
        try:
            data = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text="body must be JSON") from None
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text="body must be a JSON object")
        user = str(data.get("user") or "")
        if user not in self.standin.users or user == self.standin.bot_user_id:
            raise web.HTTPBadRequest(text=f"unknown user {user!r}")
        return data, user

    async def _deliver(self, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        """Send a signed request to the bot as Slack does; what happened, for the page."""
        started = time.monotonic()
        try:
            sent = await asyncio.wait_for(self.standin.send(body, headers), ACK_TIMEOUT_SECONDS)
        except TimeoutError:
            return {"ok": False, "error": "operation_timeout"}
        except aiohttp.ClientError:
            return {"ok": False, "error": "dispatch_failed"}
        result: dict[str, Any] = {
            "ok": sent.ok,
            "status": sent.status,
            "ms": round((time.monotonic() - started) * 1000),
        }
        if not sent.ok:  # Slack shows its own error; a late answer was dropped by the stand-in
            result["error"] = sent.error or "dispatch_failed"
        return result

    # --- typing: a message, or a slash command ----------------------------------------------------
    async def command(self, request: web.Request) -> web.Response:
        data, user = await self._body(request)
        text = str(data.get("text") or "").strip()
        thread_ts = str(data.get("thread_ts") or "") or None
        if not text:
            return error(400, "empty message")
        if text.startswith("/"):
            return await self._slash(user, text, thread_ts)
        if thread_ts is not None and thread_ts not in self.page.all_ts():
            return error(404, "no such thread")
        ts = self.page.say(user, escape(text), thread_ts)  # typed text, as Slack stores it
        return web.json_response({"ok": True, "ts": ts})

    async def _slash(self, user: str, text: str, thread_ts: str | None) -> web.Response:
        command, _, rest = text.partition(" ")
        if thread_ts is not None:  # as in Slack: app commands do not run in threads
            self.page.slackbot_says(
                user, f"`{escape(command)}` is not supported in threads. Sorry!", thread_ts
            )
            return web.json_response({"ok": False, "error": "not_in_thread"})
        if command != SLASH_COMMAND:
            self.page.slackbot_says(
                user,
                f"`{escape(command)}` is not a valid command. In this playground only `{SLASH_COMMAND}` is installed.",
            )
            return web.json_response({"ok": False, "error": "unknown_command"})
        body, headers = self.standin.slash_command(
            user_id=user, text=rest.strip(), channel_id=CHANNEL
        )
        result = await self._deliver(body, headers)
        if not result["ok"]:
            self.page.slackbot_says(
                user, f'`{escape(command)}` failed with the error "{result["error"]}"'
            )
        return web.json_response(result)

    # --- clicks -------------------------------------------------------------------------------------
    async def click(self, request: web.Request) -> web.Response:
        data, user = await self._body(request)
        kind = data.get("kind")
        if kind not in ("button", "checkbox", "overflow") or (
            kind != "button" and data.get("ephemeral")
        ):
            return error(501, f"the playground cannot send {kind} actions yet (the bot uses none)")
        try:
            if kind == "button":
                body, headers = self._button(data, user)
            elif kind == "overflow":
                body, headers = self.standin.overflow_click(
                    user_id=user,
                    channel_id=str(data.get("channel") or CHANNEL),
                    message_ts=str(data.get("ts") or ""),
                    action_id=str(data.get("action_id") or ""),
                    value=str(data.get("value") or ""),
                )
            else:
                body, headers = self._checkbox(data, user)
        except KeyError:
            return error(404, "that message or element is gone (it was updated or deleted)")
        return web.json_response(await self._deliver(body, headers))

    def _button(self, data: dict[str, Any], user: str) -> tuple[bytes, dict[str, str]]:
        ts, action_id = str(data.get("ts") or ""), str(data.get("action_id") or "")
        value, block_id = data.get("value"), data.get("block_id")
        if data.get("ephemeral"):
            return self.standin.ephemeral_button_click(
                user_id=user, ephemeral_ts=ts, action_id=action_id, value=value, block_id=block_id
            )
        channel = str(data.get("channel") or CHANNEL)
        return self.standin.button_click(
            user_id=user,
            channel_id=channel,
            message_ts=ts,
            action_id=action_id,
            value=value,
            block_id=block_id,
            view_blocks=self._version_with_button(channel, ts, action_id, value),
        )

    def _checkbox(self, data: dict[str, Any], user: str) -> tuple[bytes, dict[str, str]]:
        ts, block_id = str(data.get("ts") or ""), data.get("block_id")
        channel = str(data.get("channel") or CHANNEL)
        stale_view = None
        if isinstance(block_id, str):
            stale_view = self._view_with(channel, ts, block_id)
        return self.standin.checkbox_click(
            user_id=user,
            channel_id=channel,
            message_ts=ts,
            toggle_value=str(data.get("value")),
            action_id=str(data.get("action_id") or "") or None,
            block_id=block_id,
            view_blocks=stale_view,
        )

    def _view_with(self, channel: str, ts: str, block_id: str) -> Blocks | None:
        """The version of the message the person's page showed, when it is no longer the latest:
        the page may be a moment behind a chat.update, and Slack then sends the click as that
        client saw it (its selected options), which the bot must reconcile."""
        return self._older_version(
            channel, ts, lambda blocks: any(b.get("block_id") == block_id for b in blocks)
        )

    def _version_with_button(
        self, channel: str, ts: str, action_id: str, value: Any
    ) -> Blocks | None:
        """The newest version of the message holding that button, if the latest no longer does (a
        second press of Approve that has since become Revoke): Slack delivers that press too."""

        def has(blocks: Blocks) -> bool:
            return any(
                e.get("type") == "button"
                and e.get("action_id") == action_id
                and (value is None or e.get("value") == value)
                for b in blocks
                for e in [*(b.get("elements") or []), b.get("accessory") or {}]
                if isinstance(e, dict)
            )

        return self._older_version(channel, ts, has)

    def _older_version(self, channel: str, ts: str, has: Callable[[Blocks], bool]) -> Blocks | None:
        """The newest earlier version of a message for which ``has`` holds, if the latest does not."""
        try:
            message = self.standin.message(channel, ts)
        except KeyError:
            return None
        if has(message.blocks):
            return None
        versions: list[Blocks] = message.history
        return next((v for v in reversed(versions) if has(v)), None)

    # --- modals -------------------------------------------------------------------------------------
    def _own_view(self, data: dict[str, Any], user: str) -> View:
        view = self.standin.views.get(str(data.get("view_id") or ""))
        if view is None or view.user != user or not view.open:
            raise web.HTTPNotFound(text="no such open view for this user")
        return view

    async def submit(self, request: web.Request) -> web.Response:
        data, user = await self._body(request)
        view = self._own_view(data, user)
        values = data.get("values") or {}
        if not isinstance(values, dict) or not all(isinstance(v, dict) for v in values.values()):
            return error(400, "values must be {block_id: {action_id: {...}}}")
        view.errors = {}
        body, headers = self.standin.view_submission(user_id=user, view_id=view.id, values=values)
        result = await self._deliver(body, headers)
        # Errors and updates change the view without a stand-in event: tell the page.
        self.page.publish({"kind": "view_changed", "view_id": view.id, "user": user})
        return web.json_response({**result, "open": view.open, "errors": view.errors})

    async def close(self, request: web.Request) -> web.Response:
        data, user = await self._body(request)
        view = self._own_view(data, user)
        result: dict[str, Any] = {"ok": True}
        if view.view.get("notify_on_close"):  # Slack tells the app only if it asked
            body, headers = self.standin.view_closed(user_id=user, view_id=view.id)
            result = await self._deliver(body, headers)
        view.open = False  # the modal closes in the client whatever the app answers
        self.page.publish({"kind": "view_closed", "view_id": view.id, "user": user})
        return web.json_response(result)
