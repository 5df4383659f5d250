"""The channel kept in the playground's SQLite file beside the bot's tables, so a restarted
playground shows the messages the bot's database refers to."""

from __future__ import annotations

import base64
import dataclasses
import json
import secrets
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from bot.playground.state import CHANNEL, PageState
from bot.standin import Message


class ChannelStore:
    """The stand-in's channel (messages and shared files) as one JSON value in the SQLite file."""

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


def snapshot(page: PageState) -> dict[str, Any]:
    """The channel as the store saves it: the stand-in's messages and files, and the local ones."""
    messages = []
    for message in page.standin.messages.get(CHANNEL, []):
        data = dataclasses.asdict(message)
        data["edits"] = max(len(data.pop("history")) - 1, 0)
        messages.append(data)
    files = {
        file_id: {
            **{k: v for k, v in f.items() if k != "content"},
            "content": base64.b64encode(f["content"]).decode() if f["content"] else None,
        }
        for file_id, f in page.standin.files.items()
    }
    return {"version": 1, "messages": messages, "files": files, "local": page.local_messages}


def restore(page: PageState, state: dict[str, Any] | None) -> None:
    """Put a saved channel back into a fresh stand-in and page."""
    if not state:
        return
    # The stand-in numbers new files from 1 again: restored ones get ids it can never issue.
    renamed = {
        old: old if old.startswith("FP") else f"FP{secrets.token_hex(3).upper()}{old[1:]}"
        for old in state.get("files", {})
    }
    for old, f in state.get("files", {}).items():
        content = base64.b64decode(f["content"]) if f.get("content") else None
        page.standin.files[renamed[old]] = {**f, "id": renamed[old], "content": content}
    for data in state.get("messages", []):
        edits = int(data.pop("edits", 0))
        files = [{**f, "id": renamed.get(f["id"], f["id"])} for f in data.pop("files", [])]
        message = Message(**data, files=files)
        message.history = [message.blocks] * (edits + 1)
        page.standin.messages.setdefault(message.channel, []).append(message)
    page.local_messages = list(state.get("local", []))
    page.last_local_ts = max((float(m["ts"]) for m in page.local_messages), default=0.0)
