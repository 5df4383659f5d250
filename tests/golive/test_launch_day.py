"""The seed's whole launch day from Slack: with the bundled template, the team finishes pre-launch and
the morning checks, all five sign off (GO), then each go-live step is ticked, soaked on the fake clock
and advanced through the one gate, never forced, from Shadow Mode to 100% live; the channel, the
checklist and the export's ``golive`` section tell it as it happened.

No metric-watch gate rules are configured (the default test config), so no metric can block.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

from sqlalchemy import select

from bot.core.events import SYSTEM
from bot.core.models import Item
from tests.audit.test_audit import export
from tests.conftest import FakeClock
from tests.golive.test_golive import (
    ALICE,
    CANARY_ITEMS,
    CTO,
    OPS,
    SHADOW_ITEMS,
    approve_all,
    card_state,
    channel_texts,
    event_kinds,
    last_ephemeral,
    start_and_reach_golive,
    tick,
)
from tests.warroom import WarRoom

# (label, soak in minutes, soak as announced, items the team ticks in the step, who advances into it)
STEPS = [
    ("Step 1/6 · Shadow Mode · 0% live", 60, "soak 1 h", SHADOW_ITEMS, OPS),
    ("Step 2/6 · Canary Deployment · 10% live", 120, "soak 2 h", CANARY_ITEMS, OPS),
    ("Step 3/6 · 25% traffic · 25% live", 30, "soak 30 min", [], CTO),
    ("Step 4/6 · 50% traffic · 50% live", 60, "soak 1 h", [], OPS),
    ("Step 5/6 · 75% traffic · 75% live", 60, "soak 1 h", [], CTO),
    ("Step 6/6 · 100% traffic · 100% live", 0, "no soak", [], OPS),
]
# The items of "Progressive Rollout" that are the steps themselves (steps 3 to 6).
STEP_ITEMS = ["25% traffic", "50% traffic", "75% traffic", "100% traffic"]
FIRST_STEP_ITEM = 3


async def items_named(room: WarRoom, prefixes: list[str]) -> dict[str, Item]:
    async with room.bot.deps.db.read_sessions() as session:
        items = (await session.scalars(select(Item).where(Item.launch_id == 1))).all()
    return {p: next(i for i in items if i.text.startswith(p)) for p in prefixes}


async def soak_through_the_gate(
    room: WarRoom, clock: FakeClock, *, who: str, soak: int, items: list[str]
) -> None:
    """What a team does in a step: advancing early is refused, listing what is missing; the step's
    items are ticked; the soak runs out on the fake clock."""
    await room.command(who, "advance")
    early = last_ephemeral(room, who)
    assert "Not advancing to" in early, early
    assert f"soak: {soak} min left of {soak}" in early
    if items:
        assert f"has {len(items)} open items" in early
    await tick(room, items)
    clock.advance(minutes=soak - 1)
    await room.command(who, "advance")
    almost = last_ephemeral(room, who)
    missing = {line for line in almost.splitlines() if line.startswith("• ")}
    assert missing == {f"• soak: 1 min left of {soak} (hold time not counted)"}, almost
    clock.advance(minutes=1, seconds=1)


async def test_the_seeds_launch_day_runs_to_100_percent_through_the_gate_without_force(
    room: WarRoom, clock: FakeClock
) -> None:
    await start_and_reach_golive(room)  # pre-launch ticked, launch day posted, morning checks done
    await approve_all(room)
    await room.settle()
    assert card_state(room) == "🟢 *GO*"
    await room.command(ALICE, "status")
    assert (
        "Next: *Step 1/6 · Shadow Mode · 0% live* — nothing blocks it: `/launch advance`"
        in last_ephemeral(room, ALICE)
    )

    previous: tuple[int, list[str]] | None = None  # the step being left: its soak and items
    for number, (label, soak, announced_soak, items, who) in enumerate(STEPS, start=1):
        if previous is not None:
            await soak_through_the_gate(room, clock, who=who, soak=previous[0], items=previous[1])
        previous = (soak, items)
        await room.command(who, "advance")
        assert f"Moving to *{label}*" in last_ephemeral(room, who)
        await room.settle()
        announcements = [t for t in channel_texts(room) if "Advanced:" in t]
        assert len(announcements) == number, announcements
        said = announcements[-1]
        assert f"*Advanced:* *{label}* · {announced_soak} — Trading v2, by <@{who}>" in said
        assert "Forced" not in said and "recorded as declared" in said
        # Every step item of a step left behind is ticked, by the bot; the rest are not.
        left_behind = max(0, number - FIRST_STEP_ITEM) if number < len(STEPS) else len(STEPS)
        for position, text in enumerate(STEP_ITEMS):
            assert room.is_checked(text) == (position < left_behind), (number, text)

    said = [t for t in channel_texts(room) if "Advanced:" in t][-1]
    assert said.startswith("✅ *Advanced:* *Step 6/6 · 100% traffic · 100% live*")
    assert "(75% → 100% live)" in said
    step_items = await items_named(room, STEP_ITEMS)
    assert all(i.checked and i.changed_by_id == SYSTEM.user_id for i in step_items.values())
    hand_items = await items_named(room, SHADOW_ITEMS + CANARY_ITEMS)
    assert all(i.checked and i.changed_by_id == ALICE for i in hand_items.values())
    assert "golive_forced" not in await event_kinds(room)
    await room.command(OPS, "status")
    assert "✅ *Rollout complete* · 100% live since" in last_ephemeral(room, OPS)
    await room.command(OPS, "advance")
    assert "the rollout is complete" in last_ephemeral(room, OPS)

    # The record: every step once, in order, by whom, for how long, never forced.
    exported = json.loads(await export(room, "json"))
    assert exported["chain"]["verified"] is True
    golive = exported["golive"]
    assert (golive["step"], golive["weight"], golive["total"]) == (6, 100, 6)
    assert golive["on_hold"] is None and golive["holds"] == []
    steps = golive["steps"]
    assert [(s["number"], s["title"], s["weight"], s["soak_minutes"]) for s in steps] == [
        (1, "Shadow Mode", 0, 60),
        (2, "Canary Deployment", 10, 120),
        (3, "25% traffic", 25, 30),
        (4, "50% traffic", 50, 60),
        (5, "75% traffic", 75, 60),
        (6, "100% traffic", 100, 0),
    ]
    visits = []
    for step, (_, _, _, _, who) in zip(steps, STEPS, strict=True):
        [visit] = step["visits"]
        assert (visit["action"], visit["by"]["id"], visit["reason"]) == ("advance", who, None)
        assert visit["forced"] is False and visit["forced_past"] == []
        visits.append(visit)
    for visit, following, (_, soak, _, _, _) in zip(visits, visits[1:], STEPS, strict=False):
        assert visit["left_at"] == following["entered_at"]
        soaked = datetime.fromisoformat(visit["left_at"]) - datetime.fromisoformat(
            visit["entered_at"]
        )
        # The soak, and no more than the real seconds the test took on top of it.
        assert timedelta(minutes=soak) <= soaked < timedelta(minutes=soak + 2), (visit, soaked)
    assert visits[-1]["left_at"] is None
    assert golive["completed_at"] == visits[-1]["entered_at"]
    requests = golive["traffic_requests"]
    assert [
        (q["action"], q["to_step"], q["weight"], q["status"], q["forced"]) for q in requests
    ] == [("advance", n, w, "declared", False) for n, w in enumerate((0, 10, 25, 50, 75, 100), 1)]
    # Each early advance was refused for the soak (and, in shadow and canary, open items) alone.
    refusals = golive["refusals"]
    assert len(refusals) == 2 * (len(STEPS) - 1) + 1  # two per step left, one after the end
    assert not any(r["not_allowed"] for r in refusals)
    for refusal in refusals[:-1]:
        assert all(
            re.match(r"soak: |\*\w[\w ]*\* has \d+ open item", r) for r in refusal["reasons"]
        )
