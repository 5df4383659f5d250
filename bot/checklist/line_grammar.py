"""The line grammar of the Markdown checklist format: what each kind of line looks like (headings,
checkboxes, numbered stages, bold contacts, the sign-off table, the footer's rule), with the small
pure helpers that take a line apart. The state machine reading lines in order is ``parser``."""

from __future__ import annotations

import re
from typing import Literal

ITEM_TEXT_MAX = 75  # Slack's limit for an option's text in a checkboxes element
TITLE_MAX = 150  # Slack's limit for a header block's text

HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
CHECKBOX = re.compile(r"^(\s*)[-*]\s+\[[ xX]\]\s*(.*?)\s*$")
STAGE = re.compile(r"^(\s*)(\d+)\.\s+(.*?)\s*$")
BULLET = re.compile(r"^(\s*)[-*]\s+(.*?)\s*$")
RULE = re.compile(r"^(?:(?:-\s*){3,}|(?:\*\s*){3,}|(?:_\s*){3,})$")
BOLD = re.compile(r"^\*\*(.+?)\*\*(.*)$")
CONTACT = re.compile(r"^\*\*(.+?)\*\*\s*:\s*(.*)$")
# A timing is "T" with a signed offset or zero: "T-7 days", "T-0", "T+1". Requiring the sign or the 0
# keeps "(Tuesday)" or "(Team)" from passing for a timing.
TIMING = re.compile(r"^(.*?)\s*\(\s*(T\s*(?:[-+−]\s*\d+|0)\b[^)]*?)\s*\)$")
DURATION = re.compile(
    r"^(.*?)\s*\(\s*(\d+(?:\.\d+)?)\s*(min|mins|minute|minutes|m|h|hr|hrs|hour|hours|day|days|d)\s*\)$",
    re.IGNORECASE,
)
MINUTES = {"min": 1, "mins": 1, "minute": 1, "minutes": 1, "m": 1, "h": 60, "hr": 60, "hrs": 60,
            "hour": 60, "hours": 60, "day": 1440, "days": 1440, "d": 1440}  # fmt: skip
# A trailing ``{#killswitch.armed}`` on an item line: the item's key, not part of its text.
KEY_MARKER = re.compile(r"^(.*?)\s*\{#([^{}]*)\}$")
SIGN_OFF_HEADING = re.compile(r"sign[- ]?off", re.IGNORECASE)
# Markdown indents nested lists by at least two columns; one stray space is still the top level.
NESTED_INDENT = 2

Mode = Literal["none", "phase", "contacts", "signoffs"]


def split_duration(text: str) -> tuple[str, int | None]:
    """``"25% traffic (30 min)"`` -> ``("25% traffic", 30)``; other parentheses are kept."""
    match = DURATION.match(text)
    if not match:
        return text, None
    minutes = float(match.group(2)) * MINUTES[match.group(3).lower()]
    return match.group(1).strip(), round(minutes)


def role_id(title: str) -> str:
    """``"Head of Trading"`` -> ``"head_of_trading"``."""
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")


def strip_decoration(title: str) -> str:
    return title.rstrip("✓✔ ").strip()


def unbold(text: str) -> str:
    """``"**Database**"`` -> ``"Database"``; text that is not wholly bold is returned as is."""
    match = BOLD.match(text)
    return match.group(1).strip() if match and not match.group(2).strip() else text


def is_table_separator(line: str) -> bool:
    return "-" in line and set(line.strip()) <= set("|-: ")


def footer_start(lines: list[str]) -> int:
    """Index of the first footer line (``len(lines)`` when there is none).

    The footer is whatever follows the last top-level rule, provided no heading comes after it: an
    earlier ``---`` between phases is only a visual separator and must not swallow the phases below.
    """
    for index in range(len(lines) - 1, -1, -1):
        if HEADING.match(lines[index]):
            break
        if RULE.match(lines[index]):
            return index
    return len(lines)
