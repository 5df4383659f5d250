"""The Slack stand-in holds the app to Slack's 3-second ack, as Slack does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.standin import Message, SlackStandIn
from bot.standin.engine import Dispatch
from tests.conftest import BOT_TOKEN, SIGNING_SECRET

ALICE = "U0ALICE001"


@pytest.fixture
async def quick() -> AsyncIterator[SlackStandIn]:
    # A short deadline stands in for Slack's 3 s, so the test does not sleep for real.
    standin = SlackStandIn(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, ack_deadline=0.2)
    standin.add_user(ALICE, "alice", "Alice Chen")
    await standin.start()
    try:
        yield standin
    finally:
        await standin.stop()


def answering(text: str, *, after: float) -> Dispatch:
    async def dispatch(body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        await asyncio.sleep(after)
        return 200, text

    return dispatch


def test_slack_waits_three_seconds() -> None:
    standin = SlackStandIn(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET)
    assert standin.ack_deadline == 3.0


async def test_an_ack_in_time_is_applied(quick: SlackStandIn) -> None:
    body, headers = quick.slash_command(user_id=ALICE, text="status")
    sent = await quick.deliver_to(answering('{"text": "on time"}', after=0), body, headers)
    assert sent.ok and sent.error is None and sent.elapsed < 0.2
    assert [e.text for e in quick.ephemerals] == ["on time"]


async def test_a_late_slash_command_ack_fails_with_operation_timeout(quick: SlackStandIn) -> None:
    body, headers = quick.slash_command(user_id=ALICE, text="status")
    sent = await quick.deliver_to(answering('{"text": "too late"}', after=0.3), body, headers)
    assert sent.status == 200 and sent.elapsed >= 0.2
    assert not sent.ok and sent.error == "operation_timeout"
    assert quick.ephemerals == []  # Slack dropped the late answer


async def test_a_late_checkbox_click_ack_fails_too(quick: SlackStandIn) -> None:
    option = {"text": {"type": "plain_text", "text": "Failover tested"}, "value": "1"}
    blocks = [
        {
            "type": "actions",
            "block_id": "items:1:0:v1",
            "elements": [{"type": "checkboxes", "action_id": "item", "options": [option]}],
        }
    ]
    quick.messages["C0WARROOM1"].append(
        Message("C0WARROOM1", "1700000000.000100", quick.bot_user_id, "checklist", blocks)
    )
    body, headers = quick.checkbox_click(
        user_id=ALICE, channel_id="C0WARROOM1", message_ts="1700000000.000100", toggle_value="1"
    )
    late = await quick.deliver_to(answering("", after=0.3), body, headers)
    assert late.error == "operation_timeout" and not late.ok
    in_time = await quick.deliver_to(answering("", after=0), body, headers)
    assert in_time.ok


async def test_a_thread_reply_sent_to_the_channel_too_is_marked_as_slack_does(
    quick: SlackStandIn,
) -> None:
    client = AsyncWebClient(token=BOT_TOKEN, base_url=quick.base_url)
    parent = await client.chat_postMessage(channel="C0WARROOM1", text="escalation")
    plain = await client.chat_postMessage(
        channel="C0WARROOM1", text="a reply", thread_ts=parent["ts"]
    )
    loud = await client.chat_postMessage(
        channel="C0WARROOM1", text="nobody answered", thread_ts=parent["ts"], reply_broadcast=True
    )
    assert not quick.message("C0WARROOM1", plain["ts"]).broadcast
    assert quick.message("C0WARROOM1", loud["ts"]).broadcast
    assert loud["message"]["subtype"] == "thread_broadcast"
    assert "subtype" not in plain["message"]
