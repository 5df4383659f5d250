"""The launch's own copy of the checklist as the ``launch_started`` event records it (log version 4):
every phase, section, group and item row with its id, in order, so ``audit verify`` can name a title,
an item's text or a go-live step's soak edited behind the bot's back. Takes an AsyncSession.

The shape (a field that is None is left out; a row's position is its index in its list)::

    [{"id", "title", "timing", "kind", "sections": [
        {"id", "title", "day", "groups": [
            {"id", "title", "stage", "duration_minutes", "items": [
                {"id", "text", "duration_minutes", "key"}]}]}]}]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.models import Item, ItemGroup, Phase, Section

Row = TypeVar("Row", Phase, Section, ItemGroup, Item)


async def logged_structure(session: AsyncSession, launch_id: int) -> list[dict[str, Any]]:
    """The launch's phases, sections, groups and items as ``launch_started`` records them."""
    items: dict[int, list[dict[str, Any]]] = {}
    for item in await _rows(session, Item, launch_id):
        items.setdefault(item.group_id, []).append(
            _present(
                id=item.id, text=item.text, duration_minutes=item.duration_minutes, key=item.key
            )
        )
    groups: dict[int, list[dict[str, Any]]] = {}
    for group in await _rows(session, ItemGroup, launch_id):
        groups.setdefault(group.section_id, []).append(
            _present(
                id=group.id,
                title=group.title,
                stage=group.stage,
                duration_minutes=group.duration_minutes,
                items=items.get(group.id, []),
            )
        )
    sections: dict[int, list[dict[str, Any]]] = {}
    for section in await _rows(session, Section, launch_id):
        sections.setdefault(section.phase_id, []).append(
            _present(
                id=section.id,
                title=section.title,
                day=section.day,
                groups=groups.get(section.id, []),
            )
        )
    return [
        _present(
            id=phase.id,
            title=phase.title,
            timing=phase.timing,
            kind=phase.kind,
            sections=sections.get(phase.id, []),
        )
        for phase in await _rows(session, Phase, launch_id)
    ]


def _present(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


async def _rows(session: AsyncSession, model: type[Row], launch_id: int) -> Sequence[Row]:
    query = select(model).where(model.launch_id == launch_id).order_by(model.position, model.id)
    return (await session.scalars(query)).all()
