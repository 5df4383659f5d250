"""Slack mrkdwn escaping, for every module that puts text someone typed (or a template holds) into mrkdwn.

Kept apart from the Block Kit builders (bot/blocks.py re-exports it) so the domain modules can escape
the names in their refusals without importing the builders, which import them.
"""

from __future__ import annotations

import re


def escape(text: str) -> str:
    """Slack's three control characters, in this order (api.slack.com formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """``escape`` undone, for a terminal: the CLI prints the same messages Slack gets."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


_MENTION_MARKUP = re.compile(r"<[@!](?:subteam\^)?([A-Z0-9]+)(?:\|[^>]*)?>")


def plain(mrkdwn: str) -> str:
    """A message for a plain-text place (a modal's input error): mentions as ids, no markup."""
    return unescape(_MENTION_MARKUP.sub(r"@\1", mrkdwn).replace("*", "").replace("`", ""))
