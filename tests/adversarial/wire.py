"""Raw HTTP/1.1 on a socket: header bytes exactly as given (non-ASCII, repeated), which HTTP clients
refuse or normalise; and Slack-shaped bodies, signed or not, for the adversarial tests."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

import bot.core.models  # noqa: F401  (registers tables)
from bot.core.db import Base
from tests.conftest import SIGNING_SECRET

Headers = Sequence[tuple[bytes, bytes]]
FORM = b"application/x-www-form-urlencoded"
JSON = b"application/json"
TEAM, USER, CHANNEL = "T0LAUNCH01", "U0ALICE001", "C0WARROOM1"


def _request(port: int, headers: Headers, body: bytes) -> bytes:
    lines = [b"POST /slack/events HTTP/1.1", b"Host: 127.0.0.1:%d" % port]
    lines += [name + b": " + value for name, value in headers]
    lines += [b"Content-Length: %d" % len(body), b"Connection: close", b"", b""]
    return b"\r\n".join(lines) + body


def _status(reply: bytes) -> int:
    first = reply.split(b"\r\n", 1)[0].split()
    assert len(first) >= 2 and first[0].startswith(b"HTTP/1."), reply[:200]
    return int(first[1])


def post_blocking(port: int, headers: Headers, body: bytes) -> tuple[int, bytes]:
    """For a thread (hypothesis runs there while the server runs on the event loop)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_request(port, headers, body))
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    reply = b"".join(chunks)
    return _status(reply), reply.split(b"\r\n\r\n", 1)[-1]


async def post(port: int, headers: Headers, body: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(_request(port, headers, body))
        await writer.drain()
        reply = await reader.read()
    except ConnectionResetError:  # the server may close before reading all of a refused body
        reply = b"HTTP/1.1 000 reset\r\n\r\n"
    finally:
        writer.close()
    return _status(reply), reply.split(b"\r\n\r\n", 1)[-1]


def signature(body: bytes, timestamp: bytes, secret: str = SIGNING_SECRET) -> bytes:
    base = b"v0:" + timestamp + b":" + body
    return b"v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest().encode()


def signed(body: bytes, content_type: bytes | None = FORM, *, at: int | None = None) -> Headers:
    timestamp = str(int(time.time()) if at is None else at).encode()
    headers = [
        (b"X-Slack-Request-Timestamp", timestamp),
        (b"X-Slack-Signature", signature(body, timestamp)),
    ]
    return headers + ([(b"Content-Type", content_type)] if content_type is not None else [])


# --- bodies shaped as Slack sends them (the fields of its published example payloads) ------------
def slash_fields(**changes: str | None) -> dict[str, str]:
    fields: dict[str, str | None] = {
        "token": "verification-token-deprecated",
        "team_id": TEAM,
        "team_domain": "launch",
        "channel_id": CHANNEL,
        "channel_name": "war-room",
        "user_id": USER,
        "user_name": "alice",
        "command": "/launch",
        "text": "help",
        "api_app_id": "A0LAUNCH01",
        "is_enterprise_install": "false",
        "response_url": "http://127.0.0.1:9/hooks/T0LAUNCH01/1/x",
        "trigger_id": "1.2.abc",
    }
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not None}


def slash(**changes: str | None) -> bytes:
    return urlencode(slash_fields(**changes)).encode()


def block_actions() -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": USER, "username": "alice", "name": "alice", "team_id": TEAM},
        "api_app_id": "A0LAUNCH01",
        "token": "verification-token-deprecated",
        "container": {
            "type": "message",
            "message_ts": "1715342584.374249",
            "channel_id": CHANNEL,
            "is_ephemeral": False,
        },
        "trigger_id": "1.2.abc",
        "team": {"id": TEAM, "domain": "launch"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": CHANNEL, "name": "war-room"},
        "message": {"type": "message", "ts": "1715342584.374249", "blocks": []},
        "state": {"values": {}},
        "response_url": "http://127.0.0.1:9/hooks/T0LAUNCH01/2/x",
        "actions": [
            {
                "action_id": "adversarial-unknown-action",
                "block_id": "b1",
                "text": {"type": "plain_text", "text": "Go"},
                "value": "1",
                "type": "button",
                "action_ts": "1715342590.000001",
            }
        ],
    }


def view(kind: str = "view_submission") -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": kind,
        "team": {"id": TEAM, "domain": "launch"},
        "user": {"id": USER, "username": "alice", "name": "alice", "team_id": TEAM},
        "api_app_id": "A0LAUNCH01",
        "token": "verification-token-deprecated",
        "trigger_id": "1.2.abc",
        "view": {
            "id": "V0VIEW0001",
            "team_id": TEAM,
            "type": "modal",
            "blocks": [],
            "private_metadata": "",
            "callback_id": "adversarial-unknown-view",
            "state": {"values": {}},
            "hash": "1715350171.Gc2dwnJZ",
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    if kind == "view_closed":
        del body["trigger_id"], body["response_urls"]
        body["is_cleared"] = False
    return body


def interaction(payload: Any) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


async def row_counts(database_url: str) -> dict[str, int]:
    """Rows in every table: "nothing stored" is these unchanged."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return {
                table.name: int(
                    (await conn.execute(select(func.count()).select_from(table))).scalar_one()
                )
                for table in Base.metadata.sorted_tables
            }
    finally:
        await engine.dispose()
