"""Text exactly once: what users type is decoded once on the way in and escaped once on the way out; every mrkdwn object is verbatim, so nobody can inject a mention."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select

from bot.core.models import Item, Launch, SignOff
from tests.checklist.test_close_confirmation import close_view
from tests.checklist.test_waive_menu import ITEM, open_form, option_value, waive_values
from tests.signoffs.test_signoffs import click, revoke_via_modal
from tests.warroom import WarRoom

# What Slack accepts between < and >: mentions, channels, specials (!here, !date^…, !subteam^…), links.
CONTROL = re.compile(r"<(?![@#!]|https?://|mailto:|tel:)([^<>]*)>")


def mrkdwn_strings(node: Any, found: list[str]) -> list[str]:
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn":
            found.append(str(node.get("text", "")))
        for value in node.values():
            mrkdwn_strings(value, found)
    elif isinstance(node, list):
        for value in node:
            mrkdwn_strings(value, found)
    return found


def everything_said(room: WarRoom) -> list[str]:
    said: list[str] = []
    for messages in room.slack.messages.values():
        for m in messages:
            said.append(m.text or "")
            mrkdwn_strings(m.blocks, said)
    for e in room.slack.ephemerals:
        said.append(e.text or "")
        mrkdwn_strings(e.blocks or [], said)
    return said


async def test_help_usage_lines_and_refusals_have_no_bare_placeholders(room: WarRoom) -> None:
    user = "U0ALICE001"
    for text in (
        "help",
        "frobnicate",
        "start",
        "status",
        "signoff",
        "signoff approve",
        "escalate sev9 broken",
        "report pdf",
        "phase next",
        "contacts",
        "killswitch bogus",
        "killswitch status please",
        "report md json",
        "contacts public now",
        "close now",
        "status #99",
        "help me",
        "start Trading v2 --on 2099-01-01 --on 2099-01-02",
        "trigger",
        "advance now",
        "advance --force",
        "hold",
        "rollback",
        "rollback all",
        "date",
        "date 2099-01-01",
        "waive undo",
    ):
        await room.command(user, text)
    said = everything_said(room)
    assert any("/launch start &lt;name&gt;" in s for s in said)  # the help's own line
    bad = [(m.group(0), s[:120]) for s in said for m in CONTROL.finditer(s)]
    assert bad == [], bad


ALICE = "U0ALICE001"
TYPED = "R&D <!channel> <v2>"
AS_SLACK_SENDS = "R&amp;D &lt;!channel&gt; &lt;v2&gt;"  # the command's text field on the wire


def text_objects(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if value.get("type") in ("mrkdwn", "plain_text") and isinstance(value.get("text"), str):
            yield value
        for child in value.values():
            yield from text_objects(child)
    elif isinstance(value, list):
        for child in value:
            yield from text_objects(child)


async def test_a_name_typed_with_ampersand_and_brackets_is_stored_and_shown_once(
    room: WarRoom,
) -> None:
    await room.command(ALICE, f'start "{AS_SLACK_SENDS}"')
    async with room.bot.deps.db.read_sessions() as session:
        names = list(await session.scalars(select(Launch.name)))
    assert names == [TYPED]

    objects = list(text_objects([m.blocks for m in room.slack.messages[room.channel]]))
    shown = [o["text"] for o in objects]
    assert any("R&amp;D &lt;!channel&gt; &lt;v2&gt;" in t for t in shown if t)
    for obj in objects:
        text = obj["text"]
        assert "&amp;amp;" not in text and "&amp;lt;" not in text, text
        if obj["type"] == "mrkdwn":
            assert "<!channel>" not in text and "R&D" not in text, text
        else:  # plain_text is shown literally: it must hold the name as typed
            assert "&amp;" not in text and "&lt;" not in text, text
    for message in room.slack.messages[room.channel]:
        assert "<!channel>" not in (message.text or ""), message.text
        assert "&amp;amp;" not in (message.text or ""), message.text


async def test_status_echoes_the_name_escaped_once(room: WarRoom) -> None:
    await room.command(ALICE, f'start "{AS_SLACK_SENDS}"')
    await room.command(ALICE, "status")
    reply = room.ephemerals_for(ALICE)[-1]
    assert "R&amp;D &lt;!channel&gt;" in reply and "&amp;amp;" not in reply, reply
    assert "<!channel>" not in reply


async def test_text_without_entities_is_unchanged(room: WarRoom) -> None:
    """A literal "&amp;" typed by a user arrives as "&amp;amp;" and is kept as typed."""
    await room.command(ALICE, 'start "Q&amp;A"'.replace("&", "&amp;"))
    async with room.bot.deps.db.read_sessions() as session:
        assert list(await session.scalars(select(Launch.name))) == ["Q&amp;A"]


# --- modal inputs: Slack sends what was typed as is (no entities), unlike a command's text --------

TYPED_IN_MODAL = "R&D <!channel> <@U0OUTSIDE1> > 5%"
SHOWN_ONCE = "R&amp;D &lt;!channel&gt; &lt;@U0OUTSIDE1&gt; &gt; 5%"


def modal_text_is_shown_once(room: WarRoom, *, where: int = 1) -> None:
    """``TYPED_IN_MODAL`` appears in at least ``where`` mrkdwn texts of what the bot said, escaped
    exactly once (R&D renders as R&D, the mentions as text), never raw, never twice."""
    shown = 0
    messages = [m for ms in room.slack.messages.values() for m in ms] + room.slack.ephemerals
    for message in messages:
        top = message.text or ""
        assert "<!channel>" not in top and "<@U0OUTSIDE1>" not in top, top
        assert "&amp;amp;" not in top and "&amp;lt;" not in top, top
        for obj in text_objects(message.blocks or []):
            text = obj["text"]
            assert "&amp;amp;" not in text and "&amp;lt;" not in text, text
            if obj["type"] == "mrkdwn":
                assert "<!channel>" not in text and "<@U0OUTSIDE1>" not in text, text
                assert "R&D" not in text, text
                shown += SHOWN_ONCE in text
    assert shown >= where, f"the typed text was shown {shown} time(s), escaped once"


async def test_text_typed_in_the_waiver_and_close_forms_is_stored_raw_and_shown_once(
    room: WarRoom,
) -> None:

    await room.command(ALICE, "start Trading v2")
    view = await open_form(room, "U0CTO00001", ITEM)
    values = waive_values(option_value(view, ITEM), "not_applicable", TYPED_IN_MODAL)
    await room.submit("U0CTO00001", view, values)
    assert not view.open
    await room.command(ALICE, "close")
    view = close_view(room, ALICE)
    await room.submit_close(ALICE, view, outcome="abandoned", note=TYPED_IN_MODAL)
    assert not view.open
    async with room.bot.deps.db.read_sessions() as session:
        reasons = list(
            await session.scalars(select(Item.waive_reason).where(Item.waived.is_not(None)))
        )
        notes = list(await session.scalars(select(Launch.close_note)))
    assert reasons == [TYPED_IN_MODAL] and notes == [TYPED_IN_MODAL]
    # The waiver on its item and the closing announcement (with the card) show it, once escaped.
    modal_text_is_shown_once(room, where=2)


async def test_text_typed_in_the_revoke_form_is_stored_raw_and_shown_once(room: WarRoom) -> None:

    await room.command(ALICE, "start Trading v2")
    await click(room, "U0CTO00001", "cto")
    await revoke_via_modal(room, "U0CTO00001", "cto", TYPED_IN_MODAL)
    async with room.bot.deps.db.read_sessions() as session:
        assert list(await session.scalars(select(SignOff.revoke_reason))) == [TYPED_IN_MODAL]
    modal_text_is_shown_once(room)


async def test_an_unknown_trigger_name_is_echoed_escaped_once(room: WarRoom) -> None:
    """``/launch trigger R&D <!channel> <@U…>``: the name matching no trigger is shown as text."""
    await room.command(ALICE, f"trigger {AS_SLACK_SENDS} &lt;@U0OUTSIDE1&gt;")
    reply = room.ephemerals_for(ALICE)[-1]
    assert "No immediate rollback trigger is called" in reply, reply
    assert "R&amp;D &lt;!channel&gt; &lt;v2&gt; &lt;@U0OUTSIDE1&gt;" in reply, reply
    assert "<!channel>" not in reply and "<@U0OUTSIDE1>" not in reply and "R&D" not in reply
    # A pasted page is not echoed whole.
    await room.command(ALICE, "trigger " + "x" * 5000)
    assert len(room.ephemerals_for(ALICE)[-1]) < 1000
