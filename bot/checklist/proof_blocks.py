"""What a proof's message says about its checklist item (pure; shared by every proof's report)."""

from __future__ import annotations

from bot.checklist.proofs import ProofTick
from bot.core.kit import mention, slack_date
from bot.core.mrkdwn import escape


def tick_note(tick: ProofTick | None) -> str:
    """`` Ticked “Kill switch tested”.``, who had ticked it already, or why it was not ticked.
    "Ticked" is said only when this proof changed the item."""
    item = f"“{escape(tick.item)}”" if tick is not None and tick.item else "the item"
    if tick is not None and tick.ticked:
        return f" Ticked {item}."
    if tick is not None and tick.why_not is None:
        by = mention(tick.already_by_id, tick.already_by_name)
        when = f" at {slack_date(tick.already_at)}" if tick.already_at else ""
        return f" {item} was already ticked by {by}{when}; left as it was."
    why = (tick.why_not if tick is not None else None) or "nothing was recorded"
    return f" Not ticked in the checklist: {escape(why)}; the result is in the launch log."
