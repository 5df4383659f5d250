"""Every Slack identifier the bot uses: action_ids, block_id prefixes, callback_ids, the slash command."""

from __future__ import annotations

from enum import StrEnum

SLASH_COMMAND = "/launch"


class ActionId(StrEnum):
    ITEM_TOGGLE = "launch-item-toggle"
    OPEN_CARD = "launch-open-card"


class BlockPrefix(StrEnum):
    """block_id prefixes. Rendered block_ids carry the message version after a colon, because Slack
    clients keep local checkbox state per block_id: a new id makes them show the re-rendered state."""

    ITEMS = "launch-items"
    HEADER = "launch-header"
    PROGRESS = "launch-progress"
    FOOTER = "launch-footer"
