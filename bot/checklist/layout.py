"""How a section's item groups are cut into checkbox elements and messages so Slack's limits hold.

Slack allows 10 options per checkboxes element and 50 blocks per message. Each chunk of at most 10
items renders as two blocks (a title section and an actions block holding the checkboxes); every
message also carries a header and a footer. Both the domain (how many messages a section needs) and
the Block Kit builders use these numbers, so they live here, free of any Slack import.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_OPTIONS_PER_CHECKBOXES = 10
MAX_BLOCKS_PER_MESSAGE = 50
BLOCKS_PER_CHUNK = 2
FIXED_BLOCKS_PER_MESSAGE = 2
MAX_CHUNKS_PER_MESSAGE = (MAX_BLOCKS_PER_MESSAGE - FIXED_BLOCKS_PER_MESSAGE) // BLOCKS_PER_CHUNK


@dataclass(frozen=True)
class Chunk:
    """Items ``start:end`` of group number ``group`` (index within the section); ``part_of`` is
    (n, total) when the group had to be split, else None."""

    group: int
    start: int
    end: int
    part_of: tuple[int, int] | None


def chunks_by_message(group_sizes: list[int]) -> list[list[Chunk]]:
    """Chunks of every group, packed in order into as few messages as the limits allow."""
    chunks: list[Chunk] = []
    for g, size in enumerate(group_sizes):
        pieces = max(1, -(-size // MAX_OPTIONS_PER_CHECKBOXES))
        for n in range(pieces):
            start = n * MAX_OPTIONS_PER_CHECKBOXES
            end = min(size, start + MAX_OPTIONS_PER_CHECKBOXES)
            chunks.append(Chunk(g, start, end, (n + 1, pieces) if pieces > 1 else None))
    messages = [
        chunks[i : i + MAX_CHUNKS_PER_MESSAGE]
        for i in range(0, len(chunks), MAX_CHUNKS_PER_MESSAGE)
    ]
    return messages or [[]]


def section_part_count(group_sizes: list[int]) -> int:
    return len(chunks_by_message(group_sizes))
