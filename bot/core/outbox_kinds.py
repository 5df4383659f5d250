"""What a feature registers with the outbox's ``Publisher``: how one kind of message is rendered,
where it goes and what runs once it is posted, and what the publisher needs of a launch's state."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.kit import MessageView
from bot.core.outbox_rows import MessageRef


class OutboxState(Protocol):
    """What the publisher needs of a launch's committed state: its messages, in posting order."""

    @property
    def id(self) -> int: ...

    def posting_order(self) -> list[MessageRef]: ...


# A message kind's builder: the launch's state and the message in, the blocks out (no I/O).
Renderer = Callable[[Any, MessageRef], MessageView]
StateLoader = Callable[[AsyncSession, int], Awaitable[OutboxState]]
# Called in the transaction that records a message's first post: its ts, or Slack's error.
OnPosted = Callable[[AsyncSession, MessageRef, "str | None", "str | None"], Awaitable[None]]


class Placement(StrEnum):
    """Where a kind of message goes: the channel itself, the launch card's thread, or the thread of
    the message row ``parent_id`` (in the channel when that one could not be posted)."""

    CHANNEL = "channel"
    CARD_THREAD = "card_thread"
    PARENT_THREAD = "parent_thread"


@dataclass(frozen=True)
class MessageKind:
    """How the publisher handles one ``SlackMessage.kind``.

    ``once``: a first post Slack refuses (not_in_channel, …) is given up, recorded through
    ``on_posted``, and not posted later out of order (an announcement); otherwise the next change
    tries again (a card). ``permalink``: fetch the message's link once it is posted."""

    render: Renderer
    placement: Placement = Placement.CARD_THREAD
    broadcast: bool = False
    permalink: bool = False
    once: bool = False
    on_posted: OnPosted | None = None
