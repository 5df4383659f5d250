"""How a sign-off row reads after a revoke and a new approval: the revocation is history, and the
row must not look as if the current approval were revoked."""

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
    await room.command(CTO, "signoff approve cto")
    await room.command(CTO, "signoff revoke cto wrong build")
    row = cto_row(room)
    assert row.startswith("⏳") and "↩️ Revoked by" in row and "wrong build" in row
    await room.command(CTO, "signoff approve cto")
    row = cto_row(room)
    assert row.startswith("✅ *CTO* — Approved by")
    assert "↩️ Earlier approval revoked by" in row and "↩️ Revoked by" not in row
    assert ActionId.SIGNOFF_REVOKE in str(room.card().blocks)
