"""Checkbox clicks end to end: what is stored, and what the bot sent to Slack afterwards."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from bot.core.models import Event, Item
from tests.warroom import WarRoom

ALICE, BOB = "U0ALICE001", "U0BOB00001"


async def test_click_is_recorded_with_who_and_shown_in_the_message(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    sent = await room.click(BOB, "Failover tested")
    assert sent.status == 200
    assert room.is_checked("Failover tested")
    assert room.item_option("Failover tested")["description"]["text"].startswith("✓ bob · ")
    async with room.bot.deps.db.read_sessions() as session:
        events = (await session.scalars(select(Event).where(Event.kind == "item_checked"))).all()
    assert [(e.actor_id, e.detail["text"]) for e in events] == [(BOB, "Failover tested")]
    updates = room.slack.calls_to("chat.update")
    assert updates and updates[-1].args["ts"] == room.message_with_item("Failover tested")[0].ts


async def test_untick_is_recorded_and_shown(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.click(BOB, "Failover tested")
    await room.click(ALICE, "Failover tested")
    assert not room.is_checked("Failover tested")
    # Within a description's 75 characters the whole date markup leaves no room for "unticked by".
    description = room.item_option("Failover tested")["description"]
    assert description["type"] == "mrkdwn"
    assert description["text"].startswith("↺ alice · <!date^")


async def test_clicks_from_stale_views_never_undo_each_other(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    message, _ = room.message_with_item("Production database provisioned")
    stale = [dict(b) for b in message.blocks]  # both clients rendered this version
    await room.click(ALICE, "Production database provisioned", view_blocks=stale)
    await room.click(BOB, "Read replicas configured", view_blocks=stale)
    assert room.is_checked("Production database provisioned")
    assert room.is_checked("Read replicas configured")


async def test_thirty_simultaneous_clicks_are_all_recorded(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    options = []
    for message in room.thread():
        for block in message.blocks:
            for element in block.get("elements", []):
                options += [(message, o) for o in element.get("options", [])]
    options = options[:30]
    requests = [
        room.slack.checkbox_click(
            user_id=f"U0USER{n:04d}",
            channel_id=room.channel,
            message_ts=m.ts,
            toggle_value=o["value"],
        )
        for n, (m, o) in enumerate(options)
    ]
    results = await asyncio.gather(
        *(room.slack.deliver_to(room.dispatch, b, h) for b, h in requests)
    )
    assert all(r.status == 200 for r in results)
    await room.settle()
    assert all(room.is_checked(o["text"]["text"]) for _, o in options)
    # Coalesced rendering: far fewer chat.update calls than clicks.
    assert len(room.slack.calls_to("chat.update")) < 30


async def test_replayed_click_is_applied_once(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    message, option = room.message_with_item("Failover tested")
    body, headers = room.slack.checkbox_click(
        user_id=BOB, channel_id=room.channel, message_ts=message.ts, toggle_value=option["value"]
    )
    await room.slack.deliver_to(room.dispatch, body, headers)
    await room.settle()
    await room.click(ALICE, "Failover tested")  # alice unticks
    await room.slack.deliver_to(room.dispatch, body, headers)  # the old request again
    await room.settle()
    assert not room.is_checked("Failover tested")


async def test_click_on_unknown_message_is_refused_politely(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    message, option = room.message_with_item("Failover tested")
    posted = await room.bot.deps.slack.chat_postMessage(
        channel=room.channel, text="other", blocks=message.blocks
    )
    body, headers = room.slack.checkbox_click(
        user_id=BOB, channel_id=room.channel, message_ts=posted["ts"], toggle_value=option["value"]
    )
    sent = await room.slack.deliver_to(room.dispatch, body, headers)
    await room.settle()
    assert sent.status == 200
    assert "not a Launch Control checklist" in room.ephemerals_for(BOB)[-1]


async def test_checklist_shows_the_display_name_from_users_info(room: WarRoom) -> None:
    """The payload's ``user.name`` is the legacy handle; the message shows the Slack display name,
    looked up after the ack (users.info, cached). The stored row keeps the user id."""
    dana = "U0DANA0001"
    room.slack.add_user(dana, "dana.legacy", "Dana Whitfield", display_name="Dana W")
    await room.command(ALICE, "start Trading v2")
    await room.click(dana, "Failover tested")
    await room.click(dana, "Read replicas configured")
    assert room.item_option("Failover tested")["description"]["text"].startswith("✓ Dana W · ")
    assert room.item_option("Read replicas configured")["description"]["text"].startswith(
        "✓ Dana W · "
    )
    async with room.bot.deps.db.read_sessions() as session:
        item = await session.scalar(select(Item).where(Item.text == "Failover tested"))
        events = (await session.scalars(select(Event).where(Event.kind == "item_checked"))).all()
    assert item is not None and (item.changed_by_id, item.changed_by_name) == (dana, "Dana W")
    assert {(e.actor_id, e.actor_name) for e in events} == {(dana, "Dana W")}
    lookups = [c for c in room.slack.calls_to("users.info") if c.args.get("user") == dana]
    assert len(lookups) == 1  # cached


async def test_display_name_falls_back_to_the_handle_when_users_info_fails(
    room: WarRoom,
) -> None:
    await room.command(ALICE, "start Trading v2")
    room.slack.fail_next("users.info", error="internal_error", times=5)
    await room.click(BOB, "Failover tested")
    assert room.is_checked("Failover tested")
    assert room.item_option("Failover tested")["description"]["text"].startswith("✓ bob · ")


async def test_items_checked_metric_counts_ticks_that_took_effect(room: WarRoom) -> None:
    def ticked() -> float:
        return room.bot.deps.metrics.value("launchbot_items_checked_total")

    await room.command(ALICE, "start Trading v2")
    await room.click(BOB, "Failover tested")
    await room.click(BOB, "Read replicas configured")
    assert ticked() == 2
    await room.click(BOB, "Failover tested")  # an untick is not a tick
    assert ticked() == 2
    # A click that reaches a launch closed a moment earlier ticks nothing, and counts nothing.
    stale_view = room.message_with_item("Failover tested")[0].blocks
    await room.close(ALICE)  # who started it
    await room.click(ALICE, "Failover tested", view_blocks=stale_view)
    assert not room.is_checked("Failover tested")
    assert ticked() == 2


async def test_a_tick_shows_the_display_name_once_users_info_answers(room: WarRoom) -> None:
    """users.info failing when the tick is applied leaves the handle only until Slack answers."""
    room.slack.add_user(BOB, "bob", "Bob Builder", display_name="Bob B")
    await room.command(ALICE, "start Trading v2")
    room.slack.fail_next("users.info", error="ratelimited")
    await room.click(BOB, "Failover tested")
    await room.settle()
    assert room.item_option("Failover tested")["description"]["text"].startswith("✓ Bob B · ")
    async with room.bot.deps.db.read_sessions() as session:
        item = await session.scalar(select(Item).where(Item.text == "Failover tested"))
        [resolved] = (
            await session.scalars(select(Event).where(Event.kind == "display_name_resolved"))
        ).all()
    assert item is not None and item.changed_by_name == "Bob B"
    assert resolved.detail == {"user_id": BOB, "name": "Bob B", "items": True, "waivers": True}
    [checked] = await room.events("item_checked")
    assert checked.actor_name == "bob"  # the log keeps what was known when the tick was applied
    await room.chain_ok()  # and the audit replays the name resolved after it
    # A later tick uses the cached name straight away: nothing more to resolve.
    await room.click(BOB, "Load balancer configured")
    assert len(await room.events("display_name_resolved")) == 1
