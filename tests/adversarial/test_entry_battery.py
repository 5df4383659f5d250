"""Issue 10.1 as a regression battery against a real `launchbot serve`: every request an attacker
sent that got a 500 and a traceback gets 401 (not signed right) or 400 (signed, not shaped like
Slack), one log line each, no traceback, nothing stored, and nothing said in Slack."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.server import MAX_BODY_BYTES
from bot.standin import SlackStandIn
from tests.adversarial.wire import (
    FORM,
    JSON,
    Headers,
    block_actions,
    interaction,
    post,
    row_counts,
    signature,
    signed,
    slash,
    view,
)
from tests.warroom import BotProcess


@dataclass(frozen=True)
class Case:
    name: str
    body: bytes
    headers: Callable[[bytes], Headers]
    expect: int


def now() -> bytes:
    return str(int(time.time())).encode()


def unsigned(*extra: tuple[bytes, bytes]) -> Callable[[bytes], Headers]:
    return lambda body: [(b"Content-Type", FORM), *extra]


def mutated(
    change: Callable[[dict[str, Any]], object], base: Callable[[], dict[str, Any]]
) -> bytes:
    payload = base()
    change(payload)
    return interaction(payload)


def signed_as(content_type: bytes | None) -> Callable[[bytes], Headers]:
    return lambda body: signed(body, content_type)


SIGNED = signed_as(FORM)
SIGNED_JSON = signed_as(JSON)
HELP = slash()

UNSIGNED_CASES = [
    Case("no signing headers", HELP, unsigned(), 401),
    Case(
        "timestamp ² (isdigit, not int)",
        HELP,
        unsigned(
            (b"X-Slack-Request-Timestamp", "²".encode()), (b"X-Slack-Signature", b"v0=" + b"0" * 64)
        ),
        401,
    ),
    Case(
        "timestamp ¹²³ as Latin-1 bytes",
        HELP,
        unsigned(
            (b"X-Slack-Request-Timestamp", "¹²³".encode("latin-1")), (b"X-Slack-Signature", b"v0=1")
        ),
        401,
    ),
    Case(
        "5,000-digit timestamp",
        HELP,
        unsigned(
            (b"X-Slack-Request-Timestamp", b"9" * 5000), (b"X-Slack-Signature", b"v0=" + b"0" * 64)
        ),
        401,
    ),
    Case(
        "Arabic-Indic digits",
        HELP,
        unsigned(
            (b"X-Slack-Request-Timestamp", "١٧١٥٣٤٢٥٨٤".encode()), (b"X-Slack-Signature", b"v0=1")
        ),
        401,
    ),
    Case(
        "negative timestamp",
        HELP,
        unsigned((b"X-Slack-Request-Timestamp", b"-1"), (b"X-Slack-Signature", b"v0=1")),
        401,
    ),
    Case(
        "empty timestamp",
        HELP,
        unsigned((b"X-Slack-Request-Timestamp", b""), (b"X-Slack-Signature", b"v0=1")),
        401,
    ),
    Case(
        "non-ASCII signature",
        HELP,
        lambda body: [
            (b"Content-Type", FORM),
            (b"X-Slack-Request-Timestamp", now()),
            (b"X-Slack-Signature", "v0=é".encode() + b"0" * 62),
        ],
        401,
    ),
    Case(
        "non-UTF-8 signature bytes",
        HELP,
        lambda body: [
            (b"Content-Type", FORM),
            (b"X-Slack-Request-Timestamp", now()),
            (b"X-Slack-Signature", b"v0=\xff\xfe" + b"0" * 62),
        ],
        401,
    ),
    Case(
        "wrong signature",
        HELP,
        lambda body: [
            (b"Content-Type", FORM),
            (b"X-Slack-Request-Timestamp", now()),
            (b"X-Slack-Signature", b"v0=" + b"0" * 64),
        ],
        401,
    ),
    Case(
        "signed with another secret",
        HELP,
        lambda body: [
            (b"Content-Type", FORM),
            (b"X-Slack-Request-Timestamp", now()),
            (b"X-Slack-Signature", signature(body, now(), "another-secret")),
        ],
        401,
    ),
    Case("stale by 301 s", HELP, lambda body: signed(body, at=int(time.time()) - 301), 401),
    Case("future by 301 s", HELP, lambda body: signed(body, at=int(time.time()) + 301), 401),
    Case("body changed after signing", HELP, lambda body: signed(slash(text="status")), 401),
    Case(
        "a second, wrong signature",
        HELP,
        lambda body: [*signed(body), (b"X-Slack-Signature", b"v0=" + b"0" * 64)],
        401,
    ),
    Case(
        "a second timestamp",
        HELP,
        lambda body: [*signed(body), (b"X-Slack-Request-Timestamp", b"1")],
        401,
    ),
    Case("unsigned payload=not-json", b"payload=not-json", unsigned(), 401),
    Case("unsigned payload=[]", b"payload=%5B%5D", unsigned(), 401),
]

SIGNED_CASES = [
    Case(
        "block_actions with actions: []",
        mutated(lambda p: p.update(actions=[]), block_actions),
        SIGNED,
        400,
    ),
    Case(
        "block_actions without actions",
        mutated(lambda p: p.pop("actions"), block_actions),
        SIGNED,
        400,
    ),
    Case(
        "block_actions whose action has no action_id",
        mutated(lambda p: p["actions"][0].pop("action_id"), block_actions),
        SIGNED,
        400,
    ),
    Case(
        "block_actions whose action is a string",
        mutated(lambda p: p.update(actions=["x"]), block_actions),
        SIGNED,
        400,
    ),
    Case(
        "block_actions without user", mutated(lambda p: p.pop("user"), block_actions), SIGNED, 400
    ),
    Case(
        "block_actions with user.id a number",
        mutated(lambda p: p["user"].update(id=5), block_actions),
        SIGNED,
        400,
    ),
    Case(
        "block_actions with user.id lower-case",
        mutated(lambda p: p["user"].update(id="u0alice001"), block_actions),
        SIGNED,
        400,
    ),
    Case(
        "block_actions without team", mutated(lambda p: p.pop("team"), block_actions), SIGNED, 400
    ),
    Case(
        "block_actions with team: null",
        mutated(lambda p: p.update(team=None), block_actions),
        SIGNED,
        400,
    ),
    Case(
        "block_actions in a message without channel",
        mutated(lambda p: p.pop("channel"), block_actions),
        SIGNED,
        400,
    ),
    Case(
        "block_actions whose container names another channel",
        mutated(lambda p: p["container"].update(channel_id="C0OTHER001"), block_actions),
        SIGNED,
        400,
    ),
    Case(
        "block_actions without container",
        mutated(lambda p: p.pop("container"), block_actions),
        SIGNED,
        400,
    ),
    Case(
        "view_submission whose view has no type",
        mutated(lambda p: p["view"].pop("type"), view),
        SIGNED,
        400,
    ),
    Case("view_submission without view", mutated(lambda p: p.pop("view"), view), SIGNED, 400),
    Case(
        "view_submission without callback_id",
        mutated(lambda p: p["view"].pop("callback_id"), view),
        SIGNED,
        400,
    ),
    Case(
        "view_submission whose state.values is a list",
        mutated(lambda p: p["view"]["state"].update(values=[]), view),
        SIGNED,
        400,
    ),
    Case("view_submission without user", mutated(lambda p: p.pop("user"), view), SIGNED, 400),
    Case(
        "view_closed without team",
        mutated(lambda p: p.pop("team"), lambda: view("view_closed")),
        SIGNED,
        400,
    ),
    Case("slash command without user_id", slash(user_id=None), SIGNED, 400),
    Case("slash command without channel_id", slash(channel_id=None), SIGNED, 400),
    Case("slash command without team_id", slash(team_id=None), SIGNED, 400),
    Case("slash command with an empty user_id", slash(user_id=""), SIGNED, 400),
    Case("slash command name with a newline", slash(command="/launch\nx"), SIGNED, 400),
    Case("slash command with user_id twice", slash() + b"&user_id=U0CTO00001", SIGNED, 400),
    Case("payload=not-json", b"payload=not-json", SIGNED, 400),
    Case("payload=[]", b"payload=%5B%5D", SIGNED, 400),
    Case("payload=null", b"payload=null", SIGNED, 400),
    Case("payload= (empty)", b"payload=", SIGNED, 400),
    Case(
        "payload with another field",
        interaction(block_actions()) + b"&command=/launch",
        SIGNED,
        400,
    ),
    Case("payload of an unknown type", interaction({"type": "dialog_submission"}), SIGNED, 400),
    Case(
        "payload nested 100,000 deep",
        b"payload=" + b"%5B" * 100_000 + b"%5D" * 100_000,
        SIGNED,
        400,
    ),
    Case(
        "payload nested 60 deep inside a valid click",
        mutated(lambda p: p.update(extra=json.loads("[" * 60 + "]" * 60)), block_actions),
        SIGNED,
        400,
    ),
    Case("body not UTF-8", b"\xff\xfe\xfd", SIGNED, 400),
    Case("empty body", b"", SIGNED, 400),
    Case("form that is neither command nor payload", b"a=b&c=d", SIGNED, 400),
    Case("not a form", b"%%%", SIGNED, 400),
    Case("slash command as text/plain", HELP, signed_as(b"text/plain"), 400),
    Case("slash command as multipart", HELP, signed_as(b"multipart/form-data; boundary=x"), 400),
    Case("slash command without Content-Type", HELP, signed_as(None), 400),
    Case("slash command sent as JSON", HELP, SIGNED_JSON, 400),
    Case("Content-Type twice", HELP, lambda body: [*signed(body), (b"Content-Type", JSON)], 400),
    Case("JSON body with a form Content-Type", json.dumps(block_actions()).encode(), SIGNED, 400),
    Case("JSON array", b"[]", SIGNED_JSON, 400),
    Case("JSON string", b'"block_actions"', SIGNED_JSON, 400),
    Case("JSON not JSON", b"{", SIGNED_JSON, 400),
    Case(
        "event_callback without event",
        json.dumps({"type": "event_callback", "team_id": "T0LAUNCH01"}).encode(),
        SIGNED_JSON,
        400,
    ),
    Case(
        "url_verification without challenge",
        json.dumps({"type": "url_verification", "token": "x"}).encode(),
        SIGNED_JSON,
        400,
    ),
    Case("block_actions as a JSON body", json.dumps(block_actions()).encode(), SIGNED_JSON, 400),
    Case("900 KB of signed garbage", b"x=" + b"y" * 900_000 + b"&z", SIGNED, 400),
    Case("body over the 1 MiB limit", b"x=" + b"y" * MAX_BODY_BYTES, SIGNED, 413),
]

WELL_FORMED = [  # controls: the same server still answers what Slack really sends
    Case(
        "url_verification",
        json.dumps(
            {
                "token": "x",
                "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                "type": "url_verification",
            }
        ).encode(),
        SIGNED_JSON,
        200,
    ),
    Case("an unknown button: bolt's 404", interaction(block_actions()), SIGNED, 404),
    Case("/launch help", HELP, SIGNED, 200),
]


async def test_every_adversarial_request_gets_401_or_400_with_one_log_line(
    served: tuple[SlackStandIn, BotProcess], database_url: str
) -> None:
    slack, bot = served
    before = await row_counts(database_url)
    wrong = []
    for case in [*UNSIGNED_CASES, *SIGNED_CASES, *WELL_FORMED]:
        status, reply = await post(bot.port, case.headers(case.body), case.body)
        if status != case.expect:
            wrong.append(f"{case.name}: {status} {reply[:120]!r}")
    assert not wrong, "\n".join(wrong)
    assert await row_counts(database_url) == before, "a refused request stored something"
    assert slack.calls_to("chat.postMessage") == []
    assert bot.stop() == 0
    log = bot.output()
    assert "Traceback" not in log, log[-3000:]
    refused = [line for line in log.splitlines() if "refused " in line]
    assert len(refused) == len(UNSIGNED_CASES) + len(SIGNED_CASES), "\n".join(refused)
    assert all(line.count("\n") == 0 and len(line) < 400 for line in refused)
