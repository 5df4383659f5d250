"""Contact rules: the config's and the template's contact rows, merged, with placeholders detected."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bot.core.config import AppConfig

# ---------------------------------------------------------------------------------------------------
# Contacts


_PLACEHOLDER_WORDS = {"tbd", "todo", "changeme", "...", "…", "?", "n/a", "none", "xxx"}
_BRACKETED = re.compile(r"\[[^\]]*\]")


def is_placeholder(value: str | None) -> bool:
    """True for what a template or an unfinished config leaves in place of a real value:
    nothing, ``[Phone]``-style brackets, or a word like TBD."""
    if value is None:
        return True
    text = value.strip()
    return not text or text.lower() in _PLACEHOLDER_WORDS or _BRACKETED.search(text) is not None


@dataclass(frozen=True)
class ContactRow:
    """One line of the emergency contacts. ``missing`` names what the config leaves unfilled, so the
    builder can flag it instead of showing a placeholder as if it were a number."""

    kind: Literal["internal", "external"]
    role: str
    name: str | None = None
    user_id: str | None = None
    phone: str | None = None
    contact: str | None = None
    url: str | None = None
    template_value: str | None = None
    missing: tuple[str, ...] = ()


def _kind_of(category: str) -> Literal["internal", "external"]:
    return "internal" if "internal" in category.lower() else "external"


def contact_key(name: str) -> str:
    return " ".join(name.lower().split())


def contact_rows(
    config: AppConfig, template_contacts: Sequence[Mapping[str, Any]]
) -> list[ContactRow]:
    """The template's contacts in template order, filled from ``[contacts]``, then config-only names.

    ``template_contacts`` are the template's ``{category, role, value}`` entries (a launch's frozen
    copy or the current template)."""
    internal = {contact_key(k): (k, v) for k, v in config.contacts.internal.items()}
    external = {contact_key(k): (k, v) for k, v in config.contacts.external.items()}
    rows: list[ContactRow] = []
    used: set[tuple[str, str]] = set()
    for entry in template_contacts:
        role = str(entry.get("role") or "").strip()
        if not role:
            continue
        kind = _kind_of(str(entry.get("category") or ""))
        value = str(entry.get("value") or "")
        template_value = None if is_placeholder(value) else value
        table = internal if kind == "internal" else external
        found = table.get(contact_key(role))
        if found is None:
            rows.append(
                ContactRow(
                    kind=kind,
                    role=role,
                    template_value=template_value,
                    missing=() if template_value else ("not configured",),
                )
            )
            continue
        used.add((kind, contact_key(role)))
        rows.append(_filled(kind, role, found[1], template_value))
    for key, (role, person) in internal.items():
        if ("internal", key) not in used:
            rows.append(_filled("internal", role, person, None))
    for key, (role, vendor) in external.items():
        if ("external", key) not in used:
            rows.append(_filled("external", role, vendor, None))
    return rows


def _clean(value: str | None) -> str | None:
    return None if is_placeholder(value) else (value or "").strip()


def _filled(
    kind: Literal["internal", "external"], role: str, entry: Any, template_value: str | None
) -> ContactRow:
    if kind == "internal":
        name, user, phone = _clean(entry.name), _clean(entry.user), _clean(entry.phone)
        missing = []
        if name is None and user is None:
            missing.append("person")
        if phone is None:
            missing.append("phone")
        return ContactRow(
            kind=kind,
            role=role,
            name=name,
            user_id=user,
            phone=phone,
            template_value=template_value,
            missing=tuple(missing),
        )
    contact, url = _clean(entry.contact), _clean(entry.url)
    return ContactRow(
        kind=kind,
        role=role,
        contact=contact,
        url=url,
        template_value=template_value,
        missing=() if contact or url else ("contact",),
    )


def people_to_call(config: AppConfig, names: Sequence[str]) -> list[ContactRow]:
    """Internal contacts to phone when an outside system failed: ``names`` (matched like the
    template's roles), or every internal contact when ``names`` is empty."""
    rows = [r for r in contact_rows(config, []) if r.kind == "internal"]
    if not names:
        return rows
    wanted = [contact_key(n) for n in names]
    by_key = {contact_key(r.role): r for r in rows}
    return [by_key[k] for k in wanted if k in by_key]
