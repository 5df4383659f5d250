"""What the page shows beside the stand-in's own channel: people's typed messages, Slackbot's
notes, the outside fakes' events, whether the bot is up, and the change feed the page listens to."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from bot.playground.config import PlaygroundUser
from bot.standin import SlackStandIn
from bot.standin.engine import DEFAULT_CHANNEL

CHANNEL = DEFAULT_CHANNEL
SLACKBOT = "USLACKBOT"

Feed = asyncio.Queue[dict[str, Any] | None]


@dataclass
class PageState:
    standin: SlackStandIn
    users: list[PlaygroundUser]
    local_messages: list[dict[str, Any]] = field(default_factory=list)
    local_ephemerals: list[dict[str, Any]] = field(default_factory=list)
    sim_events: list[dict[str, Any]] = field(default_factory=list)
    ready: bool = False
    feeds: set[Feed] = field(default_factory=set)
    dirty: asyncio.Event = field(default_factory=asyncio.Event)
    last_local_ts: float = 0.0
    speed: float = 1.0  # the bot's clock: bot seconds per real second (--speed)

    def publish(self, event: dict[str, Any]) -> None:
        """Tell every open page (each re-reads /state), and mark the channel for saving."""
        for feed in self.feeds:
            feed.put_nowait(event)
        self.dirty.set()

    def close_feeds(self) -> None:
        for feed in self.feeds:
            feed.put_nowait(None)  # let every open event stream end, so the server can stop

    def next_local_ts(self) -> str:
        self.last_local_ts = max(time.time(), self.last_local_ts + 0.000001)
        return f"{self.last_local_ts:.6f}"

    def say(self, user: str, text: str, thread_ts: str | None) -> str:
        """A person's typed message (not the app's): the stand-in never sees it."""
        ts = self.next_local_ts()
        message: dict[str, Any] = {
            "id": f"l{ts}",
            "ts": ts,
            "thread_ts": thread_ts,
            "user": user,
            "text": text,
            "blocks": [],
            "edited": False,
            "files": [],
        }
        self.local_messages.append(message)
        self.publish({"kind": "message", "channel": CHANNEL, "ts": ts, "thread_ts": thread_ts})
        return ts

    def slackbot_says(self, user: str, text: str, thread_ts: str | None = None) -> None:
        """What Slack itself shows the user (not the app): only visible to them, from Slackbot."""
        ts = self.next_local_ts()
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
        self.publish({"kind": "ephemeral", "user": user, "ts": ts})

    def sim(self, kind: str, text: str) -> None:
        """Something an outside system (a playground fake) did, for the page's side panel."""
        self.sim_events.append({"kind": kind, "text": text, "at": time.time()})
        self.publish({"kind": "sim", "what": kind})

    def all_ts(self) -> set[str]:
        live = {m.ts for m in self.standin.messages.get(CHANNEL, []) if not m.deleted}
        return live | {str(m["ts"]) for m in self.local_messages}
