"""Items the bot can prove: a passed kill-switch dry run, arming the kill switch, a clean
``/launch verify`` and a test page PagerDuty accepted each tick their item in the prover's name, with
a link to the bot's message recording it; a failure ticks nothing and says so. Items are found by
key (the bundled table, or a custom template's ``{#key}`` marker), never by their text."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select, update

import commands.verify
from bot.audit.record.build import build_record
from bot.checklist import proofs
from bot.checklist.parser import parse_template
from bot.checklist.rules import set_items_checked
from bot.checklist.template import ChecklistTemplate
from bot.core.config import AppConfig
from bot.core.events import SYSTEM, Actor
from bot.core.models import (
    Escalation,
    EscalationLevelPing,
    Event,
    Item,
    ItemGroup,
    Phase,
    Section,
)
from bot.incidents.escalation_test_page import request_escalation_test
from bot.runtime import RunningBot, running_bot
from bot.standin import SlackStandIn
from bot.standin.outside import FakeKillSwitch, FakePagerDuty
from tests.conftest import FakeClock, make_settings
from tests.incidents import test_incidents
from tests.incidents.test_incidents import ALICE, CTO, channel_has, event_kinds, rows
from tests.warroom import WarRoom, wait_for

config, running = test_incidents.config, test_incidents.running


async def post_next_phase(room: WarRoom) -> None:
    """Setup, not the behaviour under test: every open item of the posted phases ticked (by the bot,
    which may tick go-live steps too), then the next phase posted with `/launch phase next`."""
    async with room.bot.deps.db.sessions.begin() as session:
        open_items = (
            await session.scalars(
                select(Item.id)
                .join(ItemGroup, ItemGroup.id == Item.group_id)
                .join(Section, Section.id == ItemGroup.section_id)
                .join(Phase, Phase.id == Section.phase_id)
                .where(Phase.posted_at.is_not(None), Phase.kind == "checklist")
                .where(Item.checked.is_(False))
            )
        ).all()
        await set_items_checked(
            session=session,
            launch_id=1,
            desired=dict.fromkeys(open_items, True),
            actor=SYSTEM,
            at=room.bot.deps.clock(),
            source="test setup",
            dedup_key=f"setup-{len(open_items)}",
        )
    await room.command(ALICE, "phase next")


def proof_line(room: WarRoom, item: str) -> str:
    """The line under the item's group that names what proved it."""
    message, _ = room.message_with_item(item)
    for block in message.blocks:
        text = block.get("text", {}).get("text", "") if block["type"] == "section" else ""
        for line in text.split("\n"):
            if f"“{item}” — proof:" in line:
                return line
    raise AssertionError(f"no proof shown for {item!r}")


def link_to(message: Any) -> str:
    return f"/archives/{message.channel}/p{message.ts.replace('.', '')}"


def thread_message(room: WarRoom, needle: str) -> Any:
    found = [m for m in room.thread() if needle in (m.text or "") + json.dumps(m.blocks or [])]
    assert found, f"no thread message with {needle!r}"
    return found[-1]


async def item_row(room: WarRoom, text: str) -> Item:
    async with room.bot.deps.db.read_sessions() as session:
        item = await session.scalar(select(Item).where(Item.text == text))
    assert item is not None
    return item


# --- the kill switch ----------------------------------------------------------------------------


async def test_a_passed_dry_run_ticks_kill_switch_tested_and_links_its_report(
    room: WarRoom, killswitch: FakeKillSwitch
) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.command(CTO, "killswitch test")
    await room.settle()
    assert room.is_checked("Kill switch tested")
    assert room.item_option("Kill switch tested")["description"]["text"].startswith("✓ carol")
    report = thread_message(room, "passed: HTTP 200")
    line = proof_line(room, "Kill switch tested")
    assert link_to(report) in line and "|kill-switch dry run passed>" in line, line
    (checked,) = list(await room.events("item_checked"))
    assert (checked.actor_id, checked.detail["proof"]) == (CTO, "killswitch_test")
    await room.chain_ok()


async def test_arming_ticks_kill_switch_armed_for_the_armer_with_a_link_to_the_announcement(
    room: WarRoom, killswitch: FakeKillSwitch
) -> None:
    await room.command(ALICE, "start Trading v2")
    await post_next_phase(room)
    await room.command(ALICE, "killswitch arm")  # not an allowed role: refused, nothing ticked
    assert "Only these roles may use the kill switch" in room.ephemerals_for(ALICE)[-1]
    assert not room.is_checked("Kill switch armed")
    await room.command(CTO, "killswitch arm")
    announcement = [m for m in room.top_level() if "*armed* by <@U0CTO00001>" in (m.text or "")]
    # Two sentences: who armed it and when, then what that did to the checklist.
    assert announcement and re.search(
        r"UTC>\. Ticked “Kill switch armed”\.$", announcement[-1].text
    )
    assert room.is_checked("Kill switch armed")
    assert room.item_option("Kill switch armed")["description"]["text"].startswith("✓ carol")
    line = proof_line(room, "Kill switch armed")
    assert link_to(announcement[-1]) in line and "|kill switch armed>" in line, line
    # Disarming is told too, and the checklist no longer says "armed" for a switch that is not.
    await room.command(CTO, "killswitch disarm")
    channel_has(
        room,
        "Kill switch for *Trading v2*",
        "*disarmed* by <@U0CTO00001>",
        "UTC>. Unticked “Kill switch armed”: the switch is no longer armed.",
    )
    assert not room.is_checked("Kill switch armed")
    with pytest.raises(AssertionError, match="no proof shown"):
        proof_line(room, "Kill switch armed")
    unticks = await room.events("item_unchecked")
    assert [e.actor_id for e in unticks] == [CTO]
    await room.chain_ok()


async def test_arming_before_its_phase_is_posted_says_why_it_ticked_nothing(
    room: WarRoom, killswitch: FakeKillSwitch
) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.command(CTO, "killswitch arm")
    channel_has(
        room, "*armed* by <@U0CTO00001>", "Not ticked in the checklist", "is not posted yet"
    )
    assert "proof_not_ticked" in await event_kinds(room)
    assert (await item_row(room, "Kill switch armed")).checked is False


# --- the prover's display name ------------------------------------------------------------------

PROVEN_BY_COMMAND = [
    # (phases posted after the first, the command, the item it proves)
    (0, "killswitch test", "Kill switch tested"),
    (1, "killswitch arm", "Kill switch armed"),
    (1, "escalate test", "Escalation working"),
    (2, "verify", "Audit trail complete"),
]


@pytest.mark.parametrize(("phases", "command", "item"), PROVEN_BY_COMMAND)
async def test_a_proof_tick_shows_the_provers_display_name_once_users_info_answers(
    room: WarRoom,
    killswitch: FakeKillSwitch,
    pagerduty: FakePagerDuty,
    phases: int,
    command: str,
    item: str,
) -> None:
    """Slack's name for the prover is not known yet when the proof ticks (the command carries the
    handle): the item shows the display name once users.info answers, as a click's tick does."""
    room.slack.add_user(CTO, "carol", "Carol CTO", display_name="Carol C")
    await room.command(ALICE, "start Trading v2")
    for _ in range(phases):
        await post_next_phase(room)
    await room.command(CTO, command)
    await room.settle()
    assert room.is_checked(item)
    assert room.item_option(item)["description"]["text"].startswith("✓ Carol C · ")
    assert (await item_row(room, item)).changed_by_name == "Carol C"
    [checked] = [e for e in await room.events("item_checked") if e.actor_id == CTO]
    assert checked.actor_name == "carol"  # the log keeps what was known when it was ticked
    [resolved] = await room.events("display_name_resolved")
    assert resolved.detail["user_id"] == CTO and resolved.detail["name"] == "Carol C"
    await room.chain_ok()


@pytest.mark.parametrize(("phases", "command", "item"), PROVEN_BY_COMMAND)
async def test_a_proof_by_someone_slack_has_named_ticks_under_the_display_name(
    room: WarRoom,
    killswitch: FakeKillSwitch,
    pagerduty: FakePagerDuty,
    phases: int,
    command: str,
    item: str,
) -> None:
    """Once Slack's name for the prover is cached (here: they ticked something before), the proof
    is recorded under it straight away, like their clicks and sign-offs: never the handle."""
    room.slack.add_user(CTO, "carol", "Carol CTO", display_name="Carol C")
    await room.command(ALICE, "start Trading v2")
    for _ in range(phases):
        await post_next_phase(room)
    await room.click(CTO, "Failover tested")
    await room.command(CTO, command)
    await room.settle()
    assert room.item_option(item)["description"]["text"].startswith("✓ Carol C · ")
    names = {e.detail["text"]: e.actor_name for e in await room.events("item_checked")}
    assert names[item] == "Carol C"
    assert await room.events("display_name_resolved") == []


# --- /launch verify -----------------------------------------------------------------------------


async def test_verify_at_t_plus_1_ticks_audit_trail_complete_and_says_what_was_verified(
    room: WarRoom,
) -> None:
    await room.command(ALICE, "start Trading v2")
    await post_next_phase(room)
    await post_next_phase(room)
    sent = await room.command(ALICE, "verify")
    assert "Verifying the audit trail" in sent.json["text"]
    await room.settle()
    events_before = len(await room.events()) - 3  # the verification, the click marker, the tick
    report = thread_message(room, "Audit trail verified by")
    shown = report.blocks[0]["text"]["text"]
    assert f"*{events_before} events*" in shown and "hash chain intact" in shown, shown
    assert "Ticked “Audit trail complete”." in shown
    assert room.is_checked("Audit trail complete")
    assert room.item_option("Audit trail complete")["description"]["text"].startswith("✓ alice")
    line = proof_line(room, "Audit trail complete")
    assert link_to(report) in line and "|audit chain verified>" in line, line
    await room.chain_ok()
    # The report shows the tick and what proved it.
    async with room.bot.deps.db.read_sessions() as session:
        record = await build_record(
            session=session, launch_id=1, now=room.bot.deps.clock(), roles={}
        )
    items = [
        i
        for p in record["phases"]
        for s in p["sections"]
        for g in s["groups"]
        for i in g["items"]
        if i["text"] == "Audit trail complete"
    ]
    assert (
        items[0]["proof"]["kind"] == "audit_verify" and link_to(report) in items[0]["proof"]["link"]
    )
    assert items[0]["history"][-1]["proof"] == "audit_verify"


async def test_verify_of_a_tampered_chain_alarms_the_channel_and_ticks_nothing(
    room: WarRoom,
) -> None:
    await room.command(ALICE, "start Trading v2")
    await post_next_phase(room)
    await post_next_phase(room)
    await room.click(ALICE, "Overnight stability confirmed")
    async with room.bot.deps.db.sessions.begin() as session:  # an edited row, behind the bot's back
        await session.execute(
            update(Event)
            .where(Event.kind == "item_checked", Event.source.not_like("test setup%"))
            .values(actor_name="Mallory")
        )
    await room.command(CTO, "verify")
    await room.settle()
    alarm = channel_has(
        room, "<!here>", "The audit trail of Trading v2 is BROKEN", "Nothing was ticked"
    )
    assert "its content does not match its hash" in alarm
    assert not room.is_checked("Audit trail complete")
    assert "audit_verify_failed" in await event_kinds(room)
    ticked = [e.detail["text"] for e in await room.events("item_checked")]
    assert "Overnight stability confirmed" in ticked and "Audit trail complete" not in ticked


async def test_verify_takes_no_arguments(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    before = await event_kinds(room)
    await room.command(ALICE, "verify now")
    refusal = room.ephemerals_for(ALICE)[-1]
    assert "takes no arguments" in refusal and "Usage: `/launch verify`" in refusal
    assert await event_kinds(room) == before


# --- /launch escalate test ----------------------------------------------------------------------


async def test_an_accepted_test_page_ticks_escalation_working_and_opens_no_escalation(
    room: WarRoom, pagerduty: FakePagerDuty
) -> None:
    await room.command(ALICE, "start Trading v2")
    await post_next_phase(room)
    sent = await room.command(ALICE, "escalate test")
    assert "TEST page" in sent.json["text"] and sent.json["response_type"] == "ephemeral"
    await room.settle()
    (event,) = pagerduty.requests
    payload = event["payload"]
    assert event["event_action"] == "trigger" and payload["severity"] == "info"
    assert payload["summary"].startswith("TEST:") and "-escalation-test-" in event["dedup_key"]
    report = thread_message(room, "PagerDuty *accepted* the TEST page")
    shown = report.blocks[0]["text"]["text"]
    assert "acknowledge, then resolve the TEST incident in PagerDuty" in shown
    assert "Ticked “Escalation working”." in shown
    assert room.is_checked("Escalation working")
    assert room.item_option("Escalation working")["description"]["text"].startswith("✓ alice")
    line = proof_line(room, "Escalation working")
    assert link_to(report) in line and "|test page accepted by PagerDuty>" in line, line
    # No escalation, no on-call pings, nothing posted in the channel.
    assert await rows(room, Escalation) == [] and await rows(room, EscalationLevelPing) == []
    assert not any("Escalation #" in (m.text or "") for m in room.top_level())
    await room.chain_ok()
    # The report's incident timeline has the test page, not an escalation.
    timeline = await report_timeline(room)
    assert "🧪 Escalation test: TEST page to PagerDuty requested" in timeline
    assert "🧪 Escalation test: PagerDuty accepted the TEST page (HTTP 202, 1 try)" in timeline
    assert "escalation #" not in timeline


async def report_timeline(room: WarRoom) -> str:
    """The Markdown report's incident timeline section."""
    text = await test_incidents.markdown_report(room)
    return text.split("## Incident timeline", 1)[1].split("\n## ", 1)[0]


async def escalation_test_against(
    room: WarRoom, pagerduty: FakePagerDuty, script: list[Any]
) -> None:
    """``/launch escalate test`` on a started launch, PagerDuty answering as ``script`` says
    ("hang": no answer within the configured 0.5 s timeout)."""
    pagerduty.script = list(script)
    pagerduty.hang_seconds = 1.0
    await room.command(ALICE, "start Trading v2")
    await post_next_phase(room)
    await room.command(ALICE, "escalate test")
    await room.settle()


@pytest.mark.parametrize(
    ("script", "said"),
    [
        ([400], "*did not accept* the TEST page — HTTP 400"),
        ([500, 500, 500], "*did not accept* the TEST page — HTTP 500"),
        (["hang", "hang", "hang"], "*did not answer* the TEST page"),
    ],
)
async def test_a_refused_failed_or_unanswered_test_page_ticks_nothing_and_says_so(
    room: WarRoom, pagerduty: FakePagerDuty, script: list[Any], said: str
) -> None:
    await escalation_test_against(room, pagerduty, script)
    report = thread_message(room, "Escalation test by")
    shown = report.blocks[0]["text"]["text"]
    assert said in shown and "Nothing was ticked" in shown, shown
    assert "Ticked" not in shown
    assert not room.is_checked("Escalation working")
    kinds = await event_kinds(room)
    assert "escalation_test_failed" in kinds and "escalation_test_accepted" not in kinds
    assert not [e for e in await room.events("item_checked") if e.detail.get("proof")]
    assert await rows(room, Escalation) == []


@pytest.mark.parametrize(
    ("script", "said"),
    [
        (["hang", 400], "(2 tries). One try got no answer, so PagerDuty may have paged"),
        (["hang", "hang", 500], "(3 tries). 2 tries got no answer, so PagerDuty may have paged"),
    ],
)
async def test_a_refused_test_page_after_an_unanswered_try_says_it_may_have_paged(
    room: WarRoom, pagerduty: FakePagerDuty, script: list[Any], said: str
) -> None:
    """An unanswered try may have reached PagerDuty (and paged) even though a later try was
    refused: the report says so and names the incident to resolve, and still ticks nothing."""
    await escalation_test_against(room, pagerduty, script)
    (key,) = {r["dedup_key"] for r in pagerduty.requests}
    report = thread_message(room, "Escalation test by")
    shown = report.blocks[0]["text"]["text"]
    assert "*did not accept* the TEST page" in shown and said in shown, shown
    assert f"look for a TEST incident with dedup key `{key}` in PagerDuty and resolve it" in shown
    assert "Nothing was ticked" in shown and not room.is_checked("Escalation working")
    [failed] = await room.events("escalation_test_failed")
    assert failed.detail["unanswered_tries"] == script.count("hang")
    timeline = await report_timeline(room)
    assert "⚠️ Escalation test: the TEST page FAILED (HTTP " in timeline
    assert f"unanswered, so PagerDuty may have paged (dedup key `{key}`)" in timeline


async def test_a_refused_test_page_with_every_try_answered_does_not_say_it_may_have_paged(
    room: WarRoom, pagerduty: FakePagerDuty
) -> None:
    pagerduty.script = [500, 400]
    await room.command(ALICE, "start Trading v2")
    await post_next_phase(room)
    await room.command(ALICE, "escalate test")
    await room.settle()
    shown = thread_message(room, "Escalation test by").blocks[0]["text"]["text"]
    assert "*did not accept* the TEST page — HTTP 400" in shown and "may have paged" not in shown
    assert pagerduty.incidents == {}


async def test_escalate_test_with_more_words_is_refused_with_the_usage_and_sends_nothing(
    room: WarRoom, pagerduty: FakePagerDuty
) -> None:
    await room.command(ALICE, "start Trading v2")
    sent = await room.command(ALICE, "escalate test gateway down")
    refusal = sent.json["text"]
    assert "takes nothing after `test`" in refusal and "/launch escalate sev2 test" in refusal
    assert "Usage: `/launch escalate [sev1|sev2|sev3] &lt;what's wrong&gt; | test`" in refusal
    assert sent.json.get("response_type", "ephemeral") == "ephemeral"
    assert pagerduty.requests == [] and await rows(room, Escalation) == []


async def test_a_test_page_a_stop_left_unanswered_is_sent_at_the_next_start_and_reported(
    schema_url: str,
    slack: SlackStandIn,
    config: AppConfig,
    template: ChecklistTemplate,
    clock: FakeClock,
    pagerduty: FakePagerDuty,
) -> None:
    """The bot stopped between recording `/launch escalate test` and PagerDuty's answer (the person
    was told "the result goes in the launch's thread"): the next start sends the same test page
    (its own dedup key: PagerDuty pages at most once) and the thread gets the report."""
    settings = make_settings(database_url=schema_url, api_url=slack.base_url)
    async with running_bot(settings, config=config, template=template, clock=clock) as first:
        room = WarRoom(slack=slack, bot=first)
        await room.command(ALICE, "start Trading v2")
        await post_next_phase(room)
        async with first.deps.db.sessions.begin() as session:
            key = await request_escalation_test(
                session=session,
                launch_id=1,
                actor=Actor(ALICE, "alice"),
                at=clock(),
                request_key="slash:cut-off",
            )
        await room.settle()
    assert pagerduty.requests == []
    clock.advance(minutes=2)
    async with running_bot(settings, config=config, template=template, clock=clock) as second:
        room = WarRoom(slack=slack, bot=second)
        # The page is sent, answered, recorded and reported by the start's resume job: wait for
        # the report itself (PagerDuty has the request before the bot has its answer).
        await wait_for(
            lambda: any("Escalation test by" in (m.text or "") for m in room.thread()), "the report"
        )
        await room.settle()
        assert len(pagerduty.requests) == 1 and pagerduty.requests[0]["dedup_key"] == key
        report = thread_message(room, "Escalation test by")
        assert "accepted" in report.blocks[0]["text"]["text"]
        assert room.is_checked("Escalation working")
        assert [e.detail["dedup_key"] for e in await room.events("escalation_test_accepted")] == [
            key
        ]
    async with running_bot(settings, config=config, template=template, clock=clock):
        await asyncio.sleep(0.3)  # another start: answered now, it is not sent again
    assert len(pagerduty.requests) == 1


# --- a custom template: the {#key} marker -------------------------------------------------------

CUSTOM = """\
# Drill
## Prep (T-1 days)
### Safety
- [ ] Breaker drill done {#killswitch.tested}
- [ ] Kill switch tested
"""


@pytest.fixture
async def custom_running(
    schema_url: str, slack: SlackStandIn, config: AppConfig, clock: FakeClock
) -> AsyncIterator[RunningBot]:
    settings = make_settings(database_url=schema_url, api_url=slack.base_url)
    async with running_bot(
        settings, config=config, template=parse_template(CUSTOM), clock=clock
    ) as bot_:
        yield bot_


async def test_a_custom_templates_key_marker_is_what_the_proof_ticks_and_is_not_shown(
    slack: SlackStandIn, custom_running: RunningBot, killswitch: FakeKillSwitch
) -> None:
    room = WarRoom(slack=slack, bot=custom_running)
    await room.command(ALICE, "start Drill")
    await room.command(CTO, "killswitch test")
    await room.settle()
    assert room.is_checked("Breaker drill done")
    assert room.item_option("Breaker drill done")["text"]["text"] == "Breaker drill done"
    assert "{#" not in json.dumps([m.blocks for m in room.thread()], ensure_ascii=False)
    # The same text as the bundled template's item, without a key here: left alone.
    assert not room.is_checked("Kill switch tested")
    line = proof_line(room, "Breaker drill done")
    assert link_to(thread_message(room, "passed: HTTP 200")) in line


async def test_a_proof_after_close_says_why_once_escaped(
    room: WarRoom, killswitch: FakeKillSwitch
) -> None:
    """The rules' refusal is mrkdwn already: the report escapes the reason once, not twice (a
    name with "&" read "P&amp;L" in Slack), and the log keeps the words as typed."""
    await room.command(ALICE, "start P&L Engine")
    await room.close(ALICE)
    await room.command(CTO, "killswitch test")
    await room.settle()
    report = thread_message(room, "passed: HTTP 200")
    assert (
        "Not ticked in the checklist: Launch P&amp;L Engine is closed; its checklist can no "
        "longer change; the result is in the launch log." in report.text
    ), report.text
    (event,) = await room.events("killswitch_test_not_ticked")
    assert event.detail["why"] == (
        "Launch P&L Engine is closed; its checklist can no longer change"
    )
    assert not room.is_checked("Kill switch tested")


async def test_a_follow_up_that_crashes_after_the_answer_says_so_privately(
    room: WarRoom, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`/launch verify` answers "the result goes in the thread" before it checks; if the check then
    crashes, the person hears that it did not finish, instead of waiting for a result forever."""
    await room.command(ALICE, "start Trading v2")

    async def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(commands.verify, "verify_in_slack", crash)
    sent = await room.command(ALICE, "verify")
    assert "Verifying the audit trail" in sent.json["text"]
    await room.settle()
    told = room.ephemerals_for(ALICE)[-1]
    assert "`/launch verify` did not finish" in told and "unknown" in told, told
    assert await room.events("item_checked") == []


async def test_a_proof_racing_a_waiver_says_the_item_is_waived(
    room: WarRoom, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The item is looked up before the launch is locked; a waiver landing in between wins, and the
    proof says so (not "it was unticked", which nobody did)."""
    await room.command(ALICE, "start Trading v2")
    async with room.bot.deps.db.sessions.begin() as session:
        item = await session.scalar(select(Item).where(Item.text == "Kill switch tested"))
        assert item is not None
        seen_before_the_waiver = (item.id, item.text, room.bot.deps.clock(), None)
        item.waived, item.waive_reason = "waived", "tested by the exchange"

    async def looked_up_before_the_waiver(*args: Any) -> Any:
        return seen_before_the_waiver

    monkeypatch.setattr(proofs, "_keyed_item", looked_up_before_the_waiver)
    async with room.bot.deps.db.sessions.begin() as session:
        tick = await proofs.tick_proven_item(
            session=session,
            launch_id=1,
            proof=proofs.Proof.KILLSWITCH_TEST,
            actor=SYSTEM,
            at=room.bot.deps.clock(),
            ref="race-1",
        )
    assert not tick.ticked
    assert tick.why_not == "“Kill switch tested” is waived; left as it is", tick.why_not
