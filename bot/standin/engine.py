"""SlackStandIn: a stateful local Slack (Web API, response_url, file uploads) that also sends the bot signed
requests shaped like Slack's. Used as the tests' fake Slack and by the playground."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
from aiohttp import web

from bot.standin.blockkit import validate_message_blocks, validate_view

TRIGGER_TTL_SECONDS = 3.0
# Slack waits this long for the HTTP 200 of a slash command or an interaction, then gives up: the
# user sees an error (slash commands: "operation_timeout") and whatever the app answers later is lost.
ACK_DEADLINE_SECONDS = 3.0
RESPONSE_URL_MAX_USES = 5
RESPONSE_URL_TTL_SECONDS = 30 * 60
DEFAULT_CHANNEL = "C0WARROOM1"

Dispatch = Callable[[bytes, dict[str, str]], Awaitable[tuple[int, str]]]


@dataclass
class ApiCall:
    method: str
    args: dict[str, Any]
    at: float


@dataclass
class Message:
    channel: str
    ts: str
    user: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    history: list[list[dict[str, Any]]] = field(default_factory=list)
    deleted: bool = False
    broadcast: bool = False  # a thread reply also sent to the channel (reply_broadcast)

    def as_slack(self, bot_id: str, team_id: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "user": self.user,
            "type": "message",
            "ts": self.ts,
            "bot_id": bot_id,
            "text": self.text,
            "team": team_id,
            "blocks": self.blocks,
        }
        if self.thread_ts:
            data["thread_ts"] = self.thread_ts
        if self.broadcast:
            data["subtype"] = "thread_broadcast"
        if self.files:
            data["files"] = self.files
        return data


@dataclass
class Ephemeral:
    channel: str
    user: str
    text: str
    blocks: list[dict[str, Any]] | None
    thread_ts: str | None
    via: str
    ts: str


@dataclass
class View:
    id: str
    user: str
    view: dict[str, Any]
    hash: str
    open: bool = True
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class SentRequest:
    """The app's answer to a request the stand-in sent. ``error`` is what Slack would show instead
    of it: ``operation_timeout`` when the app took ``ACK_DEADLINE_SECONDS`` or longer (a late
    answer is ignored, as Slack does); None for an answer in time."""

    status: int
    body: str
    elapsed: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status == 200

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


@dataclass
class _Context:
    """What Slack remembers about a request it sent, to apply the bot's answer as Slack would."""

    kind: str
    user: str
    channel: str
    message_ts: str | None = None
    ephemeral_ts: str | None = None  # a click on an ephemeral message: response_url may replace it
    view_id: str | None = None


@dataclass
class _ResponseUrl:
    context: _Context
    issued_at: float
    uses: int = 0


# The failure that is no answer at all (see ``SlackStandIn.fail_next``).
DISCONNECT = -1


class SlackStandIn:
    """A local Slack workspace with one bot. See the module docstring; every limit is Slack's
    published one (Block Kit sizes, trigger_id 3 s and single use, response_url 5 uses in 30 min)."""

    def __init__(
        self,
        *,
        bot_token: str,
        signing_secret: str,
        team_id: str = "T0LAUNCH01",
        team_domain: str = "launch-control",
        bot_user_id: str = "U0LAUNCHBOT",
        bot_id: str = "B0LAUNCHBOT",
        app_id: str = "A0LAUNCHAPP",
        app_url: str | None = None,
        clock: Callable[[], float] = time.time,
        ack_deadline: float = ACK_DEADLINE_SECONDS,
    ) -> None:
        self.bot_token = bot_token
        self.ack_deadline = ack_deadline
        self.signing_secret = signing_secret
        self.team_id, self.team_domain = team_id, team_domain
        self.bot_user_id, self.bot_id, self.app_id = bot_user_id, bot_id, app_id
        self.app_url = app_url
        self.clock = clock
        self.calls: list[ApiCall] = []
        self.messages: dict[str, list[Message]] = {}
        self.ephemerals: list[Ephemeral] = []
        self.views: dict[str, View] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.channels: dict[str, str] = {}
        self._failures: dict[str, list[tuple[str | None, int, int | None]]] = {}
        self._outage: tuple[float, int, frozenset[str]] | None = None
        self._triggers: dict[str, tuple[float, bool]] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._contexts: dict[str, _Context] = {}
        self._subscribers: list[asyncio.Queue[dict[str, Any]]] = []
        self._ids = itertools.count(1)
        self._last_ts = 0.0
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._host = "127.0.0.1"
        self._app = self._build_app()
        self.add_channel(DEFAULT_CHANNEL, "war-room")
        self.add_user(bot_user_id, "launch-control", "Launch Control")

    # --- workspace ----------------------------------------------------------------------------
    def add_user(
        self, user_id: str, name: str, real_name: str, display_name: str | None = None
    ) -> None:
        self.users[user_id] = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "real_name": real_name,
            "tz": "Etc/UTC",
            "is_bot": False,
            "profile": {"real_name": real_name, "display_name": display_name or name},
        }

    def add_usergroup(self, usergroup_id: str, users: list[str]) -> None:
        self.usergroups[usergroup_id] = list(users)

    def add_channel(self, channel_id: str, name: str) -> None:
        self.channels[channel_id] = name
        self.messages.setdefault(channel_id, [])

    def fail_next(
        self,
        method: str,
        *,
        error: str | None = None,
        status: int = 200,
        retry_after: int | None = None,
        times: int = 1,
        disconnect: bool = False,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail (429 with Retry-After, an error, a 5xx,
        or with ``disconnect`` a network error: the connection is closed without an answer)."""
        status = DISCONNECT if disconnect else status
        self._failures.setdefault(method, []).extend([(error, status, retry_after)] * times)

    def outage(self, seconds: float, *, methods: tuple[str, ...], status: int = 500) -> None:
        """Answer every call of ``methods`` with HTTP ``status`` for the next ``seconds`` (on
        ``clock``): an outage by time, however often the bot tries."""
        self._outage = (self.clock() + seconds, status, frozenset(methods))

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    def _notify(self, event: dict[str, Any]) -> None:
        for queue in self._subscribers:
            queue.put_nowait(event)

    # --- inspection ---------------------------------------------------------------------------
    def calls_to(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method]

    def message(self, channel: str, ts: str) -> Message:
        for m in self.messages.get(channel, []):
            if m.ts == ts and not m.deleted:
                return m
        raise KeyError((channel, ts))

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        return [
            m
            for m in self.messages.get(channel, [])
            if m.thread_ts == thread_ts and m.ts != thread_ts and not m.deleted
        ]

    # --- server -------------------------------------------------------------------------------
    def web_app(self) -> web.Application:
        return self._app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self._host, self._port = host, server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/api/"

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=10 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/hooks/{hook_id:.+}", self._hook)
        app.router.add_post("/upload/{file_id}", self._upload)
        return app

    # --- Web API ------------------------------------------------------------------------------
    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        raw = await request.read()
        if raw:
            if request.content_type == "application/json":
                try:
                    args.update(json.loads(raw))
                except ValueError:
                    return web.json_response({"ok": False, "error": "invalid_json"})
            else:
                args.update(dict(parse_qsl(raw.decode(), keep_blank_values=True)))
        token = args.pop("token", None)
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            token = auth[len("Bearer ") :]
        self.calls.append(ApiCall(method, args, self.clock()))
        if not token:
            return web.json_response({"ok": False, "error": "not_authed"})
        if token != self.bot_token:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if self._outage is not None:
            until, status, methods = self._outage
            if self.clock() < until and method in methods:
                return web.Response(status=status, text="upstream error")
        failures = self._failures.get(method)
        if failures:
            error, status, retry_after = failures.pop(0)
            if status == DISCONNECT and request.transport is not None:
                request.transport.close()  # the caller sees the server disconnect, no answer
                return web.Response(status=500)
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            if status == 429:
                return web.json_response(
                    {"ok": False, "error": error or "ratelimited"}, status=429, headers=headers
                )
            if status >= 500:
                return web.Response(status=status, text="upstream error", headers=headers)
            return web.json_response(
                {"ok": False, "error": error or "internal_error"}, status=status, headers=headers
            )
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        try:
            result = handler(_decode_json_args(args))
        except _SlackError as exc:
            body: dict[str, Any] = {"ok": False, "error": exc.error}
            if exc.details:
                body["errors"] = exc.details
                body["response_metadata"] = {"messages": [f"[ERROR] {d}" for d in exc.details]}
            return web.json_response(body)
        return web.json_response({"ok": True, **result})

    def _next_ts(self) -> str:
        now = max(self.clock(), self._last_ts + 0.000001)
        self._last_ts = now
        return f"{now:.6f}"

    def _channel(self, args: dict[str, Any], key: str = "channel") -> str:
        channel = args.get(key)
        if not channel:
            raise _SlackError("channel_not_found")
        if channel not in self.channels:
            raise _SlackError("channel_not_found")
        return str(channel)

    @staticmethod
    def _blocks(args: dict[str, Any]) -> list[dict[str, Any]]:
        blocks = args.get("blocks") or []
        errors = validate_message_blocks(blocks)
        if errors:
            raise _SlackError("invalid_blocks", errors)
        text = args.get("text") or ""
        if not blocks and not text:
            raise _SlackError("no_text")
        if len(text) > 40000:
            raise _SlackError("msg_too_long")
        return list(blocks)

    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"{self.url}/",
            "team": self.team_domain,
            "user": "launch-control",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        blocks = self._blocks(args)
        thread_ts = args.get("thread_ts") or None
        if thread_ts is not None and not any(m.ts == thread_ts for m in self.messages[channel]):
            raise _SlackError("thread_not_found")
        message = Message(
            channel,
            self._next_ts(),
            self.bot_user_id,
            str(args.get("text") or ""),
            blocks,
            thread_ts,
            broadcast=thread_ts is not None and _truthy(args.get("reply_broadcast")),
        )
        message.history.append(blocks)
        self.messages[channel].append(message)
        self._notify(
            {"kind": "message", "channel": channel, "ts": message.ts, "thread_ts": thread_ts}
        )
        return {
            "channel": channel,
            "ts": message.ts,
            "message": message.as_slack(self.bot_id, self.team_id),
        }

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        try:
            message = self.message(channel, str(args.get("ts")))
        except KeyError:
            raise _SlackError("message_not_found") from None
        if message.user != self.bot_user_id:
            raise _SlackError("cant_update_message")
        blocks = self._blocks(args)
        message.blocks, message.text = blocks, str(args.get("text") or message.text)
        message.history.append(blocks)
        self._notify({"kind": "message_changed", "channel": channel, "ts": message.ts})
        return {
            "channel": channel,
            "ts": message.ts,
            "text": message.text,
            "message": message.as_slack(self.bot_id, self.team_id),
        }

    def _m_chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        try:
            message = self.message(channel, str(args.get("ts")))
        except KeyError:
            raise _SlackError("message_not_found") from None
        message.deleted = True
        self._notify({"kind": "message_deleted", "channel": channel, "ts": message.ts})
        return {"channel": channel, "ts": message.ts}

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        user = str(args.get("user") or "")
        if user not in self.users:
            raise _SlackError("user_not_found")
        blocks = self._blocks(args)
        ts = self._next_ts()
        self.ephemerals.append(
            Ephemeral(
                channel,
                user,
                str(args.get("text") or ""),
                blocks or None,
                args.get("thread_ts"),
                "api",
                ts,
            )
        )
        self._notify({"kind": "ephemeral", "channel": channel, "user": user, "ts": ts})
        return {"message_ts": ts}

    def _m_chat_getPermalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        ts = str(args.get("message_ts") or "")
        try:
            self.message(channel, ts)
        except KeyError:
            raise _SlackError("message_not_found") from None
        return {
            "channel": channel,
            "permalink": f"{self.url}/archives/{channel}/p{ts.replace('.', '')}",
        }

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user") or ""))
        if user is None:
            raise _SlackError("user_not_found")
        return {"user": user}

    def _m_usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = str(args.get("usergroup") or "")
        if group not in self.usergroups:
            raise _SlackError("no_such_subteam")
        return {"users": self.usergroups[group]}

    def _m_conversations_members(self, args: dict[str, Any]) -> dict[str, Any]:
        self._channel(args)
        return {"members": sorted(self.users), "response_metadata": {"next_cursor": ""}}

    def _use_trigger(self, trigger_id: str) -> None:
        entry = self._triggers.get(trigger_id)
        if entry is None:
            raise _SlackError("invalid_trigger_id")
        issued, used = entry
        if used:
            raise _SlackError("exchanged_trigger_id")
        if self.clock() - issued > TRIGGER_TTL_SECONDS:
            raise _SlackError("expired_trigger_id")
        self._triggers[trigger_id] = (issued, True)

    def _store_view(self, user: str, view: dict[str, Any], view_id: str | None = None) -> View:
        errors = validate_view(view)
        if errors:
            raise _SlackError("invalid_arguments", errors)
        view_id = view_id or f"V{next(self._ids):010d}"
        stored = View(view_id, user, view, hash=f"{time.time_ns()}.{next(self._ids)}")
        self.views[view_id] = stored
        return stored

    def _view_body(self, view: View) -> dict[str, Any]:
        return {"view": {"id": view.id, "team_id": self.team_id, "hash": view.hash, **view.view}}

    def _m_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger_id = str(args.get("trigger_id") or "")
        view = args.get("view")
        if not trigger_id or not isinstance(view, dict):
            raise _SlackError("invalid_arguments")
        self._use_trigger(trigger_id)
        user = self._contexts.get(trigger_id, _Context("unknown", "", "")).user
        stored = self._store_view(user, view)
        self._notify({"kind": "view_opened", "view_id": stored.id, "user": user})
        return self._view_body(stored)

    def _m_views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._m_views_open(args)

    def _m_views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = str(args.get("view_id") or "")
        if view_id not in self.views:
            raise _SlackError("not_found")
        current = self.views[view_id]
        if args.get("hash") and args["hash"] != current.hash:
            raise _SlackError("hash_conflict")
        view = args.get("view")
        if not isinstance(view, dict):
            raise _SlackError("invalid_arguments")
        stored = self._store_view(current.user, view, view_id)
        self._notify({"kind": "view_updated", "view_id": view_id, "user": current.user})
        return self._view_body(stored)

    def _m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = args.get("filename")
        length = args.get("length")
        if not filename or length is None:
            raise _SlackError("invalid_arguments")
        file_id = f"F{next(self._ids):010d}"
        self.files[file_id] = {
            "id": file_id,
            "name": filename,
            "length": int(length),
            "content": None,
        }
        return {"upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files")
        if not isinstance(files, list) or not files:
            raise _SlackError("invalid_arguments")
        shared = []
        for entry in files:
            stored = self.files.get(str(entry.get("id")))
            if stored is None or stored["content"] is None:
                raise _SlackError("file_not_found")
            stored["title"] = entry.get("title") or stored["name"]
            shared.append({"id": stored["id"], "name": stored["name"], "title": stored["title"]})
        channel = args.get("channel_id")
        if channel:
            channel = self._channel(args, "channel_id")
            thread_ts = args.get("thread_ts") or None
            message = Message(
                channel,
                self._next_ts(),
                self.bot_user_id,
                str(args.get("initial_comment") or ""),
                [],
                thread_ts,
                files=shared,
            )
            self.messages[channel].append(message)
            self._notify(
                {"kind": "message", "channel": channel, "ts": message.ts, "thread_ts": thread_ts}
            )
        return {"files": shared}

    async def _upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        if file_id not in self.files:
            return web.Response(status=404, text="not found")
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            part = form.get("file") or form.get("filename")
            file_field = getattr(part, "file", None)
            content = file_field.read() if file_field is not None else str(part or "").encode()
        else:
            content = await request.read()
        self.files[file_id]["content"] = content
        return web.Response(text=f"OK - {len(content)}")

    # --- response_url -------------------------------------------------------------------------
    async def _hook(self, request: web.Request) -> web.Response:
        entry = self._response_urls.get(request.match_info["hook_id"])
        if entry is None:
            return web.Response(status=404, text="no_such_url")
        if self.clock() - entry.issued_at > RESPONSE_URL_TTL_SECONDS:
            return web.Response(status=404, text="expired_url")
        if entry.uses >= RESPONSE_URL_MAX_USES:
            return web.Response(status=404, text="used_url")
        entry.uses += 1
        try:
            data = json.loads(await request.read())
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        try:
            self._apply_message_reply(entry.context, data, via="response_url")
        except _SlackError as exc:
            return web.Response(status=400, text=exc.error)
        return web.Response(text="ok")

    def _apply_message_reply(self, ctx: _Context, data: dict[str, Any], *, via: str) -> None:
        blocks = data.get("blocks")
        if blocks is not None:
            errors = validate_message_blocks(blocks)
            if errors:
                raise _SlackError("invalid_blocks", errors)
        text = str(data.get("text") or "")
        if ctx.ephemeral_ts and (data.get("replace_original") or data.get("delete_original")):
            # Slack lets an app replace or delete, through the response_url, the ephemeral
            # message whose button was clicked; nobody else ever saw it.
            shown = next(
                e for e in self.ephemerals if e.ts == ctx.ephemeral_ts and e.user == ctx.user
            )
            if data.get("delete_original"):
                self.ephemerals.remove(shown)
            else:
                shown.text, shown.blocks = text, list(blocks or [])
            self._notify(
                {"kind": "ephemeral", "channel": ctx.channel, "user": ctx.user, "ts": shown.ts}
            )
            return
        if data.get("delete_original") and ctx.message_ts:
            self.message(ctx.channel, ctx.message_ts).deleted = True
            self._notify({"kind": "message_deleted", "channel": ctx.channel, "ts": ctx.message_ts})
            return
        if data.get("replace_original") and ctx.message_ts:
            message = self.message(ctx.channel, ctx.message_ts)
            message.text, message.blocks = text, list(blocks or [])
            message.history.append(message.blocks)
            self._notify({"kind": "message_changed", "channel": ctx.channel, "ts": ctx.message_ts})
            return
        if not text and not blocks:
            return
        if data.get("response_type") == "in_channel":
            message = Message(
                ctx.channel,
                self._next_ts(),
                self.bot_user_id,
                text,
                list(blocks or []),
                data.get("thread_ts"),
            )
            self.messages.setdefault(ctx.channel, []).append(message)
            self._notify(
                {
                    "kind": "message",
                    "channel": ctx.channel,
                    "ts": message.ts,
                    "thread_ts": message.thread_ts,
                }
            )
        else:
            ts = self._next_ts()
            self.ephemerals.append(
                Ephemeral(ctx.channel, ctx.user, text, blocks, data.get("thread_ts"), via, ts)
            )
            self._notify({"kind": "ephemeral", "channel": ctx.channel, "user": ctx.user, "ts": ts})

    # --- requests to the app ------------------------------------------------------------------
    def sign(self, body: bytes, timestamp: int) -> str:
        base = b"v0:" + str(timestamp).encode() + b":" + body
        return "v0=" + hmac.new(self.signing_secret.encode(), base, hashlib.sha256).hexdigest()

    def signed_headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        ts = int(self.clock()) if timestamp is None else timestamp
        return {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": self.sign(body, ts),
        }

    def _issue(self, ctx: _Context) -> tuple[str, str]:
        n = next(self._ids)
        trigger_id = f"{n}.{self.team_id[1:]}.{hashlib.sha1(str(n).encode()).hexdigest()[:24]}"
        hook_id = f"{self.team_id}/{n}/{hashlib.sha1(f'hook{n}'.encode()).hexdigest()[:24]}"
        self._triggers[trigger_id] = (self.clock(), False)
        self._contexts[trigger_id] = ctx
        self._response_urls[hook_id] = _ResponseUrl(ctx, self.clock())
        return trigger_id, f"{self.url}/hooks/{hook_id}"

    def _user(self, user_id: str) -> dict[str, Any]:
        name = self.users.get(user_id, {}).get("name", user_id.lower())
        return {"id": user_id, "username": name, "name": name, "team_id": self.team_id}

    def _finish(self, body: bytes, ctx: _Context) -> tuple[bytes, dict[str, str]]:
        self._contexts["body:" + hashlib.sha256(body).hexdigest()] = ctx
        return body, self.signed_headers(body)

    def slash_command(
        self,
        *,
        user_id: str,
        text: str,
        channel_id: str = DEFAULT_CHANNEL,
        command: str = "/launch",
    ) -> tuple[bytes, dict[str, str]]:
        ctx = _Context("slash_command", user_id, channel_id)
        trigger_id, response_url = self._issue(ctx)
        fields = [
            ("token", "verification-token-deprecated"),
            ("team_id", self.team_id),
            ("team_domain", self.team_domain),
            ("channel_id", channel_id),
            ("channel_name", self.channels.get(channel_id, "unknown")),
            ("user_id", user_id),
            ("user_name", self._user(user_id)["name"]),
            ("command", command),
            ("text", text),
            ("api_app_id", self.app_id),
            ("is_enterprise_install", "false"),
            ("response_url", response_url),
            ("trigger_id", trigger_id),
        ]
        return self._finish(urlencode(fields).encode(), ctx)

    def _interaction(self, payload: dict[str, Any], ctx: _Context) -> tuple[bytes, dict[str, str]]:
        return self._finish(urlencode({"payload": json.dumps(payload)}).encode(), ctx)

    def _message_payload(
        self,
        *,
        user_id: str,
        channel_id: str,
        message: Message,
        blocks: list[dict[str, Any]],
        actions: list[dict[str, Any]],
        state: dict[str, dict[str, Any]] | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        ctx = _Context("block_actions", user_id, channel_id, message_ts=message.ts)
        trigger_id, response_url = self._issue(ctx)
        container: dict[str, Any] = {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        }
        slack_message = message.as_slack(self.bot_id, self.team_id)
        slack_message["blocks"] = blocks
        if message.thread_ts:
            container["thread_ts"] = message.thread_ts
            slack_message["parent_user_id"] = self.bot_user_id
        payload = {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": self.app_id,
            "token": "verification-token-deprecated",
            "container": container,
            "trigger_id": trigger_id,
            "team": {"id": self.team_id, "domain": self.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel_id, "name": self.channels.get(channel_id, "unknown")},
            "message": slack_message,
            "state": {"values": state if state is not None else _state_values(blocks)},
            "response_url": response_url,
            "actions": actions,
        }
        return self._interaction(payload, ctx)

    def checkbox_click(
        self,
        *,
        user_id: str,
        channel_id: str,
        message_ts: str,
        toggle_value: str,
        action_id: str | None = None,
        block_id: str | None = None,
        view_blocks: list[dict[str, Any]] | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """One user ticking or unticking one option, from the view their client shows (default: the
        current message; pass an older version of its blocks to play a stale client)."""
        message = self.message(channel_id, message_ts)
        blocks = json.loads(json.dumps(view_blocks if view_blocks is not None else message.blocks))
        for block in blocks:
            for element in _elements(block):
                if element.get("type") != "checkboxes":
                    continue
                if action_id is not None and element.get("action_id") != action_id:
                    continue
                if block_id is not None and block.get("block_id") != block_id:
                    continue
                option = next((o for o in element["options"] if o["value"] == toggle_value), None)
                if option is None:
                    continue
                selected = list(element.get("initial_options", []))
                if option in selected:
                    selected.remove(option)
                else:
                    selected.append(option)
                action = {
                    "type": "checkboxes",
                    "action_id": element["action_id"],
                    "block_id": block["block_id"],
                    "selected_options": selected,
                    "action_ts": self._next_ts(),
                }
                element["__selected"] = selected
                state = _state_values(blocks)
                element.pop("__selected")
                return self._message_payload(
                    user_id=user_id,
                    channel_id=channel_id,
                    message=message,
                    blocks=blocks,
                    actions=[action],
                    state=state,
                )
        raise KeyError(f"no checkboxes option {toggle_value!r} in that message")

    def _button_action(
        self,
        blocks: list[dict[str, Any]],
        *,
        action_id: str,
        value: str | None,
        block_id: str | None,
    ) -> dict[str, Any]:
        """The ``actions[0]`` Slack sends for a press of that button of ``blocks``."""
        for block in blocks:
            for element in _elements(block):
                if element.get("type") != "button" or element.get("action_id") != action_id:
                    continue
                if value is not None and element.get("value") != value:
                    continue
                if block_id is not None and block.get("block_id") != block_id:
                    continue
                action = {
                    "action_id": action_id,
                    "block_id": block.get("block_id"),
                    "text": element["text"],
                    "value": element.get("value"),
                    "type": "button",
                    "action_ts": self._next_ts(),
                }
                if "style" in element:
                    action["style"] = element["style"]
                return action
        raise KeyError(f"no button {action_id!r} there")

    def button_click(
        self,
        *,
        user_id: str,
        channel_id: str,
        message_ts: str,
        action_id: str,
        value: str | None = None,
        block_id: str | None = None,
        view_blocks: list[dict[str, Any]] | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """A press of a button of the message; ``view_blocks``: the older version of the message a
        client still shows (a second press of Approve that has since become Revoke). Slack sends
        that press as it was made, with the message as it is now."""
        message = self.message(channel_id, message_ts)
        action = self._button_action(
            view_blocks if view_blocks is not None else message.blocks,
            action_id=action_id,
            value=value,
            block_id=block_id,
        )
        return self._message_payload(
            user_id=user_id,
            channel_id=channel_id,
            message=message,
            blocks=message.blocks,
            actions=[action],
        )

    def overflow_click(
        self,
        *,
        user_id: str,
        channel_id: str,
        message_ts: str,
        action_id: str,
        value: str,
        block_id: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """A choice in an overflow ("⋯") menu of the message, as Slack sends it: the chosen option
        in ``selected_option`` (an overflow keeps no state in ``state.values``)."""
        message = self.message(channel_id, message_ts)
        for block in message.blocks:
            if block_id is not None and block.get("block_id") != block_id:
                continue
            for element in _elements(block):
                if element.get("type") != "overflow" or element.get("action_id") != action_id:
                    continue
                option = next((o for o in element["options"] if o["value"] == value), None)
                if option is None:
                    continue
                action = {
                    "type": "overflow",
                    "action_id": action_id,
                    "block_id": block.get("block_id") or self._generated_block_id(block),
                    "selected_option": option,
                    "action_ts": self._next_ts(),
                }
                return self._message_payload(
                    user_id=user_id,
                    channel_id=channel_id,
                    message=message,
                    blocks=message.blocks,
                    actions=[action],
                )
        raise KeyError(f"no overflow option {value!r} of {action_id!r} in that message")

    @staticmethod
    def _generated_block_id(block: dict[str, Any]) -> str:
        """The block_id Slack makes up for a block sent without one (short, stable per content)."""
        return hashlib.sha256(json.dumps(block, sort_keys=True).encode()).hexdigest()[:5]

    def ephemeral_button_click(
        self,
        *,
        user_id: str,
        ephemeral_ts: str,
        action_id: str,
        value: str | None = None,
        block_id: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """A button on an ephemeral message, clicked by the one user who sees it. Slack sends no
        ``message`` for these; the container says ``is_ephemeral``."""
        ephemeral = next(
            (e for e in self.ephemerals if e.ts == ephemeral_ts and e.user == user_id), None
        )
        if ephemeral is None:
            raise KeyError(f"no ephemeral message {ephemeral_ts!r} for {user_id}")
        blocks = ephemeral.blocks or []
        action = self._button_action(blocks, action_id=action_id, value=value, block_id=block_id)
        ctx = _Context("block_actions", user_id, ephemeral.channel, ephemeral_ts=ephemeral.ts)
        trigger_id, response_url = self._issue(ctx)
        payload = {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": self.app_id,
            "token": "verification-token-deprecated",
            "container": {
                "type": "message",
                "message_ts": ephemeral.ts,
                "channel_id": ephemeral.channel,
                "is_ephemeral": True,
            },
            "trigger_id": trigger_id,
            "team": {"id": self.team_id, "domain": self.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {
                "id": ephemeral.channel,
                "name": self.channels.get(ephemeral.channel, "unknown"),
            },
            "state": {"values": _state_values(blocks)},
            "response_url": response_url,
            "actions": [action],
        }
        return self._interaction(payload, ctx)

    def view_submission(
        self, *, user_id: str, view_id: str, values: dict[str, dict[str, dict[str, Any]]]
    ) -> tuple[bytes, dict[str, str]]:
        view = self.views[view_id]
        if not view.open:
            raise KeyError(f"view {view_id} is closed")
        ctx = _Context("view_submission", user_id, "", view_id=view_id)
        trigger_id, _ = self._issue(ctx)
        payload = {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": self.team_domain},
            "user": self._user(user_id),
            "api_app_id": self.app_id,
            "token": "verification-token-deprecated",
            "trigger_id": trigger_id,
            "view": {
                "id": view_id,
                "team_id": self.team_id,
                "state": {"values": values},
                "hash": view.hash,
                "app_id": self.app_id,
                "bot_id": self.bot_id,
                **view.view,
            },
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self._interaction(payload, ctx)

    def view_closed(self, *, user_id: str, view_id: str) -> tuple[bytes, dict[str, str]]:
        view = self.views[view_id]
        ctx = _Context("view_closed", user_id, "", view_id=view_id)
        payload = {
            "type": "view_closed",
            "team": {"id": self.team_id, "domain": self.team_domain},
            "user": self._user(user_id),
            "api_app_id": self.app_id,
            "token": "verification-token-deprecated",
            "view": {"id": view_id, "team_id": self.team_id, "hash": view.hash, **view.view},
            "is_cleared": False,
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self._interaction(payload, ctx)

    def open_views(self, user_id: str) -> list[View]:
        return [v for v in self.views.values() if v.user == user_id and v.open]

    async def send(self, body: bytes, headers: dict[str, str]) -> SentRequest:
        """POST to the app's request URL like Slack does, then apply its answer as Slack would."""
        assert self.app_url, "app_url is not set"
        app_url = self.app_url

        async def over_http(b: bytes, h: dict[str, str]) -> tuple[int, str]:
            async with (
                aiohttp.ClientSession() as http,
                http.post(app_url, data=b, headers=h, timeout=aiohttp.ClientTimeout(total=10)) as r,
            ):
                return r.status, await r.text()

        return await self.deliver_to(over_http, body, headers)

    async def deliver_to(
        self, dispatch: Dispatch, body: bytes, headers: dict[str, str]
    ) -> SentRequest:
        started = time.perf_counter()
        status, text = await dispatch(body, headers)
        sent = SentRequest(status, text, time.perf_counter() - started)
        if sent.elapsed >= self.ack_deadline:
            # Slack stopped waiting: the request failed for the user, and the late ack is dropped.
            sent.error = "operation_timeout"
            return sent
        ctx = self._contexts.get("body:" + hashlib.sha256(body).hexdigest())
        if ctx is not None and status == 200:
            self._apply_ack(ctx, sent)
        return sent

    def _apply_ack(self, ctx: _Context, sent: SentRequest) -> None:
        data = sent.json
        if ctx.kind == "slash_command":
            if isinstance(data, dict):
                self._apply_message_reply(ctx, data, via="ack")
            elif sent.body:
                self._apply_message_reply(ctx, {"text": sent.body}, via="ack")
        elif ctx.kind == "view_submission" and ctx.view_id in self.views:
            view = self.views[ctx.view_id]
            action = data.get("response_action") if isinstance(data, dict) else None
            if action == "errors":
                view.errors = dict(data.get("errors") or {})
            elif action == "update" and isinstance(data, dict):
                self._store_view(view.user, data["view"], view.id)
            else:  # "clear", or an empty 200: Slack closes the modal
                view.open = False
                self._notify({"kind": "view_closed", "view_id": view.id, "user": view.user})
        elif ctx.kind == "view_closed" and ctx.view_id in self.views:
            self.views[ctx.view_id].open = False


class _SlackError(Exception):
    def __init__(self, error: str, details: list[str] | None = None) -> None:
        self.error, self.details = error, details or []
        super().__init__(error)


def _decode_json_args(args: dict[str, Any]) -> dict[str, Any]:
    # Form-encoded calls carry blocks/view/files as JSON strings; JSON calls carry them as values.
    out = dict(args)
    for key in ("blocks", "view", "files", "attachments"):
        if isinstance(out.get(key), str):
            try:
                out[key] = json.loads(out[key])
            except ValueError:
                raise _SlackError("invalid_arguments", [f"{key} is not valid JSON"]) from None
    return out


def _truthy(value: Any) -> bool:
    """A boolean argument as Slack reads it from a JSON or a form-encoded call."""
    return value is True or str(value).lower() in ("true", "1")


def _elements(block: dict[str, Any]) -> list[dict[str, Any]]:
    elements = list(block.get("elements") or [])
    if "accessory" in block:
        elements.append(block["accessory"])
    if "element" in block:
        elements.append(block["element"])
    return [e for e in elements if isinstance(e, dict)]


def _state_values(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """state.values as Slack fills it: every stateful element, with the clicker's current selection."""
    values: dict[str, dict[str, Any]] = {}
    for block in blocks:
        for element in _elements(block):
            if element.get("type") == "checkboxes" and block.get("block_id"):
                values.setdefault(block["block_id"], {})[element["action_id"]] = {
                    "type": "checkboxes",
                    "selected_options": element.get(
                        "__selected", element.get("initial_options", [])
                    ),
                }
    return values
