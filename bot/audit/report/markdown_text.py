"""User text, people and times as the Markdown report writes them: never markup, one line each."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# What would make user text markup in a Markdown viewer: ``<`` (a tag, an autolink) and ``>``
# become entities, and an ``&`` only where it would start an entity ("&lt;" typed by a person
# stays "&lt;"). Every other character is left as typed: "P&L Engine" reads as written, raw or
# rendered (escaping every ``&`` showed "P&amp;L" in a plain viewer), and "<script>" is shown,
# never run. Entities, not backslashes: not every Markdown flavour honours ``\<``.
_MD_ENTITY_START = re.compile(r"&(?=#[0-9]+;|#[xX][0-9a-fA-F]+;|[A-Za-z][A-Za-z0-9]*;)")


def md(value: Any) -> str:
    """User text for the Markdown report: no line breaks, pipes escaped (it cannot break a table),
    ``<``/``>`` and an entity-like ``&`` as entities (``_MD_ENTITY_START``)."""
    if value is None or value == "":
        return "—"
    text = " ".join(str(value).split())
    text = _MD_ENTITY_START.sub("&amp;", text).replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\\", "\\\\").replace("|", "\\|")


def who(person: Mapping[str, Any] | None) -> str:
    if not person:
        return "—"
    name = person.get("name")
    return md(f"{name} ({person['id']})" if name and name != person["id"] else person["id"])


def when(value: str | None) -> str:
    """``2026-12-01T14:02:03.123456+00:00`` → ``2026-12-01 14:02:03 UTC``."""
    if not value:
        return "—"
    return value[:19].replace("T", " ") + " UTC"
