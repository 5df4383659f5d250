"""Sign-off builders: the rows of the sign-off table and the Approve button's confirm dialog."""

from __future__ import annotations

from bot.core.ids import ActionId
from tests.warroom import WarRoom

ALICE, CTO = "U0ALICE001", "U0CTO00001"


def cto_row(room: WarRoom) -> str:
    for block in room.card().blocks:
        text = (block.get("text") or {}).get("text", "")
        if block.get("type") == "section" and text.split("*")[1:2] == ["CTO"]:
            return str(text)
    raise AssertionError("no CTO row on the card")


async def test_a_revocation_under_a_newer_approval_reads_as_history(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.command(CTO, "signoff approve cto --anyway")
    await room.command(CTO, "signoff revoke cto wrong build")
    row = cto_row(room)
    assert row.startswith("⏳") and "↩️ Revoked by" in row and "wrong build" in row
    await room.command(CTO, "signoff approve cto --anyway")
    row = cto_row(room)
    assert row.startswith("✅ *CTO* — Approved by")
    assert "↩️ Earlier approval revoked by" in row and "↩️ Revoked by" not in row
    assert ActionId.SIGNOFF_REVOKE in str(room.card().blocks)


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
