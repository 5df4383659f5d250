"""Nothing the bot writes in mrkdwn carries a bare ``<word>``: Slack reads ``<…>`` as a control
sequence, so a usage line like ``/launch start <name>`` would show up as ``/launch start`` with the
placeholder gone (the playground made this visible). Placeholders must be written ``&lt;name&gt;``."""

from __future__ import annotations

import re
from typing import Any

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
    ):
        await room.command(user, text)
    said = everything_said(room)
    assert any("/launch start &lt;name&gt;" in s for s in said)  # the help's own line
    bad = [(m.group(0), s[:120]) for s in said for m in CONTROL.finditer(s)]
    assert bad == [], bad
