"""End to end through the real `launchbot serve` process: signatures, malformed bodies, health, metrics,
and a restart in the middle of a launch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

from bot.standin import SlackStandIn
from tests.warroom import BotProcess, wait_for

ALICE, BOB = "U0ALICE001", "U0BOB00001"
ROOT = Path(__file__).resolve().parents[2]


def checked_values(slack: SlackStandIn, channel: str) -> set[str]:
    return {
        o["value"]
        for m in slack.messages.get(channel, [])
        for b in m.blocks or []
        for e in b.get("elements", [])
        for o in e.get("initial_options", [])
    }


def first_thread_option(slack: SlackStandIn, channel: str, n: int = 0) -> tuple[str, str]:
    thread = [m for m in slack.messages[channel] if m.thread_ts and m.thread_ts != m.ts]
    options = [
        (m.ts, o["value"])
        for m in thread
        for b in m.blocks
        for e in b.get("elements", [])
        for o in e.get("options", [])
    ]
    return options[n]


async def post(bot: BotProcess, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(bot.url + "/slack/events", data=body, headers=headers) as r,
    ):
        return r.status, await r.text()


async def test_bad_signatures_get_401_and_malformed_bodies_never_5xx(
    served: tuple[SlackStandIn, BotProcess],
) -> None:
    slack, bot = served
    body, headers = slack.slash_command(user_id=ALICE, text="start Sneaky")
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert (await post(bot, body, form))[0] == 401  # unsigned
    assert (await post(bot, body, {**headers, "X-Slack-Signature": "v0=" + "0" * 64}))[0] == 401
    stale = slack.signed_headers(body, timestamp=int(time.time()) - 301)
    assert (await post(bot, body, stale))[0] == 401
    future = slack.signed_headers(body, timestamp=int(time.time()) + 301)
    assert (await post(bot, body, future))[0] == 401
    assert (await post(bot, b"payload=not-json", form))[0] == 401  # stock bolt answers 500 here
    no_user = body.replace(f"user_id={ALICE}".encode(), b"")
    assert no_user != body
    payload = urlencode({"payload": json.dumps({"type": "block_actions", "actions": []})})
    for garbage in (b"payload=not-json", b"payload=%5B%5D", b"\xff\xfe", no_user, payload.encode()):
        status, _ = await post(bot, garbage, slack.signed_headers(garbage))
        assert 400 <= status < 500, (garbage, status)
    assert slack.calls_to("chat.postMessage") == []


async def test_start_click_restart_and_carry_on(served: tuple[SlackStandIn, BotProcess]) -> None:
    slack, bot = served
    channel = "C0WARROOM1"
    sent = await slack.send(*slack.slash_command(user_id=ALICE, text="start Trading v2"))
    assert sent.status == 200
    await wait_for(lambda: len(slack.messages.get(channel, [])) >= 4, "card and three sections")
    ts, value = first_thread_option(slack, channel)
    assert (
        await slack.send(
            *slack.checkbox_click(
                user_id=BOB, channel_id=channel, message_ts=ts, toggle_value=value
            )
        )
    ).status == 200
    await wait_for(lambda: value in checked_values(slack, channel), "the tick to show")

    assert bot.stop() == 0
    await bot.start()

    ts2, value2 = first_thread_option(slack, channel, 1)
    assert (
        await slack.send(
            *slack.checkbox_click(
                user_id=ALICE, channel_id=channel, message_ts=ts2, toggle_value=value2
            )
        )
    ).status == 200
    await wait_for(
        lambda: {value, value2} <= checked_values(slack, channel), "both ticks after restart"
    )
    assert len(slack.messages[channel]) == 4, "no message was posted twice"
    async with aiohttp.ClientSession() as http:
        async with http.get(bot.url + "/readyz") as r:
            assert r.status == 200
        async with http.get(bot.url + "/metrics") as r:
            metrics = await r.text()
    assert 'launchbot_requests_total{kind="block_actions",status="200"} 1' in metrics
    assert 'launchbot_slack_api_calls_total{method="chat.update"}' in metrics


def test_serve_without_credentials_names_the_missing_variable(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LAUNCHBOT_"))}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SLACK_BOT_TOKEN" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
