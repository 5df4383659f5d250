"""Issue 10.1, property-based: random headers and bodies, signed and unsigned, thrown at the real HTTP
entry (``make_web_app`` over the real bolt app, served in-process on a socket). Whatever arrives:
never a 5xx, never a logged traceback, nothing stored."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.runtime import RunningBot
from bot.server import make_web_app
from tests.adversarial.wire import (
    FORM,
    JSON,
    Headers,
    block_actions,
    post_blocking,
    row_counts,
    signature,
    slash_fields,
    view,
)

EXAMPLES = 2500
SIGNING = (b"X-Slack-Request-Timestamp", b"X-Slack-Signature")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
header_bytes = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
timestamps = st.one_of(
    st.sampled_from(["²", "9" * 5000, "١٧١٥٣٤٢٥٨٤", "-1", " 1 ", "1e9", "", "0x10", "1_000"]).map(
        str.encode
    ),
    st.integers(min_value=-(10**20), max_value=10**20).map(lambda n: str(n).encode()),
    st.integers(min_value=-400, max_value=400).map(lambda d: str(int(time.time()) + d).encode()),
    header_bytes,
)
signatures = st.one_of(
    st.text(max_size=70).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.just(b"v0=" + b"0" * 64),
    header_bytes,
).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
content_types = st.one_of(
    st.sampled_from(
        [
            FORM,
            JSON,
            b"text/plain",
            b"application/json; charset=utf-8",
            b"APPLICATION/JSON",
            b"Application/X-WWW-Form-Urlencoded",
            b"multipart/form-data; boundary=x",
            b"",
        ]
    ),
    header_bytes,
)


def _templates() -> list[Callable[[], dict[str, Any]]]:
    """Bodies of every kind, with ids no listener handles: valid ones reach bolt and get its 404."""

    def clicked() -> dict[str, Any]:
        return block_actions()

    def in_modal() -> dict[str, Any]:
        body = block_actions()
        body["container"] = {"type": "view", "view_id": "V0VIEW0001"}
        body["view"] = view()["view"]
        del body["channel"], body["message"]
        return body

    return [
        clicked,
        in_modal,
        view,
        lambda: view("view_closed"),
        lambda: {"type": "url_verification", "challenge": "abc", "token": "x"},
        lambda: {
            "type": "event_callback",
            "team_id": "T0LAUNCH01",
            "api_app_id": "A0LAUNCH01",
            "event_id": "Ev01",
            "event": {"type": "app_mention"},
            "event_time": 1,
        },
        lambda: {"type": "app_rate_limited", "team_id": "T0LAUNCH01", "api_app_id": "A0LAUNCH01"},
    ]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@st.composite
def mutated_payloads(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """A Slack-shaped body with a few fields deleted or replaced by any JSON value."""
    body = draw(st.sampled_from(_templates()))()
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        paths = _paths(body)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = body
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    if body.get("type") in ("url_verification", "event_callback", "app_rate_limited"):
        return json.dumps(body).encode(), JSON
    return urlencode({"payload": json.dumps(body)}).encode(), FORM


@st.composite
def mutated_commands(draw: st.DrawFn) -> tuple[bytes, bytes]:
    fields: dict[str, str] = slash_fields(command="/adversarial")
    for key in draw(st.lists(st.sampled_from(sorted(fields)), max_size=3, unique=True)):
        if draw(st.booleans()):
            del fields[key]
        else:
            fields[key] = draw(st.text(max_size=30))
    pairs = list(fields.items()) + draw(
        st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8)), max_size=2)
    )
    return urlencode(pairs).encode(), FORM


bodies = st.one_of(
    mutated_payloads(),
    mutated_commands(),
    st.tuples(st.binary(max_size=300), content_types),
    st.tuples(json_values.map(lambda v: json.dumps(v).encode()), content_types),
    st.tuples(
        json_values.map(lambda v: urlencode({"payload": json.dumps(v)}).encode()), content_types
    ),
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[bool, Headers, bytes]:
    body, content_type = draw(bodies)
    if draw(st.booleans()):
        content_type = draw(content_types)
    is_signed = draw(st.booleans())
    headers: list[tuple[bytes, bytes]] = [(b"Content-Type", content_type)]
    if is_signed:
        ts = str(int(time.time())).encode()
        headers += [(b"X-Slack-Request-Timestamp", ts), (b"X-Slack-Signature", signature(body, ts))]
    else:
        if draw(st.booleans()):
            headers.append((b"X-Slack-Request-Timestamp", draw(timestamps)))
        if draw(st.booleans()):
            headers.append((b"X-Slack-Signature", draw(signatures)))
    names = st.sampled_from([*SIGNING, b"Content-Type", b"X-Slack-Retry-Num", b"X-Other"])
    headers += draw(st.lists(st.tuples(names, header_bytes), max_size=2))
    return is_signed, draw(st.permutations(headers)), body


async def test_random_requests_never_get_a_5xx_nor_store_anything(
    running: RunningBot, schema_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    server = TestServer(make_web_app(running.app, running.deps))
    await server.start_server()
    assert server.port is not None
    port = server.port
    before = await row_counts(schema_url)
    seen: dict[int, int] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(requests())
    def throw(request: tuple[bool, Headers, bytes]) -> None:
        is_signed, headers, body = request
        status, reply = post_blocking(port, headers, body)
        seen[status] = seen.get(status, 0) + 1
        assert status < 500, (status, reply[:200], headers, body[:300])
        allowed = {200, 400, 401, 404} if is_signed else {400, 401}
        assert status in allowed, (status, reply[:200], headers, body[:300])

    try:
        await asyncio.to_thread(throw)
    finally:
        await server.close()
    await running.deps.tasks.idle()
    assert await row_counts(schema_url) == before, "a random request stored something"
    tracebacks = [r.getMessage() for r in caplog.records if r.exc_info]
    assert not tracebacks, tracebacks[:3]
    # both kinds of refusal were exercised, and well-formed requests reached bolt
    assert seen.get(400, 0) and seen.get(401, 0) and seen.get(404, 0), seen
