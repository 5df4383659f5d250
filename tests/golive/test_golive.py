"""Launch day from Slack: /launch advance through the gate, soak times, hold, rollback, reminders.

These run without a traffic webhook (stage changes are declarations); tests/golive/test_traffic.py
covers the webhook.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.checklist.rules import set_items_checked
from bot.core.events import Actor
from bot.core.models import Event, Item, TrafficRequest
from bot.golive.timer_flows import post_due_reminders
from tests.conftest import FakeClock
from tests.warroom import WarRoom

ALICE = "U0ALICE001"  # an engineer: ticks items, may not move the rollout
OPS = "U0OPS00001"  # DevOps Lead: allowed to advance, hold, resume, roll back
CTO = "U0CTO00001"  # allowed too
HOLDERS = {
    "cto": CTO,
    "head_of_trading": "U0TRADE001",
    "security_officer": "U0SEC00001",
    "devops_lead": OPS,
    "product_owner": "U0PO000001",
}
SHADOW_ITEMS = [
    "Enable shadow trading",
    "Monitor order simulation",
    "Verify risk calculations",
    "Check reconciliation",
]
CANARY_ITEMS = [
    "Deploy to 10% traffic",
    "Monitor error rates",
    "Check latency metrics",
    "Verify P&L calculations",
]


async def tick_before_golive(room: WarRoom) -> None:
    """Setup, not the behaviour under test: every item before the go-live sequence ticked, and the
    launch-day phase posted (as a war room would have done by 09:00)."""
    async with room.bot.deps.db.sessions.begin() as session:
        items = list((await session.scalars(select(Item).order_by(Item.id))).all())
        await set_items_checked(
            session=session,
            launch_id=1,
            desired=dict.fromkeys(_pre_launch(items), True),
            actor=Actor(ALICE, "Alice Chen"),
            at=room.bot.deps.clock(),
            source="test",
            dedup_key="setup-pre",
        )
    await room.command(ALICE, "phase next")
    for text in MORNING:
        await room.click(ALICE, text)


PRE_LAUNCH_COUNT = 45
MORNING = [
    "All services running",
    "Database connections verified",
    "Cache warmed up",
    "Logs streaming",
    "Metrics visible",
    "Exchange connectivity confirmed",
    "Market data flowing",
    "Order routing tested (shadow mode)",
    "Risk limits verified",
    "Kill switch armed",
    "On-call roster confirmed",
    "Runbooks accessible",
    "Communication channels open",
    "Escalation path clear",
    "External contacts verified",
]


def _pre_launch(items: list[Item]) -> list[int]:
    return [i.id for i in items[:PRE_LAUNCH_COUNT]]


async def approve_all(room: WarRoom) -> None:
    for role_id, user in HOLDERS.items():
        await room.command(user, f"signoff approve {role_id} --anyway")


async def start_and_reach_golive(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    await tick_before_golive(room)


def channel_texts(room: WarRoom) -> list[str]:
    return [m.text or "" for m in room.top_level()]


def thread_texts(room: WarRoom) -> list[str]:
    return [m.text or "" for m in room.thread()]


def last_ephemeral(room: WarRoom, user: str) -> str:
    """What the user saw last, only to them: its text and every text in its blocks."""
    found = [e for e in room.slack.ephemerals if e.user == user]
    assert found, f"no ephemeral answer for {user}"
    shown = [found[-1].text or ""]
    for block in found[-1].blocks or []:
        text = block.get("text")
        if isinstance(text, dict):
            shown.append(str(text.get("text", "")))
    return "\n".join(shown)


async def traffic_requests(room: WarRoom) -> list[TrafficRequest]:
    async with room.bot.deps.db.read_sessions() as session:
        return list((await session.scalars(select(TrafficRequest))).all())


async def event_kinds(room: WarRoom) -> list[str]:
    async with room.bot.deps.db.read_sessions() as session:
        return [e.kind for e in (await session.scalars(select(Event).order_by(Event.seq))).all()]


async def tick(room: WarRoom, texts: list[str]) -> None:
    for text in texts:
        await room.click(ALICE, text)


# --- the gate ----------------------------------------------------------------------------------


async def test_first_advance_lists_every_open_condition_and_changes_nothing(
    room: WarRoom,
) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.command(OPS, "advance")
    answer = last_ephemeral(room, OPS)
    assert "Not advancing to *Step 1/6 · Shadow Mode · 0% live*" in answer
    assert "*Pre-Launch Phase* is not complete: 45 open" in answer
    assert "*Morning Checks (Pre-Market)* is not complete: 15 open" in answer
    assert "and 10 more" in answer  # open items are named, the rest counted
    assert await traffic_requests(room) == []
    assert "golive_advance_refused" in await event_kinds(room)


async def test_only_allowed_roles_move_the_rollout_and_refusals_are_logged(
    room: WarRoom,
) -> None:
    await start_and_reach_golive(room)
    for text in ("advance", "hold smoke test", "rollback all bad", "resume"):
        await room.command(ALICE, text)
        answer = last_ephemeral(room, ALICE)
        assert "Only DevOps Lead, CTO may" in answer and "Nothing was changed" in answer
    assert await traffic_requests(room) == []
    assert (await event_kinds(room)).count("golive_refused") == 4


async def test_with_no_allowed_roles_nobody_moves_the_rollout_and_the_refusal_says_why(
    room: WarRoom,
) -> None:
    """Fail closed, in words a person can act on (it read "Only nobody (no …) may advance")."""
    await start_and_reach_golive(room)
    room.bot.deps.config.golive.allowed_roles = []
    await room.command(OPS, "advance")
    answer = last_ephemeral(room, OPS)
    assert "Nobody may advance the go-live sequence: `[golive] allowed_roles` names no" in answer
    assert "Only" not in answer and "Nothing was changed" in answer
    assert await traffic_requests(room) == []


async def test_advance_into_shadow_then_soak_items_and_go_gate_the_canary(
    room: WarRoom, clock: FakeClock
) -> None:
    await start_and_reach_golive(room)
    await room.command(OPS, "advance")
    assert "Moving to *Step 1/6 · Shadow Mode · 0% live*" in last_ephemeral(room, OPS)
    await room.settle()
    announced = [t for t in channel_texts(room) if "Advanced:" in t]
    assert announced and "Step 1/6 · Shadow Mode · 0% live" in announced[-1]
    assert "soak 1 h" in announced[-1] and "recorded as declared" in announced[-1]
    # The rollback criteria are posted as a reference when the sequence starts.
    assert any(
        "Rollback criteria" in t and "Data corruption detected" in t for t in thread_texts(room)
    )

    await room.command(OPS, "advance")
    answer = last_ephemeral(room, OPS)
    assert "*Shadow Mode* has 4 open items" in answer
    assert "soak: 60 min left of 60" in answer
    assert "GO has not been declared" in answer and "needed before live traffic" in answer

    await tick(room, SHADOW_ITEMS)
    clock.advance(minutes=61)
    await room.command(OPS, "advance --force we are confident")
    answer = last_ephemeral(room, OPS)
    assert "GO has not been declared" in answer
    assert "never these" in answer  # --force never passes a missing sign-off
    assert len(await traffic_requests(room)) == 1

    await approve_all(room)
    await room.command(OPS, "advance")
    await room.settle()
    assert any("Step 2/6 · Canary Deployment · 10% live" in t for t in channel_texts(room))
    card = room.card()
    card_text = str(card.blocks)
    assert "Step 2/6 · Canary Deployment · 10% live" in card_text


async def test_hold_stops_the_soak_clock_and_resume_restarts_it(
    room: WarRoom, clock: FakeClock
) -> None:
    await start_and_reach_golive(room)
    await room.command(OPS, "advance")
    await tick(room, SHADOW_ITEMS)
    clock.advance(minutes=30)
    await room.command(CTO, "hold exchange latency spike")
    await room.settle()
    assert any("ON HOLD" in t and "exchange latency spike" in t for t in channel_texts(room))
    clock.advance(minutes=120)  # on hold: none of this counts as soak
    await room.command(OPS, "advance")
    assert "on hold: exchange latency spike" in last_ephemeral(room, OPS)
    await room.command(OPS, "resume")
    assert "Resumed after 120 min on hold" in last_ephemeral(room, OPS)
    await room.command(OPS, "advance")
    assert "soak: 30 min left of 60" in last_ephemeral(room, OPS)


async def test_force_passes_open_items_and_soak_and_is_announced_and_recorded(
    room: WarRoom,
) -> None:
    await start_and_reach_golive(room)
    await room.command(OPS, "advance")
    await room.command(OPS, "advance --force")
    assert "Say why" in last_ephemeral(room, OPS)
    await approve_all(room)
    await room.command(OPS, "advance --force vendor window closes at 10")
    await room.settle()
    forced = [t for t in channel_texts(room) if "Forced" in t]
    assert forced and "vendor window closes at 10" in forced[-1]
    async with room.bot.deps.db.read_sessions() as session:
        event = (await session.scalars(select(Event).where(Event.kind == "golive_forced"))).one()
    assert event.detail["reason"] == "vendor window closes at 10"
    assert any("Shadow Mode" in past for past in event.detail["past"])


async def test_force_typed_on_a_phone_or_in_capitals_is_the_option(room: WarRoom) -> None:
    """Smart punctuation sends a typed ``--force`` as ``—force``; it is the option, in any case."""
    await start_and_reach_golive(room)
    await approve_all(room)
    await room.command(OPS, "advance")  # into shadow mode: its soak is still to run
    await room.command(OPS, "advance —Force vendor window closes at 10")
    await room.settle()
    assert "(forced, recorded)" in last_ephemeral(room, OPS)
    async with room.bot.deps.db.read_sessions() as session:
        event = (await session.scalars(select(Event).where(Event.kind == "golive_forced"))).one()
    assert event.detail["reason"] == "vendor window closes at 10"


async def at_25_percent(room: WarRoom) -> None:
    """Setup: GO given, then shadow, the canary and 25% (forced past the soaks)."""
    await start_and_reach_golive(room)
    await approve_all(room)
    await room.command(OPS, "advance")
    await room.command(OPS, "advance --force canary now")
    await room.command(OPS, "advance --force on to 25")
    await room.settle()


async def test_rollback_goes_back_one_step_and_rollback_all_to_zero_traffic(
    room: WarRoom, clock: FakeClock
) -> None:
    await at_25_percent(room)
    assert any("Step 3/6 · 25% traffic · 25% live" in t for t in channel_texts(room))
    await room.command(OPS, "rollback")
    assert "Say why" in last_ephemeral(room, OPS)
    await room.command(OPS, "rollback error rate above 1%")
    await room.settle()
    back = [t for t in channel_texts(room) if "Rolled back:" in t]
    assert back and "<!here>" in back[-1] and "Step 2/6 · Canary Deployment · 10% live" in back[-1]
    assert "25% → 10%" in back[-1]
    await room.command(CTO, "rollback all exchange disconnected")
    await room.settle()
    all_back = [t for t in channel_texts(room) if "Rolled back all:" in t]
    assert all_back and "Step 1/6 · Shadow Mode · 0% live" in all_back[-1]
    # Not an abandoned launch: once fixed, the team advances again.
    await room.command(OPS, "advance --force fixed, re-entering canary")
    await room.settle()
    assert channel_texts(room)[-1].count("Canary Deployment") == 1


async def test_a_rollback_or_advance_delivered_twice_moves_the_rollout_once(
    room: WarRoom, clock: FakeClock
) -> None:
    """The same /launch rollback (or advance) request twice (Slack's retry after a late answer, a
    replay within the signature's five minutes) is one stage change, not two steps."""
    await at_25_percent(room)
    body, headers = room.slack.slash_command(
        user_id=OPS, channel_id=room.channel, text="rollback error rate above 1%"
    )
    await room.deliver(body, headers)
    await room.settle()
    again = await room.deliver(body, headers)
    await room.settle()
    assert "Rolling back to *Step 2/6" in again.json["text"]
    back = [t for t in channel_texts(room) if "Rolled back:" in t]
    assert len(back) == 1 and "Step 2/6 · Canary Deployment · 10% live" in back[-1]
    body, headers = room.slack.slash_command(
        user_id=OPS, channel_id=room.channel, text="advance --force recovered"
    )
    await room.deliver(body, headers)
    await room.settle()
    await room.deliver(body, headers)
    await room.settle()
    async with room.bot.deps.db.read_sessions() as session:
        actions = [r.action for r in (await session.scalars(select(TrafficRequest))).all()]
    assert actions == ["advance", "advance", "advance", "rollback", "advance"]
    assert channel_texts(room)[-1].count("25% traffic") == 1
    await room.chain_ok()


def criteria_posts(room: WarRoom) -> list[str]:
    """The rollback criteria references in the card's thread, oldest first."""
    return [t for t in thread_texts(room) if t.startswith("📕 *Rollback criteria*")]


async def test_every_rollback_answer_shows_the_rollback_criteria_again(room: WarRoom) -> None:
    await start_and_reach_golive(room)
    await approve_all(room)
    for reason in ("shadow", "canary", "25"):
        await room.command(OPS, f"advance --force {reason}")
        await room.settle()
    assert len(criteria_posts(room)) == 1  # when the sequence started; advancing adds none
    await room.command(OPS, "rollback error rate above 1%")
    assert "rollback criteria follow" in last_ephemeral(room, OPS)
    await room.settle()
    assert len(criteria_posts(room)) == 2
    await room.command(CTO, "rollback all exchange disconnected")
    assert "rollback criteria follow" in last_ephemeral(room, CTO)
    await room.settle()
    posts = criteria_posts(room)
    assert len(posts) == 3
    # Both kinds of trigger, in full, each time.
    for text in posts[1:]:
        assert "*Immediate Rollback Triggers*" in text and "• Data corruption detected" in text
        assert "*Gradual Rollback Triggers*" in text and "• Reconciliation failures" in text
    assert thread_texts(room)[-1] == posts[-1]  # the latest word in the thread


async def test_step_items_are_ticked_by_the_bot_and_a_hand_click_is_explained(
    room: WarRoom,
) -> None:
    await start_and_reach_golive(room)
    await approve_all(room)
    await room.click(ALICE, "25% traffic")
    assert "is a go-live step: the bot ticks it" in last_ephemeral(room, ALICE)
    assert not room.is_checked("25% traffic")
    for reason in ("shadow", "canary", "25", "50"):
        await room.command(OPS, f"advance --force {reason}")
        await room.settle()
    assert room.is_checked("25% traffic")  # left forward: done
    assert not room.is_checked("50% traffic")  # the current step
    await room.command(OPS, "rollback back to 25")
    await room.settle()
    assert not room.is_checked("25% traffic")  # the rollout came back into it


async def test_a_soak_reminder_is_posted_once_when_the_soak_is_done(
    room: WarRoom, clock: FakeClock
) -> None:
    await start_and_reach_golive(room)
    await room.command(OPS, "advance")
    await room.settle()
    assert await post_due_reminders(room.bot.deps, clock()) == 0
    clock.advance(minutes=60, seconds=1)
    assert await post_due_reminders(room.bot.deps, clock()) == 1
    assert await post_due_reminders(room.bot.deps, clock()) == 0
    await room.settle()
    reminders = [t for t in thread_texts(room) if "has soaked" in t]
    assert reminders == ["⏰ *Shadow Mode* has soaked 1 h — `/launch advance` when ready"]


async def test_no_soak_reminder_while_on_hold_and_one_when_the_soak_really_ends(
    room: WarRoom, clock: FakeClock
) -> None:
    await start_and_reach_golive(room)
    await room.command(OPS, "advance")  # Shadow Mode: 1 h soak
    clock.advance(minutes=30)
    await room.command(OPS, "hold checking a dashboard")
    clock.advance(minutes=31)  # past the reminder's first due time, but on hold
    assert await post_due_reminders(room.bot.deps, clock()) == 0
    await room.command(OPS, "resume")
    clock.advance(minutes=29)
    assert await post_due_reminders(room.bot.deps, clock()) == 0  # soaked 59 min
    clock.advance(minutes=1, seconds=1)
    assert await post_due_reminders(room.bot.deps, clock()) == 1
    await room.settle()
    assert [t for t in thread_texts(room) if "has soaked" in t] == [
        "⏰ *Shadow Mode* has soaked 1 h — `/launch advance` when ready"
    ]


async def test_a_rollback_during_a_hold_keeps_the_hold_without_charging_its_past_to_the_new_step(
    room: WarRoom, clock: FakeClock
) -> None:
    await start_and_reach_golive(room)
    await approve_all(room)
    await room.command(OPS, "advance")
    await room.command(OPS, "advance --force canary now")
    clock.advance(minutes=10)
    await room.command(OPS, "hold error rate climbing")
    clock.advance(minutes=60)
    await room.command(OPS, "rollback error rate")  # back into Shadow Mode, still on hold
    await room.settle()
    clock.advance(minutes=2)
    await room.command(OPS, "resume")
    await room.settle()
    resumed = [t for t in channel_texts(room) + thread_texts(room) if "*Resumed*" in t]
    assert resumed and "after 2 min on hold" in resumed[-1], resumed
    clock.advance(minutes=5)
    await room.command(OPS, "advance")
    assert "soak: 55 min left of 60" in last_ephemeral(room, OPS)
    await room.chain_ok()


async def test_status_says_where_the_rollout_stands_and_what_blocks_it(
    room: WarRoom, clock: FakeClock
) -> None:
    await start_and_reach_golive(room)
    await room.command(OPS, "advance")
    clock.advance(minutes=20)
    await room.command(ALICE, "status")
    status = last_ephemeral(room, ALICE)
    assert "Step 1/6 · Shadow Mode · 0% live" in status
    assert "soaked 20 min of 1 h" in status
    assert "Next: *Step 2/6 · Canary Deployment · 10% live* — blocked by:" in status
    assert "soak: 40 min left of 60" in status


async def test_a_sign_off_revoked_during_a_live_step_holds_the_rollout(room: WarRoom) -> None:
    await start_and_reach_golive(room)
    await approve_all(room)
    await room.command(OPS, "advance")
    await room.command(OPS, "advance --force canary")
    await room.settle()
    await room.command(CTO, "signoff revoke cto pen-test finding reopened")
    await room.settle()
    held = [t for t in channel_texts(room) if "ON HOLD" in t]
    assert held and "GO withdrawn" in held[-1] and "(CTO)" in held[-1]
    assert "@U0" not in held[-1] and "by @" in held[-1]  # a name, never the bare user id
    assert "by @U0" not in str(room.card().blocks)
    await room.command(OPS, "advance --force keep going")
    answer = last_ephemeral(room, OPS)
    assert "on hold: GO withdrawn" in answer and "GO was withdrawn" in answer


async def test_a_revocation_before_live_traffic_does_not_hold(room: WarRoom) -> None:
    await start_and_reach_golive(room)
    await approve_all(room)
    await room.command(OPS, "advance")  # shadow mode: no live traffic yet
    await room.settle()
    await room.command(CTO, "signoff revoke cto second thoughts")
    await room.settle()
    assert not any("ON HOLD" in t for t in channel_texts(room))


def card_state(room: WarRoom) -> str:
    """The card's first line under its title: the launch's state in words."""
    return str(room.card().blocks[1]["text"]["text"])


async def test_the_card_says_the_launch_state_in_words(room: WarRoom) -> None:
    await start_and_reach_golive(room)
    assert card_state(room) == "🟡 *NOT YET GO* (0/5)"
    await approve_all(room)
    await room.settle()
    assert card_state(room) == "🟢 *GO*"
    await room.command(OPS, "advance")
    await room.settle()
    assert card_state(room) == "⏩ *STEP 1/6 SHADOW MODE · 0%*"
    await room.command(OPS, "hold waiting for the exchange")
    await room.settle()
    assert card_state(room) == "⏸️ *ON HOLD* (waiting for the exchange)"
    await room.command(OPS, "resume")
    await room.command(CTO, "signoff revoke cto risk review")  # shadow: no live traffic, no hold
    await room.settle()
    assert card_state(room) == "⛔ *GO WITHDRAWN*"
    await room.close(ALICE)
    await room.settle()
    assert card_state(room).startswith("✅ *CLOSED*")
