"""Issue 14, item 4 from the checklist itself: each item group's "⋯" menu opens a form to waive one
of the group's open items (sign-off role holders only, a reason required, refusals shown in the
form) or to undo a waiver; `/launch waive undo` does the same by command. The phase messages stay
within Slack's limits with the menus."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from bot.checklist.blocks import section_message
from bot.checklist.layout import chunks_by_message
from bot.checklist.lifecycle import start_launch
from bot.checklist.rules import set_items_checked
from bot.checklist.state import GroupState, ItemState, PhaseState, SectionState
from bot.checklist.template import ChecklistTemplate
from bot.checklist.waivers import WaiverRules, unwaive_item, waive_item
from bot.core.config import AppConfig
from bot.core.db import Database
from bot.core.events import Actor
from bot.core.ids import ActionId, CallbackId, LaunchBlock
from bot.core.models import Event, Item
from bot.core.outbox import MessageRef
from bot.launch.state import LaunchState, load_state
from bot.standin import validate_message_blocks
from tests.warroom import WarRoom

ALICE, CTO, OUTSIDER = "U0ALICE001", "U0CTO00001", "U0OUTSIDE1"
ITEM = "Failover tested"


def group_menu(room: WarRoom, item_text: str) -> tuple[Any, dict[str, Any], list[str]]:
    """(message, the "⋯" menu of the group holding ``item_text``, that chunk's item texts)."""
    for message in room.thread():
        menu = None
        for block in message.blocks or []:
            if block["type"] == "section" and "accessory" in block:
                menu = block["accessory"]
            for element in block.get("elements", []):
                texts = [o["text"]["text"] for o in element.get("options", [])]
                if any(t.lstrip("~").startswith(item_text) for t in texts):
                    assert menu is not None and menu["type"] == "overflow", "no ⋯ menu"
                    return message, menu, texts
    raise AssertionError(f"no group holds {item_text!r}")


async def open_form(room: WarRoom, user: str, item_text: str, *, undo: bool = False) -> Any:
    message, menu, _ = group_menu(room, item_text)
    value = next(
        o["value"]
        for o in menu["options"]
        if o["value"].startswith("unwaive:" if undo else "waive:")
    )
    callback = CallbackId.ITEM_UNWAIVE if undo else CallbackId.ITEM_WAIVE
    before = {v.id for v in room.slack.open_views(user)}
    await room.choose(user, message, ActionId.ITEM_MENU, value)
    opened = [
        v
        for v in room.slack.open_views(user)
        if v.id not in before and v.view["callback_id"] == callback
    ]
    assert opened, "the waiver form did not open"
    return opened[-1]


def select_options(view: Any) -> list[str]:
    block = next(b for b in view.view["blocks"] if b.get("block_id") == LaunchBlock.WAIVE_ITEM)
    return [o["text"]["text"] for o in block["element"]["options"]]


def option_value(view: Any, text: str) -> str:
    block = next(b for b in view.view["blocks"] if b.get("block_id") == LaunchBlock.WAIVE_ITEM)
    return next(
        o["value"] for o in block["element"]["options"] if o["text"]["text"].startswith(text)
    )


def waive_values(item_value: str, kind: str, reason: str) -> dict[str, dict[str, Any]]:
    return {
        LaunchBlock.WAIVE_ITEM: {
            ActionId.WAIVE_ITEM: {"type": "static_select", "selected_option": {"value": item_value}}
        },
        LaunchBlock.WAIVE_KIND: {
            ActionId.WAIVE_KIND: {"type": "radio_buttons", "selected_option": {"value": kind}}
        },
        LaunchBlock.WAIVE_REASON: {
            ActionId.WAIVE_REASON: {"type": "plain_text_input", "value": reason}
        },
    }


async def test_the_group_menu_opens_a_form_listing_the_groups_open_items(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    _, menu, chunk = group_menu(room, ITEM)
    assert [o["text"]["text"] for o in menu["options"]] == ["Waive an item…", "Undo a waiver…"]
    ticked = next(t for t in chunk if t != ITEM)
    await room.click(ALICE, ticked)
    view = await open_form(room, ALICE, ITEM)
    listed = select_options(view)
    assert ITEM in listed and ticked not in listed
    assert set(listed) == set(chunk) - {ticked}  # the group's open items, no other group's


async def test_a_waiver_from_the_form_is_struck_through_with_who_and_why(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    view = await open_form(room, CTO, ITEM)
    await room.submit(
        CTO, view, waive_values(option_value(view, ITEM), "not_applicable", "single-region launch")
    )
    assert not view.open and not view.errors
    _, option = room.message_with_item(f"~{ITEM}")
    assert option["text"] == {"type": "mrkdwn", "text": f"~{ITEM}~"}
    assert "N/A by carol: single-region launch" in option["description"]["text"]
    assert room.is_checked(f"~{ITEM}")  # counted as done: shown ticked
    [event] = await room.events("item_waived")
    assert (event.actor_id, event.detail["kind"], event.detail["reason"]) == (
        CTO,
        "not_applicable",
        "single-region launch",
    )
    assert event.source == f"view:{view.id}"
    await room.chain_ok()


async def test_an_outsider_is_refused_in_the_form_and_the_attempt_is_logged(
    room: WarRoom,
) -> None:
    await room.command(ALICE, "start Trading v2")
    view = await open_form(room, OUTSIDER, ITEM)
    await room.submit(OUTSIDER, view, waive_values(option_value(view, ITEM), "waived", "no need"))
    assert view.open
    assert view.errors[LaunchBlock.WAIVE_ITEM].startswith("Only a holder of a sign-off role")
    assert [e.actor_id for e in await room.events("item_waive_refused")] == [OUTSIDER]
    assert await room.events("item_waived") == []
    assert not room.item_option(ITEM)["text"]["text"].startswith("~")


async def test_an_empty_reason_is_an_error_in_the_form_and_changes_nothing(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    view = await open_form(room, CTO, ITEM)
    await room.submit(CTO, view, waive_values(option_value(view, ITEM), "waived", "   "))
    assert view.open and set(view.errors) == {LaunchBlock.WAIVE_REASON}
    await room.submit(CTO, view, waive_values("", "waived", "covered by the DR drill"))
    assert view.open and set(view.errors) == {LaunchBlock.WAIVE_ITEM}
    assert await room.events("item_waived") == []
    await room.submit(CTO, view, waive_values(option_value(view, ITEM), "waived", "DR drill"))
    assert not view.open


async def test_a_waiver_is_undone_from_the_group_menu(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.command(CTO, f'waive "{ITEM}" covered by the DR drill')
    outsider_view = await open_form(room, OUTSIDER, ITEM, undo=True)
    view = await open_form(room, CTO, ITEM, undo=True)
    assert select_options(view) == [f"{ITEM} (waived)"]
    assert "covered by the DR drill" in json.dumps(view.view["blocks"])
    await room.submit(
        OUTSIDER,
        outsider_view,
        {
            LaunchBlock.WAIVE_ITEM: {
                ActionId.WAIVE_ITEM: {
                    "type": "static_select",
                    "selected_option": {"value": option_value(outsider_view, ITEM)},
                }
            }
        },
    )
    assert outsider_view.open and "Only a holder" in outsider_view.errors[LaunchBlock.WAIVE_ITEM]
    values = {
        LaunchBlock.WAIVE_ITEM: {
            ActionId.WAIVE_ITEM: {
                "type": "static_select",
                "selected_option": {"value": option_value(view, ITEM)},
            }
        }
    }
    await room.submit(CTO, view, values)
    assert not view.open
    option = room.item_option(ITEM)
    assert option["text"]["type"] == "plain_text" and "description" not in option
    assert not room.is_checked(ITEM)
    [undone] = await room.events("item_unwaived")
    assert (undone.actor_id, undone.detail["kind"]) == (CTO, "waived")
    [refused] = await room.events("item_waive_refused")
    assert (refused.actor_id, refused.detail.get("undo")) == (OUTSIDER, True)
    await room.chain_ok()
    # Nothing is waived any more: the undo form says so, and has nothing to submit.
    empty = await open_form(room, CTO, ITEM, undo=True)
    assert "submit" not in empty.view and "is waived" in json.dumps(empty.view["blocks"])


async def test_undo_by_command_reopens_the_item_and_is_refused_to_outsiders(
    room: WarRoom,
) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.command(CTO, f'waive n/a "{ITEM}" single-region')
    await room.command(OUTSIDER, f'waive undo "{ITEM}"')
    assert "Only a holder of a sign-off role may undo a waiver" in room.ephemerals_for(OUTSIDER)[-1]
    assert room.item_option(f"~{ITEM}")
    await room.command(CTO, f'waive undo "{ITEM}"')
    assert not room.item_option(ITEM)["text"]["text"].startswith("~")
    assert any("is open again" in (m.text or "") for m in room.top_level())
    await room.command(CTO, f'waive undo "{ITEM}"')
    assert "is not waived" in room.ephemerals_for(CTO)[-1]
    report = await room.events("item_unwaived")
    assert [e.actor_id for e in report] == [CTO]
    await room.chain_ok()


async def test_a_closed_launch_has_no_menus(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    assert group_menu(room, ITEM)[1]["type"] == "overflow"  # there were menus to take away
    await room.close(ALICE)
    assert room.thread()
    for message in room.thread():
        assert not any("accessory" in b for b in message.blocks or [] if b["type"] == "section")


async def test_every_default_phase_renders_within_slacks_limits_with_the_menus(
    db: Database, template: ChecklistTemplate
) -> None:
    async with db.sessions.begin() as session:
        launch = await start_launch(
            session=session,
            template=template,
            name="Trading v2",
            team_id="T1",
            channel_id="C0WARROOM1",
            actor=Actor(ALICE, "alice"),
            at=datetime(2026, 12, 1, 14, 0, tzinfo=UTC),
        )
        launch_id = launch.id
    async with db.read_sessions() as session:
        state = await load_state(session=session, launch_id=launch_id)
    launch_day = next(p for p in state.phases if p.title == "Launch Day")
    assert launch_day.total == 42
    for phase in state.phases:
        for section in phase.sections:
            parts = chunks_by_message([len(g.items) for g in section.groups])
            for part in range(len(parts)):
                ref = MessageRef(0, "section", section.id, part, "C0WARROOM1", None, 1, 0)
                view = section_message(state, ref)
                assert validate_message_blocks(view.blocks) == [], (phase.title, section.title)
                assert len(view.blocks) <= 50
                menus = [b for b in view.blocks if b.get("accessory", {}).get("type") == "overflow"]
                assert len(menus) == len(parts[part])  # one per group (or part of a group)


async def test_undoing_the_waiver_that_completed_a_phase_reopens_it(
    db: Database, template: ChecklistTemplate, config: AppConfig
) -> None:
    at = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    cto = Actor(CTO, "carol")
    rules = WaiverRules(config.roles, {})
    async with db.sessions.begin() as session:
        launch = await start_launch(
            session=session,
            template=template,
            name="Trading v2",
            team_id="T1",
            channel_id="C0WARROOM1",
            actor=cto,
            at=at,
        )
        launch_id = launch.id
    async with db.read_sessions() as session:
        items = [
            i
            for s in (await load_state(session=session, launch_id=launch_id)).current.sections
            for i in s.items
        ]
    last, rest = items[-1], items[:-1]
    async with db.sessions.begin() as session:
        await set_items_checked(
            session=session,
            launch_id=launch_id,
            desired={i.id: True for i in rest},
            actor=cto,
            at=at,
            source="test",
            dedup_key="all-but-one",
        )
    async with db.sessions.begin() as session:
        waived = await waive_item(
            session=session,
            launch_id=launch_id,
            item_id=last.id,
            kind="waived",
            reason="done on paper",
            actor=cto,
            at=at,
            rules=rules,
        )
    assert waived.phase_completed
    async with db.sessions.begin() as session:
        await unwaive_item(
            session=session, launch_id=launch_id, item_id=last.id, actor=cto, at=at, rules=rules
        )
    async with db.read_sessions() as session:
        state = await load_state(session=session, launch_id=launch_id)
        kinds = (
            await session.scalars(
                select(Event.kind).where(Event.launch_id == launch_id).order_by(Event.seq)
            )
        ).all()
    assert state.current.completed_at is None
    assert list(kinds[-2:]) == ["item_unwaived", "phase_reopened"]


async def test_a_reason_full_of_ampersands_still_shows_the_waiver(room: WarRoom) -> None:
    """Escaped, "&" takes five characters: the description must fit Slack's 75 after escaping, or
    Slack refuses the whole message and the section's checklist stays as it was."""
    await room.command(ALICE, "start Trading v2")
    reason = "R&D & QA & P&L & FX & ops & risk & legal & compliance & audit"
    await room.command(CTO, f'waive "{ITEM}" {reason}')
    _, option = room.message_with_item(f"~{ITEM}")
    description = option["description"]["text"]
    assert description.startswith("⊘ waived by carol: R&amp;D &amp; QA") and description.endswith(
        "…"
    )
    assert len(description) <= 75


def test_a_waived_item_is_struck_through_whole_however_its_text_escapes() -> None:
    text = "Reconcile P&L & risk & FX & rates & credit & ops & treasury feeds & more"
    assert len(text) <= 75
    waived = ItemState(
        id=1,
        text=text,
        checked=False,
        changed_by_id=None,
        changed_by_name=None,
        changed_at=None,
        duration_minutes=None,
        waived="waived",
        waived_by_id=CTO,
        waived_by_name="carol",
        waive_reason="done",
    )
    group = GroupState(id=5, title="Feeds", stage=None, duration_minutes=None, items=(waived,))
    section = SectionState(id=10, position=0, title="Data", groups=(group,))
    phase = PhaseState(
        id=1,
        position=0,
        title="Launch Day",
        timing="T-0",
        kind="checklist",
        posted=True,
        completed_at=None,
        sections=(section,),
    )
    state = LaunchState(
        id=7,
        name="Trading v2",
        channel_id="C0WARROOM1",
        started_by_id=ALICE,
        started_by_name="alice",
        started_at=datetime(2026, 12, 1, 14, 0, tzinfo=UTC),
        closed_at=None,
        closed_by_id=None,
        current_phase=0,
        phases=(phase,),
        messages=(),
    )
    view = section_message(state, MessageRef(0, "section", 10, 0, "C0WARROOM1", None, 1, 0))
    [option] = [o for b in view.blocks for e in b.get("elements", []) for o in e.get("options", [])]
    shown = option["text"]["text"]
    assert shown.startswith("~Reconcile P&amp;L &amp; risk") and shown.endswith("…~"), shown
    assert len(shown) <= 75 and "&amp;" in shown and not re.search(r"&(?!amp;|lt;|gt;)", shown)
    assert validate_message_blocks(view.blocks) == []


async def test_a_form_waives_only_an_item_of_the_group_it_was_opened_for(room: WarRoom) -> None:
    """The chosen option comes back from the clicker's client: an item of another group (here
    the Security section's) is refused in the form, like a value naming another launch."""
    await room.command(ALICE, "start Trading v2")
    view = await open_form(room, CTO, ITEM)
    other = room.item_option("WAF rules configured")["value"]
    await room.submit(CTO, view, waive_values(other, "waived", "not ours"))
    assert view.open and "not in the group" in view.errors[LaunchBlock.WAIVE_ITEM]
    assert await room.events("item_waived") == []
    assert not room.item_option("WAF rules configured")["text"]["text"].startswith("~")
    # The same for an undo: the form of Database's group does not undo a Security waiver.
    await room.command(CTO, 'waive "WAF rules configured" handled by the CDN')
    await room.command(CTO, f'waive "{ITEM}" covered by the DR drill')
    undo = await open_form(room, CTO, ITEM, undo=True)
    await room.submit(
        CTO,
        undo,
        {
            LaunchBlock.WAIVE_ITEM: {
                ActionId.WAIVE_ITEM: {"type": "static_select", "selected_option": {"value": other}}
            }
        },
    )
    assert undo.open and "not in the group" in undo.errors[LaunchBlock.WAIVE_ITEM]
    assert await room.events("item_unwaived") == []


async def test_unticking_a_waived_item_says_how_to_undo_the_waiver(room: WarRoom) -> None:
    """A waived item shows as done; unticking it changes nothing and, instead of silently flipping
    back, tells the clicker how a waiver is undone."""
    await room.command(ALICE, "start Trading v2")
    await room.command(CTO, f'waive "{ITEM}" covered by the DR drill')
    await room.click(ALICE, f"~{ITEM}")
    await room.settle()
    told = room.ephemerals_for(ALICE)[-1]
    assert f"“{ITEM}” is waived" in told and f'/launch waive undo "{ITEM}"' in told, told
    assert room.is_checked(f"~{ITEM}")
    assert await room.events("item_unchecked") == [] and await room.events("item_unwaived") == []


async def test_a_stale_tick_of_a_waived_item_leaves_it_waived_and_unticked(
    db: Database, template: ChecklistTemplate, config: AppConfig
) -> None:
    """A tick from a message rendered before the waiver: the item already counts as done, so it
    is neither ticked on top of its waiver nor logged as ticked."""
    at = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    cto = Actor(CTO, "carol")
    async with db.sessions.begin() as session:
        launch = await start_launch(
            session=session,
            template=template,
            name="Trading v2",
            team_id="T1",
            channel_id="C0WARROOM1",
            actor=cto,
            at=at,
        )
        launch_id = launch.id
    async with db.read_sessions() as session:
        state = await load_state(session=session, launch_id=launch_id)
    item = next(i for s in state.current.sections for i in s.items if i.text == ITEM)
    async with db.sessions.begin() as session:
        await waive_item(
            session=session,
            launch_id=launch_id,
            item_id=item.id,
            kind="waived",
            reason="DR drill",
            actor=cto,
            at=at,
            rules=WaiverRules(config.roles, {}),
        )
    async with db.sessions.begin() as session:
        result = await set_items_checked(
            session=session,
            launch_id=launch_id,
            desired={item.id: True},
            actor=Actor(ALICE, "alice"),
            at=at,
            source="stale view",
            dedup_key="stale-tick",
        )
    assert result.changed == ()
    async with db.read_sessions() as session:
        row = await session.get(Item, item.id)
        kinds = (await session.scalars(select(Event.kind).where(Event.item_id == item.id))).all()
    assert row is not None and row.waived == "waived" and not row.checked
    assert list(kinds) == ["item_waived"]


async def test_the_undo_form_keeps_its_explanation_with_long_reasons(room: WarRoom) -> None:
    """Five waivers with 500-character reasons do not fit one section of 3000 characters: each
    reason is shortened in the list, so the explanation and every waiver are still there."""
    await room.command(ALICE, "start Trading v2")
    _, _, chunk = group_menu(room, ITEM)
    for n, text in enumerate(chunk):
        await room.command(CTO, f'waive "{text}" {n} ' + "R&D " * 124)
    view = await open_form(room, CTO, ITEM, undo=True)
    intro = view.view["blocks"][0]["text"]["text"]
    assert "The item you choose is open again" in intro
    assert all(f"~{text}~" in intro for text in chunk), intro
    assert not re.search(r"&(?!amp;|lt;|gt;)", intro)


async def test_a_waiver_form_naming_another_channel_or_launch_is_refused_and_logged(
    room: WarRoom, caplog: pytest.LogCaptureFixture
) -> None:
    """The waiver form's private_metadata rewritten to name the other war room's launch, or this
    launch with another channel: refused in the form, logged, no item waived in either launch."""
    other = "C0OTHER001"
    room.slack.add_channel(other, "war-room-2")
    await room.command(ALICE, "start Trading v2")
    await room.command(ALICE, "start Payments", channel=other)
    view = await open_form(room, CTO, ITEM)
    meta = json.loads(view.view["private_metadata"])
    values = waive_values(option_value(view, ITEM), "waived", "crafted")
    body, _ = room.slack.view_submission(user_id=CTO, view_id=view.id, values=values)
    for named, channel in ((2, room.channel), (1, other)):
        forged = json.dumps({**meta, "launch_id": named, "channel_id": channel})
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="bot.core.binding"):
            status, answer = await room.dispatch(
                *room.forge(body, lambda p, m=forged: p["view"].update(private_metadata=m))
            )
            await room.settle()
        assert status == 200
        error = json.loads(answer)["errors"][LaunchBlock.WAIVE_ITEM]
        assert "another channel" in error and "Nothing changed" in error
        assert f"refused a waiver form naming launch {named}" in caplog.text
        assert f"from channel {channel} by {CTO}" in caplog.text
    async with room.bot.deps.db.read_sessions() as session:
        waived = (await session.scalars(select(Item).where(Item.waived.is_not(None)))).all()
    assert waived == [] and await room.events("item_waived") == []
    assert not room.item_option(ITEM)["text"]["text"].startswith("~")
    # The form as the bot opened it still waives the item of its own launch.
    await room.submit(CTO, view, values)
    assert room.item_option(f"~{ITEM}")


async def test_a_replayed_form_submission_is_not_applied_again(room: WarRoom) -> None:
    """The same view_submission delivered again (a replay, or a retry after a late answer) must not
    waive again an item whose waiver was undone since, nor undo again a newer waiver."""
    await room.command(ALICE, "start Trading v2")
    view = await open_form(room, CTO, ITEM)
    body, headers = room.slack.view_submission(
        user_id=CTO, view_id=view.id, values=waive_values(option_value(view, ITEM), "waived", "DR")
    )
    await room.deliver(body, headers)
    await room.settle()
    await room.command(CTO, f'waive undo "{ITEM}"')
    await room.deliver(body, headers)
    await room.settle()
    assert not room.item_option(ITEM)["text"]["text"].startswith("~")
    assert len(await room.events("item_waived")) == 1
    # And the undo form's submission, replayed after the item was waived anew.
    await room.command(CTO, f'waive "{ITEM}" covered by the DR drill')
    undo = await open_form(room, CTO, ITEM, undo=True)
    values = {
        LaunchBlock.WAIVE_ITEM: {
            ActionId.WAIVE_ITEM: {
                "type": "static_select",
                "selected_option": {"value": option_value(undo, ITEM)},
            }
        }
    }
    body, headers = room.slack.view_submission(user_id=CTO, view_id=undo.id, values=values)
    await room.deliver(body, headers)
    await room.settle()
    await room.command(CTO, f'waive "{ITEM}" still covered by the DR drill')
    await room.deliver(body, headers)
    await room.settle()
    assert room.item_option(f"~{ITEM}")
    assert len(await room.events("item_unwaived")) == 2  # the command's and the form's, once
    await room.chain_ok()


async def test_a_replayed_waive_command_is_not_applied_again(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    body, headers = room.slack.slash_command(
        user_id=CTO, channel_id=room.channel, text=f'waive "{ITEM}" DR drill'
    )
    await room.deliver(body, headers)
    await room.command(CTO, f'waive undo "{ITEM}"')
    sent = await room.deliver(body, headers)
    await room.settle()
    assert not room.item_option(ITEM)["text"]["text"].startswith("~")
    assert len(await room.events("item_waived")) == 1
    assert (
        "recorded already" in sent.json["text"] and sent.json.get("response_type") != "in_channel"
    )


async def waiver_row(room: WarRoom, text: str) -> Item:
    async with room.bot.deps.db.read_sessions() as session:
        item = await session.scalar(select(Item).where(Item.text == text))
    assert item is not None
    return item


async def test_a_form_waiver_shows_the_display_name_once_users_info_answers(
    room: WarRoom,
) -> None:
    """The form stores the handle when Slack's name for the waiver's author is not cached yet; the
    waiver then shows the display name, like a tick, and the audit replays the change."""
    room.slack.add_user(CTO, "carol", "Carol CTO", display_name="Carol C")
    await room.command(ALICE, "start Trading v2")
    view = await open_form(room, CTO, ITEM)
    await room.submit(CTO, view, waive_values(option_value(view, ITEM), "waived", "DR drill"))
    await room.settle()
    assert "by Carol C: DR drill" in room.item_option(f"~{ITEM}")["description"]["text"]
    assert (await waiver_row(room, ITEM)).waived_by_name == "Carol C"
    [waived] = await room.events("item_waived")
    assert waived.actor_name == "carol"  # the log keeps what was known when it was waived
    [resolved] = await room.events("display_name_resolved")
    assert resolved.detail == {"user_id": CTO, "name": "Carol C", "items": True, "waivers": True}
    await room.chain_ok()
    # The name is cached now: the next waiver is stored under it, with nothing left to resolve.
    other = "Read replicas configured"
    await room.command(CTO, f'waive "{other}" replicas come with the managed database')
    assert (await waiver_row(room, other)).waived_by_name == "Carol C"
    assert len(await room.events("display_name_resolved")) == 1
    await room.chain_ok()


async def test_a_command_waiver_shows_the_display_name_once_users_info_answers(
    room: WarRoom,
) -> None:
    """`/launch waive` too: the answer names the author, the checklist shows the display name once
    Slack has answered (after the ack), and the tick and waiver of the same person agree."""
    room.slack.add_user(CTO, "carol", "Carol CTO", display_name="Carol C")
    await room.command(ALICE, "start Trading v2")
    await room.command(CTO, f'waive n/a "{ITEM}" single-region launch')
    await room.settle()
    description = room.item_option(f"~{ITEM}")["description"]["text"]
    assert "N/A by Carol C: single-region launch" in description
    [waived] = await room.events("item_waived")
    assert waived.actor_name == "carol"
    await room.click(CTO, "Read replicas configured")
    assert room.item_option("Read replicas configured")["description"]["text"].startswith(
        "✓ Carol C · "
    )
    assert len(await room.events("display_name_resolved")) == 1
    await room.chain_ok()
