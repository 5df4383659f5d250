"""Block Kit primitives every feature's builders share: MessageView, text objects, mentions, dates, notice."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.mrkdwn import escape as escape

Block = dict[str, Any]

HEADER_MAX = 150
SECTION_TEXT_MAX = 3000
OPTION_TEXT_MAX = 75
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


@dataclass(frozen=True)
class MessageView:
    """What to send: ``text`` is the notification/fallback text, ``blocks`` the layout."""

    text: str
    blocks: list[Block]


@dataclass(frozen=True)
class StateAlarm:
    """A state that outranks GO wherever the launch's state is shown (the card's top line, the GO
    message, the sign-off tables): the kill switch halted the launch, is firing, or its last fire
    did not confirm a halt. ``line`` is the card's top line (mrkdwn); ``label`` names the state in
    capitals ("HALTED"); ``short`` follows "GO, then" ("halted by the kill switch")."""

    mark: str
    label: str
    line: str
    short: str


# How far back a cut looks for an unclosed ``<``: a mention or a date is well under it; a stray
# "<" in plain text further back is left alone rather than losing the text after it.
_LONGEST_MARKUP = 200


def truncate(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, ending "…" when cut. The cut never splits mrkdwn
    markup (``&amp;``, ``<@U…>``, ``<!date^…>``, ``<url|label>`` up to ``_LONGEST_MARKUP``
    characters): it backs up to before it, so a shortened message never shows half an entity or a
    broken control sequence."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    opened = cut.rfind("<")
    if opened > cut.rfind(">") and len(cut) - opened <= _LONGEST_MARKUP:
        cut = cut[:opened]
    amp = cut.rfind("&")
    if amp >= 0 and ";" not in cut[amp:] and len(cut) - amp <= 5:  # &amp; &lt; &gt; at most
        cut = cut[:amp]
    return cut + "…"


def fit_escaped(text: str, room: int) -> str:
    """``text`` escaped, shortened with "…" until the escaped form fits in ``room`` characters (a
    cut never splits ``&amp;``)."""
    n = max(room, 1)
    while n > 1 and len(escape(truncate(text, n))) > room:
        n -= 1
    return escape(truncate(text, n))


def mention(user_id: str | None, fallback: str | None = None) -> str:
    """``<@U…>`` for a real user id (Slack renders the current display name), else escaped text."""
    if user_id and _USER_ID.match(user_id):
        return f"<@{user_id}>"
    return escape(fallback or user_id or "someone")


# The one pattern every time shown in Slack uses (the reader's own zone): "Today 14:05", "Dec 2 14:05".
DATE_PATTERN = "{date_short_pretty} {time}"


def short_time(at: datetime) -> str:
    """The UTC fallback a client shows when it cannot render ``<!date…>`` (and the record's form)."""
    return at.strftime("%b %d %H:%M UTC")


def slack_date(at: datetime, *, compact: bool = False) -> str:
    """The time Slack shows in the reader's own time zone (``DATE_PATTERN``), with a UTC fallback;
    ``compact`` shortens only the fallback, for a field with a small limit (a tick's 75 characters).
    Every time shown in Slack goes through here: the record keeps UTC."""
    fallback = at.strftime("%H:%M UTC") if compact else short_time(at)
    return f"<!date^{int(at.timestamp())}^{DATE_PATTERN}|{fallback}>"


def plain_text(text: str, limit: int = SECTION_TEXT_MAX) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, limit) or " ", "emoji": True}


def mrkdwn_text(text: str) -> dict[str, Any]:
    # verbatim: no automatic parsing, which would turn a plain "@everyone" in user text into a real
    # mention (Slack's automatic parsing links @everyone, @here, #channel); the explicit <@U…>, <!date…> and <url|label> markup still works.
    return {"type": "mrkdwn", "text": truncate(text, SECTION_TEXT_MAX) or " ", "verbatim": True}


def header_block(text: str, block_id: str | None = None) -> Block:
    block: Block = {"type": "header", "text": plain_text(text, HEADER_MAX)}
    if block_id:
        block["block_id"] = block_id
    return block


def context_block(text: str) -> Block:
    return {"type": "context", "elements": [mrkdwn_text(text)]}


def notice(text: str) -> MessageView:
    """A short message; ``text`` must already be safe mrkdwn (escape user strings before)."""
    return MessageView(text=text, blocks=[{"type": "section", "text": mrkdwn_text(text)}])


def section_block(text: str) -> Block:
    """A section of mrkdwn ``text`` (already escaped where it holds user text)."""
    return {"type": "section", "text": mrkdwn_text(text)}


def and_more(count: int) -> str:
    return f"… and {count} more"


def tries_text(count: int) -> str:
    """How many tries an outbound POST took: "1 try", "3 tries"."""
    return f"{count} {'try' if count == 1 else 'tries'}"


def pack_lines(
    lines: Sequence[str],
    *,
    limit: int = SECTION_TEXT_MAX,
    max_parts: int | None = None,
    more: Callable[[int], str] = and_more,
) -> list[str]:
    """``lines`` of mrkdwn joined into texts of at most ``limit`` characters each, cut only between
    lines (a cut never lands inside an item or its markup). At most ``max_parts`` texts: the lines
    that do not fit then are counted in a last line ``more(n)``, room made for it by leaving out
    lines from the end. A single line longer than ``limit`` is shortened with "…"."""
    fitted = [truncate(line, limit) for line in lines]
    parts: list[list[str]] = []
    size = 0
    for index, line in enumerate(fitted):
        if parts and size + 1 + len(line) <= limit:
            parts[-1].append(line)
            size += 1 + len(line)
            continue
        if max_parts is not None and len(parts) >= max_parts:
            return ["\n".join(p) for p in _with_more(parts, len(fitted) - index, limit, more)]
        parts.append([line])
        size = len(line)
    return ["\n".join(p) for p in parts]


def _with_more(
    parts: list[list[str]], left_out: int, limit: int, more: Callable[[int], str]
) -> list[list[str]]:
    """``parts`` whose last one ends with the ``more`` line, lines left out of it until it fits."""
    if not parts:
        parts.append([])
    last = parts[-1]
    while last and len("\n".join([*last, more(left_out)])) > limit:
        last.pop()
        left_out += 1
    last.append(truncate(more(left_out), limit))
    return parts


def line_sections(
    lines: Sequence[str],
    *,
    max_blocks: int,
    more: Callable[[int], str] = and_more,
) -> list[Block]:
    """Section blocks listing ``lines`` (mrkdwn, already escaped): each within Slack's 3,000
    characters, cut only between lines, at most ``max_blocks`` of them (the rest counted by
    ``more``). For any list that can grow past one section: open items, waivers."""
    return [section_block(text) for text in pack_lines(lines, max_parts=max_blocks, more=more)]


_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")


def group_mention(group_id: str) -> str:
    """``<!subteam^S…>`` for a user-group id; anything else is shown as escaped text, never markup."""
    return f"<!subteam^{group_id}>" if _GROUP_ID.match(group_id) else escape(group_id)
