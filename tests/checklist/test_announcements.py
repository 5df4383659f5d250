"""Loud state changes: a phase posted, the launch closed and GO withdrawn are each a new channel
message (queued on the outbox in the transaction of the change), not only an edit nobody sees."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from bot.core.models import Phase, SlackMessage
from bot.core.outbox import ANNOUNCEMENT
from tests.signoffs.test_signoffs import approve_all, go_messages, revoke_via_modal
from tests.warroom import WarRoom

ALICE, CTO, SECURITY = "U0ALICE001", "U0CTO00001", "U0SEC00001"


def announcements(room: WarRoom) -> list[Any]:
    """Channel messages that are neither the card nor a GO message."""
    card, gos = room.card(), go_messages(room)
    return [m for m in room.top_level() if m is not card and m not in gos]


async def announcement_rows(room: WarRoom) -> list[SlackMessage]:
    async with room.bot.deps.db.read_sessions() as session:
        query = select(SlackMessage).where(SlackMessage.kind == ANNOUNCEMENT)
        return list((await session.scalars(query.order_by(SlackMessage.id))).all())


async def finish_current_phase(room: WarRoom) -> None:
    async with room.bot.deps.db.sessions.begin() as session:
        await session.execute(
            update(Phase).where(Phase.position == 0).values(completed_at=room.bot.deps.clock())
        )


async def test_phase_next_is_announced_in_the_channel(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    assert announcements(room) == []
    await finish_current_phase(room)
    await room.command(ALICE, "phase next")
    [posted] = announcements(room)
    text = posted.blocks[0]["text"]["text"]
    assert text.startswith("▶️ *Launch Day*") and "*Trading v2*" in text, text
    assert "42 item(s) to tick" in text and f"moved on by <@{ALICE}>" in text
    assert "<!date^" in text and "{date_short_pretty} {time}" in text
    assert posted.text == "Launch Day is posted: 42 item(s) to tick"
    # The person who typed it is told privately; the channel message is the outbox's.
    assert "Moving on" in room.ephemerals_for(ALICE)[-1]
    [row] = await announcement_rows(room)
    assert row.ts == posted.ts


async def test_a_refused_phase_next_announces_nothing(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.command(ALICE, "phase next")
    assert "open item(s)" in room.ephemerals_for(ALICE)[-1]
    assert announcements(room) == [] and await announcement_rows(room) == []


async def test_close_is_announced_in_the_channel_once(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.close(ALICE, "abandoned", "vendor pulled out")
    [closed] = announcements(room)
    text = closed.blocks[0]["text"]["text"]
    assert text.startswith("🔒 Closed *Trading v2* (#1) · outcome: *Abandoned*"), text
    assert "“vendor pulled out”" in text and f"<@{ALICE}>" in text


async def test_go_withdrawn_is_a_new_here_message(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    await approve_all(room)
    assert announcements(room) == []
    await revoke_via_modal(room, SECURITY, "security_officer", "Pen-test finding & <b>reopened</b>")
    [withdrawn] = announcements(room)
    text = withdrawn.blocks[0]["text"]["text"]
    assert text.startswith("⛔ <!here> *GO WITHDRAWN* for *Trading v2* (GO #1)"), text
    assert f"<@{SECURITY}> revoked the *Security Officer* sign-off" in text
    assert "“Pen-test finding &amp; &lt;b&gt;reopened&lt;/b&gt;”" in text
    assert withdrawn.text.startswith("<!here> GO withdrawn for Trading v2")
    # The GO message is still edited in place as well.
    [go] = go_messages(room)
    assert go.blocks[0]["text"]["text"].startswith("⛔ GO withdrawn")
    # A revocation that withdraws no GO announces nothing more.
    await room.command(ALICE, "signoff")  # harmless: shows the table privately
    assert len(announcements(room)) == 1
