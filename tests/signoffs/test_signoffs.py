"""Sign-offs end to end: role-bound Approve buttons, refusals, revoke via the modal, GO, four eyes, N of M,
user groups, /launch signoff and /launch report, through the real bolt app and the Slack stand-in (and
approve + refusal once through the real `launchbot serve` process)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest
from sqlalchemy import func, select, update

from bot.core.config import RoleConfig, SignOffConfig
from bot.core.ids import ActionId, BlockPrefix, CallbackId, SignOffBlock
from bot.core.models import Event, Item, Launch, SignOff
from bot.signoffs.blocks import SignOffValue
from bot.standin import SlackStandIn
from tests.warroom import BotProcess, WarRoom, wait_for

ALICE, BOB = "U0ALICE001", "U0BOB00001"
CTO, TRADER, SECURITY, OPS, PO = (
    "U0CTO00001",
    "U0TRADE001",
    "U0SEC00001",
    "U0OPS00001",
    "U0PO000001",
)
HOLDERS = {
    "cto": CTO,
    "head_of_trading": TRADER,
    "security_officer": SECURITY,
    "devops_lead": OPS,
    "product_owner": PO,
}
# Every time in Slack: the reader's own zone, one pattern (kit.slack_date), a UTC fallback.
WHEN = r"<!date\^\d+\^\{date_short_pretty\} \{time\}\|\w{3} \d{2} \d{2}:\d{2} UTC>"


@pytest.fixture(autouse=True)
def people(slack: SlackStandIn) -> None:
    # Display names differ from the handles, so the tests see the users.info name replace the handle.
    slack.add_user(CTO, "carol", "Carol Chen", display_name="Carol Chen")
    slack.add_user(TRADER, "tom", "Tom Trader", display_name="Tom T")
    slack.add_user(SECURITY, "sam", "Sam Secure", display_name="Sam S")
    slack.add_user(OPS, "olga", "Olga Ops", display_name="Olga O")
    slack.add_user(PO, "pat", "Pat Owner", display_name="Pat O")
    slack.add_user("U0CTO00002", "chris", "Chris Second", display_name="Chris S")


# --- helpers ---------------------------------------------------------------------------------------


def role_row(room: WarRoom, role_id: str, message: Any = None) -> dict[str, Any]:
    message = message or room.card()
    for block in message.blocks:
        if block.get("block_id") == f"{BlockPrefix.SIGNOFF}:{role_id}":
            return block
    raise AssertionError(f"no sign-off row for {role_id}")


def row_text(room: WarRoom, role_id: str) -> str:
    return str(role_row(room, role_id)["text"]["text"])


def go_line(room: WarRoom) -> str:
    return next(
        b["text"]["text"] for b in room.card().blocks if b.get("block_id") == SignOffBlock.GO
    )


def buttons(room: WarRoom, role_id: str) -> dict[str, dict[str, Any]]:
    """The row's buttons by action_id (the accessory, plus the partial-approval Revoke block)."""
    found: dict[str, dict[str, Any]] = {}
    card = room.card()
    for block in card.blocks:
        block_id = str(block.get("block_id") or "")
        if not block_id.endswith(f":{role_id}") or not block_id.startswith(BlockPrefix.SIGNOFF):
            continue
        for element in [block.get("accessory"), *block.get("elements", [])]:
            if element and element.get("type") == "button":
                found[element["action_id"]] = element
    return found


def click_body(room: WarRoom, user: str, role_id: str, action: str) -> tuple[bytes, dict[str, str]]:
    button = buttons(room, role_id)[action]
    return room.slack.button_click(
        user_id=user,
        channel_id=room.channel,
        message_ts=room.card().ts,
        action_id=action,
        value=button["value"],
    )


async def click(room: WarRoom, user: str, role_id: str, action: str = ActionId.SIGNOFF_APPROVE):
    sent = await room.slack.deliver_to(room.dispatch, *click_body(room, user, role_id, action))
    await room.settle()
    return sent


async def approve_all(room: WarRoom, skip: tuple[str, ...] = ()) -> None:
    for role_id, user in HOLDERS.items():
        if role_id not in skip:
            await click(room, user, role_id)


async def sign_offs(room: WarRoom) -> list[SignOff]:
    async with room.bot.deps.db.read_sessions() as session:
        return list((await session.scalars(select(SignOff).order_by(SignOff.id))).all())


async def events(room: WarRoom, kind: str) -> list[Event]:
    async with room.bot.deps.db.read_sessions() as session:
        rows = await session.scalars(select(Event).where(Event.kind == kind).order_by(Event.seq))
        return list(rows.all())


def go_messages(room: WarRoom) -> list[Any]:
    return [
        m
        for m in room.top_level()
        if m.blocks and m.blocks[0]["type"] == "header" and "GO" in m.blocks[0]["text"]["text"]
    ]


async def revoke_via_modal(room: WarRoom, user: str, role_id: str, reason: str) -> Any:
    await click(room, user, role_id, ActionId.SIGNOFF_REVOKE)
    views = room.slack.open_views(user)
    assert views, "the revoke form did not open"
    view = views[-1]
    assert view.view["callback_id"] == CallbackId.SIGNOFF_REVOKE
    body, headers = room.slack.view_submission(
        user_id=user,
        view_id=view.id,
        values={
            SignOffBlock.REVOKE_REASON: {
                ActionId.SIGNOFF_REVOKE_REASON: {"type": "plain_text_input", "value": reason}
            }
        },
    )
    sent = await room.slack.deliver_to(room.dispatch, body, headers)
    await room.settle()
    return sent, view


def set_role(room: WarRoom, role_id: str, **fields: Any) -> None:
    """Change the running bot's config (handlers and the card read it on every request)."""
    room.bot.deps.config.roles[role_id] = RoleConfig(
        title=room.bot.deps.config.roles[role_id].title, **fields
    )


# --- the table ---------------------------------------------------------------------------------


async def test_card_lists_the_templates_roles_with_confirmed_approve_buttons(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    for role_id, holder in HOLDERS.items():
        text = row_text(room, role_id)
        assert text.startswith("⏳ *") and f"held by <@{holder}>" in text
        button = buttons(room, role_id)[ActionId.SIGNOFF_APPROVE]
        # IDs only in the value: who may approve is decided from the verified clicker.
        assert json.loads(button["value"]) == {"launch_id": 1, "role_id": role_id}
        confirm = button["confirm"]
        assert len(confirm["title"]["text"]) <= 100 and len(confirm["text"]["text"]) <= 300
        assert confirm["confirm"]["text"] == "Approve" and confirm["deny"]["text"] == "Cancel"
    titles = [row_text(room, r).split("*")[1] for r in HOLDERS]
    assert titles == ["CTO", "Head of Trading", "Security Officer", "DevOps Lead", "Product Owner"]
    assert "Not GO yet" in go_line(room) and "0/5 roles approved" in go_line(room)
    assert len(room.card().blocks) < 50


async def test_holder_approves_and_the_row_shows_who_and_when(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.click(BOB, "Failover tested")
    sent = await click(room, CTO, "cto")
    assert sent.status == 200
    text = row_text(room, "cto")
    assert re.fullmatch(rf"✅ \*CTO\* — Approved by <@{CTO}> · {WHEN}", text), text
    assert ActionId.SIGNOFF_APPROVE not in buttons(room, "cto")
    assert ActionId.SIGNOFF_REVOKE in buttons(room, "cto")
    [so] = await sign_offs(room)
    assert (so.user_id, so.user_name, so.role_id, so.revoked_at) == (CTO, "Carol Chen", "cto", None)
    # The launch state it approved: one item ticked at that moment, and the chain head then.
    assert so.progress["done"] == 1 and so.progress["current_phase"] == "Pre-Launch Phase"
    [event] = await events(room, "sign_off_approved")
    assert event.actor_id == CTO and event.detail["role_id"] == "cto"
    assert so.progress["chain_head"] == event.prev_hash
    # users.info was asked after the ack; the handle from the payload was stored first.
    assert event.actor_name == "carol"
    # (Bob's tick resolves his own name too: only the CTO's lookup is the sign-off's.)
    asked = [c.args["user"] for c in room.slack.calls_to("users.info")]
    assert asked.count(CTO) == 1 and set(asked) <= {CTO, BOB}
    assert room.ephemerals_for(CTO) == []


async def test_anyone_else_is_refused_privately_and_only_the_attempt_is_recorded(
    room: WarRoom,
) -> None:
    await room.command(ALICE, "start Trading v2")
    before = room.card().blocks
    sent = await click(room, BOB, "cto")
    assert sent.status == 200
    assert room.ephemerals_for(BOB) == [
        f":warning: Only the CTO can approve this (held by <@{CTO}>)."
    ]
    assert [e for e in room.slack.ephemerals if e.user == BOB][0].via == "response_url"
    assert await sign_offs(room) == []
    [refused] = await events(room, "sign_off_refused")
    assert (refused.actor_id, refused.detail["role_id"], refused.detail["reason"]) == (
        BOB,
        "cto",
        "not_holder",
    )
    assert row_text(room, "cto").startswith("⏳")
    assert room.card().blocks == before
    # Holding another role does not help either.
    await click(room, TRADER, "cto")
    assert "Only the CTO can approve this" in room.ephemerals_for(TRADER)[-1]
    assert await sign_offs(room) == []


async def test_double_click_leaves_one_sign_off(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    first = click_body(room, CTO, "cto", ActionId.SIGNOFF_APPROVE)
    second = click_body(room, CTO, "cto", ActionId.SIGNOFF_APPROVE)
    results = await asyncio.gather(
        room.slack.deliver_to(room.dispatch, *first),
        room.slack.deliver_to(room.dispatch, *second),
        room.slack.deliver_to(room.dispatch, *first),  # and a replay of the first request
    )
    await room.settle()
    assert [r.status for r in results] == [200, 200, 200]
    assert len(await sign_offs(room)) == 1
    assert len(await events(room, "sign_off_approved")) == 1
    assert row_text(room, "cto").count("Approved by") == 1


async def test_two_holders_clicking_at_once_leave_one_approval(room: WarRoom) -> None:
    set_role(room, "cto", users=[CTO, "U0CTO00002"])
    await room.command(ALICE, "start Trading v2")
    bodies = [click_body(room, u, "cto", ActionId.SIGNOFF_APPROVE) for u in (CTO, "U0CTO00002")]
    await asyncio.gather(*(room.slack.deliver_to(room.dispatch, *b) for b in bodies))
    await room.settle()
    [so] = await sign_offs(room)
    loser = "U0CTO00002" if so.user_id == CTO else CTO
    assert room.ephemerals_for(loser) == [f":warning: CTO is already approved by <@{so.user_id}>."]
    [refused] = await events(room, "sign_off_refused")
    assert (refused.actor_id, refused.detail["reason"]) == (loser, "already_approved")


# --- revoke ------------------------------------------------------------------------------------


async def test_approver_revokes_with_a_reason_in_the_modal(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    await click(room, CTO, "cto")
    revoke = buttons(room, "cto")[ActionId.SIGNOFF_REVOKE]
    assert revoke["confirm"]["style"] == "danger" and len(revoke["confirm"]["title"]["text"]) <= 100
    sent, view = await revoke_via_modal(room, CTO, "cto", "Rollback test failed on green")
    assert sent.status == 200 and not room.slack.views[view.id].open
    # IDs only: the launch, the role, and the channel the Revoke button was pressed in
    assert json.loads(view.view["private_metadata"]) == {
        "launch_id": 1,
        "role_id": "cto",
        "channel_id": room.channel,
    }
    text = row_text(room, "cto")
    assert text.startswith("⏳ *CTO* — awaiting approval")
    assert re.search(rf"↩️ Revoked by <@{CTO}> · {WHEN} — “Rollback test failed on green”", text), (
        text
    )
    assert ActionId.SIGNOFF_APPROVE in buttons(room, "cto")
    [so] = await sign_offs(room)
    assert so.revoked_by_id == CTO and so.revoke_reason == "Rollback test failed on green"
    [event] = await events(room, "sign_off_revoked")
    assert event.actor_id == CTO and event.detail["reason"] == "Rollback test failed on green"
    # ...and the role can be approved again.
    await click(room, CTO, "cto")
    assert row_text(room, "cto").startswith("✅ *CTO* — Approved by")
    first, second = await sign_offs(room)
    # users.info answered once (after the first approval); the revoke and the second approval used the
    # cached name (bot/identity.py: a successful lookup is kept name_cache_seconds, 600 s here).
    assert [c.args["user"] for c in room.slack.calls_to("users.info")] == [CTO]
    assert first.revoked_by_name == "Carol Chen" and second.user_name == "Carol Chen"
    # Stored before the ack under the cached name (the first approval got the payload's handle).
    [_, again] = await events(room, "sign_off_approved")
    [revoked] = await events(room, "sign_off_revoked")
    assert (revoked.actor_name, again.actor_name) == ("Carol Chen", "Carol Chen")


async def test_a_failed_name_lookup_is_not_cached_and_is_asked_again(room: WarRoom) -> None:
    """What the cache does not promise: a users.info that fails leaves the handle and is not cached."""
    await room.command(ALICE, "start Trading v2")
    room.slack.fail_next("users.info", error="ratelimited")
    await click(room, CTO, "cto")
    [so] = await sign_offs(room)
    assert so.user_name == "carol"
    # The mention alone: Slack renders the display name ("@carol (carol)" repeated it).
    assert "Approved by <@U0CTO00001> · <!date^" in row_text(room, "cto")
    await revoke_via_modal(room, CTO, "cto", "Wrong build")
    assert [c.args["user"] for c in room.slack.calls_to("users.info")] == [CTO, CTO]
    [so] = await sign_offs(room)
    assert (so.user_name, so.revoked_by_name) == ("Carol Chen", "Carol Chen")
    await click(room, CTO, "cto")
    assert len(room.slack.calls_to("users.info")) == 2  # the second answer was cached


def tampered(body: bytes, room: WarRoom, **extra: Any) -> tuple[bytes, dict[str, str]]:
    """The same click with extra fields smuggled into the button value, signed again (as if the
    value had been altered before Slack signed the request)."""
    payload = json.loads(parse_qs(body.decode())["payload"][0])
    [action] = payload["actions"]
    action["value"] = json.dumps({**json.loads(action["value"]), **extra}, separators=(",", ":"))
    forged = urlencode({"payload": json.dumps(payload)}).encode()
    return forged, room.slack.signed_headers(forged)


@pytest.mark.parametrize("clicker", [CTO, BOB], ids=["the_holder", "someone_else"])
async def test_a_button_value_with_an_extra_field_is_refused_and_nothing_is_stored(
    room: WarRoom, clicker: str
) -> None:
    await room.command(ALICE, "start Trading v2")
    async with room.bot.deps.db.read_sessions() as session:
        before = await session.scalar(select(func.count()).select_from(Event))
    body, _ = click_body(room, clicker, "cto", ActionId.SIGNOFF_APPROVE)
    # Even the role's own holder is refused: the value must be exactly {launch_id, role_id}.
    sent = await room.slack.deliver_to(room.dispatch, *tampered(body, room, user_id=CTO))
    await room.settle()
    assert sent.status == 200
    assert room.ephemerals_for(clicker) == [
        ":warning: That sign-off button is not one the bot made."
    ]
    assert [e for e in room.slack.ephemerals if e.user == clicker][0].via == "response_url"
    assert await sign_offs(room) == []
    async with room.bot.deps.db.read_sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Event)) == before
    assert row_text(room, "cto").startswith("⏳")
    assert room.slack.calls_to("users.info") == []


async def test_a_revoke_button_with_an_extra_field_opens_no_form(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    await click(room, CTO, "cto")
    body, _ = click_body(room, CTO, "cto", ActionId.SIGNOFF_REVOKE)
    await room.slack.deliver_to(room.dispatch, *tampered(body, room, reason="x"))
    await room.settle()
    assert room.ephemerals_for(CTO) == [":warning: That sign-off button is not one the bot made."]
    assert room.slack.open_views(CTO) == []
    [so] = await sign_offs(room)
    assert so.revoked_at is None
    assert await events(room, "sign_off_refused") == []


async def test_only_the_approver_may_revoke(room: WarRoom) -> None:
    set_role(room, "cto", users=[CTO, "U0CTO00002"])
    await room.command(ALICE, "start Trading v2")
    await click(room, CTO, "cto")
    await click(room, "U0CTO00002", "cto", ActionId.SIGNOFF_REVOKE)
    assert room.slack.open_views("U0CTO00002") == []
    assert room.ephemerals_for("U0CTO00002") == [
        f":warning: Only the person who approved CTO can revoke it (approved by <@{CTO}>)."
    ]
    [refused] = await events(room, "sign_off_refused")
    assert refused.detail == {
        "action": "revoke",
        "role_id": "cto",
        "role_title": "CTO",
        "reason": "not_signer",
    }
    assert (await sign_offs(room))[0].revoked_at is None


async def test_revoke_form_insists_on_a_reason(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    await click(room, CTO, "cto")
    sent, view = await revoke_via_modal(room, CTO, "cto", "   ")
    assert sent.json["response_action"] == "errors"
    assert room.slack.views[view.id].open
    assert SignOffBlock.REVOKE_REASON in room.slack.views[view.id].errors
    assert (await sign_offs(room))[0].revoked_at is None


# --- GO ----------------------------------------------------------------------------------------


async def test_go_is_posted_once_after_the_last_approval(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    await approve_all(room, skip=("product_owner",))
    assert go_messages(room) == []
    assert "4/5 roles approved" in go_line(room)
    await click(room, PO, "product_owner")
    [go] = go_messages(room)
    assert go.thread_ts in (None, go.ts), "GO is posted in the channel, not in the thread"
    assert go.blocks[0]["text"]["text"] == "🟢 GO — Trading v2"
    listing = go.blocks[2]["text"]["text"]
    for holder in HOLDERS.values():
        assert f"<@{holder}>" in listing
    assert go_line(room).startswith("*Sign-offs* · 🟢 *GO* — every sign-off is in")
    [declared] = await events(room, "launch_go")
    assert declared.actor_id == PO and declared.detail["number"] == 1
    assert declared.hash[:16] in go.blocks[-1]["elements"][0]["text"]
    # A stray click and a re-publish (as after a restart) do not post it again.
    await click(room, PO, "product_owner", ActionId.SIGNOFF_REVOKE)  # opens the form only
    await room.bot.deps.publisher.flush(1)
    await room.bot.deps.publisher.recover()
    await room.settle()
    assert len(go_messages(room)) == 1
    assert len(room.slack.calls_to("chat.postMessage")) == 1 + 3 + 1  # card, sections, GO


async def test_revoking_after_go_withdraws_it_and_the_next_go_is_a_new_message(
    room: WarRoom,
) -> None:
    await room.command(ALICE, "start Trading v2")
    await approve_all(room)
    await revoke_via_modal(room, SECURITY, "security_officer", "Pen-test finding reopened")
    [go] = go_messages(room)
    assert go.blocks[0]["text"]["text"] == "⛔ GO withdrawn — Trading v2"
    assert "Pen-test finding reopened" in go.blocks[1]["text"]["text"]
    assert "GO withdrawn" in go_line(room)
    assert [e.kind for e in await events(room, "go_withdrawn")] == ["go_withdrawn"]
    await click(room, SECURITY, "security_officer")
    first, second = go_messages(room)
    assert first.blocks[0]["text"]["text"].startswith("⛔")
    assert second.blocks[0]["text"]["text"] == "🟢 GO — Trading v2"


# --- rules -------------------------------------------------------------------------------------


async def test_four_eyes_one_person_signs_for_one_role_unless_lifted(room: WarRoom) -> None:
    set_role(room, "devops_lead", users=[OPS, CTO])
    await room.command(ALICE, "start Trading v2")
    await click(room, CTO, "cto")
    await click(room, CTO, "devops_lead")
    assert "You already signed off as CTO on this launch" in room.ephemerals_for(CTO)[-1]
    assert [s.role_id for s in await sign_offs(room)] == ["cto"]
    room.bot.deps.config.signoff = SignOffConfig(allow_multiple_roles=True)
    await click(room, CTO, "devops_lead")
    assert [s.role_id for s in await sign_offs(room)] == ["cto", "devops_lead"]


async def test_whoever_started_the_launch_cannot_be_its_only_approver(room: WarRoom) -> None:
    for role_id in HOLDERS:
        set_role(room, role_id, users=[ALICE, HOLDERS[role_id]])
    room.bot.deps.config.signoff = SignOffConfig(allow_multiple_roles=True)
    await room.command(ALICE, "start Trading v2")
    await approve_all_as(room, ALICE, skip=("product_owner",))
    await click(room, ALICE, "product_owner")
    assert (
        "You started this launch, so you cannot also be its only approver"
        in (room.ephemerals_for(ALICE)[-1])
    )
    assert go_messages(room) == []
    await click(room, PO, "product_owner")
    assert len(go_messages(room)) == 1


async def approve_all_as(room: WarRoom, user: str, skip: tuple[str, ...]) -> None:
    for role_id in HOLDERS:
        if role_id not in skip:
            await click(room, user, role_id)


async def test_role_without_holders_is_shown_and_cannot_be_approved(room: WarRoom) -> None:
    set_role(room, "product_owner", users=[])
    await room.command(ALICE, "start Trading v2")
    text = row_text(room, "product_owner")
    assert text.startswith("⚠️ *Product Owner* — no holder configured")
    assert buttons(room, "product_owner") == {}
    await room.command(PO, "signoff approve product_owner")
    assert "Nobody holds the Product Owner role yet" in room.ephemerals_for(PO)[-1]
    assert await sign_offs(room) == []


async def test_a_role_may_require_two_of_its_holders(room: WarRoom) -> None:
    set_role(room, "cto", users=[CTO, "U0CTO00002"], required=2)
    await room.command(ALICE, "start Trading v2")
    await click(room, CTO, "cto")
    text = row_text(room, "cto")
    assert (
        text.startswith("⏳ *CTO* (1 of 2) — awaiting approval") and f"Approved by <@{CTO}>" in text
    )
    assert set(buttons(room, "cto")) == {ActionId.SIGNOFF_APPROVE, ActionId.SIGNOFF_REVOKE}
    await click(room, "U0CTO00002", "cto")
    text = row_text(room, "cto")
    assert text.startswith("✅ *CTO* (2 of 2)") and text.count("Approved by") == 2
    assert sorted(s.active_slot or 0 for s in await sign_offs(room)) == [1, 2]


async def test_usergroup_members_hold_the_role(room: WarRoom) -> None:
    room.slack.add_usergroup("S0DEVOPS01", [OPS, BOB])
    set_role(room, "devops_lead", users=[], usergroups=["S0DEVOPS01"])
    await room.command(ALICE, "start Trading v2")
    assert "held by <!subteam^S0DEVOPS01>" in row_text(room, "devops_lead")
    await click(room, ALICE, "devops_lead")
    assert "held by <!subteam^S0DEVOPS01>" in room.ephemerals_for(ALICE)[-1]
    await click(room, BOB, "devops_lead")
    assert [(s.role_id, s.user_id) for s in await sign_offs(room)] == [("devops_lead", BOB)]
    # Looked up once and cached: the second click did not ask Slack again.
    assert len(room.slack.calls_to("usergroups.users.list")) == 1


async def test_signoff_command_shows_the_table_and_approves_with_a_comment(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.command(BOB, "signoff")
    [table] = [e for e in room.slack.ephemerals if e.user == BOB]
    assert table.blocks and table.blocks[0]["text"]["text"] == "Sign-offs · Trading v2"
    await room.command(CTO, 'signoff approve cto --anyway "Risk accepted, see RFC-12"')
    assert room.ephemerals_for(CTO)[-1] == ":white_check_mark: Approved as CTO."
    [so] = await sign_offs(room)
    assert so.comment == "Risk accepted, see RFC-12"
    assert "> Risk accepted, see RFC-12" in row_text(room, "cto")
    await room.command(CTO, "signoff revoke CTO wrong build")
    assert (await sign_offs(room))[0].revoke_reason == "wrong build"
    # A phone's smart punctuation sends --anyway as —anyway: still the option, not the comment.
    await room.command(CTO, "signoff approve cto —anyway rebuilt")
    assert room.ephemerals_for(CTO)[-1] == ":white_check_mark: Approved as CTO."
    assert (await sign_offs(room))[-1].comment == "rebuilt"


async def test_signoff_approve_by_command_asks_about_open_items_as_the_button_does(
    room: WarRoom,
) -> None:
    """Open items never block an approval, but nobody approves unaware: the typed approval asks
    the question the Approve button's dialog asks, records nothing, and says how to go ahead."""
    await room.command(ALICE, "start Trading v2")
    dialog = buttons(room, "cto")[ActionId.SIGNOFF_APPROVE]["confirm"]["text"]["text"]
    question = dialog.split("?", 1)[0] + "?"
    assert re.fullmatch(r"Pre-Launch Phase has \d+ open items\. Approve anyway\?", question)
    await room.command(CTO, 'signoff approve cto "Risk accepted, see RFC-12"')
    [asked] = [e for e in room.slack.ephemerals if e.user == CTO]
    assert asked.text.startswith(f":warning: *{question}* Nothing was recorded.")
    assert "`/launch signoff approve cto --anyway &lt;comment&gt;`" in asked.text
    assert "“Risk accepted, see RFC-12”" in asked.text
    assert "accessory" not in asked.blocks[0]  # a button would lose the comment
    assert await sign_offs(room) == [] and await events(room, "sign_off_approved") == []
    assert "✅" not in row_text(room, "cto")
    # Someone who may not approve is refused as before, not asked in vain.
    await room.command(BOB, "signoff approve cto")
    assert "Only " in room.ephemerals_for(BOB)[-1] and "Approve anyway" not in str(
        room.ephemerals_for(BOB)
    )
    assert len(await events(room, "sign_off_refused")) == 1
    # Typed again with --anyway, it is recorded with the comment and the progress it was given on.
    await room.command(CTO, 'signoff approve cto --anyway "Risk accepted, see RFC-12"')
    assert room.ephemerals_for(CTO)[-1] == ":white_check_mark: Approved as CTO."
    [so] = await sign_offs(room)
    assert so.comment == "Risk accepted, see RFC-12" and so.progress["done"] == 0
    # Without a comment the answer carries the card's own Approve button (and its dialog).
    await room.command(TRADER, "signoff approve head_of_trading")
    [asked] = [e for e in room.slack.ephemerals if e.user == TRADER]
    assert "or press Approve." in asked.text
    button = asked.blocks[0]["accessory"]
    assert button["confirm"]["text"]["text"].startswith(question)
    body = room.slack.ephemeral_button_click(
        user_id=TRADER,
        ephemeral_ts=asked.ts,
        action_id=ActionId.SIGNOFF_APPROVE,
        value=button["value"],
        block_id=None,
    )
    await room.slack.deliver_to(room.dispatch, *body)
    await room.settle()
    assert [(s.role_id, s.user_id) for s in await sign_offs(room)] == [
        ("cto", CTO),
        ("head_of_trading", TRADER),
    ]


async def test_signoff_approve_by_command_asks_nothing_when_the_phase_has_no_open_items(
    room: WarRoom,
) -> None:
    await room.command(ALICE, "start Trading v2")
    async with room.bot.deps.db.sessions.begin() as session:  # setup: the whole phase done
        await session.execute(update(Item).values(checked=True))
    await room.command(CTO, "signoff approve cto")
    assert room.ephemerals_for(CTO)[-1] == ":white_check_mark: Approved as CTO."
    assert [s.role_id for s in await sign_offs(room)] == ["cto"]


async def test_approving_from_the_private_table_updates_that_table(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.command(CTO, "signoff")
    [table] = [e for e in room.slack.ephemerals if e.user == CTO]
    assert "awaiting approval" in str(table.blocks)
    approve = next(
        (b, b["accessory"])
        for b in table.blocks or []
        if b.get("accessory", {}).get("action_id") == ActionId.SIGNOFF_APPROVE
        and "CTO" in b["text"]["text"]
    )
    body = room.slack.ephemeral_button_click(
        user_id=CTO,
        ephemeral_ts=table.ts,
        action_id=ActionId.SIGNOFF_APPROVE,
        value=approve[1]["value"],
        block_id=approve[0]["block_id"],
    )
    await room.slack.deliver_to(room.dispatch, *body)
    await room.settle()
    [so] = await sign_offs(room)
    assert so.user_id == CTO
    # The same private message now shows the approval (replaced through its response_url), and
    # no second copy was posted.
    [table] = [e for e in room.slack.ephemerals if e.user == CTO]
    cto_row = next(b for b in table.blocks or [] if "CTO" in str(b.get("text", "")))
    assert "Approved by" in cto_row["text"]["text"]
    assert "Approved by" in row_text(room, "cto")


async def test_closed_launch_refuses_sign_offs(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    body = click_body(room, CTO, "cto", ActionId.SIGNOFF_APPROVE)
    await room.close(ALICE)
    await room.slack.deliver_to(room.dispatch, *body)
    await room.settle()
    assert "is closed" in room.ephemerals_for(CTO)[-1]
    assert await sign_offs(room) == []
    assert buttons(room, "cto") == {}


# --- report ------------------------------------------------------------------------------------


async def test_report_is_uploaded_into_the_launch_thread(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.click(BOB, "Failover tested")
    await click(room, CTO, "cto")
    await room.command(ALICE, "report")
    replies = room.ephemerals_for(ALICE)
    assert "Uploading the report of *Trading v2*" in replies[-2]
    assert replies[-1].startswith(":page_facing_up: Uploaded `launch-1-trading-v2-report.md`")
    assert room.slack.calls_to("files.getUploadURLExternal")
    [complete] = room.slack.calls_to("files.completeUploadExternal")
    assert complete.args["thread_ts"] == room.card().ts
    [posted] = [m for m in room.thread() if m.files]
    content = room.slack.files[posted.files[0]["id"]]["content"].decode()
    assert "# Launch report: Trading v2 (#1)" in content
    assert "| CTO | approved | 1 |" in content and "Carol Chen (U0CTO00001)" in content
    assert "Failover tested | ☑ checked | bob (U0BOB00001)" in content
    async with room.bot.deps.db.read_sessions() as session:
        head = await session.scalar(select(Event.hash).order_by(Event.seq.desc()).limit(1))
    assert f"head hash `{head}`, verified ✅" in content


async def test_report_upload_failure_is_told_truthfully(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    room.slack.fail_next("files.completeUploadExternal", error="not_in_channel")
    await room.command(ALICE, "report json")
    assert room.ephemerals_for(ALICE)[-1].startswith(
        ":x: The report was not uploaded: Slack said `not_in_channel`"
    )
    assert "launchbot export 1 --format json" in room.ephemerals_for(ALICE)[-1]
    assert not [m for m in room.thread() if m.files]


async def test_report_upload_with_no_answer_from_slack_is_unknown_not_failed(
    room: WarRoom,
) -> None:
    """The connection dropped on completeUploadExternal: Slack may have shared the file, so the
    answer says it may or may not be in the thread, never that it was not uploaded."""
    await room.command(ALICE, "start Trading v2")
    # Two: slack_sdk tries a dropped connection once more on its own.
    room.slack.fail_next("files.completeUploadExternal", disconnect=True, times=2)
    await room.command(ALICE, "report json")
    answer = room.ephemerals_for(ALICE)[-1]
    assert answer.startswith(":warning: Slack did not answer the upload"), answer
    assert "may or may not be in the launch thread" in answer and "Look there" in answer
    assert "was not uploaded" not in answer and "Uploaded" not in answer
    assert "launchbot export 1 --format json" in answer


# --- through the real server process -----------------------------------------------------------


def _card(slack: SlackStandIn, channel: str) -> Any:
    return next(
        (
            m
            for m in slack.messages[channel]
            if m.blocks and m.blocks[0]["type"] == "header" and "🚀" in m.blocks[0]["text"]["text"]
        ),
        None,
    )


def _row(slack: SlackStandIn, channel: str, role_id: str) -> str:
    card = _card(slack, channel)
    for block in card.blocks if card else []:
        if block.get("block_id") == f"{BlockPrefix.SIGNOFF}:{role_id}":
            return str(block["text"]["text"])
    return ""


async def test_approve_and_refusal_through_the_served_bot(
    served: tuple[SlackStandIn, BotProcess],  # noqa: F811  (the fixture imported above)
) -> None:
    slack, _bot = served
    channel = "C0WARROOM1"
    slack.add_user(CTO, "carol", "Carol Chen", display_name="Carol Chen")
    await slack.send(*slack.slash_command(user_id=ALICE, text="start Trading v2"))
    await wait_for(lambda: bool(_row(slack, channel, "cto")), "the card with its sign-offs")
    card = _card(slack, channel)
    value = json.dumps({"launch_id": 1, "role_id": "cto"}, separators=(",", ":"))

    def press(user: str) -> tuple[bytes, dict[str, str]]:
        return slack.button_click(
            user_id=user,
            channel_id=channel,
            message_ts=card.ts,
            action_id=ActionId.SIGNOFF_APPROVE,
            value=next(
                e["value"]
                for b in _card(slack, channel).blocks
                for e in [b.get("accessory") or {}]
                if e.get("action_id") == ActionId.SIGNOFF_APPROVE
                and json.loads(e["value"]) == json.loads(value)
            ),
        )

    refused = await slack.send(*press(BOB))
    assert refused.status == 200
    await wait_for(
        lambda: any(e.user == BOB and "Only the CTO" in e.text for e in slack.ephemerals),
        "the refusal",
    )
    assert _row(slack, channel, "cto").startswith("⏳")
    approved = await slack.send(*press(CTO))
    assert approved.status == 200
    await wait_for(
        lambda: "Approved by <@U0CTO00001> · <!date^" in _row(slack, channel, "cto"),
        "the approval, the approver named once",
    )


async def test_approval_count_matches_sign_off_rows(room: WarRoom) -> None:
    """Sanity: the card's summary counts what the database holds."""
    await room.command(ALICE, "start Trading v2")
    await click(room, CTO, "cto")
    await click(room, TRADER, "head_of_trading")
    async with room.bot.deps.db.read_sessions() as session:
        count = await session.scalar(select(func.count()).select_from(SignOff))
    assert count == 2 and "2/5 roles approved" in go_line(room)


# --- values bound to where they were clicked ------------------------------------------------------

OTHER_ROOM = "C0OTHER001"


async def launch_in(room: WarRoom, channel: str) -> int:
    async with room.bot.deps.db.read_sessions() as session:
        launch_id = await session.scalar(select(Launch.id).where(Launch.channel_id == channel))
    assert launch_id is not None
    return launch_id


async def two_launches(room: WarRoom) -> int:
    """Trading v2 in the war room, Payments in another channel; returns Payments' launch id."""
    room.slack.add_channel(OTHER_ROOM, "war-room-2")
    await room.command(ALICE, "start Trading v2")
    await room.command(ALICE, "start Payments", channel=OTHER_ROOM)
    return await launch_in(room, OTHER_ROOM)


async def test_an_approve_value_naming_another_channels_launch_is_refused_and_logged(
    room: WarRoom, caplog: pytest.LogCaptureFixture
) -> None:
    """The hole: the CTO pressed Approve in channel A with a value naming launch B, and B was approved."""
    payments = await two_launches(room)
    body, _ = click_body(room, CTO, "cto", ActionId.SIGNOFF_APPROVE)
    value = SignOffValue(launch_id=payments, role_id="cto").encode()
    forged = room.forge(body, lambda p: p["actions"][0].update(value=value))
    with caplog.at_level(logging.WARNING, logger="bot.core.binding"):
        status, _ = await room.dispatch(*forged)
        await room.settle()
    assert status == 200
    assert await sign_offs(room) == []  # neither launch changed
    assert await events(room, "sign_off_refused") == []  # nor its log: the value is not trusted
    (told,) = room.ephemerals_for(CTO)
    assert "belongs to a launch in another channel" in told and "Nothing changed" in told
    assert (
        f"naming launch {payments}" in caplog.text and f"from channel {room.channel}" in caplog.text
    )
    # The real button, in the channel it was posted in, still works.
    await click(room, CTO, "cto")
    assert [(s.launch_id, s.user_id) for s in await sign_offs(room)] == [(1, CTO)]


async def test_a_revoke_form_naming_another_channels_launch_is_refused_in_the_form(
    room: WarRoom,
) -> None:
    payments = await two_launches(room)
    await click(room, CTO, "cto")
    await click(room, CTO, "cto", ActionId.SIGNOFF_REVOKE)
    (view,) = room.slack.open_views(CTO)
    values = {
        SignOffBlock.REVOKE_REASON: {
            ActionId.SIGNOFF_REVOKE_REASON: {"type": "plain_text_input", "value": "crafted"}
        }
    }
    body, _ = room.slack.view_submission(user_id=CTO, view_id=view.id, values=values)
    meta = json.dumps({"launch_id": payments, "role_id": "cto", "channel_id": room.channel})
    status, answer = await room.dispatch(
        *room.forge(body, lambda p: p["view"].update(private_metadata=meta))
    )
    assert (
        status == 200
        and "another channel" in json.loads(answer)["errors"][SignOffBlock.REVOKE_REASON]
    )
    assert [s.revoked_at for s in await sign_offs(room)] == [None]


async def test_a_click_from_another_team_is_refused_privately_and_changes_nothing(
    room: WarRoom, caplog: pytest.LogCaptureFixture
) -> None:
    """The installation's team is what auth.test answered (no SLACK_TEAM_ID is set here)."""
    await room.command(ALICE, "start Trading v2")
    body, _ = click_body(room, CTO, "cto", ActionId.SIGNOFF_APPROVE)

    def elsewhere(payload: dict[str, Any]) -> None:
        payload["team"]["id"] = "T0ELSEWHERE"
        payload["user"]["team_id"] = "T0ELSEWHERE"

    with caplog.at_level(logging.WARNING, logger="bot.core.binding"):
        status, _ = await room.dispatch(*room.forge(body, elsewhere))
        await room.settle()
    assert status == 200 and await sign_offs(room) == []
    assert await events(room, "sign_off_refused") == []
    assert any("another Slack workspace" in t for t in room.ephemerals_for(CTO))
    assert "from team T0ELSEWHERE (installed in T0LAUNCH01)" in caplog.text
    # A command from another team is refused the same way, in its ack.
    cmd, _ = room.slack.slash_command(
        user_id=CTO, text="signoff approve cto", channel_id=room.channel
    )
    status, answer = await room.dispatch(
        *room.forge(cmd, lambda f: f.update(team_id="T0ELSEWHERE"))
    )
    assert status == 200 and "another Slack workspace" in json.loads(answer)["text"]
    await room.settle()
    assert await sign_offs(room) == []
    # The same click from the installation's own team goes through.
    await click(room, CTO, "cto")
    assert len(await sign_offs(room)) == 1
