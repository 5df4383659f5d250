"""The Slack stand-in engine: a local, stateful Slack used by the tests and the playground."""

from bot.standin.blockkit import BlockKitError, validate_message_blocks, validate_view
from bot.standin.engine import ApiCall, Ephemeral, Message, SentRequest, SlackStandIn, View

__all__ = [
    "ApiCall",
    "BlockKitError",
    "Ephemeral",
    "Message",
    "SentRequest",
    "SlackStandIn",
    "View",
    "validate_message_blocks",
    "validate_view",
]
