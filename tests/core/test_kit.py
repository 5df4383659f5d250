"""The shared list-to-sections helper: every section within Slack's 3,000 characters, cut only
between lines, and a list longer than the blocks allowed ends with an honest "and N more"."""

from __future__ import annotations

import re

from bot.core.kit import line_sections, pack_lines


def test_a_long_list_goes_on_in_the_next_section_cut_between_lines() -> None:
    lines = [f"• _Section {n}_: item number {n} " + "x" * 40 for n in range(200)]
    texts = pack_lines(lines)
    assert len(texts) > 1 and all(len(t) <= 3000 for t in texts)
    assert [line for t in texts for line in t.split("\n")] == lines


def test_what_does_not_fit_the_blocks_allowed_is_counted_not_lost() -> None:
    lines = [f"• item {n} " + "y" * 90 for n in range(400)]
    blocks = line_sections(lines, max_blocks=3)
    texts = [b["text"]["text"] for b in blocks]
    assert len(blocks) == 3 and all(len(t) <= 3000 for t in texts)
    shown = [line for t in texts for line in t.split("\n")]
    match = re.fullmatch(r"… and (\d+) more", shown[-1])
    assert match is not None, shown[-1]
    assert shown[:-1] == lines[: len(shown) - 1]
    assert len(shown) - 1 + int(match.group(1)) == len(lines)
