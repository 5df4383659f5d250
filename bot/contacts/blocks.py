"""Pure Block Kit builders for emergency contacts: the contacts list, one contact's line, who to call."""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.contacts.rules import ContactRow
from bot.core.kit import Block, MessageView, context_block, header_block, mention, section_block
from bot.core.mrkdwn import escape

_SAFE_URL = re.compile(r"^https?://[^\s<>|]+$")


def _link(url: str, label: str) -> str:
    """A mrkdwn link when ``url`` is a plain http(s) URL; otherwise the escaped text, never markup."""
    if _SAFE_URL.match(url):
        return f"<{url}|{escape(label)}>"
    return escape(url)


def contact_line(row: ContactRow) -> str:
    parts: list[str] = []
    if row.kind == "internal":
        if row.user_id:
            who = mention(row.user_id)
            parts.append(f"{who} ({escape(row.name)})" if row.name else who)
        elif row.name:
            parts.append(escape(row.name))
        if row.phone:
            parts.append(f"📞 {escape(row.phone)}")
    else:
        if row.contact:
            parts.append(escape(row.contact))
        if row.url:
            parts.append(_link(row.url, "case / support portal"))
    if not parts and row.template_value:
        parts.append(escape(row.template_value))
    if row.missing == ("not configured",):
        parts.append("⚠️ _not configured_")
    elif row.missing:
        parts.append("⚠️ _" + " and ".join(f"{m} not set" for m in row.missing) + "_")
    return f"• *{escape(row.role)}* — " + " · ".join(parts)


def contacts_view(rows: Sequence[ContactRow], *, launch_name: str | None) -> MessageView:
    """``/launch contacts``: internal roles with mention and phone, vendors with contact or case URL.
    Whatever the config leaves unfilled is flagged with ⚠️, never shown as if it were a number."""
    title = "Emergency contacts" + (f" · {launch_name}" if launch_name else "")
    blocks: list[Block] = [header_block(f"☎️ {title}")]
    internal = [contact_line(r) for r in rows if r.kind == "internal"]
    external = [contact_line(r) for r in rows if r.kind == "external"]
    if internal:
        blocks.append(section_block("*Internal team*\n" + "\n".join(internal)))
    if external:
        blocks.append(section_block("*External vendors*\n" + "\n".join(external)))
    if not rows:
        blocks.append(section_block("No emergency contacts are configured."))
    unfilled = sum(1 for r in rows if r.missing)
    note = 'Fill these in under `[contacts.internal."&lt;role&gt;"]` / `[contacts.external."&lt;vendor&gt;"]` in the config.'
    if unfilled:
        blocks.append(context_block(f"⚠️ {unfilled} contact(s) incomplete. {note}"))
    else:
        blocks.append(context_block("`/launch contacts public` posts this list in the channel."))
    text = f"Emergency contacts ({len(rows)})" + (f", {unfilled} incomplete" if unfilled else "")
    return MessageView(text=text, blocks=blocks)


def call_list(people: Sequence[ContactRow]) -> str:
    if not people:
        return "_No internal contacts are configured: set `[contacts.internal]`._"
    return "\n".join(contact_line(p) for p in people)
