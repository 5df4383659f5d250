"""Reactions: what one feature does when another's event happened, without importing it.

A feature that must react (the go-live sequence holds when GO is withdrawn or the kill switch fires)
registers a reaction in the composition root; the feature whose event it is emits it after its
transaction committed. Reactions run in order; one that fails is logged and does not stop the rest
(the event itself is already stored).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.core.events import Actor, EventKind

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Happened:
    """An event that committed: which launch, who did it, and what the emitter says of it."""

    kind: EventKind
    launch_id: int
    actor: Actor
    detail: Mapping[str, Any] = field(default_factory=dict)


Reaction = Callable[[Happened], Awaitable[object]]


class Reactions:
    def __init__(self) -> None:
        self._by_kind: dict[EventKind, list[Reaction]] = {}

    def on(self, kind: EventKind, reaction: Reaction) -> None:
        self._by_kind.setdefault(kind, []).append(reaction)

    async def emit(self, happened: Happened) -> None:
        for reaction in self._by_kind.get(happened.kind, []):
            try:
                await reaction(happened)
            except Exception:  # the event is stored; a failed reaction is logged, not raised
                logger.exception("reaction to %s failed", happened.kind)
