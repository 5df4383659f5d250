"""Incident commands at 3 a.m.: /launch contacts, /launch escalate (PagerDuty, escalation timer, Acknowledge)
and /launch killswitch (modal, roles, signed retried POST, @here truth), through the real bolt app
against the Slack stand-in and local PagerDuty / kill-switch servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit.chain import verify_chain
from bot.audit.report.export import export_launch
from bot.checklist.template import ChecklistTemplate
from bot.core.config import (
    AppConfig,
    ContactsConfig,
    EscalationConfig,
    EscalationLevel,
    ExternalContact,
    InternalContact,
    KillSwitchConfig,
    PagerDutyConfig,
    RetryConfig,
    RoleConfig,
    load_config,
)
from bot.core.events import Actor
from bot.core.http import DeliveryFailed, post_with_retries
from bot.core.ids import ActionId, CallbackId, IncidentBlock
from bot.core.launches import incident_launch
from bot.core.models import Escalation, EscalationLevelPing, Event, KillSwitchRequest
from bot.incidents.escalation_pages import claim_page
from bot.incidents.escalations import acknowledge, open_escalation, path_snapshot, resolve
from bot.incidents.killswitch import record_killswitch_sending, request_killswitch
from bot.runtime import RunningBot, running_bot
from bot.standin import SlackStandIn
from bot.standin.outside import FakeKillSwitch, FakePagerDuty
from tests.conftest import (
    BOT_TOKEN,
    KILL_SECRET,
    ROUTING_KEY,
    SIGNING_SECRET,
    USERS,
    FakeClock,
    make_settings,
)
from tests.core.test_escaping import TYPED_IN_MODAL, modal_text_is_shown_once
from tests.warroom import BotProcess, WarRoom, free_port

ALICE, BOB, CTO, OUTSIDER = "U0ALICE001", "U0BOB00001", "U0CTO00001", "U0OUTSIDE1"
TRADING_LEAD, OPS = "U0TRADE001", "U0OPS00001"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def incident_config(
    base: AppConfig,
    *,
    pagerduty_url: str,
    killswitch_url: str,
    poll: float = 0.05,
    timeout: float = 0.5,
) -> AppConfig:
    return base.model_copy(
        update={
            "contacts": ContactsConfig(
                internal={
                    "Trading Lead": InternalContact(user=TRADING_LEAD, phone="+1 555 0101"),
                    "DevOps Lead": InternalContact(user=OPS, phone="[Phone]"),
                    "CTO": InternalContact(user=CTO, name="Carol", phone="+1 555 0100"),
                },
                external={
                    "AWS Support": ExternalContact(url="https://support.example.com/case/42"),
                    "Exchange Support": ExternalContact(contact="+44 20 7946 0000"),
                    "Legal Counsel": ExternalContact(contact="[Contact]"),
                },
            ),
            "escalation": EscalationConfig(
                levels=[
                    EscalationLevel(name="On-call engineer", users=[OPS], wait_minutes=5),
                    EscalationLevel(
                        name="Leads",
                        users=[TRADING_LEAD],
                        usergroups=["S0LEADS001"],
                        wait_minutes=10,
                    ),
                    EscalationLevel(name="CTO", users=[CTO], wait_minutes=15),
                ],
                poll_seconds=poll,
                call_on_failure=["CTO", "Trading Lead"],
            ),
            "killswitch": KillSwitchConfig(
                url=killswitch_url,
                allowed_roles=["cto", "head_of_trading"],
                secret=KILL_SECRET,  # type: ignore[arg-type]
                timeout_seconds=timeout,
                tries=3,
                backoff_seconds=0.01,
                call_on_failure=["CTO", "Trading Lead"],
            ),
            "pagerduty": PagerDutyConfig(
                url=pagerduty_url,
                routing_key=ROUTING_KEY,  # type: ignore[arg-type]
                timeout_seconds=timeout,
                backoff_seconds=0.01,
            ),
        }
    )


@pytest.fixture
def config(
    request: pytest.FixtureRequest,
    config: AppConfig,
    pagerduty: FakePagerDuty,
    killswitch: FakeKillSwitch,
) -> AppConfig:
    # A test whose fake answers slowly but in time marks itself ``patient``: 0.5 s of timeout
    # against a 0.3 s answer left too little room on a loaded CI machine (a retry was sent).
    timeout = 3.0 if request.node.get_closest_marker("patient") else 0.5
    return incident_config(
        config, pagerduty_url=pagerduty.url, killswitch_url=killswitch.url, timeout=timeout
    )


@pytest.fixture
async def running(
    schema_url: str,
    slack: SlackStandIn,
    config: AppConfig,
    template: ChecklistTemplate,
    clock: FakeClock,
) -> AsyncIterator[RunningBot]:
    settings = make_settings(database_url=schema_url, api_url=slack.base_url)
    async with running_bot(settings, config=config, template=template, clock=clock) as bot_:
        yield bot_


# --- helpers -----------------------------------------------------------------------------------


async def wait_for(predicate: Callable[[], bool], what: str, within: float = 10) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def texts(room: WarRoom) -> list[str]:
    """Every message in the war room as Slack would show it: text plus every text in its blocks."""
    out = []
    for m in room.slack.messages.get(room.channel, []):
        parts = [m.text or ""]
        for b in m.blocks or []:
            if isinstance(b.get("text"), dict):
                parts.append(b["text"]["text"])
            for f in b.get("fields", []):
                parts.append(f["text"])
            for e in b.get("elements", []):
                if isinstance(e, dict) and e.get("type") in ("mrkdwn", "plain_text"):
                    parts.append(e["text"])
        out.append("\n".join(parts))
    return out


def escalation_message(room: WarRoom) -> Any:
    found = [
        m
        for m in room.slack.messages.get(room.channel, [])
        if m.blocks and "Escalation #" in m.blocks[0].get("text", {}).get("text", "")
    ]
    assert found, "no escalation message in the war room"
    return found[-1]


def block_texts(message: Any) -> str:
    return "\n".join(
        b["text"]["text"] if "text" in b else "\n".join(f["text"] for f in b.get("fields", []))
        for b in message.blocks
        if b["type"] in ("section", "header")
    )


def buttons(message: Any) -> list[str]:
    return [
        e["action_id"]
        for b in message.blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e.get("type") == "button"
    ]


async def click(room: WarRoom, user: str, message: Any, action_id: str) -> Any:
    body, headers = room.slack.button_click(
        user_id=user, channel_id=room.channel, message_ts=message.ts, action_id=action_id
    )
    sent = await room.slack.deliver_to(room.dispatch, body, headers)
    await room.settle()
    return sent


async def climb_whole_path(room: WarRoom, clock: FakeClock, message: Any) -> None:
    """Nobody answers: the escalation of ``message`` climbs levels 2 and 3 (5 and 10 min) and then
    pings the emergency contacts (15 min), one thread reply each."""
    for minutes, count in ((5, 1), (10, 2), (15, 3)):
        clock.advance(minutes=minutes, seconds=1)
        await wait_for(
            lambda n=count: len(room.slack.thread(room.channel, message.ts)) >= n,  # type: ignore[misc]
            f"ping {count}",
        )


async def markdown_report(room: WarRoom, launch: str = "1") -> str:
    """``launchbot export LAUNCH --format md``, as of the bot's clock."""
    return await export_launch(
        room.bot.deps.settings.database_url,
        launch,
        "md",
        roles=room.bot.deps.config.roles,
        now=room.bot.deps.clock(),
    )


async def rows(room: WarRoom, model: Any) -> list[Any]:
    async with room.bot.deps.db.read_sessions() as session:
        return list((await session.scalars(select(model).order_by(model.id))).all())


async def posted_levels(room: WarRoom) -> list[tuple[int, bool]]:
    return [(p.level, p.posted_at is not None) for p in await rows(room, EscalationLevelPing)]


async def eventually(read: Callable[[], Awaitable[Any]], expected: Any, within: float = 10) -> None:
    """Until ``await read()`` equals ``expected`` (the scheduler records right after posting)."""
    deadline = time.monotonic() + within
    while (got := await read()) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"{got!r} != {expected!r}")
        await asyncio.sleep(0.02)


async def escalation_left_by_a_stop(
    session: AsyncSession,
    room: WarRoom,
    config: AppConfig,
    at: datetime,
    *,
    severity: str,
    summary: str,
    request_key: str,
    sending: bool = False,
) -> Escalation:
    """An escalation stored as `/launch escalate` stores it, by a process that then stopped before
    its follow-up ran; ``sending``: its page was claimed for sending (it may have left)."""
    launch = await incident_launch(session=session, channel_id=room.channel)
    escalation, _ = await open_escalation(
        session=session,
        launch_id=launch.id,
        channel_id=room.channel,
        severity=severity,
        summary=summary,
        reporter=Actor(ALICE, "alice"),
        path=path_snapshot(config.escalation.levels),
        at=at,
        request_key=request_key,
    )
    if sending:
        await claim_page(session=session, escalation_id=escalation.id, at=at)
    return escalation


async def event_kinds(room: WarRoom) -> list[str]:
    return [e.kind for e in await rows(room, Event)]


async def open_modal(room: WarRoom, user: str) -> Any:
    await room.command(user, "killswitch")
    views = room.slack.open_views(user)
    assert views, "the kill-switch modal did not open"
    return views[-1]


@pytest.mark.parametrize(
    ("failure", "said"),
    [
        ({"error": "expired_trigger_id"}, "did not open (Slack said `expired_trigger_id`)"),
        ({"disconnect": True, "times": 2}, "may not have opened (no answer from Slack)"),
    ],
)
async def test_a_confirmation_slack_refused_or_never_answered_is_said_as_such(
    room: WarRoom, killswitch: FakeKillSwitch, failure: dict[str, Any], said: str
) -> None:
    """Refused, it did not open; with no answer at all it may have: never claimed either way."""
    await room.command(ALICE, "start Trading v2")
    room.slack.fail_next("views.open", **failure)
    await room.command(CTO, "killswitch")
    await room.settle()
    told = room.ephemerals_for(CTO)[-1]
    assert f"The kill-switch confirmation {said}. Run `/launch killswitch` again." in told, told
    assert killswitch.requests == [] and await rows(room, KillSwitchRequest) == []


async def submit(room: WarRoom, user: str, view: Any, *, name: str, reason: str) -> Any:
    sent = await send_submission(room, user, view, name=name, reason=reason)
    await room.settle()
    return sent


async def send_submission(room: WarRoom, user: str, view: Any, *, name: str, reason: str) -> Any:
    """Submit the kill-switch confirmation and return once Slack has its answer (the fire goes on)."""
    values = {
        IncidentBlock.KILLSWITCH_NAME: {
            ActionId.KILLSWITCH_NAME: {"type": "plain_text_input", "value": name}
        },
        IncidentBlock.KILLSWITCH_REASON: {
            ActionId.KILLSWITCH_REASON: {"type": "plain_text_input", "value": reason}
        },
    }
    body, headers = room.slack.view_submission(user_id=user, view_id=view.id, values=values)
    return await room.slack.deliver_to(room.dispatch, body, headers)


def channel_has(room: WarRoom, *needles: str) -> str:
    for text in texts(room):
        if all(n in text for n in needles):
            return text
    raise AssertionError(
        f"no war-room message with {needles!r}; got:\n" + "\n---\n".join(texts(room))
    )


# --- contacts ----------------------------------------------------------------------------------


async def test_contacts_answer_in_the_ack_only_to_the_asker_and_flag_placeholders(
    room: WarRoom,
) -> None:
    await room.command(ALICE, "start Trading v2")
    calls_before = len(room.slack.calls)
    sent = await room.command(BOB, "contacts")
    assert sent.status == 200
    reply = [e for e in room.slack.ephemerals if e.user == BOB][-1]
    assert reply.via == "ack"  # answered in the 3-second ack, no Web API call
    assert len(room.slack.calls) == calls_before
    text = "\n".join(b["text"]["text"] for b in reply.blocks if b["type"] == "section")
    assert f"*Trading Lead* — <@{TRADING_LEAD}> · 📞 +1 555 0101" in text
    assert f"*CTO* — <@{CTO}> (Carol) · 📞 +1 555 0100" in text
    # The template's placeholders and unfilled config values are flagged, never shown as numbers.
    assert "[Phone]" not in text and "[Contact]" not in text and "[Name]" not in text
    assert f"*DevOps Lead* — <@{OPS}> · ⚠️ _phone not set_" in text
    assert "*Security Lead* — ⚠️ _not configured_" in text
    assert "*AWS Support* — <https://support.example.com/case/42|case / support portal>" in text
    assert "*Exchange Support* — +44 20 7946 0000" in text
    assert "*Legal Counsel* — ⚠️ _contact not set_" in text
    assert "*Product Owner*" in text and "*Database Vendor*" in text
    assert not any("Emergency contacts" in t for t in texts(room))


async def test_contacts_public_posts_them_in_the_channel(room: WarRoom) -> None:
    await room.command(ALICE, "contacts public")
    channel_has(room, "Emergency contacts", f"<@{TRADING_LEAD}>", "+1 555 0101")


async def test_contacts_with_a_bad_option_explains(room: WarRoom) -> None:
    await room.command(ALICE, "contacts everyone")
    assert "not an option of contacts" in room.ephemerals_for(ALICE)[-1]
    assert "Usage: `/launch contacts [public]`" in room.ephemerals_for(ALICE)[-1]


# --- escalation --------------------------------------------------------------------------------


async def test_escalate_posts_pages_pagerduty_and_acknowledge_records_who(
    room: WarRoom, pagerduty: FakePagerDuty
) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.command(ALICE, "escalate sev1 order gateway rejecting all orders")

    assert "Escalation #1 (SEV1) recorded" in room.ephemerals_for(ALICE)[-1]
    message = escalation_message(room)
    shown = block_texts(message)
    assert "SEV1 · Escalation #1 · Trading v2" in shown
    assert "order gateway rejecting all orders" in shown
    assert f"<@{ALICE}>" in shown  # the reporter
    assert "On-call engineer" in shown and "Leads" in shown and "<!subteam^S0LEADS001>" in shown
    assert "PagerDuty paged (1 try)" in shown
    assert f"<@{OPS}>" in message.text  # level 1 is notified by the message itself
    assert buttons(message) == [ActionId.ESCALATION_ACK, ActionId.ESCALATION_RESOLVE]

    (trigger,) = pagerduty.requests
    (escalation,) = await rows(room, Escalation)
    assert trigger["event_action"] == "trigger" and trigger["routing_key"] == ROUTING_KEY
    assert trigger["dedup_key"] == escalation.dedup_key
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["summary"] == "[SEV1] Trading v2: order gateway rejecting all orders"
    assert trigger["payload"]["source"] == "launchbot"
    details = trigger["payload"]["custom_details"]
    assert details["launch"] == "Trading v2"
    assert details["slack_message"] == escalation.permalink and escalation.permalink
    assert (escalation.page_status, escalation.page_tries) == ("sent", 1)

    # Two people press Acknowledge on the same view; the first one takes it.
    first = room.slack.button_click(
        user_id=BOB,
        channel_id=room.channel,
        message_ts=message.ts,
        action_id=ActionId.ESCALATION_ACK,
    )
    second = room.slack.button_click(
        user_id=ALICE,
        channel_id=room.channel,
        message_ts=message.ts,
        action_id=ActionId.ESCALATION_ACK,
    )
    assert (await room.slack.deliver_to(room.dispatch, *first)).status == 200
    await room.settle()
    assert (await room.slack.deliver_to(room.dispatch, *second)).status == 200
    await room.settle()
    assert "already acknowledged by <@U0BOB00001>" in room.ephemerals_for(ALICE)[-1]
    shown = block_texts(room.slack.message(room.channel, message.ts))
    assert f"Acknowledged* by <@{BOB}>" in shown
    assert buttons(room.slack.message(room.channel, message.ts)) == [ActionId.ESCALATION_RESOLVE]
    (escalation,) = await rows(room, Escalation)
    assert escalation.acknowledged_by_id == BOB and escalation.next_level_at is None
    assert pagerduty.actions() == ["trigger", "acknowledge"]
    assert pagerduty.incidents[escalation.dedup_key].status == "acknowledged"
    kinds = await event_kinds(room)
    for kind in (
        "escalation_opened",
        "escalation_posted",
        "pagerduty_trigger_sent",
        "escalation_acknowledged",
        "pagerduty_acknowledge_sent",
    ):
        assert kind in kinds


@pytest.mark.patient
async def test_acknowledged_while_the_page_is_in_flight_pagerduty_is_told_afterwards(
    room: WarRoom, pagerduty: FakePagerDuty
) -> None:
    pagerduty.script, pagerduty.hang_seconds = ["hang"], 0.3  # slow, but answers 202
    await room.command(ALICE, "start Trading v2")
    body, headers = room.slack.slash_command(
        user_id=ALICE, text="escalate sev1 order gateway rejecting all orders"
    )
    await room.slack.deliver_to(room.dispatch, body, headers)  # no settle: the page is in flight
    await wait_for(lambda: any("Escalation #1" in t for t in texts(room)), "the escalation")
    assert pagerduty.incidents == {}
    await click(room, BOB, escalation_message(room), ActionId.ESCALATION_ACK)
    assert pagerduty.actions() == ["trigger", "acknowledge"]
    (escalation,) = await rows(room, Escalation)
    assert pagerduty.incidents[escalation.dedup_key].status == "acknowledged"
    shown = block_texts(room.slack.message(room.channel, escalation_message(room).ts))
    assert f"Acknowledged* by <@{BOB}>" in shown and "PagerDuty paged (1 try)" in shown


async def test_slack_failing_the_acknowledged_update_still_tells_pagerduty(
    room: WarRoom, pagerduty: FakePagerDuty
) -> None:
    """Slack unreachable for the escalation's chat.update (a network error, not a Slack answer)
    must not stop the PagerDuty acknowledge event: PagerDuty would keep escalating."""
    await room.command(ALICE, "start Trading v2")
    await room.command(ALICE, "escalate sev1 order gateway rejecting all orders")
    assert pagerduty.actions() == ["trigger"]
    # Two: slack_sdk tries a dropped connection once more on its own.
    room.slack.fail_next("chat.update", disconnect=True, times=2)
    await click(room, BOB, escalation_message(room), ActionId.ESCALATION_ACK)
    assert pagerduty.actions() == ["trigger", "acknowledge"]
    (escalation,) = await rows(room, Escalation)
    assert escalation.acknowledged_by_id == BOB
    assert pagerduty.incidents[escalation.dedup_key].status == "acknowledged"
    assert "pagerduty_acknowledge_sent" in await event_kinds(room)


async def test_escalate_defaults_to_sev2_and_rejects_bad_input(
    room: WarRoom, pagerduty: FakePagerDuty
) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.command(ALICE, "escalate sev9 everything")
    assert "Severity is one of sev1, sev2, sev3" in room.ephemerals_for(ALICE)[-1]
    await room.command(ALICE, "escalate")
    assert "Say what is wrong" in room.ephemerals_for(ALICE)[-1]
    assert await rows(room, Escalation) == [] and pagerduty.requests == []

    await room.command(ALICE, "escalate fills <!channel> are slow")
    (escalation,) = await rows(room, Escalation)
    assert escalation.severity == "sev2"
    assert pagerduty.requests[0]["payload"]["severity"] == "error"
    shown = block_texts(escalation_message(room))
    assert "&lt;!channel&gt;" in shown and "<!channel>" not in shown


async def test_escalate_without_a_launch_in_the_channel_says_so(room: WarRoom) -> None:
    await room.command(ALICE, "escalate sev1 nothing works")
    assert "no launch in this channel" in room.ephemerals_for(ALICE)[-1]


async def test_pagerduty_429_and_500_are_retried_with_one_dedup_key_and_page_once(
    room: WarRoom, pagerduty: FakePagerDuty
) -> None:
    pagerduty.script = [429, 500]
    await room.command(ALICE, "start Trading v2")
    await room.command(ALICE, "escalate sev1 order gateway rejecting all orders")
    assert pagerduty.actions() == ["trigger"] * 3
    assert len({r["dedup_key"] for r in pagerduty.requests}) == 1
    assert pagerduty.pages == 1
    (escalation,) = await rows(room, Escalation)
    assert (escalation.page_status, escalation.page_tries) == ("sent", 3)
    assert "PagerDuty paged (3 tries)" in block_texts(escalation_message(room))


async def test_pagerduty_400_is_final_the_channel_is_told_who_to_phone_and_page_again_works(
    room: WarRoom, pagerduty: FakePagerDuty
) -> None:
    pagerduty.script = [400]
    await room.command(ALICE, "start Trading v2")
    await room.command(ALICE, "escalate sev1 order gateway rejecting all orders")
    assert len(pagerduty.requests) == 1  # a 400 is never retried
    (escalation,) = await rows(room, Escalation)
    assert (escalation.page_status, escalation.page_tries) == ("failed", 1)
    assert "HTTP 400" in (escalation.page_error or "")
    failure = channel_has(room, "PagerDuty could not be paged", "HTTP 400")
    assert f"*CTO* — <@{CTO}> (Carol) · 📞 +1 555 0100" in failure
    assert "+1 555 0101" in failure
    message = escalation_message(room)
    assert "PagerDuty page FAILED" in block_texts(message)
    assert ActionId.ESCALATION_REPAGE in buttons(message)
    assert "pagerduty_trigger_failed" in await event_kinds(room)

    # Two presses of "Page again" on the same view: one new send, with the same dedup_key.
    presses = [
        room.slack.button_click(
            user_id=user,
            channel_id=room.channel,
            message_ts=message.ts,
            action_id=ActionId.ESCALATION_REPAGE,
        )
        for user in (BOB, ALICE)
    ]
    for press in presses:
        assert (await room.slack.deliver_to(room.dispatch, *press)).status == 200
        await room.settle()
    assert len(pagerduty.requests) == 2 and pagerduty.pages == 1
    assert pagerduty.requests[1]["dedup_key"] == escalation.dedup_key
    (escalation,) = await rows(room, Escalation)
    assert escalation.page_status == "sent"
    updated = room.slack.message(room.channel, message.ts)
    assert "PagerDuty paged" in block_texts(updated)
    assert ActionId.ESCALATION_REPAGE not in buttons(updated)
    assert "needs no new page" in room.ephemerals_for(ALICE)[-1]


async def test_pagerduty_down_for_every_try_is_reported_not_claimed(
    room: WarRoom, pagerduty: FakePagerDuty
) -> None:
    pagerduty.script = [500, 500, 500]
    await room.command(ALICE, "start Trading v2")
    await room.command(ALICE, "escalate sev2 fills delayed")
    assert len(pagerduty.requests) == 3
    (escalation,) = await rows(room, Escalation)
    assert (escalation.page_status, escalation.page_tries) == ("failed", 3)
    assert "after 3 tries" in (escalation.page_error or "")
    channel_has(room, "PagerDuty could not be paged", "HTTP 500")
    assert not any("PagerDuty paged" in t for t in texts(room))


async def test_pagerduty_silent_for_every_try_is_unknown_not_failed(
    room: WarRoom, pagerduty: FakePagerDuty
) -> None:
    """Every try timed out: PagerDuty may have taken any of them and paged, so the channel reads
    UNKNOWN (with who to phone and "Page again"), never "could not be paged" nor "paged"."""
    pagerduty.script, pagerduty.hang_seconds = ["hang", "hang", "hang"], 1.0
    await room.command(ALICE, "start Trading v2")
    await room.command(ALICE, "escalate sev2 fills delayed")
    assert len(pagerduty.requests) == 3
    (escalation,) = await rows(room, Escalation)
    assert (escalation.page_status, escalation.page_tries) == ("unknown", 3)
    unknown = channel_has(room, "PagerDuty page state UNKNOWN", "no answer within 0.5 s")
    assert "It may or may not have paged" in unknown and "+1 555 0100" in unknown
    assert not any("could not be paged" in t or "PagerDuty paged" in t for t in texts(room))
    message = escalation_message(room)
    assert "PagerDuty page UNKNOWN" in block_texts(message)
    assert ActionId.ESCALATION_REPAGE in buttons(message)
    kinds = await event_kinds(room)
    assert "pagerduty_trigger_unknown" in kinds and "pagerduty_trigger_failed" not in kinds


async def test_a_page_with_no_answer_is_acknowledged_and_resolved_in_pagerduty_too(
    room: WarRoom, pagerduty: FakePagerDuty
) -> None:
    """Every try timed out, yet PagerDuty took them and paged: the incident is open there. Pressing
    Acknowledge, then Resolve in Slack tells PagerDuty too (same dedup_key), and the thread never
    says the escalation is resolved while PagerDuty may still be paging the on-call."""
    pagerduty.script, pagerduty.hang_seconds = ["hang", "hang", "hang"], 1.0
    answered: list[int] = []
    pagerduty.watchers.append(lambda exchange: answered.append(exchange.status))
    await room.command(ALICE, "start Trading v2")
    await room.command(ALICE, "escalate sev2 fills delayed")
    (escalation,) = await rows(room, Escalation)
    assert escalation.page_status == "unknown"
    key = escalation.dedup_key
    # PagerDuty acts on all three late triggers (none lands after the clicks below and re-opens
    # the incident), and the acknowledge and resolve get time to answer on a loaded machine.
    await wait_for(lambda: len(answered) == 3, "PagerDuty acting on the late triggers")
    room.bot.deps.config.pagerduty.timeout_seconds = 3.0
    assert pagerduty.incidents[key].status == "triggered"  # the on-call is being paged

    message = escalation_message(room)
    await click(room, BOB, message, ActionId.ESCALATION_ACK)
    assert pagerduty.actions()[3:] == ["acknowledge"]
    assert pagerduty.incidents[key].status == "acknowledged"

    await click(room, BOB, message, ActionId.ESCALATION_RESOLVE)
    assert pagerduty.actions()[3:] == ["acknowledge", "resolve"]
    assert pagerduty.incidents[key].status == "resolved"
    (escalation,) = await rows(room, Escalation)
    assert escalation.resolve_status == "sent"
    note = room.slack.thread(room.channel, message.ts)[-1].text
    assert "resolved by" in note and "PagerDuty took the resolve" in note
    updated = block_texts(room.slack.message(room.channel, message.ts))
    assert "PagerDuty page UNKNOWN" in updated and "PagerDuty took the resolve" in updated
    assert "Page again" not in updated  # resolved: nothing to page again
    kinds = await event_kinds(room)
    assert "pagerduty_acknowledge_sent" in kinds and "pagerduty_resolve_sent" in kinds
    await room.chain_ok()


async def test_the_same_escalation_twice_pages_once(
    room: WarRoom, pagerduty: FakePagerDuty
) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.command(ALICE, "escalate sev1 order gateway rejecting all orders")
    await room.command(BOB, "escalate sev1 Order gateway  rejecting all orders")
    assert "already escalation #1" in room.ephemerals_for(BOB)[-1]
    assert len(await rows(room, Escalation)) == 1
    assert len(pagerduty.requests) == 1


async def test_unacknowledged_escalation_pings_the_next_level_after_its_wait(
    room: WarRoom, pagerduty: FakePagerDuty, clock: FakeClock
) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.command(ALICE, "escalate sev1 order gateway rejecting all orders")
    message = escalation_message(room)
    clock.advance(minutes=4)
    await asyncio.sleep(0.2)
    assert room.slack.thread(room.channel, message.ts) == []

    clock.advance(minutes=1, seconds=1)
    await wait_for(lambda: room.slack.thread(room.channel, message.ts) != [], "level 2 ping")
    (ping,) = room.slack.thread(room.channel, message.ts)
    assert "Escalating to *Leads*" in ping.text
    assert f"<@{TRADING_LEAD}>" in ping.text and "<!subteam^S0LEADS001>" in ping.text
    assert room.slack.calls_to("chat.postMessage")[-1].args.get("reply_broadcast") in (
        True,
        "1",
        "true",
    )
    await eventually(lambda: posted_levels(room), [(0, True), (1, True)])

    # Acknowledging stops the timer: the CTO is never woken.
    await room.settle()
    await click(
        room, TRADING_LEAD, room.slack.message(room.channel, message.ts), ActionId.ESCALATION_ACK
    )
    clock.advance(minutes=60)
    await asyncio.sleep(0.3)
    assert len(room.slack.thread(room.channel, message.ts)) == 1
    assert len(await rows(room, EscalationLevelPing)) == 2
    # The path says level 1 went unanswered and the Leads level is where it stopped: no ✓ that
    # reads as if the on-call engineer handled it.
    path = block_texts(room.slack.message(room.channel, message.ts))
    assert f"⏭ 1. *On-call engineer* — <@{OPS}> · no answer in 5 min" in path
    await room.chain_ok()  # the level pings are as the log says
    assert f"⏹ 2. *Leads* — <@{TRADING_LEAD}>" in path
    assert f"stopped here: acknowledged by <@{TRADING_LEAD}>" in path
    assert "◻️ 3. *CTO*" in path and "✓" not in path


async def test_whole_path_unanswered_ends_with_phone_numbers(
    room: WarRoom, clock: FakeClock
) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.command(ALICE, "escalate sev1 order gateway rejecting all orders")
    message = escalation_message(room)
    await climb_whole_path(room, clock, message)
    last = room.slack.thread(room.channel, message.ts)[-1].text
    assert "after the whole escalation path" in last and "+1 555 0100" in last
    (escalation,) = await rows(room, Escalation)
    assert escalation.next_level_at is None and escalation.level == 3
    assert "escalation_path_exhausted" in await event_kinds(room)
    await eventually(lambda: posted_levels(room), [(0, True), (1, True), (2, True), (3, True)])
    await room.chain_ok()  # every level ping, the last one included, is as the log says


async def test_resolve_resolves_in_pagerduty_and_removes_the_buttons(
    room: WarRoom, pagerduty: FakePagerDuty
) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.command(ALICE, "escalate sev3 dashboards lagging")
    message = escalation_message(room)
    await click(room, BOB, message, ActionId.ESCALATION_RESOLVE)
    assert pagerduty.actions() == ["trigger", "resolve"]
    (escalation,) = await rows(room, Escalation)
    assert (escalation.status, escalation.resolved_by_id, escalation.resolve_status) == (
        "resolved",
        BOB,
        "sent",
    )
    updated = room.slack.message(room.channel, message.ts)
    assert buttons(updated) == [] and f"Resolved* by <@{BOB}>" in block_texts(updated)
    # Bob resolved it at level 1: the on-call engineer is not marked as having handled it.
    assert f"⏹ 1. *On-call engineer* — <@{OPS}> · stopped here: resolved by <@{BOB}>" in (
        block_texts(updated)
    )
    assert "✓" not in block_texts(updated)
    assert "PagerDuty incident resolved" in room.slack.thread(room.channel, message.ts)[-1].text


async def test_escalation_timer_survives_a_restart(
    schema_url: str,
    slack: SlackStandIn,
    config: AppConfig,
    template: ChecklistTemplate,
    pagerduty: FakePagerDuty,
) -> None:
    settings = make_settings(database_url=schema_url, api_url=slack.base_url)
    clock = FakeClock()
    async with running_bot(settings, config=config, template=template, clock=clock) as first:
        room = WarRoom(slack=slack, bot=first)
        await room.command(ALICE, "start Trading v2")
        await room.command(ALICE, "escalate sev1 order gateway rejecting all orders")
        message = escalation_message(room)
    # The first process is gone before the level was due; nothing was pinged.
    assert room.slack.thread(room.channel, message.ts) == []
    clock.advance(minutes=5, seconds=1)
    async with running_bot(settings, config=config, template=template, clock=clock) as second:
        room = WarRoom(slack=slack, bot=second)
        await wait_for(lambda: room.slack.thread(room.channel, message.ts) != [], "level 2 ping")
        assert "Escalating to *Leads*" in room.slack.thread(room.channel, message.ts)[0].text
        await eventually(lambda: posted_levels(room), [(0, True), (1, True)])
    assert len(pagerduty.requests) == 1  # the restart did not page again


# --- kill switch -------------------------------------------------------------------------------


def signed_ok(request: Any) -> bool:
    expected = "sha256=" + hmac.new(KILL_SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    return bool(request.headers.get("x-launchbot-signature") == expected)


async def test_killswitch_modal_then_authorized_submit_fires_and_tells_everyone(
    room: WarRoom, killswitch: FakeKillSwitch
) -> None:
    await room.command(ALICE, "start Trading v2")
    view = await open_modal(room, CTO)
    modal = json.dumps(view.view)
    assert "halts trading" in modal and "Type the launch name to confirm" in modal
    assert killswitch.requests == []  # nothing is sent before the confirmation

    sent = await submit(
        room, CTO, view, name="Trading v2", reason="order gateway rejecting all orders"
    )
    assert sent.status == 200 and not room.slack.views[view.id].open
    (request,) = killswitch.requests
    body = request.json
    (stored,) = await rows(room, KillSwitchRequest)
    assert body["launch"] == "Trading v2" and body["reason"] == "order gateway rejecting all orders"
    assert body["requested_by"] == {"id": CTO, "name": "carol"}
    assert body["request_id"] == stored.request_id and body["dry_run"] is False
    assert request.idempotency_key == stored.request_id
    assert signed_ok(request)
    assert (stored.status, stored.tries, stored.http_status) == ("confirmed", 1, 200)
    assert stored.duration_ms is not None

    # The first announcement went out before the answer, then was updated to the outcome.
    firing = next(
        m
        for m in room.slack.messages[room.channel]
        if "Firing the kill switch" in json.dumps(m.history[0])
    )
    assert "<!here>" in json.dumps(firing.history[0])
    assert "order gateway rejecting all orders" in firing.text
    assert "✅ confirmed" in firing.text
    confirmed = channel_has(room, "<!here>", "Kill switch FIRED and confirmed", "HTTP 200 (1 try")
    assert f"<@{CTO}>" in confirmed and "halted" in confirmed
    outcome = next(m for m in room.slack.messages[room.channel] if "FIRED and confirmed" in m.text)
    assert outcome.text.startswith("<!here>")  # the notification text, not only the blocks
    kinds = await event_kinds(room)
    assert kinds.index("killswitch_requested") < kinds.index("killswitch_sending")
    assert kinds.index("killswitch_sending") < kinds.index("killswitch_confirmed")
    # What the channel was told is in the log, with where it is.
    announced = {
        e.detail["message"]: e.detail
        for e in await rows(room, Event)
        if e.kind == "killswitch_announced"
    }
    assert set(announced) == {"firing", "outcome"}
    assert announced["firing"]["ts"] == firing.ts and announced["outcome"]["ts"] == outcome.ts
    assert announced["outcome"]["request_id"] == stored.request_id
    await wait_for(lambda: "fired, confirmed" in json.dumps(room.card().blocks), "card update")


async def test_killswitch_500_then_success_is_retried_with_the_same_idempotency_key(
    room: WarRoom, killswitch: FakeKillSwitch
) -> None:
    killswitch.script = [500]
    await room.command(ALICE, "start Trading v2")
    view = await open_modal(room, TRADING_LEAD)
    await submit(room, TRADING_LEAD, view, name="Trading v2", reason="runaway orders")
    assert len(killswitch.requests) == 2
    assert len({r.idempotency_key for r in killswitch.requests}) == 1
    assert all(signed_ok(r) for r in killswitch.requests)
    assert len(killswitch.halted) == 1
    (stored,) = await rows(room, KillSwitchRequest)
    assert (stored.status, stored.tries) == ("confirmed", 2)
    channel_has(room, "Kill switch FIRED and confirmed", "HTTP 200 (2 tries")


async def test_killswitch_timeouts_are_unknown_after_three_tries_and_say_who_to_call(
    room: WarRoom, killswitch: FakeKillSwitch
) -> None:
    """Three tries with no answer: each may have reached the trading system (the fake halts after
    its delay, as a slow real one would), so the bot claims neither FIRED nor FAILED."""
    killswitch.script = ["hang", "hang", "hang"]
    killswitch.hang_seconds = 2.0
    await room.command(ALICE, "start Trading v2")
    view = await open_modal(room, CTO)
    await submit(room, CTO, view, name="Trading v2", reason="runaway orders")
    assert len(killswitch.requests) == 3
    (stored,) = await rows(room, KillSwitchRequest)
    assert (stored.status, stored.tries, stored.http_status) == ("unknown", 3, None)
    unknown = channel_has(room, "<!here>", "Kill switch state UNKNOWN", "no answer within 0.5 s")
    assert "It may or may not have fired" in unknown and "Check the trading system now" in unknown
    assert "+1 555 0100" in unknown and "+1 555 0101" in unknown
    assert not any("FIRED and confirmed" in t or "Kill switch FAILED" in t for t in texts(room))
    assert "KILL SWITCH UNKNOWN" in block_texts(room.card())
    kinds = await event_kinds(room)
    assert "killswitch_unknown" in kinds and "killswitch_failed" not in kinds
    async with room.bot.deps.db.read_sessions() as session:  # the replay agrees with the row
        assert (await verify_chain(session=session, launch_id=1)).ok


async def test_killswitch_refused_after_an_unanswered_try_is_unknown_not_failed(
    room: WarRoom, killswitch: FakeKillSwitch
) -> None:
    """The first try went unanswered and the next two were refused: the first may have halted
    trading, so the outcome is UNKNOWN, not FAILED."""
    killswitch.script, killswitch.hang_seconds = ["hang", 500, 500], 2.0
    await room.command(ALICE, "start Trading v2")
    view = await open_modal(room, CTO)
    await submit(room, CTO, view, name="Trading v2", reason="runaway orders")
    (stored,) = await rows(room, KillSwitchRequest)
    assert (stored.status, stored.tries, stored.http_status) == ("unknown", 3, 500)
    channel_has(room, "<!here>", "Kill switch state UNKNOWN", "HTTP 500")


async def test_killswitch_connection_refused_fails_after_three_tries(
    room: WarRoom, config: AppConfig
) -> None:
    config.killswitch.url = f"http://127.0.0.1:{closed_port()}/kill"
    await room.command(ALICE, "start Trading v2")
    view = await open_modal(room, CTO)
    await submit(room, CTO, view, name="Trading v2", reason="runaway orders")
    (stored,) = await rows(room, KillSwitchRequest)
    assert (stored.status, stored.tries) == ("failed", 3)
    assert "could not connect" in (stored.error or "")
    channel_has(room, "<!here>", "Kill switch FAILED", "could not connect")


async def test_killswitch_403_is_final(room: WarRoom, killswitch: FakeKillSwitch) -> None:
    killswitch.script = [403]
    await room.command(ALICE, "start Trading v2")
    view = await open_modal(room, CTO)
    await submit(room, CTO, view, name="Trading v2", reason="runaway orders")
    assert len(killswitch.requests) == 1
    (stored,) = await rows(room, KillSwitchRequest)
    assert (stored.status, stored.tries, stored.http_status) == ("failed", 1, 403)
    channel_has(room, "Kill switch FAILED", "HTTP 403")


async def test_unauthorized_submission_is_refused_in_the_modal_and_logged(
    room: WarRoom, killswitch: FakeKillSwitch
) -> None:
    await room.command(ALICE, "start Trading v2")
    view = await open_modal(room, OUTSIDER)
    assert "will be refused and logged" in json.dumps(view.view)
    sent = await submit(room, OUTSIDER, view, name="Trading v2", reason="let me in")
    assert sent.json["response_action"] == "errors"
    stored_view = room.slack.views[view.id]
    assert stored_view.open
    assert (
        "Only these roles may use the kill switch: CTO, Head of Trading"
        in stored_view.errors[IncidentBlock.KILLSWITCH_NAME]
    )
    assert killswitch.requests == [] and await rows(room, KillSwitchRequest) == []
    refused = [e for e in await rows(room, Event) if e.kind == "killswitch_refused"]
    assert [(e.actor_id, e.detail["why"]) for e in refused] == [
        (OUTSIDER, "fire: not in an allowed role")
    ]
    assert not any("<!here>" in t for t in texts(room))


async def test_a_killswitch_form_naming_another_channel_is_refused_and_announces_nothing(
    room: WarRoom, killswitch: FakeKillSwitch, caplog: pytest.LogCaptureFixture
) -> None:
    """The hole: the announcements went to whatever channel the form's private_metadata named."""
    other = "C0OTHER001"
    room.slack.add_channel(other, "elsewhere")
    await room.command(ALICE, "start Trading v2")
    view = await open_modal(room, CTO)
    values = {
        IncidentBlock.KILLSWITCH_NAME: {
            ActionId.KILLSWITCH_NAME: {"type": "plain_text_input", "value": "Trading v2"}
        },
        IncidentBlock.KILLSWITCH_REASON: {
            ActionId.KILLSWITCH_REASON: {"type": "plain_text_input", "value": "crafted"}
        },
    }
    body, _ = room.slack.view_submission(user_id=CTO, view_id=view.id, values=values)
    meta = json.dumps({"launch_id": 1, "channel_id": other})
    forged = room.forge(body, lambda p: p["view"].update(private_metadata=meta))
    with caplog.at_level(logging.WARNING, logger="bot.core.binding"):
        status, answer = await room.dispatch(*forged)
        await room.settle()
    assert status == 200
    error = json.loads(answer)["errors"][IncidentBlock.KILLSWITCH_NAME]
    assert "another channel" in error and "Nothing changed" in error
    assert killswitch.requests == [] and await rows(room, KillSwitchRequest) == []
    assert room.slack.messages.get(other, []) == []
    assert "killswitch_requested" not in await event_kinds(room)
    assert f"from channel {other}" in caplog.text
    # The form as the bot opened it still fires, and the launch's own channel is told.
    await submit(room, CTO, view, name="Trading v2", reason="order gateway down")
    (stored,) = await rows(room, KillSwitchRequest)
    assert stored.channel_id == room.channel and len(killswitch.requests) == 1
    assert room.slack.messages.get(other, []) == []


async def test_an_escalation_button_from_another_team_is_refused(
    room: WarRoom, pagerduty: FakePagerDuty
) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.command(BOB, "escalate sev1 gateway down")
    message = escalation_message(room)
    body, _ = room.slack.button_click(
        user_id=CTO,
        channel_id=room.channel,
        message_ts=message.ts,
        action_id=ActionId.ESCALATION_ACK,
    )
    status, _ = await room.dispatch(*room.forge(body, lambda p: p["team"].update(id="T0ELSEWHERE")))
    await room.settle()
    assert status == 200
    (escalation,) = await rows(room, Escalation)
    assert escalation.acknowledged_by_id is None and escalation.status != "acknowledged"
    assert any("another Slack workspace" in t for t in room.ephemerals_for(CTO))


@pytest.mark.parametrize("action_id", [ActionId.ESCALATION_ACK, ActionId.ESCALATION_RESOLVE])
async def test_an_escalation_button_naming_another_channels_escalation_is_refused_and_logged(
    room: WarRoom, pagerduty: FakePagerDuty, caplog: pytest.LogCaptureFixture, action_id: str
) -> None:
    """Acknowledge / Resolve pressed on this channel's escalation, its value rewritten to name the
    escalation of a launch in another channel: neither escalation changes, the log says who tried."""
    other = "C0OTHER001"
    room.slack.add_channel(other, "war-room-2")
    await room.command(ALICE, "start Trading v2")
    await room.command(ALICE, "start Payments", channel=other)
    await room.command(BOB, "escalate sev2 spreads look wrong", channel=other)
    await room.command(BOB, "escalate sev1 gateway down")
    here = escalation_message(room)
    elsewhere, ours = await rows(room, Escalation)
    assert (elsewhere.channel_id, ours.channel_id) == (other, room.channel)
    before = await event_kinds(room)
    body, _ = room.slack.button_click(
        user_id=CTO, channel_id=room.channel, message_ts=here.ts, action_id=action_id
    )
    forged = room.forge(body, lambda p: p["actions"][0].update(value=str(elsewhere.id)))
    with caplog.at_level(logging.WARNING, logger="bot.core.binding"):
        status, _ = await room.dispatch(*forged)
        await room.settle()
    assert status == 200
    assert [
        (e.status, e.acknowledged_by_id, e.resolved_by_id) for e in await rows(room, Escalation)
    ] == [
        ("open", None, None),
        ("open", None, None),
    ]
    assert await event_kinds(room) == before
    assert any("belongs to a launch in another channel" in t for t in room.ephemerals_for(CTO))
    assert (
        f"naming escalation {elsewhere.id} (of channel {other}) from channel {room.channel} by {CTO}"
        in caplog.text
    )
    # The button as posted still works on its own escalation.
    await click(room, CTO, here, action_id)
    assert (await rows(room, Escalation))[1].status != "open"


async def test_a_kill_switch_reason_typed_with_markup_is_stored_raw_and_shown_once(
    room: WarRoom, killswitch: FakeKillSwitch
) -> None:
    """Modal inputs arrive as typed (no entities): the reason is stored and sent to the trading
    system as typed, and the channel shows it escaped once, its mentions inert."""
    await room.command(ALICE, "start Trading v2")
    view = await open_modal(room, CTO)
    await submit(room, CTO, view, name="Trading v2", reason=TYPED_IN_MODAL)
    await wait_for(lambda: len(killswitch.requests) == 1, "the kill switch fired")
    await room.settle()
    (stored,) = await rows(room, KillSwitchRequest)
    assert stored.reason == TYPED_IN_MODAL
    assert killswitch.requests[0].json["reason"] == TYPED_IN_MODAL
    modal_text_is_shown_once(room)


async def test_wrong_launch_name_or_missing_reason_is_refused_in_the_modal(
    room: WarRoom, killswitch: FakeKillSwitch
) -> None:
    await room.command(ALICE, "start Trading v2")
    view = await open_modal(room, CTO)
    await submit(room, CTO, view, name="trading v2", reason=" ")
    errors = room.slack.views[view.id].errors
    assert errors[IncidentBlock.KILLSWITCH_NAME] == "Type the launch name exactly: Trading v2"
    assert IncidentBlock.KILLSWITCH_REASON in errors
    assert killswitch.requests == [] and await rows(room, KillSwitchRequest) == []
    assert "killswitch_refused" in await event_kinds(room)


async def test_arm_and_disarm_are_recorded_shown_on_the_card_and_in_status(
    room: WarRoom,
) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.command(ALICE, "killswitch arm")
    assert "Only these roles may use the kill switch" in room.ephemerals_for(ALICE)[-1]
    await room.command(CTO, "killswitch arm")
    channel_has(room, "Kill switch for *Trading v2*", "*armed* by <@U0CTO00001>")
    await wait_for(lambda: "Kill switch *armed*" in json.dumps(room.card().blocks), "armed card")
    await room.command(CTO, "killswitch status")
    status = room.slack.ephemerals[-1]
    assert status.user == CTO and status.text == "Kill switch status: armed"
    shown = json.dumps(status.blocks, ensure_ascii=False)
    assert "🔴 *armed*" in shown and "Allowed:* CTO, Head of Trading" in shown
    await room.command(TRADING_LEAD, "killswitch disarm")
    channel_has(room, "Kill switch for *Trading v2*", f"*disarmed* by <@{TRADING_LEAD}>")
    await wait_for(
        lambda: (
            f"Kill switch *disarmed* by <@{TRADING_LEAD}> · <!date^"
            in json.dumps(room.card().blocks, ensure_ascii=False)
        ),
        "disarmed card",
    )
    assert "not armed" not in json.dumps(room.card().blocks)
    await room.command(CTO, "killswitch status")
    assert room.slack.ephemerals[-1].text == "Kill switch status: disarmed"
    kinds = await event_kinds(room)
    assert kinds.count("killswitch_armed") == 1 and kinds.count("killswitch_disarmed") == 1
    assert "killswitch_refused" in kinds


async def test_a_card_whose_kill_switch_was_never_armed_says_not_armed(
    room: WarRoom, killswitch: FakeKillSwitch
) -> None:
    await room.command(ALICE, "start Trading v2")
    view = await open_modal(room, CTO)
    await submit(room, CTO, view, name="Trading v2", reason="drill")
    await wait_for(lambda: "Kill switch *not armed*" in json.dumps(room.card().blocks), "card")
    assert "disarmed" not in json.dumps(room.card().blocks)


@pytest.mark.parametrize(
    "words", ["status please", "arm now", "disarm it", "test again", "fire now", "STATUS x y"]
)
async def test_killswitch_actions_refuse_extra_words_and_change_nothing(
    room: WarRoom, killswitch: FakeKillSwitch, words: str
) -> None:
    await room.command(ALICE, "start Trading v2")
    before = await event_kinds(room)
    sent = await room.command(CTO, f"killswitch {words}")
    refusal = room.ephemerals_for(CTO)[-1]
    action = words.split()[0].lower()
    assert f"`/launch killswitch {action}` takes nothing after" in refusal, refusal
    assert "Usage: `/launch killswitch [status|arm|disarm|test]`" in refusal
    assert (sent.json or {}).get("response_type", "ephemeral") == "ephemeral"
    assert room.slack.open_views(CTO) == []
    assert killswitch.requests == [] and await rows(room, KillSwitchRequest) == []
    assert await event_kinds(room) == before
    assert not any("Kill switch for" in t for t in texts(room))


async def test_dry_run_test_ticks_kill_switch_tested_with_the_testers_name(
    room: WarRoom, killswitch: FakeKillSwitch
) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.command(CTO, "killswitch test")
    (request,) = killswitch.requests
    assert request.json["dry_run"] is True and signed_ok(request)
    assert killswitch.halted == []
    await room.settle()
    assert room.is_checked("Kill switch tested")
    assert room.item_option("Kill switch tested")["description"]["text"].startswith("✓ carol")
    report = [m.text for m in room.thread() if "Kill switch test" in (m.text or "")]
    assert report and "passed: HTTP 200" in report[-1] and "Ticked" in report[-1]
    assert not any("<!here>" in t for t in texts(room))
    (stored,) = await rows(room, KillSwitchRequest)
    assert stored.dry_run and stored.status == "confirmed"


async def test_dry_run_when_kill_switch_tested_is_already_ticked_says_so_not_ticked(
    room: WarRoom, killswitch: FakeKillSwitch
) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.click(BOB, "Kill switch tested")
    assert room.is_checked("Kill switch tested")
    before = await event_kinds(room)
    await room.command(CTO, "killswitch test")
    assert len(killswitch.requests) == 1
    await room.settle()
    report = [m.text for m in room.thread() if "Kill switch test" in (m.text or "")]
    assert report and "passed: HTTP 200" in report[-1]
    assert "Ticked" not in report[-1]
    assert f"“Kill switch tested” was already ticked by <@{BOB}> at <!date^" in report[-1]
    # Nothing changed: still Bob's tick, and no item event for the tester.
    assert room.is_checked("Kill switch tested")
    assert room.item_option("Kill switch tested")["description"]["text"].startswith("✓ bob")
    new = (await event_kinds(room))[len(before) :]
    assert "item_checked" not in new and "killswitch_test_not_ticked" not in new


async def test_dry_run_on_a_closed_launch_is_logged_not_ticked(
    room: WarRoom, killswitch: FakeKillSwitch
) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.close(ALICE)
    await room.command(CTO, "killswitch test")
    assert len(killswitch.requests) == 1
    assert not room.is_checked("Kill switch tested")
    assert any("Not ticked in the checklist" in (m.text or "") for m in room.thread())
    assert "killswitch_test_not_ticked" in await event_kinds(room)


async def test_closing_names_the_open_escalations_which_keep_escalating_and_can_be_resolved(
    room: WarRoom, pagerduty: FakePagerDuty, clock: FakeClock
) -> None:
    """Closing a launch does not end its incident: the confirmation names each open escalation
    and says so; after close it still climbs its path and Acknowledge/Resolve still work."""
    await room.command(ALICE, "start Trading v2")
    await room.command(ALICE, "escalate sev1 gateway <b>down</b>")
    message = escalation_message(room)
    await room.command(ALICE, "close")
    (view,) = [
        v for v in room.slack.open_views(ALICE) if v.view["callback_id"] == CallbackId.LAUNCH_CLOSE
    ]
    shown = view.view["blocks"][0]["text"]["text"]
    assert "1 escalation(s) not resolved — #1 SEV1 gateway &lt;b&gt;down&lt;/b&gt; (open)" in shown
    assert "Closing does not resolve them: they keep escalating" in shown
    await room.submit_close(ALICE, view, outcome="abandoned", note="gateway down")
    clock.advance(minutes=5, seconds=1)
    await wait_for(lambda: len(room.slack.thread(room.channel, message.ts)) >= 1, "level 2 ping")
    await click(room, BOB, escalation_message(room), ActionId.ESCALATION_RESOLVE)
    assert (await rows(room, Escalation))[0].status == "resolved"


async def test_failed_dry_run_is_reported_and_ticks_nothing(
    room: WarRoom, killswitch: FakeKillSwitch
) -> None:
    killswitch.script = [500, 500, 500]
    await room.command(ALICE, "start Trading v2")
    await room.command(CTO, "killswitch test")
    assert len(killswitch.requests) == 3
    assert not room.is_checked("Kill switch tested")
    assert any("FAILED" in (m.text or "") for m in room.thread())


@pytest.mark.patient
async def test_killswitch_fired_message_shows_the_time_it_took(
    room: WarRoom, killswitch: FakeKillSwitch
) -> None:
    killswitch.script = ["hang"]  # answers 200, but only after hang_seconds
    killswitch.hang_seconds = 0.3
    await room.command(ALICE, "start Trading v2")
    view = await open_modal(room, CTO)
    await submit(room, CTO, view, name="Trading v2", reason="runaway orders")
    (stored,) = await rows(room, KillSwitchRequest)
    assert stored.status == "confirmed" and stored.tries == 1
    assert stored.duration_ms is not None and 300 <= stored.duration_ms < 3000
    took = f"{stored.duration_ms / 1000:.1f} s"
    confirmed = channel_has(room, "<!here>", "Kill switch FIRED and confirmed")
    assert f"HTTP 200 (1 try, {took})" in confirmed


# --- retries (unit: scripted transport, recorded sleeps) ----------------------------------------


def test_killswitch_and_pagerduty_retry_defaults_are_five_seconds_and_three_tries() -> None:
    for policy in (KillSwitchConfig(), PagerDutyConfig()):
        assert (policy.timeout_seconds, policy.tries) == (5.0, 3), type(policy).__name__
        assert (policy.backoff_seconds, policy.max_backoff_seconds) == (0.5, 10.0)


class Scripted:
    """An httpx transport answering from a script, recording each request's timeouts."""

    def __init__(self, *answers: httpx.Response) -> None:
        self.answers = list(answers)
        self.timeouts: list[dict[str, float]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.timeouts.append(request.extensions["timeout"])
        return self.answers.pop(0)


async def post_scripted(transport: Scripted, policy: RetryConfig, waits: list[float]) -> Any:
    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with httpx.AsyncClient(transport=httpx.MockTransport(transport)) as http:
        return await post_with_retries(
            http,
            "http://127.0.0.1:9/kill",
            content=b"{}",
            headers={"Content-Type": "application/json"},
            policy=policy,
            sleep=sleep,
        )


@pytest.mark.parametrize("policy", [KillSwitchConfig(), PagerDutyConfig()], ids=["kill", "pd"])
async def test_post_with_retries_defaults_try_three_times_with_backoff_and_5s_timeouts(
    policy: RetryConfig,
) -> None:
    transport = Scripted(*(httpx.Response(500, text="upstream down") for _ in range(3)))
    waits: list[float] = []
    with pytest.raises(DeliveryFailed) as failed:
        await post_scripted(transport, policy, waits)
    assert waits == [0.5, 1.0]  # backoff_seconds × 2ⁿ between tries, none after the last
    assert transport.answers == []  # exactly three tries
    assert [(a.number, a.status) for a in failed.value.attempts] == [(1, 500), (2, 500), (3, 500)]
    assert failed.value.message == "HTTP 500: upstream down (after 3 tries)"
    five = {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}
    assert transport.timeouts == [five, five, five]


async def test_post_with_retries_honours_retry_after_up_to_the_cap_and_stops_at_a_2xx() -> None:
    transport = Scripted(
        httpx.Response(429, headers={"Retry-After": "120"}),
        httpx.Response(503, headers={"Retry-After": "2"}),
        httpx.Response(200, json={"status": "halted"}),
    )
    waits: list[float] = []
    delivery = await post_scripted(transport, KillSwitchConfig(), waits)
    assert waits == [10.0, 2.0]  # capped at max_backoff_seconds; then the server's own wait
    assert delivery.status == 200 and delivery.body == {"status": "halted"}
    assert [a.status for a in delivery.attempts] == [429, 503, 200]


async def test_post_with_retries_never_repeats_a_final_4xx() -> None:
    transport = Scripted(httpx.Response(400, text="bad payload"), httpx.Response(200))
    waits: list[float] = []
    with pytest.raises(DeliveryFailed) as failed:
        await post_scripted(transport, KillSwitchConfig(), waits)
    assert waits == [] and len(transport.answers) == 1
    assert failed.value.status == 400


# --- the bot's own announcements are in the log -------------------------------------------------


async def test_killswitch_announcements_slack_refused_are_recorded(
    room: WarRoom, killswitch: FakeKillSwitch
) -> None:
    await room.command(ALICE, "start Trading v2")
    view = await open_modal(room, CTO)
    room.slack.fail_next("chat.postMessage", error="channel_not_found", times=2)
    await submit(room, CTO, view, name="Trading v2", reason="runaway orders")
    (stored,) = await rows(room, KillSwitchRequest)
    assert stored.status == "confirmed" and len(killswitch.halted) == 1
    assert not any("<!here>" in t for t in texts(room))  # Slack took neither message
    failed = [e for e in await rows(room, Event) if e.kind == "killswitch_announce_failed"]
    assert [(e.detail["message"], e.detail["error"], e.detail["ts"]) for e in failed] == [
        ("firing", "channel_not_found", None),
        ("outcome", "channel_not_found", None),
    ]
    assert {e.detail["request_id"] for e in failed} == {stored.request_id}
    assert "killswitch_announced" not in await event_kinds(room)
    await room.chain_ok()


async def test_killswitch_test_report_slack_refused_is_recorded(
    room: WarRoom, killswitch: FakeKillSwitch
) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.settle()
    # The report is the dry run's only new message (the card and its thread are updated).
    room.slack.fail_next("chat.postMessage", error="not_in_channel")
    await room.command(CTO, "killswitch test")
    failed = [e.detail for e in await rows(room, Event) if e.kind == "killswitch_announce_failed"]
    assert [(d["message"], d["error"], d["dry_run"]) for d in failed] == [
        ("test_report", "not_in_channel", True)
    ]
    await room.chain_ok()


async def test_page_failure_notice_is_recorded_and_so_is_slack_refusing_it(
    room: WarRoom, pagerduty: FakePagerDuty
) -> None:
    pagerduty.script = [400]
    await room.command(ALICE, "start Trading v2")
    await room.command(ALICE, "escalate sev1 order gateway rejecting all orders")
    (escalation,) = await rows(room, Escalation)
    notice = next(
        m
        for m in room.slack.messages[room.channel]
        if "PagerDuty could not be paged" in json.dumps([m.text, m.blocks])
    )
    posted = [e.detail for e in await rows(room, Event) if e.kind == "escalation_notice_posted"]
    assert [(d["escalation_id"], d["message"], d["ts"]) for d in posted] == [
        (escalation.id, "page_failed", notice.ts)
    ]

    # Next time Slack refuses both the escalation message and the notice: both are recorded.
    pagerduty.script = [400]
    room.slack.fail_next("chat.postMessage", error="channel_not_found", times=2)
    await room.command(ALICE, "escalate sev2 market data feed stale")
    second = (await rows(room, Escalation))[-1]
    events = [(e.kind, e.detail) for e in await rows(room, Event)]
    assert ("escalation_post_failed", second.id) in [(k, d.get("escalation_id")) for k, d in events]
    failed = [d for k, d in events if k == "escalation_notice_failed"]
    assert [(d["escalation_id"], d["message"], d["error"]) for d in failed] == [
        (second.id, "page_failed", "channel_not_found")
    ]
    await room.chain_ok()


# --- kill-switch roles held through Slack user groups -------------------------------------------

TRADERS = "S0TRADERS1"


def trading_leads_by_group(config: AppConfig, slack: SlackStandIn) -> None:
    """Head of Trading is held by TRADING_LEAD directly and by everyone in the TRADERS group (BOB)."""
    config.roles["head_of_trading"] = RoleConfig(
        title="Head of Trading", users=[TRADING_LEAD], usergroups=[TRADERS]
    )
    slack.add_usergroup(TRADERS, [BOB])


async def test_killswitch_role_held_only_through_a_user_group_fires(
    room: WarRoom, config: AppConfig, killswitch: FakeKillSwitch
) -> None:
    trading_leads_by_group(config, room.slack)
    assert BOB not in config.roles["head_of_trading"].users  # not listed: only the group says so
    await room.command(ALICE, "start Trading v2")
    view = await open_modal(room, BOB)
    assert "will be refused and logged" not in json.dumps(view.view)
    sent = await submit(room, BOB, view, name="Trading v2", reason="runaway orders")
    assert sent.status == 200 and not room.slack.views[view.id].open
    (request,) = killswitch.requests
    assert request.json["requested_by"]["id"] == BOB and signed_ok(request)
    (stored,) = await rows(room, KillSwitchRequest)
    assert (stored.status, stored.requested_by_id) == ("confirmed", BOB)
    channel_has(room, "<!here>", "Kill switch FIRED and confirmed", f"<@{BOB}>")
    assert "killswitch_refused" not in await event_kinds(room)
    # The slash-command paths use the same membership: arm, then a dry run.
    await room.command(BOB, "killswitch arm")
    channel_has(room, "Kill switch for *Trading v2*", f"*armed* by <@{BOB}>")
    await room.command(BOB, "killswitch test")
    assert len(killswitch.requests) == 2 and killswitch.requests[1].json["dry_run"] is True
    kinds = await event_kinds(room)
    assert "killswitch_armed" in kinds and "killswitch_test_confirmed" in kinds
    assert "killswitch_refused" not in kinds
    # Looked up once, then cached (each later check answers before the ack without a Web API call).
    lookups = room.slack.calls_to("usergroups.users.list")
    assert [c.args.get("usergroup") for c in lookups] == [TRADERS]


async def test_killswitch_refuses_someone_outside_the_roles_user_group(
    room: WarRoom, config: AppConfig, killswitch: FakeKillSwitch
) -> None:
    trading_leads_by_group(config, room.slack)
    await room.command(ALICE, "start Trading v2")
    view = await open_modal(room, OUTSIDER)
    assert "will be refused and logged" in json.dumps(view.view)
    sent = await submit(room, OUTSIDER, view, name="Trading v2", reason="let me in")
    assert sent.json["response_action"] == "errors" and room.slack.views[view.id].open
    assert (
        "Only these roles may use the kill switch"
        in (room.slack.views[view.id].errors[IncidentBlock.KILLSWITCH_NAME])
    )
    await room.command(OUTSIDER, "killswitch arm")
    assert "Only these roles may use the kill switch" in room.ephemerals_for(OUTSIDER)[-1]
    assert killswitch.requests == [] and await rows(room, KillSwitchRequest) == []
    refused = [e for e in await rows(room, Event) if e.kind == "killswitch_refused"]
    assert [(e.actor_id, e.detail["why"]) for e in refused] == [
        (OUTSIDER, "fire: not in an allowed role"),
        (OUTSIDER, "arm: not in an allowed role"),
    ]
    assert "killswitch_armed" not in await event_kinds(room)
    assert room.slack.calls_to("usergroups.users.list")  # the group was really asked


async def test_killswitch_group_slack_does_not_answer_for_is_refused_and_logged_not_guessed(
    room: WarRoom, config: AppConfig, killswitch: FakeKillSwitch
) -> None:
    trading_leads_by_group(config, room.slack)
    await room.command(ALICE, "start Trading v2")
    room.slack.fail_next("usergroups.users.list", error="fatal_error", times=2)
    view = await open_modal(room, BOB)
    assert "will be refused and logged" not in json.dumps(view.view)  # unknown is not "no"
    sent = await submit(room, BOB, view, name="Trading v2", reason="runaway orders")
    assert sent.json["response_action"] == "errors"
    error = room.slack.views[view.id].errors[IncidentBlock.KILLSWITCH_NAME]
    assert f"could not check the members of @{TRADERS}" in error and "try again" in error
    assert killswitch.requests == [] and await rows(room, KillSwitchRequest) == []
    refused = [e for e in await rows(room, Event) if e.kind == "killswitch_refused"]
    assert [(e.actor_id, e.detail["why"]) for e in refused] == [
        (BOB, f"fire: could not check user group {TRADERS}")
    ]
    # Slack answers again: the same confirmation goes through.
    sent = await submit(room, BOB, view, name="Trading v2", reason="runaway orders")
    assert not room.slack.views[view.id].open
    assert len(killswitch.requests) == 1 and killswitch.halted


# --- restarts ----------------------------------------------------------------------------------


async def test_escalation_stored_but_never_sent_is_posted_and_paged_after_a_restart(
    schema_url: str,
    slack: SlackStandIn,
    config: AppConfig,
    template: ChecklistTemplate,
    pagerduty: FakePagerDuty,
) -> None:
    settings = make_settings(database_url=schema_url, api_url=slack.base_url)
    clock = FakeClock()
    async with running_bot(settings, config=config, template=template, clock=clock) as first:
        room = WarRoom(slack=slack, bot=first)
        await room.command(ALICE, "start Trading v2")
        # The process dies right after storing the escalation, before its follow-up ran.
        async with first.deps.db.sessions.begin() as session:
            await escalation_left_by_a_stop(
                session,
                room,
                config,
                clock(),
                severity="sev1",
                summary="order gateway rejecting all orders",
                request_key="slash:lost-follow-up",
            )
    assert pagerduty.requests == []
    clock.advance(seconds=1)
    async with running_bot(settings, config=config, template=template, clock=clock) as second:
        room = WarRoom(slack=slack, bot=second)
        await wait_for(lambda: len(pagerduty.requests) == 1, "the page")
        await eventually(lambda: page_status(room), "sent")
        # The message is re-rendered after the status is stored: wait for it, do not race it.
        await wait_for(
            lambda: "PagerDuty paged (1 try)" in block_texts(escalation_message(room)),
            "the escalation message to say the page went out",
        )


async def page_status(room: WarRoom) -> str:
    (escalation,) = await rows(room, Escalation)
    return str(escalation.page_status)


async def leave_killswitch_request(
    bot: RunningBot, room: WarRoom, config: AppConfig, at: datetime, *, sending: bool
) -> None:
    """What a stopped bot leaves: a request stored (``pending``: the process died before claiming
    it, nothing sent) or claimed for sending (``sending``: the POST may have left)."""
    async with bot.deps.db.sessions.begin() as session:
        launch = await incident_launch(session=session, channel_id=room.channel)
        request, _ = await request_killswitch(
            session=session,
            config=config,
            launch_id=launch.id,
            channel_id=room.channel,
            actor=Actor(CTO, "carol"),
            reason="runaway orders",
            dry_run=False,
            at=at,
            request_key="view:V-lost",
            usergroup_members={},
        )
        if sending:
            await record_killswitch_sending(session=session, request_pk=request.id, at=at)


async def test_kill_switch_cut_off_by_a_restart_is_announced_as_unknown_not_refired(
    schema_url: str,
    slack: SlackStandIn,
    config: AppConfig,
    template: ChecklistTemplate,
    killswitch: FakeKillSwitch,
) -> None:
    """Left ``sending``: the POST may have reached the trading system, so the state is UNKNOWN."""
    settings = make_settings(database_url=schema_url, api_url=slack.base_url)
    clock = FakeClock()
    async with running_bot(settings, config=config, template=template, clock=clock) as first:
        room = WarRoom(slack=slack, bot=first)
        await room.command(ALICE, "start Trading v2")
        await leave_killswitch_request(first, room, config, clock(), sending=True)
    clock.advance(minutes=3)
    async with running_bot(settings, config=config, template=template, clock=clock) as second:
        room = WarRoom(slack=slack, bot=second)
        await wait_for(
            lambda: any("Kill switch state UNKNOWN" in t for t in texts(room)), "the warning"
        )
        unknown = channel_has(
            room, "<!here>", "Kill switch state UNKNOWN", "Check the trading system"
        )
        assert (
            "+1 555 0100" in unknown and "restarted before the trading system answered" in unknown
        )
        assert not any("NOT sent" in t for t in texts(room))
        await eventually(lambda: killswitch_statuses(room), ["unknown"])
        await eventually(lambda: announced(room), [("unknown", True)])
        assert all(ActionId.KILLSWITCH_AGAIN not in buttons(m) for m in room.top_level())
    assert killswitch.requests == []  # never fired minutes late behind anyone's back


async def test_kill_switch_never_sent_before_a_restart_says_so_and_fires_again_only_confirmed(
    schema_url: str,
    slack: SlackStandIn,
    config: AppConfig,
    template: ChecklistTemplate,
    killswitch: FakeKillSwitch,
) -> None:
    """Left ``pending`` (killed right after the modal's ack): nothing reached the trading system.
    The channel is told it was NOT sent (not UNKNOWN), with "Fire again…", which opens the same
    confirmation for allowed roles only; nothing is sent until that is submitted."""
    settings = make_settings(database_url=schema_url, api_url=slack.base_url)
    clock = FakeClock()
    async with running_bot(settings, config=config, template=template, clock=clock) as first:
        room = WarRoom(slack=slack, bot=first)
        await room.command(ALICE, "start Trading v2")
        await leave_killswitch_request(first, room, config, clock(), sending=False)
    clock.advance(minutes=3)
    async with running_bot(settings, config=config, template=template, clock=clock) as second:
        room = WarRoom(slack=slack, bot=second)
        await wait_for(lambda: any("Kill switch NOT sent" in t for t in texts(room)), "the notice")
        await room.settle()
        said = channel_has(room, "<!here>", "Kill switch NOT sent", "Trading was not halted")
        assert "nothing reached the trading system" in said and "runaway orders" in said
        assert not any("UNKNOWN" in t for t in texts(room))
        assert await killswitch_statuses(room) == ["not_sent"]
        await eventually(lambda: announced(room), [("not_sent", True)])
        await wait_for(lambda: "last fire never sent" in json.dumps(room.card().blocks), "card")
        notice = next(m for m in room.top_level() if "Kill switch NOT sent" in (m.text or ""))
        assert buttons(notice) == [ActionId.KILLSWITCH_AGAIN]
        assert killswitch.requests == []

        # Someone outside the allowed roles: refused and logged, no confirmation opens.
        await click(room, OUTSIDER, notice, ActionId.KILLSWITCH_AGAIN)
        assert "Only these roles may use the kill switch" in room.ephemerals_for(OUTSIDER)[-1]
        assert room.slack.open_views(OUTSIDER) == []
        refused = [e for e in await rows(room, Event) if e.kind == "killswitch_refused"]
        assert [(e.actor_id, e.detail["why"]) for e in refused] == [
            (OUTSIDER, "fire again: not in an allowed role")
        ]

        # The CTO: the same confirmation as /launch killswitch (the reason filled in); nothing is
        # sent by the press itself, and a wrong name is refused as always.
        await click(room, CTO, notice, ActionId.KILLSWITCH_AGAIN)
        (view,) = room.slack.open_views(CTO)
        modal = json.dumps(view.view)
        assert "Type the launch name to confirm" in modal and "runaway orders" in modal
        assert killswitch.requests == []
        await submit(room, CTO, view, name="trading v2", reason="runaway orders")
        assert room.slack.views[view.id].open and killswitch.requests == []
        await submit(room, CTO, view, name="Trading v2", reason="runaway orders, again")
        (request,) = killswitch.requests
        assert request.json["reason"] == "runaway orders, again" and signed_ok(request)
        assert await killswitch_statuses(room) == ["not_sent", "confirmed"]
        channel_has(room, "<!here>", "Kill switch FIRED and confirmed")


async def test_a_fire_again_button_from_another_channel_is_refused(
    schema_url: str,
    slack: SlackStandIn,
    config: AppConfig,
    template: ChecklistTemplate,
    killswitch: FakeKillSwitch,
) -> None:
    settings = make_settings(database_url=schema_url, api_url=slack.base_url)
    clock = FakeClock()
    async with running_bot(settings, config=config, template=template, clock=clock) as first:
        room = WarRoom(slack=slack, bot=first)
        await room.command(ALICE, "start Trading v2")
        await leave_killswitch_request(first, room, config, clock(), sending=False)
    clock.advance(minutes=3)
    async with running_bot(settings, config=config, template=template, clock=clock) as second:
        room = WarRoom(slack=slack, bot=second)
        await wait_for(lambda: any("Kill switch NOT sent" in t for t in texts(room)), "the notice")
        await room.settle()
        notice = next(m for m in room.top_level() if "Kill switch NOT sent" in (m.text or ""))
        body, _ = room.slack.button_click(
            user_id=CTO,
            channel_id=room.channel,
            message_ts=notice.ts,
            action_id=ActionId.KILLSWITCH_AGAIN,
        )
        other = "C0OTHER001"
        forged = room.forge(body, lambda p: p["container"].update(channel_id=other))
        status, _ = await room.dispatch(*forged)
        await room.settle()
        assert status == 200 and room.slack.open_views(CTO) == []
        assert any("another channel" in t for t in room.ephemerals_for(CTO))
    assert killswitch.requests == []


async def test_a_page_cut_off_by_a_restart_is_unknown_not_resent_and_page_again_sends_it(
    schema_url: str,
    slack: SlackStandIn,
    config: AppConfig,
    template: ChecklistTemplate,
    pagerduty: FakePagerDuty,
) -> None:
    """A trigger left ``sending`` may have paged: said UNKNOWN with who to phone and "Page again"
    (same dedup key), not sent again on its own; a trigger never sent is sent after the restart
    (``test_escalation_stored_but_never_sent_is_posted_and_paged_after_a_restart``)."""
    settings = make_settings(database_url=schema_url, api_url=slack.base_url)
    clock = FakeClock()
    async with running_bot(settings, config=config, template=template, clock=clock) as first:
        room = WarRoom(slack=slack, bot=first)
        await room.command(ALICE, "start Trading v2")
        async with first.deps.db.sessions.begin() as session:
            await escalation_left_by_a_stop(
                session,
                room,
                config,
                clock(),
                severity="sev1",
                summary="order gateway rejecting all orders",
                request_key="slash:cut-off",
                sending=True,
            )
    clock.advance(seconds=1)
    async with running_bot(settings, config=config, template=template, clock=clock) as second:
        room = WarRoom(slack=slack, bot=second)
        await eventually(lambda: page_status(room), "unknown")
        await wait_for(
            lambda: any("PagerDuty page state UNKNOWN" in t for t in texts(room)), "the notice"
        )
        await room.settle()
        message = escalation_message(room)
        assert "PagerDuty page UNKNOWN" in block_texts(message)
        assert ActionId.ESCALATION_REPAGE in buttons(message)
        (alert,) = room.slack.thread(room.channel, message.ts)
        assert "+1 555 0100" in alert.text or "+1 555 0100" in json.dumps(alert.blocks)
        assert pagerduty.requests == []
        await click(room, BOB, message, ActionId.ESCALATION_REPAGE)
        (trigger,) = pagerduty.requests
        (stored,) = await rows(room, Escalation)
        assert trigger["dedup_key"] == stored.dedup_key and stored.page_status == "sent"
        kinds = await event_kinds(room)
        assert kinds.index("pagerduty_trigger_sending") < kinds.index("pagerduty_trigger_unknown")
        assert "pagerduty_trigger_sent" in kinds
        await room.chain_ok()


async def test_acknowledge_and_resolve_cut_off_by_a_restart_still_reach_pagerduty(
    schema_url: str,
    slack: SlackStandIn,
    config: AppConfig,
    template: ChecklistTemplate,
    pagerduty: FakePagerDuty,
) -> None:
    """Acknowledge and Resolve are stored before the ack; PagerDuty is told after it. A process
    killed in between must not leave PagerDuty paging the on-call for an incident Slack shows as
    taken or resolved: the next start sends what PagerDuty was never told (same dedup key), and
    the resolve's note reaches the thread."""
    settings = make_settings(database_url=schema_url, api_url=slack.base_url)
    clock = FakeClock()
    async with running_bot(settings, config=config, template=template, clock=clock) as first:
        room = WarRoom(slack=slack, bot=first)
        await room.command(ALICE, "start Trading v2")
        await room.command(ALICE, "escalate sev1 order gateway rejecting all orders")
        await room.command(ALICE, "escalate sev2 fills delayed")
        assert pagerduty.actions() == ["trigger", "trigger"]
        taken, ended = await rows(room, Escalation)
        # Both presses commit; the process dies before either follow-up runs.
        async with first.deps.db.sessions.begin() as session:
            await acknowledge(
                session=session,
                escalation_id=taken.id,
                actor=Actor(BOB, "bob"),
                at=clock(),
                source="block_actions:1:U0BOB00001",
            )
            await resolve(
                session=session,
                escalation_id=ended.id,
                actor=Actor(BOB, "bob"),
                at=clock(),
                source="block_actions:2:U0BOB00001",
            )
            # A third one was resolved while its trigger was being sent: it may have paged.
            sent_blind = await escalation_left_by_a_stop(
                session,
                room,
                config,
                clock(),
                severity="sev3",
                summary="dashboards slow",
                request_key="slash:sent-blind",
                sending=True,
            )
            await resolve(
                session=session,
                escalation_id=sent_blind.id,
                actor=Actor(BOB, "bob"),
                at=clock(),
                source="block_actions:3:U0BOB00001",
            )
    clock.advance(seconds=1)
    async with running_bot(settings, config=config, template=template, clock=clock) as second:
        room = WarRoom(slack=slack, bot=second)
        await wait_for(lambda: len(pagerduty.requests) == 5, "PagerDuty told")
        assert pagerduty.incidents[taken.dedup_key].status == "acknowledged"
        assert pagerduty.incidents[ended.dedup_key].status == "resolved"
        assert pagerduty.requests[-1]["event_action"] == "resolve"
        assert {r["dedup_key"] for r in pagerduty.requests[2:]} == {
            taken.dedup_key,
            ended.dedup_key,
            sent_blind.dedup_key,
        }
        await eventually(
            lambda: _resolve_statuses(room),
            [(taken.id, None), (ended.id, "sent"), (sent_blind.id, "sent")],
        )
        message = next(
            m
            for m in room.slack.messages.get(room.channel, [])
            if m.blocks and f"Escalation #{ended.id}" in json.dumps(m.blocks[0])
        )
        await wait_for(
            lambda: any(
                "PagerDuty incident resolved" in (r.text or "")
                for r in room.slack.thread(room.channel, message.ts)
            ),
            "the resolve's note in the escalation's thread",
        )
        kinds = await event_kinds(room)
        assert "pagerduty_acknowledge_sent" in kinds and "pagerduty_resolve_sent" in kinds
        await room.chain_ok()
    # A later start has nothing left to tell PagerDuty.
    async with running_bot(settings, config=config, template=template, clock=clock) as third:
        await third.deps.tasks.idle()
    assert len(pagerduty.requests) == 5


async def _resolve_statuses(room: WarRoom) -> list[tuple[int, str | None]]:
    return [(e.id, e.resolve_status) for e in await rows(room, Escalation)]


async def killswitch_statuses(room: WarRoom) -> list[str]:
    return [r.status for r in await rows(room, KillSwitchRequest)]


async def announced(room: WarRoom) -> list[tuple[str, bool]]:
    return [
        (e.detail["message"], bool(e.detail["ts"]))
        for e in await rows(room, Event)
        if e.kind == "killswitch_announced"
    ]


# --- end to end through `launchbot serve` -------------------------------------------------------


def incident_toml(pagerduty: FakePagerDuty, killswitch: FakeKillSwitch) -> str:
    return f"""
[roles.cto]
title = "CTO"
users = ["{CTO}"]

[roles.head_of_trading]
title = "Head of Trading"
users = ["{TRADING_LEAD}"]

[contacts.internal."CTO"]
user = "{CTO}"
phone = "+1 555 0100"

[escalation]
poll_seconds = 0.2
levels = [
  {{ name = "On-call engineer", users = ["{OPS}"], wait_minutes = 5 }},
  {{ name = "Leads", users = ["{TRADING_LEAD}"], usergroups = ["S0LEADS001"], wait_minutes = 10 }},
]

[killswitch]
url = "{killswitch.url}"
allowed_roles = ["cto", "head_of_trading"]
secret = "{KILL_SECRET}"
timeout_seconds = 2
backoff_seconds = 0.05

[pagerduty]
url = "{pagerduty.url}"
routing_key = "{ROUTING_KEY}"
backoff_seconds = 0.05
"""


@pytest.fixture
async def served_incidents(
    database_url: str,
    tmp_path: Path,
    pagerduty: FakePagerDuty,
    killswitch: FakeKillSwitch,
) -> AsyncIterator[tuple[SlackStandIn, BotProcess]]:
    port = free_port()
    slack = SlackStandIn(
        bot_token=BOT_TOKEN,
        signing_secret=SIGNING_SECRET,
        app_url=f"http://127.0.0.1:{port}/slack/events",
    )
    for user_id, (name, real_name) in USERS.items():
        slack.add_user(user_id, name, real_name)
    await slack.start()
    config_path = tmp_path / "launchbot.toml"
    config_path.write_text(incident_toml(pagerduty, killswitch))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "LAUNCHBOT_", "DATABASE_URL"))
    }
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.base_url,
        DATABASE_URL=database_url,
        LAUNCHBOT_CONFIG=str(config_path),
    )
    bot = BotProcess(env, port, slack)
    await bot.start()
    try:
        yield slack, bot
    finally:
        if bot.proc and bot.proc.poll() is None:
            bot.stop()
        await slack.stop()


async def test_escalation_and_kill_switch_through_the_served_bot(
    served_incidents: tuple[SlackStandIn, BotProcess],
    pagerduty: FakePagerDuty,
    killswitch: FakeKillSwitch,
) -> None:
    slack, bot = served_incidents
    channel = "C0WARROOM1"

    def said(*needles: str) -> bool:
        return any(
            all(n in json.dumps([m.text, m.blocks], ensure_ascii=False) for n in needles)
            for m in slack.messages.get(channel, [])
        )

    assert (
        await slack.send(*slack.slash_command(user_id=ALICE, text="start Trading v2"))
    ).status == 200
    await wait_for(lambda: said("🚀 Trading v2"), "the launch card")

    sent = await slack.send(
        *slack.slash_command(user_id=ALICE, text="escalate sev1 order gateway rejecting all orders")
    )
    assert sent.status == 200
    await wait_for(lambda: said("PagerDuty paged (1 try)"), "the escalation with its page")
    (trigger,) = pagerduty.requests
    assert trigger["payload"]["custom_details"]["launch"] == "Trading v2"
    assert trigger["payload"]["custom_details"]["slack_message"].startswith(slack.url)

    assert (await slack.send(*slack.slash_command(user_id=CTO, text="killswitch"))).status == 200
    await wait_for(lambda: bool(slack.open_views(CTO)), "the confirmation modal")
    view = slack.open_views(CTO)[-1]
    values = {
        IncidentBlock.KILLSWITCH_NAME: {
            ActionId.KILLSWITCH_NAME: {"type": "plain_text_input", "value": "Trading v2"}
        },
        IncidentBlock.KILLSWITCH_REASON: {
            ActionId.KILLSWITCH_REASON: {"type": "plain_text_input", "value": "runaway orders"}
        },
    }
    sent = await slack.send(*slack.view_submission(user_id=CTO, view_id=view.id, values=values))
    assert sent.status == 200 and not slack.views[view.id].open
    await wait_for(lambda: said("<!here>", "Kill switch FIRED and confirmed"), "the announcement")
    (request,) = killswitch.requests
    assert signed_ok(request) and request.json["launch"] == "Trading v2"
    assert killswitch.halted == [request.json["request_id"]]


def test_every_incident_config_key_is_in_the_readme_and_the_example() -> None:
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    section = readme[readme.index("## Incidents: contacts, escalation, kill switch") :]
    example = (root / "launchbot.example.toml").read_text()
    parsed = load_config(root / "launchbot.example.toml")
    assert parsed.escalation.levels and parsed.killswitch.secret and parsed.contacts.internal
    for model in (
        InternalContact,
        ExternalContact,
        EscalationLevel,
        EscalationConfig,
        KillSwitchConfig,
        PagerDutyConfig,
    ):
        for key in model.model_fields:
            assert re.search(rf"[`{{ ]{key}[`, =]", section), (model.__name__, key)
            assert re.search(rf"\b{key} =", example), (model.__name__, key)


async def test_the_report_has_kill_switch_requests_and_their_outcomes(
    room: WarRoom, killswitch: FakeKillSwitch
) -> None:
    """The incident timeline (Markdown) and the export (JSON) both say who asked to fire the kill
    switch, why, and how it ended: confirmed, or failed after its tries; a refusal too."""
    await room.command(ALICE, "start Trading v2")
    view = await open_modal(room, CTO)
    await submit(room, CTO, view, name="Trading v2", reason="order gateway <b>rejecting</b> orders")
    killswitch.script = [500, 500, 500]
    view = await open_modal(room, TRADING_LEAD)
    await submit(room, TRADING_LEAD, view, name="Trading v2", reason="runaway orders")
    view = await open_modal(room, OUTSIDER)
    await submit(room, OUTSIDER, view, name="Trading v2", reason="I think it looks wrong")
    await room.settle()

    text = await markdown_report(room)
    timeline = text.split("## Incident timeline", 1)[1].split("\n## ", 1)[0]
    rows = [line.split(" | ")[1:3] for line in timeline.splitlines() if line.startswith("| 2")]
    assert rows == [
        [
            "🛑 Kill switch requested: order gateway &lt;b&gt;rejecting&lt;/b&gt; orders",
            f"carol ({CTO})",
        ],
        ["🔴 Kill switch FIRED and confirmed (HTTP 200, 1 try)", "Launch Control (launchbot)"],
        ["🛑 Kill switch requested: runaway orders", f"{TRADING_LEAD.lower()} ({TRADING_LEAD})"],
        [rows[3][0], "Launch Control (launchbot)"],
        [rows[4][0], rows[4][1]],
    ], timeline
    # Each fact once: not "HTTP 500, 3 tries, HTTP 500: … (after 3 tries)".
    assert rows[3][0] == '❌ Kill switch FAILED (HTTP 500, 3 tries, {"error": "scripted 500"})', (
        rows
    )
    assert rows[4][0].startswith("🚫 Kill switch refused: ") and OUTSIDER in rows[4][1], rows[4]

    record = json.loads(
        await export_launch(
            room.bot.deps.settings.database_url,
            "1",
            "json",
            roles=room.bot.deps.config.roles,
            now=room.bot.deps.clock(),
        )
    )
    told = [
        (e["kind"], e["actor"]["id"], e["detail"].get("reason"), e["detail"].get("http_status"))
        for e in record["events"]
        if e["kind"]
        in (
            "killswitch_requested",
            "killswitch_confirmed",
            "killswitch_failed",
            "killswitch_refused",
        )
    ]
    assert told == [
        ("killswitch_requested", CTO, "order gateway <b>rejecting</b> orders", None),
        ("killswitch_confirmed", "launchbot", None, 200),
        ("killswitch_requested", TRADING_LEAD, "runaway orders", None),
        ("killswitch_failed", "launchbot", None, 500),
        ("killswitch_refused", OUTSIDER, None, None),
    ]


async def test_the_markdown_report_has_an_incident_timeline_in_words(
    room: WarRoom, pagerduty: FakePagerDuty, clock: FakeClock
) -> None:
    await room.command(ALICE, "start P&L Engine v2")
    await room.command(ALICE, "escalate sev1 order gateway <b>rejecting</b> all orders")
    await click(room, BOB, escalation_message(room), ActionId.ESCALATION_ACK)
    # A second one nobody answers: it climbs the whole path on its own.
    await room.command(ALICE, "escalate sev2 latency p99 above 40ms")
    second = escalation_message(room)
    await climb_whole_path(room, clock, second)
    await room.settle()
    text = await markdown_report(room)
    assert "# Launch report: P&L Engine v2 (#1)" in text and "&amp;" not in text
    timeline = text.split("## Incident timeline", 1)[1].split("\n## ", 1)[0]
    assert "| At | What happened | By | Event |" in timeline
    assert (
        "🚨 sev1 escalation #1 opened: order gateway &lt;b&gt;rejecting&lt;/b&gt; all orders"
        in timeline
    )
    assert "📟 PagerDuty paged for escalation #1" in timeline
    # Levels are numbered as the escalation card numbers them (1. On-call engineer, 2. Leads, …).
    # (Time to acknowledge: the seconds the click took on this machine's clock, 0 unless loaded.)
    assert re.search(
        r"✋ escalation #1 acknowledged at level 1 \(On-call engineer\) — time to acknowledge \d+ s",
        timeline,
    )
    assert "⏫ escalation #2 escalated to level 2 (Leads)" in timeline
    assert "📣 escalation #2: level 2 (Leads) pinged in the channel" in timeline
    assert "⏫ escalation #2 escalated to level 3 (CTO)" in timeline
    assert "⛔ escalation #2: the escalation path is exhausted" in timeline
    assert (
        "📣 escalation #2: the emergency contacts (after the whole path) pinged in the channel"
        in timeline
    )
    assert "level 0" not in timeline
    # The event log reads as words too: no JSON objects in its cells.
    log = text.split("## Event log", 1)[1]
    assert '{"' not in log and "escalation_id: 1" in log
