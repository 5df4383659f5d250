"""The playground server: the Slack stand-in plus the browser page's routes, with the real bot as a child process."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import dataclasses
import hashlib
import hmac
import json
import mimetypes
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import sys
import tempfile
import time
import tomllib
from collections.abc import Awaitable, Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

from bot.core.ids import SLASH_COMMAND
from bot.core.mrkdwn import escape
from bot.standin import Message, SlackStandIn
from bot.standin.engine import DEFAULT_CHANNEL

STATIC = Path(__file__).with_name("static")
SOURCE_ROOT = (
    Path(__file__).resolve().parents[2]
)  # so the child finds `bot` even when not installed
DEFAULT_DB = Path("playground.db")
CHANNEL = DEFAULT_CHANNEL
SLACKBOT = "USLACKBOT"
BOT_START_SECONDS = 60.0
# A free port can be taken by another process before the bot binds it: pick again, a few times.
BOT_PORT_TRIES = 3
BOT_STOP_SECONDS = 20.0
SSE_KEEPALIVE_SECONDS = 15.0
# Saving the channel on every event would mean one SQLite write per checkbox render; a burst of
# clicks shares one write instead.
SNAPSHOT_DEBOUNCE_SECONDS = 0.3
# Slack answers a slash command the app did not ack in 3 s with "operation_timeout".
ACK_TIMEOUT_SECONDS = 3.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class PlaygroundUser:
    """A person in the user switcher; ``role`` is the ``[roles.<id>]`` they hold, if any."""

    id: str
    name: str
    real_name: str
    title: str
    role: str | None = None

    @property
    def label(self) -> str:
        return f"{self.real_name} ({self.title})"


PLAYGROUND_USERS: tuple[PlaygroundUser, ...] = (
    PlaygroundUser("U0ALICE001", "alice", "Alice Chen", "engineer"),
    PlaygroundUser("U0CAROL001", "carol", "Carol Diaz", "CTO", "cto"),
    PlaygroundUser("U0HANK0001", "hank", "Hank Ito", "Head of Trading", "head_of_trading"),
    PlaygroundUser("U0SAM00001", "sam", "Sam Reyes", "Security Officer", "security_officer"),
    PlaygroundUser("U0DEE00001", "dee", "Dee Park", "DevOps Lead", "devops_lead"),
    PlaygroundUser("U0PAT00001", "pat", "Pat Lee", "Product Owner", "product_owner"),
    PlaygroundUser("U0MALLORY1", "mallory", "Mallory", "outsider"),
)


class PlaygroundError(Exception):
    """The playground could not start (the bot process failed); the message says why."""


# --- the bot's config -----------------------------------------------------------------------------
def default_config(users: tuple[PlaygroundUser, ...] = PLAYGROUND_USERS) -> dict[str, Any]:
    """Roles, contacts and an escalation path for the playground's people (as launchbot.toml would)."""
    by_role = {u.role: u for u in users if u.role}
    phones = {u.id: f"+1 555 01{n:02d}" for n, u in enumerate(users)}

    def contact(role: str) -> dict[str, str]:
        user = by_role[role]
        return {"name": user.real_name, "user": user.id, "phone": phones[user.id]}

    return {
        "roles": {role: {"title": u.title, "users": [u.id]} for role, u in by_role.items()},
        "contacts": {
            "internal": {
                "Trading Lead": contact("head_of_trading"),
                "DevOps Lead": contact("devops_lead"),
                "Security Lead": contact("security_officer"),
                "Product Owner": contact("product_owner"),
                "CTO": contact("cto"),
            },
            "external": {
                "AWS Support": {"contact": "Rehearsal: no real vendor is called"},
                "Exchange Support": {"contact": "+44 20 7946 0000 (fictional)"},
            },
        },
        "escalation": {
            "poll_seconds": 5,
            "levels": [
                {
                    "name": "On-call engineer",
                    "users": [by_role["devops_lead"].id],
                    "wait_minutes": 5,
                },
                {
                    "name": "Head of Trading",
                    "users": [by_role["head_of_trading"].id],
                    "wait_minutes": 10,
                },
                {"name": "CTO", "users": [by_role["cto"].id], "wait_minutes": 15},
            ],
        },
        "killswitch": {"allowed_roles": ["cto", "head_of_trading"]},
    }


def bot_config(
    base: dict[str, Any], *, sim_url: str, killswitch_secret: str, source: Path | None
) -> dict[str, Any]:
    """``base`` with the outside systems pointed at the playground's simulators: a rehearsal must
    never fire a real kill switch or page a real on-call, even with the team's own launchbot.toml."""
    config: dict[str, Any] = json.loads(json.dumps(base))
    template = config.get("template")
    if isinstance(template, str) and source is not None:
        # The generated file lives elsewhere: resolve the template as the original file would.
        config["template"] = str((source.parent / template).resolve())
    killswitch = config.setdefault("killswitch", {})
    killswitch.update(url=f"{sim_url}/killswitch", secret=killswitch_secret, tries=2)
    killswitch["backoff_seconds"] = 0.2
    pagerduty = config.setdefault("pagerduty", {})
    pagerduty.update(
        url=f"{sim_url}/pagerduty", routing_key="PLAYGROUND0000000000000000000000", tries=2
    )
    pagerduty["backoff_seconds"] = 0.2
    return config


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dump_toml(data: dict[str, Any], prefix: tuple[str, ...] = ()) -> str:
    """Enough TOML for a launchbot config: tables, strings, numbers, booleans, arrays, inline tables."""
    scalars = [
        f"{_toml_key(k)} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)
    ]
    lines = [f"[{'.'.join(_toml_key(p) for p in prefix)}]"] if prefix and scalars else []
    lines += scalars
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(dump_toml(value, (*prefix, key)))
    return "\n".join(lines) + "\n"


def team_config_path() -> Path | None:
    """The team's own config, if there is one (LAUNCHBOT_CONFIG, else ./launchbot.toml)."""
    configured = os.environ.get("LAUNCHBOT_CONFIG")
    if configured:
        return Path(configured)
    local = Path("launchbot.toml")
    return local if local.is_file() else None


def holders_of(config: dict[str, Any], known: set[str]) -> list[PlaygroundUser]:
    """Role holders named by a team config who are not playground people, so one can act as them."""
    extra: list[PlaygroundUser] = []
    for role_id, role in (config.get("roles") or {}).items():
        for user_id in role.get("users") or []:
            if user_id not in known:
                known.add(user_id)
                title = str(role.get("title") or role_id)
                extra.append(PlaygroundUser(user_id, user_id.lower(), user_id, title, role_id))
    return extra


# --- the channel, kept in the playground's SQLite file -----------------------------------------------
class ChannelStore:
    """The stand-in's channel (messages and shared files) saved in the playground's SQLite file beside
    the bot's tables, so a restarted playground shows the messages the bot's database refers to."""

    TABLE = "playground_slack"

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        with closing(sqlite3.connect(self.path, timeout=30)) as conn:
            try:
                row = conn.execute(
                    f"SELECT value FROM {self.TABLE} WHERE key = 'channel'"
                ).fetchone()
            except sqlite3.OperationalError:  # an older file, or one the bot made alone
                return None
        return json.loads(row[0]) if row else None

    def save(self, state: dict[str, Any]) -> None:
        with closing(sqlite3.connect(self.path, timeout=30)) as conn, conn:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            conn.execute(
                f"INSERT INTO {self.TABLE} (key, value) VALUES ('channel', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (json.dumps(state),),
            )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """Runs in the bot's child process before exec: if the playground dies without stopping it
    (SIGKILL, a crash), the kernel sends the bot SIGTERM instead of leaving it holding the files."""
    if sys.platform == "linux":
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=status)


class Playground:
    """The stand-in on ``host:port`` with the page's routes, and ``launchbot serve`` wired to it."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        db_path: Path = DEFAULT_DB,
        fresh: bool = False,
        config_path: Path | None = None,
        users: tuple[PlaygroundUser, ...] = PLAYGROUND_USERS,
    ) -> None:
        self.host, self.port = host, port
        self.db_path = db_path.resolve()
        self.fresh = fresh
        self.config_path = config_path
        self.users = list(users)
        self.standin = SlackStandIn(
            bot_token="xoxb-playground-" + secrets.token_hex(16),
            signing_secret=secrets.token_hex(32),
        )
        self.store = ChannelStore(self.db_path)
        self.local_messages: list[dict[str, Any]] = []
        self.local_ephemerals: list[dict[str, Any]] = []
        self.sim_events: list[dict[str, Any]] = []
        self.killswitch_secret = secrets.token_hex(32)
        self.ready = False
        self.proc: asyncio.subprocess.Process | None = None
        self._clients: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._dirty = asyncio.Event()
        self._tmp: Path | None = None
        self._last_local_ts = 0.0
        self._output: list[str] = []
        self._add_routes(self.standin.web_app())

    # --- lifecycle ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{shown}:{self.port}/"

    @property
    def local_base(self) -> str:
        """The stand-in as the bot reaches it: loopback, whatever address the page listens on."""
        return f"http://127.0.0.1:{self.port}"

    def _prepare(self) -> tuple[Path | None, dict[str, Any]]:
        """Files and people before anything listens: --fresh, the team config, the saved channel."""
        if self.fresh:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(str(self.db_path) + suffix).unlink(missing_ok=True)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        team = self.config_path if self.config_path is not None else team_config_path()
        base = self._base_config(team)
        for user in self.users:
            self.standin.add_user(user.id, user.name, user.real_name, user.name)
        self._restore(self.store.load())
        return team, base

    async def start(self) -> None:
        team, base = self._prepare()
        await self.standin.start(self.host, self.port)
        if self.port == 0:
            self.port = int(self.standin.url.rsplit(":", 1)[1])
        self._tasks.append(asyncio.create_task(self._pump()))
        self._tasks.append(asyncio.create_task(self._persist()))
        # The simulators' URLs carry the port, known only now that the stand-in listens.
        config = bot_config(
            base,
            sim_url=f"{self.local_base}/sim",
            killswitch_secret=self.killswitch_secret,
            source=team,
        )
        await self._start_bot(dump_toml(config))

    async def stop(self) -> None:
        await self._stop_bot()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.standin.messages.get(CHANNEL) or self.local_messages:
            await asyncio.to_thread(self.store.save, self._snapshot())
        for queue in self._clients:
            queue.put_nowait(None)  # let every open event stream end, so the server can stop
        await self.standin.stop()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    async def wait_bot_exit(self) -> int:
        assert self.proc is not None
        return await self.proc.wait()

    def _base_config(self, team: Path | None) -> dict[str, Any]:
        """The team's config if there is one (its role holders join the switcher), else the
        playground's own."""
        if team is None:
            return default_config(tuple(self.users))
        with team.open("rb") as f:
            base = tomllib.load(f)
        self.users += holders_of(base, {u.id for u in self.users})
        return base

    async def _start_bot(self, config: str) -> None:
        self._tmp = Path(tempfile.mkdtemp(prefix="launchbot-playground-"))
        config_file = self._tmp / "launchbot.toml"
        config_file.write_text(config, encoding="utf-8")
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SLACK_", "DATABASE_URL", "LAUNCHBOT_CONFIG"))
        }
        env.update(
            SLACK_BOT_TOKEN=self.standin.bot_token,
            SLACK_SIGNING_SECRET=self.standin.signing_secret,
            SLACK_API_URL=f"{self.local_base}/api/",
            DATABASE_URL=f"sqlite+aiosqlite:///{self.db_path}",
            LAUNCHBOT_CONFIG=str(config_file),
            PYTHONPATH=os.pathsep.join(p for p in (str(SOURCE_ROOT), env.get("PYTHONPATH")) if p),
        )
        env.setdefault("LAUNCHBOT_LOG_LEVEL", "WARNING")
        for _ in range(BOT_PORT_TRIES):
            if await self._spawn_bot(env, _free_port()):
                return
        raise PlaygroundError("the bot found no free port to listen on")

    async def _spawn_bot(self, env: dict[str, str], bot_port: int) -> bool:
        """Start ``launchbot serve`` on ``bot_port`` and wait for its health; False if another
        process took the port between choosing and binding it (then the caller picks another)."""
        self.standin.app_url = f"http://127.0.0.1:{bot_port}/slack/events"
        # Its own session: Ctrl-C reaches the playground only, which then stops the bot in order.
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(bot_port),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self._output = []
        self._tasks.append(asyncio.create_task(self._forward_output()))
        deadline = time.monotonic() + BOT_START_SECONDS
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc.returncode is not None:
                    await asyncio.sleep(0.2)  # let the last lines arrive
                    if any("address already in use" in line for line in self._output):
                        return False
                    raise PlaygroundError(
                        "the bot exited while starting:\n" + "\n".join(self._output[-20:])
                    )
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(
                        f"http://127.0.0.1:{bot_port}/healthz",
                        timeout=aiohttp.ClientTimeout(total=2),
                    ) as r:
                        if r.status == 200:
                            self.ready = True
                            self._publish({"kind": "ready"})
                            return True
                await asyncio.sleep(0.1)
        raise PlaygroundError(f"the bot did not answer within {BOT_START_SECONDS:.0f} s")

    async def _forward_output(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            self._output = [*self._output[-50:], line]
            # The bot's own URL is internal here; printing it would suggest opening the wrong page.
            if line.startswith(("launchbot: serving", "launchbot: stopping")):
                continue
            print(f"  bot | {line}", file=sys.stderr, flush=True)  # noqa: T201

    async def _stop_bot(self) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), BOT_STOP_SECONDS)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    # --- change feed and persistence -------------------------------------------------------------
    def _publish(self, event: dict[str, Any]) -> None:
        for queue in self._clients:
            queue.put_nowait(event)
        self._dirty.set()

    async def _pump(self) -> None:
        feed = self.standin.subscribe()
        while True:
            self._publish(await feed.get())

    async def _persist(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(SNAPSHOT_DEBOUNCE_SECONDS)
            self._dirty.clear()
            await asyncio.to_thread(self.store.save, self._snapshot())

    def _snapshot(self) -> dict[str, Any]:
        messages = []
        for message in self.standin.messages.get(CHANNEL, []):
            data = dataclasses.asdict(message)
            data["edits"] = max(len(data.pop("history")) - 1, 0)
            messages.append(data)
        files = {
            file_id: {
                **{k: v for k, v in f.items() if k != "content"},
                "content": base64.b64encode(f["content"]).decode() if f["content"] else None,
            }
            for file_id, f in self.standin.files.items()
        }
        return {"version": 1, "messages": messages, "files": files, "local": self.local_messages}

    def _restore(self, state: dict[str, Any] | None) -> None:
        if not state:
            return
        # The stand-in numbers new files from 1 again: restored ones get ids it can never issue.
        renamed = {
            old: old if old.startswith("FP") else f"FP{secrets.token_hex(3).upper()}{old[1:]}"
            for old in state.get("files", {})
        }
        for old, f in state.get("files", {}).items():
            content = base64.b64decode(f["content"]) if f.get("content") else None
            self.standin.files[renamed[old]] = {**f, "id": renamed[old], "content": content}
        for data in state.get("messages", []):
            edits = int(data.pop("edits", 0))
            files = [{**f, "id": renamed.get(f["id"], f["id"])} for f in data.pop("files", [])]
            message = Message(**data, files=files)
            message.history = [message.blocks] * (edits + 1)
            self.standin.messages.setdefault(message.channel, []).append(message)
        self.local_messages = list(state.get("local", []))
        self._last_local_ts = max((float(m["ts"]) for m in self.local_messages), default=0.0)

    # --- routes -----------------------------------------------------------------------------------
    def _add_routes(self, app: web.Application) -> None:
        app.router.add_get("/", self._index)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/events", self._events)
        app.router.add_get("/state", self._state)
        app.router.add_post("/act/command", self._command)
        app.router.add_post("/act/click", self._click)
        app.router.add_post("/act/submit", self._submit)
        app.router.add_post("/act/close", self._close)
        app.router.add_get("/files/{file_id}", self._file)
        app.router.add_get("/archives/{channel}/{p}", self._archives)
        app.router.add_post("/sim/killswitch", self._sim_killswitch)
        app.router.add_post("/sim/pagerduty", self._sim_pagerduty)

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        # Only the folder's own files, by exact name: no path ever reaches the file system.
        if name not in {p.name for p in STATIC.iterdir() if p.is_file()}:
            raise web.HTTPNotFound()
        return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: one line per change in the stand-in; the page re-reads /state."""
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._clients.add(queue)
        try:
            await response.write(b'retry: 1000\ndata: {"kind": "hello"}\n\n')
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), SSE_KEEPALIVE_SECONDS)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if event is None:
                    break
                await response.write(b"data: " + json.dumps(event).encode() + b"\n\n")
        except ConnectionResetError:
            pass  # the tab went away
        finally:
            self._clients.discard(queue)
        return response

    def _user_json(self, user_id: str) -> dict[str, Any]:
        user = self.standin.users.get(user_id, {})
        known = next((u for u in self.users if u.id == user_id), None)
        return {
            "id": user_id,
            "name": user.get("name", user_id),
            "real_name": user.get("real_name", user_id),
            "display_name": user.get("profile", {}).get("display_name") or user.get("name"),
            "title": known.title if known else None,
            "label": known.label if known else None,
            "is_bot": user_id == self.standin.bot_user_id,
        }

    def _message_json(self, message: Message) -> dict[str, Any]:
        return {
            "id": f"s{message.ts}",
            "ts": message.ts,
            "thread_ts": message.thread_ts,
            "user": message.user,
            "text": message.text,
            "blocks": message.blocks,
            "broadcast": message.broadcast,
            "edited": len(message.history) > 1,
            "files": [
                {
                    "id": f["id"],
                    "name": f.get("name"),
                    "title": f.get("title") or f.get("name"),
                    "size": len(self.standin.files.get(f["id"], {}).get("content") or b""),
                    "url": f"/files/{quote(f['id'])}",
                }
                for f in message.files
            ],
        }

    async def _state(self, request: web.Request) -> web.Response:
        me = request.query.get("user") or self.users[0].id
        messages = [
            self._message_json(m) for m in self.standin.messages.get(CHANNEL, []) if not m.deleted
        ]
        messages += self.local_messages
        messages.sort(key=lambda m: float(m["ts"]))
        ephemerals = [
            {
                "id": f"e{e.ts}",
                "ts": e.ts,
                "thread_ts": e.thread_ts,
                "user": self.standin.bot_user_id,
                "text": e.text,
                "blocks": e.blocks or [],
                "ephemeral": True,
            }
            for e in self.standin.ephemerals
            if e.user == me and e.channel == CHANNEL
        ]
        ephemerals += [e for e in self.local_ephemerals if e["to"] == me]
        users = [self._user_json(u) for u in self.standin.users]
        users.append({"id": SLACKBOT, "name": "slackbot", "real_name": "Slackbot", "is_bot": True})
        return web.json_response(
            {
                "me": me,
                "ready": self.ready,
                "channel": {"id": CHANNEL, "name": self.standin.channels[CHANNEL]},
                "bot_user_id": self.standin.bot_user_id,
                "people": [u.id for u in self.users],
                "users": users,
                "messages": messages,
                "ephemerals": sorted(ephemerals, key=lambda e: float(e["ts"])),
                "views": [
                    {"id": v.id, "hash": v.hash, "view": v.view, "errors": v.errors}
                    for v in self.standin.open_views(me)
                ],
                "sim_events": self.sim_events[-20:],
            }
        )

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

    def _next_local_ts(self) -> str:
        self._last_local_ts = max(time.time(), self._last_local_ts + 0.000001)
        return f"{self._last_local_ts:.6f}"

    def _slackbot_says(self, user: str, text: str, thread_ts: str | None = None) -> None:
        """What Slack itself shows the user (not the app): only visible to them, from Slackbot."""
        ts = self._next_local_ts()
        self.local_ephemerals.append(
            {
                "id": f"l{ts}",
                "ts": ts,
                "thread_ts": thread_ts,
                "user": SLACKBOT,
                "to": user,
                "text": text,
                "blocks": [],
                "ephemeral": True,
            }
        )
        self._publish({"kind": "ephemeral", "user": user, "ts": ts})

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

    async def _command(self, request: web.Request) -> web.Response:
        data, user = await self._body(request)
        text = str(data.get("text") or "").strip()
        thread_ts = str(data.get("thread_ts") or "") or None
        if not text:
            return _error(400, "empty message")
        if text.startswith("/"):
            command, _, rest = text.partition(" ")
            if thread_ts is not None:  # as in Slack: app commands do not run in threads
                self._slackbot_says(
                    user, f"`{escape(command)}` is not supported in threads. Sorry!", thread_ts
                )
                return web.json_response({"ok": False, "error": "not_in_thread"})
            if command != SLASH_COMMAND:
                self._slackbot_says(
                    user,
                    f"`{escape(command)}` is not a valid command. In this playground only `{SLASH_COMMAND}` is installed.",
                )
                return web.json_response({"ok": False, "error": "unknown_command"})
            body, headers = self.standin.slash_command(
                user_id=user, text=rest.strip(), channel_id=CHANNEL
            )
            result = await self._deliver(body, headers)
            if not result["ok"]:
                self._slackbot_says(
                    user, f'`{escape(command)}` failed with the error "{result["error"]}"'
                )
            return web.json_response(result)
        if thread_ts is not None and thread_ts not in self._all_ts():
            return _error(404, "no such thread")
        ts = self._next_local_ts()
        message: dict[str, Any] = {
            "id": f"l{ts}",
            "ts": ts,
            "thread_ts": thread_ts,
            "user": user,
            "text": escape(text),  # a person's typed text, as Slack stores it
            "blocks": [],
            "edited": False,
            "files": [],
        }
        self.local_messages.append(message)
        self._publish({"kind": "message", "channel": CHANNEL, "ts": ts, "thread_ts": thread_ts})
        return web.json_response({"ok": True, "ts": ts})

    def _all_ts(self) -> set[str]:
        live = {m.ts for m in self.standin.messages.get(CHANNEL, []) if not m.deleted}
        return live | {str(m["ts"]) for m in self.local_messages}

    async def _click(self, request: web.Request) -> web.Response:
        data, user = await self._body(request)
        kind = data.get("kind")
        ts = str(data.get("ts") or "")
        action_id = str(data.get("action_id") or "")
        value = data.get("value")
        block_id = data.get("block_id")
        channel = str(data.get("channel") or CHANNEL)
        stale_view: list[dict[str, Any]] | None = None
        if not data.get("ephemeral") and isinstance(block_id, str):
            stale_view = self._view_with(channel, ts, block_id)
        try:
            if kind == "button" and data.get("ephemeral"):
                body, headers = self.standin.ephemeral_button_click(
                    user_id=user,
                    ephemeral_ts=ts,
                    action_id=action_id,
                    value=value,
                    block_id=block_id,
                )
            elif kind == "button":
                body, headers = self.standin.button_click(
                    user_id=user,
                    channel_id=channel,
                    message_ts=ts,
                    action_id=action_id,
                    value=value,
                    block_id=block_id,
                    view_blocks=self._version_with_button(channel, ts, action_id, value),
                )
            elif kind == "checkbox" and not data.get("ephemeral"):
                body, headers = self.standin.checkbox_click(
                    user_id=user,
                    channel_id=channel,
                    message_ts=ts,
                    toggle_value=str(value),
                    action_id=action_id or None,
                    block_id=block_id,
                    view_blocks=stale_view,
                )
            else:
                return _error(
                    501, f"the playground cannot send {kind} actions yet (the bot uses none)"
                )
        except KeyError:
            return _error(404, "that message or element is gone (it was updated or deleted)")
        return web.json_response(await self._deliver(body, headers))

    def _view_with(self, channel: str, ts: str, block_id: str) -> list[dict[str, Any]] | None:
        """The version of the message the person's page showed, when it is no longer the latest:
        the page may be a moment behind a chat.update, and Slack then sends the click as that
        client saw it (its selected options), which the bot must reconcile."""
        try:
            message = self.standin.message(channel, ts)
        except KeyError:
            return None
        if any(b.get("block_id") == block_id for b in message.blocks):
            return None
        versions: list[list[dict[str, Any]]] = message.history
        return next(
            (v for v in reversed(versions) if any(b.get("block_id") == block_id for b in v)), None
        )

    def _version_with_button(
        self, channel: str, ts: str, action_id: str, value: Any
    ) -> list[dict[str, Any]] | None:
        """The newest version of the message holding that button, if the latest no longer does (a
        second press of Approve that has since become Revoke): Slack delivers that press too."""
        try:
            message = self.standin.message(channel, ts)
        except KeyError:
            return None

        def has(blocks: list[dict[str, Any]]) -> bool:
            return any(
                e.get("type") == "button"
                and e.get("action_id") == action_id
                and (value is None or e.get("value") == value)
                for b in blocks
                for e in [*(b.get("elements") or []), b.get("accessory") or {}]
                if isinstance(e, dict)
            )

        if has(message.blocks):
            return None
        versions: list[list[dict[str, Any]]] = message.history
        return next((v for v in reversed(versions) if has(v)), None)

    def _own_view(self, data: dict[str, Any], user: str) -> Any:
        view = self.standin.views.get(str(data.get("view_id") or ""))
        if view is None or view.user != user or not view.open:
            raise web.HTTPNotFound(text="no such open view for this user")
        return view

    async def _submit(self, request: web.Request) -> web.Response:
        data, user = await self._body(request)
        view = self._own_view(data, user)
        values = data.get("values") or {}
        if not isinstance(values, dict) or not all(isinstance(v, dict) for v in values.values()):
            return _error(400, "values must be {block_id: {action_id: {...}}}")
        view.errors = {}
        body, headers = self.standin.view_submission(user_id=user, view_id=view.id, values=values)
        result = await self._deliver(body, headers)
        # Errors and updates change the view without a stand-in event: tell the page.
        self._publish({"kind": "view_changed", "view_id": view.id, "user": user})
        return web.json_response({**result, "open": view.open, "errors": view.errors})

    async def _close(self, request: web.Request) -> web.Response:
        data, user = await self._body(request)
        view = self._own_view(data, user)
        result: dict[str, Any] = {"ok": True}
        if view.view.get("notify_on_close"):  # Slack tells the app only if it asked
            body, headers = self.standin.view_closed(user_id=user, view_id=view.id)
            result = await self._deliver(body, headers)
        view.open = False  # the modal closes in the client whatever the app answers
        self._publish({"kind": "view_closed", "view_id": view.id, "user": user})
        return web.json_response(result)

    async def _file(self, request: web.Request) -> web.Response:
        stored = self.standin.files.get(request.match_info["file_id"])
        if stored is None or stored.get("content") is None:
            raise web.HTTPNotFound()
        name = str(stored.get("name") or stored["id"])
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind == "application/json":
            kind += "; charset=utf-8"
        return web.Response(
            body=stored["content"],
            headers={
                "Content-Type": kind,
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def _archives(self, request: web.Request) -> web.Response:
        """A permalink (chat.getPermalink): open the page at that message."""
        p = request.match_info["p"].lstrip("p")
        ts = f"{p[:-6]}.{p[-6:]}" if p.isdigit() and len(p) > 6 else ""
        raise web.HTTPFound(f"/#ts={ts}")

    # --- simulated outside systems ------------------------------------------------------------------
    def _sim(self, kind: str, text: str) -> None:
        self.sim_events.append({"kind": kind, "text": text, "at": time.time()})
        self._publish({"kind": "sim", "what": kind})

    async def _sim_killswitch(self, request: web.Request) -> web.Response:
        """The trading system's kill switch, as a rehearsal stand-in: checks the signature, halts nothing."""
        raw = await request.read()
        expected = (
            "sha256=" + hmac.new(self.killswitch_secret.encode(), raw, hashlib.sha256).hexdigest()
        )
        if not hmac.compare_digest(expected, request.headers.get("X-Launchbot-Signature", "")):
            self._sim("killswitch", "Kill switch request REJECTED: bad signature")
            return web.json_response({"error": "bad signature"}, status=401)
        data = json.loads(raw or b"{}")
        dry = bool(data.get("dry_run"))
        self._sim(
            "killswitch",
            f"Simulated trading system {'accepted a dry run' if dry else 'HALTED trading'} for {data.get('launch')}",
        )
        return web.json_response({"status": "dry run ok" if dry else "trading halted (simulated)"})

    async def _sim_pagerduty(self, request: web.Request) -> web.Response:
        """PagerDuty's Events API v2, as a rehearsal stand-in: nobody is paged."""
        try:
            data = await request.json()
        except ValueError:
            return web.json_response({"status": "invalid event"}, status=400)
        action = str(data.get("event_action") or "event")
        summary = (data.get("payload") or {}).get("summary")
        if not summary:
            # acknowledge/resolve carry no payload: which incident is the dedup key, shortened.
            key = str(data.get("dedup_key") or "")
            summary = key if len(key) <= 18 else f"{key[:18]}…"
        self._sim(
            "pagerduty", f"Simulated PagerDuty: {action}" + (f" · {summary}" if summary else "")
        )
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": data.get("dedup_key")},
            status=202,
        )


async def _serve(playground: Playground) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await playground.start()
    except OSError as exc:
        await playground.stop()
        print(  # noqa: T201
            f"launchbot: cannot listen on {playground.host}:{playground.port} ({exc.strerror}); "
            "try --port with another number",
            file=sys.stderr,
        )
        return 2
    except PlaygroundError as exc:
        await playground.stop()
        print(f"launchbot: the playground could not start: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    print(  # noqa: T201
        f"launchbot playground: #war-room is open at {playground.url}\n"
        f"  (no Slack needed; data in {playground.db_path.name}; Ctrl-C stops it)",
        flush=True,
    )
    stopped = asyncio.create_task(stop.wait())
    exited = asyncio.create_task(playground.wait_bot_exit())
    await asyncio.wait({stopped, exited}, return_when=asyncio.FIRST_COMPLETED)
    code = 0
    if exited.done() and not stop.is_set():
        print(f"launchbot: the bot exited ({exited.result()}); stopping", file=sys.stderr)  # noqa: T201
        code = 1
    for task in (stopped, exited):
        task.cancel()
    await playground.stop()
    print("launchbot playground: stopped", flush=True)  # noqa: T201
    return code


def run(
    *, host: str = "127.0.0.1", port: int = 3000, fresh: bool = False, db: Path | None = None
) -> int:
    """``launchbot playground``: serve until SIGINT/SIGTERM; the exit status."""
    playground = Playground(host=host, port=port, db_path=db or DEFAULT_DB, fresh=fresh)
    return asyncio.run(_serve(playground))
