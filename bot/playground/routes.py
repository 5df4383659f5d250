"""The page's routes: the page and its files, the change feed (server-sent events), the channel as
one person sees it (GET /state), shared files and permalinks; and the page's acts (actions.py)."""

from __future__ import annotations

import asyncio
import json
import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bot.playground.actions import PageActions
from bot.playground.state import CHANNEL, SLACKBOT, Feed, PageState
from bot.standin import Message

STATIC = Path(__file__).with_name("static")
SSE_KEEPALIVE_SECONDS = 15.0


def add_page_routes(app: web.Application, page: PageState) -> None:
    PageRoutes(page).add_routes(app)
    PageActions(page).add_routes(app)


class PageRoutes:
    def __init__(self, page: PageState) -> None:
        self.page = page
        self.standin = page.standin

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/", self.index)
        app.router.add_get("/static/{name}", self.static)
        app.router.add_get("/events", self.events)
        app.router.add_get("/state", self.state)
        app.router.add_get("/files/{file_id}", self.file)
        app.router.add_get("/archives/{channel}/{p}", self.archives)

    async def index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        # Only the folder's own files, by exact name: no path ever reaches the file system.
        if name not in {p.name for p in STATIC.iterdir() if p.is_file()}:
            raise web.HTTPNotFound()
        return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: one line per change in the stand-in; the page re-reads /state."""
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        feed: Feed = asyncio.Queue()
        self.page.feeds.add(feed)
        try:
            await response.write(b'retry: 1000\ndata: {"kind": "hello"}\n\n')
            while True:
                try:
                    event = await asyncio.wait_for(feed.get(), SSE_KEEPALIVE_SECONDS)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if event is None:
                    break
                await response.write(b"data: " + json.dumps(event).encode() + b"\n\n")
        except ConnectionResetError:
            pass  # the tab went away
        finally:
            self.page.feeds.discard(feed)
        return response

    def _user_json(self, user_id: str) -> dict[str, Any]:
        user = self.standin.users.get(user_id, {})
        known = next((u for u in self.page.users if u.id == user_id), None)
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

    def _ephemerals(self, me: str) -> list[dict[str, Any]]:
        """What only ``me`` sees: the app's ephemeral messages and Slackbot's notes."""
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
        ephemerals += [e for e in self.page.local_ephemerals if e["to"] == me]
        return sorted(ephemerals, key=lambda e: float(e["ts"]))

    async def state(self, request: web.Request) -> web.Response:
        me = request.query.get("user") or self.page.users[0].id
        messages = [
            self._message_json(m) for m in self.standin.messages.get(CHANNEL, []) if not m.deleted
        ]
        messages += self.page.local_messages
        messages.sort(key=lambda m: float(m["ts"]))
        users = [self._user_json(u) for u in self.standin.users]
        users.append({"id": SLACKBOT, "name": "slackbot", "real_name": "Slackbot", "is_bot": True})
        return web.json_response(
            {
                "me": me,
                # The stand-in's clock: the page shows only ephemeral messages sent after it
                # first loaded, as Slack forgets them on reload.
                "now": f"{self.standin.clock():.6f}",
                "ready": self.page.ready,
                "speed": self.page.speed,
                "channel": {"id": CHANNEL, "name": self.standin.channels[CHANNEL]},
                "bot_user_id": self.standin.bot_user_id,
                "people": [u.id for u in self.page.users],
                "users": users,
                "messages": messages,
                "ephemerals": self._ephemerals(me),
                "views": [
                    {"id": v.id, "hash": v.hash, "view": v.view, "errors": v.errors}
                    for v in self.standin.open_views(me)
                ],
                "sim_events": self.page.sim_events[-20:],
            }
        )

    async def file(self, request: web.Request) -> web.Response:
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

    async def archives(self, request: web.Request) -> web.Response:
        """A permalink (chat.getPermalink): open the page at that message."""
        p = request.match_info["p"].lstrip("p")
        ts = f"{p[:-6]}.{p[-6:]}" if p.isdigit() and len(p) > 6 else ""
        raise web.HTTPFound(f"/#ts={ts}")
