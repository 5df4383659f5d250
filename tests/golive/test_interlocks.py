"""Safety interlocks: the kill switch firing holds the rollout and the card reads HALTED, never GO."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.core.config import AppConfig, GoLiveConfig, Settings
from bot.core.ids import ActionId
from bot.golive.flows import golive_view
from bot.incidents.killswitch import record_killswitch_result
from bot.incidents.killswitch_flows import report_interrupted
from bot.runtime import running_bot
from bot.standin import SlackStandIn
from bot.standin.outside import FakeKillSwitch, FakePagerDuty
from tests.conftest import FakeClock, make_settings
from tests.golive.test_golive import (
    ALICE,
    CTO,
    OPS,
    approve_all,
    card_state,
    channel_texts,
    event_kinds,
    last_ephemeral,
    start_and_reach_golive,
)
from tests.incidents.test_incidents import (
    click,
    escalation_message,
    incident_config,
    leave_killswitch_request,
    open_modal,
    send_submission,
    submit,
    texts,
)
from tests.warroom import WarRoom, wait_for


@pytest.fixture
def config(config: AppConfig, killswitch: FakeKillSwitch, pagerduty: FakePagerDuty) -> AppConfig:
    with_incidents = incident_config(
        config, pagerduty_url=pagerduty.url, killswitch_url=killswitch.url
    )
    return with_incidents.model_copy(
        update={"golive": GoLiveConfig(allowed_roles=["devops_lead", "cto"])}
    )


async def test_the_kill_switch_firing_holds_the_rollout_and_the_card_reads_halted(
    room: WarRoom, killswitch: FakeKillSwitch
) -> None:
    await start_and_reach_golive(room)
    await approve_all(room)
    await room.command(OPS, "advance")
    await room.command(OPS, "advance --force canary now")
    await room.settle()
    assert card_state(room).startswith("⏩ *STEP 2/6")
    view = await open_modal(room, CTO)
    await submit(room, CTO, view, name="Trading v2", reason="orders rejected at the gateway")
    await room.settle()
    assert killswitch.halted  # really sent
    held = [t for t in channel_texts(room) if "ON HOLD" in t]
    assert held and "the kill switch fired" in held[-1]
    # Named as a person, not as escaped Slack markup.
    assert "&lt;@" not in held[-1] and "&lt;@" not in card_state(room), held[-1]
    assert card_state(room).startswith("🔴 *HALTED* (kill switch fired at")
    await room.command(OPS, "advance --force push on")
    assert "on hold: the kill switch fired" in last_ephemeral(room, OPS)
    assert go_message(room).startswith("GO, then HALTED")
    # Once safe, the team resumes: the card reads its step again, not HALTED, and so does GO.
    await room.command(OPS, "resume")
    await room.settle()
    assert card_state(room).startswith("⏩ *STEP 2/6")
    assert go_message(room).startswith("GO: Trading v2")


async def test_a_halted_launch_reads_go_nowhere_on_its_card(
    room: WarRoom, killswitch: FakeKillSwitch
) -> None:
    """Fired after GO with no rollout under way (as in the rehearsal): the top line reads HALTED and
    the sign-off table no longer says 🟢 GO, only that every sign-off is in."""
    await room.command(OPS, "start Trading v2")
    await approve_all(room)
    await room.settle()
    assert "🟢 *GO* — every sign-off is in" in card_texts(room)
    view = await open_modal(room, CTO)
    await submit(room, CTO, view, name="Trading v2", reason="runaway orders")
    await room.settle()
    assert card_state(room).startswith("🔴 *HALTED* (kill switch fired at")
    texts = card_texts(room)
    assert "🟢" not in texts and "*GO*" not in texts, texts
    assert "✅ *Every sign-off is in* (GO #1 · <!date^" in texts
    assert "🔴 halted by the kill switch" in texts
    # The GO message in the channel says so too, and so does /launch status.
    go = [m for m in room.top_level() if (m.text or "").startswith("GO")][-1]
    assert go.text == "GO, then HALTED: Trading v2"
    assert go.blocks[0]["text"]["text"] == "🔴 GO, then HALTED — Trading v2"
    assert "but since then: 🔴 *HALTED* (kill switch fired at" in str(go.blocks[1])
    await room.command(OPS, "status")
    status = last_ephemeral(room, OPS)
    assert "🔴 *HALTED*" in status
    assert "*Sign-offs:* 5/5 · GO #1 given, then 🔴 halted by the kill switch" in status
    assert "5/5 · GO\n" not in status and not status.rstrip().endswith("5/5 · GO")
    # The private sign-off table too.
    await room.command(OPS, "signoff")
    table = last_ephemeral(room, OPS)
    assert "🟢" not in table and "🔴 halted by the kill switch" in table, table


def go_message(room: WarRoom) -> str:
    """The text of the latest GO message in the channel."""
    return [m.text or "" for m in room.top_level() if (m.text or "").startswith("GO")][-1]


def card_texts(room: WarRoom) -> str:
    return "\n".join(
        str(b["text"]["text"]) for b in room.card().blocks if isinstance(b.get("text"), dict)
    )


async def test_the_kill_switch_firing_after_a_complete_rollout_reads_halted_everywhere(
    room: WarRoom, killswitch: FakeKillSwitch
) -> None:
    """At 100% live there is no step to hold, and that is when a kill switch matters most: the
    card, the GO message and /launch status read HALTED, not GO."""
    await start_and_reach_golive(room)
    await approve_all(room)
    for _ in range(10):
        await room.command(OPS, "advance --force rehearsal")
        await room.settle()
        if "Rollout complete" in " ".join(channel_texts(room) + [card_state(room)]):
            break
    async with room.bot.deps.db.read_sessions() as session:
        view = await golive_view(session, 1)
    assert view.completed_at is not None, card_state(room)
    assert card_state(room).startswith("🟢 *GO*")
    view_ = await open_modal(room, CTO)
    await submit(room, CTO, view_, name="Trading v2", reason="runaway orders")
    await room.settle()
    assert killswitch.halted
    assert card_state(room).startswith("🔴 *HALTED* (kill switch fired at"), card_state(room)
    assert go_message(room).startswith("GO, then HALTED")
    await room.command(OPS, "status")
    assert "🔴 *HALTED*" in last_ephemeral(room, OPS)


async def status_of(room: WarRoom, user: str = ALICE) -> str:
    await room.command(user, "status")
    return last_ephemeral(room, user)


async def test_status_shows_the_kill_switch_open_escalations_and_a_hold_while_they_are_true(
    room: WarRoom, killswitch: FakeKillSwitch
) -> None:
    """/launch status answers "is it safe?" at a glance: the kill switch armed or not and by whom,
    its last fire (when, by whom), every open escalation and why the rollout is on hold; a line goes
    away once it is no longer true."""
    await start_and_reach_golive(room)
    status = await status_of(room)
    assert "*Kill switch:* not armed" in status
    assert "Open escalations" not in status and "ON HOLD" not in status

    await room.command(CTO, "killswitch arm")
    status = await status_of(room)
    assert f"*Kill switch:* armed by <@{CTO}> <!date^" in status
    assert "last fired" not in status
    await room.command(CTO, "killswitch disarm")
    assert f"*Kill switch:* not armed (disarmed by <@{CTO}> <!date^" in await status_of(room)
    await room.command(CTO, "killswitch arm")

    await room.command(ALICE, "escalate sev2 gateway <b>latency</b>")
    status = await status_of(room)
    assert "*Open escalations:* 1 — #1 SEV2 gateway &lt;b&gt;latency&lt;/b&gt; (open)" in status
    await click(room, OPS, escalation_message(room), ActionId.ESCALATION_RESOLVE)
    assert "Open escalations" not in await status_of(room)

    await approve_all(room)
    await room.command(OPS, "advance")
    await room.command(OPS, "hold waiting for the exchange")
    status = await status_of(room)
    assert "⏸️ *ON HOLD* since <!date^" in status
    assert f"by <@{OPS}>: waiting for the exchange" in status
    await room.command(OPS, "resume")
    assert "ON HOLD" not in await status_of(room)

    view = await open_modal(room, CTO)
    await submit(room, CTO, view, name="Trading v2", reason="orders rejected at the gateway")
    await room.settle()
    assert killswitch.halted
    status = await status_of(room)
    assert "· last fired <!date^" in status and f"by <@{CTO}>: confirmed" in status
    assert "*ON HOLD* since" in status and "the kill switch fired" in status


# ---------------------------------------------------------------------------------------------------
# The interlocks survive a stop: a kill switch whose outcome was recorded (or left unknown) by a
# process that stopped before holding the rollout holds it at the next start, once.


async def live_then_stop_after_a_kill_switch(
    settings: Settings,
    slack: SlackStandIn,
    config: AppConfig,
    template: Path,
    clock: FakeClock,
    *,
    confirmed: bool,
) -> None:
    async with running_bot(settings, config=config, template=template, clock=clock) as first:
        room = WarRoom(slack=slack, bot=first)
        await start_and_reach_golive(room)
        await approve_all(room)
        await room.command(OPS, "advance")
        await room.command(OPS, "advance --force canary now")
        await room.settle()
        # The process stops between the kill switch's record and the go-live hold it causes.
        await leave_killswitch_request(first, room, config, clock(), sending=True)
        if confirmed:
            async with first.deps.db.sessions.begin() as session:
                await record_killswitch_result(
                    session=session,
                    request_pk=1,
                    status="confirmed",
                    tries=1,
                    http_status=200,
                    error=None,
                    response_body='{"halted": true}',
                    duration_ms=12,
                    attempts=[],
                    at=clock(),
                )
        assert not any("ON HOLD" in t for t in channel_texts(room))


@pytest.mark.parametrize(
    ("confirmed", "why", "also_said"),
    [
        (True, "the kill switch fired", None),
        (False, "no confirmed halt", "Kill switch state UNKNOWN"),
    ],
    ids=["confirmed", "unknown"],
)
async def test_a_kill_switch_outcome_recorded_just_before_a_stop_holds_the_rollout_at_the_next_start(
    schema_url: str,
    slack: SlackStandIn,
    config: AppConfig,
    template: Path,
    clock: FakeClock,
    confirmed: bool,
    why: str,
    also_said: str | None,
) -> None:
    """Confirmed, or left unknown by the stop: held once at the next start, and not again after."""
    settings = make_settings(database_url=schema_url, api_url=slack.base_url)
    await live_then_stop_after_a_kill_switch(
        settings, slack, config, template, clock, confirmed=confirmed
    )
    clock.advance(minutes=2)
    async with running_bot(settings, config=config, template=template, clock=clock) as second:
        room = WarRoom(slack=slack, bot=second)
        await wait_for(lambda: any("ON HOLD" in t for t in channel_texts(room)), "the hold")
        held = [t for t in channel_texts(room) if "ON HOLD" in t]
        assert len(held) == 1 and why in held[0]
        if also_said is not None:
            await wait_for(lambda: any(also_said in t for t in texts(room)), also_said)
        await room.command(OPS, "advance --force keep going")
        assert "on hold" in last_ephemeral(room, OPS)
        await room.settle()
        await room.chain_ok()
    async with running_bot(settings, config=config, template=template, clock=clock) as third:
        room = WarRoom(slack=slack, bot=third)
        await room.settle()
        assert (await event_kinds(room)).count("golive_held") == 1  # not held twice


# --- a fire that did not (yet) confirm a halt never reads GO ---------------------------------------


def go_header(room: WarRoom) -> str:
    go = [m for m in room.top_level() if (m.text or "").startswith("GO")][-1]
    return str(go.blocks[0]["text"]["text"])


async def given_go(room: WarRoom) -> None:
    """GO given with no rollout under way (as in the rehearsal)."""
    await room.command(OPS, "start Trading v2")
    await approve_all(room)
    await room.settle()
    assert card_state(room) == "🟢 *GO*"
    assert go_message(room).startswith("GO: Trading v2")


async def assert_reads(room: WarRoom, label: str, short: str) -> None:
    """The card's top line, its sign-off table, the GO message, /launch status and the private
    /launch signoff table all say ``label`` (``short`` after "GO, then"), never 🟢 GO."""
    top = card_state(room)
    assert top.startswith(f"⚠️ *{label}* (") and "<!date^" in top and f"by <@{CTO}>" in top, top
    texts = card_texts(room)
    assert "🟢" not in texts and "*GO*" not in texts, texts
    assert "✅ *Every sign-off is in* (GO #1 · <!date^" in texts
    assert f"— ⚠️ {short}" in texts
    assert go_message(room) == f"GO, then {label}: Trading v2"
    assert go_header(room) == f"⚠️ GO, then {label} — Trading v2"
    status = await status_of(room, OPS)
    assert f"⚠️ *{label}*" in status and "🟢" not in status, status
    assert f"*Sign-offs:* 5/5 · GO #1 given, then ⚠️ {short}" in status
    await room.command(OPS, "signoff")
    table = last_ephemeral(room, OPS)
    assert "🟢" not in table and f"⚠️ {short}" in table, table


async def test_a_kill_switch_fire_reads_firing_while_in_flight_then_unknown_after_timeouts(
    room: WarRoom, killswitch: FakeKillSwitch
) -> None:
    """Fired after GO: while the trading system has not answered, the card and the GO message read
    KILL SWITCH FIRING…; three tries without an answer end UNKNOWN (any of them may have halted
    trading: neither FAILED nor HALTED can be claimed), never GO."""
    await given_go(room)
    room.bot.deps.config.killswitch.timeout_seconds = 1.0  # 3 s in flight: time to look
    killswitch.script, killswitch.hang_seconds = ["hang", "hang", "hang"], 2.0
    view = await open_modal(room, CTO)
    await send_submission(room, CTO, view, name="Trading v2", reason="runaway orders")
    await wait_for(lambda: "FIRING" in card_state(room), "the card to read FIRING", within=3)
    assert card_state(room).startswith("🛑 *KILL SWITCH FIRING…* (requested at <!date^"), (
        card_state(room)
    )
    assert f"by <@{CTO}>) — waiting for the trading system to confirm" in card_state(room)
    assert "🟢" not in card_texts(room)
    await wait_for(lambda: go_message(room) != "GO: Trading v2 — every sign-off is in", "GO")
    assert go_message(room) == "GO, then KILL SWITCH FIRING…: Trading v2"
    assert go_header(room) == "🛑 GO, then KILL SWITCH FIRING… — Trading v2"
    await room.settle()
    assert len(killswitch.requests) == 3
    await assert_reads(room, "KILL SWITCH UNKNOWN", "kill switch state UNKNOWN")
    assert "no answer within 1 s (after 3 tries) — it may or may not have fired" in card_state(room)


async def test_a_failed_fire_reads_failed_everywhere_until_a_retry_halts_it(
    room: WarRoom, killswitch: FakeKillSwitch
) -> None:
    """HTTP 500 three times: FAILED on the card, the GO message, /launch status and /launch
    signoff; fired again successfully, the launch reads HALTED."""
    await given_go(room)
    killswitch.script = [500, 500, 500]
    view = await open_modal(room, CTO)
    await submit(room, CTO, view, name="Trading v2", reason="runaway orders")
    assert killswitch.halted == []
    await assert_reads(room, "KILL SWITCH FAILED", "kill switch FAILED")
    assert "HTTP 500" in card_state(room) and "trading may still be running" in card_state(room)

    view = await open_modal(room, CTO)
    await submit(room, CTO, view, name="Trading v2", reason="runaway orders, again")
    assert len(killswitch.halted) == 1
    assert card_state(room).startswith("🔴 *HALTED* (kill switch fired at"), card_state(room)
    assert go_message(room) == "GO, then HALTED: Trading v2"
    assert "🔴 *HALTED*" in await status_of(room, OPS)


@pytest.mark.parametrize(
    ("sending", "label", "short", "says"),
    [
        (True, "KILL SWITCH UNKNOWN", "kill switch state UNKNOWN", "it may or may not have fired"),
        (False, "KILL SWITCH NOT SENT", "kill switch NOT sent", "trading was NOT halted"),
    ],
)
async def test_a_fire_a_stop_left_reads_unknown_or_not_sent_until_the_switch_is_set_again(
    room: WarRoom, sending: bool, label: str, short: str, says: str
) -> None:
    """A fire a stopped process left: claimed for sending, nobody knows whether it halted trading
    (UNKNOWN); never claimed, nothing was sent (NOT SENT). Either reads so everywhere GO is shown,
    until someone arms or disarms the switch after it: then the launch reads GO again."""
    await given_go(room)
    deps = room.bot.deps
    await leave_killswitch_request(room.bot, room, deps.config, deps.clock(), sending=sending)
    await report_interrupted(deps, deps.clock() + timedelta(seconds=1))
    await room.settle()
    await assert_reads(room, label, short)
    assert says in card_state(room), card_state(room)
    hint = "fire again, or once trading is checked `/launch killswitch disarm` (or `arm`)"
    assert hint in str(room.card().blocks)  # the kill switch's line under the sign-offs

    await room.command(CTO, "killswitch arm")
    await room.settle()
    assert card_state(room) == "🟢 *GO*"
    assert go_message(room).startswith("GO: Trading v2")
