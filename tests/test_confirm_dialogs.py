"""Slack's confirm dialog on a sign-off is what stops a wrong approval: whatever the launch is
called, it must say which role you are signing as, within Slack's length limits."""

from __future__ import annotations

from bot.core.ids import ActionId
from tests.warroom import WarRoom

ALICE = "U0ALICE001"


async def test_approve_confirm_names_the_role_whole_with_a_long_launch_name(room: WarRoom) -> None:
    name = "Trading platform v2 — EU equities, options and FX cutover with the new risk engine"
    await room.command(ALICE, f"start {name[:80]}")
    confirms = [
        (b["text"]["text"], b["accessory"]["confirm"])
        for b in room.card().blocks
        if b.get("accessory", {}).get("action_id") == ActionId.SIGNOFF_APPROVE
    ]
    assert len(confirms) == 5
    for row, confirm in confirms:
        role = row.split("*")[1]  # "⏳ *Head of Trading* — awaiting approval …"
        assert confirm["title"]["text"] == f"Approve as {role}?"
        assert len(confirm["title"]["text"]) <= 100 and len(confirm["text"]["text"]) <= 300
        assert f"as {role}." in confirm["text"]["text"] and name[:40] in confirm["text"]["text"]
