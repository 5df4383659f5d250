"""Every Slack identifier the bot uses: action_ids, block_id prefixes, callback_ids, the slash command."""

from __future__ import annotations

from enum import StrEnum

SLASH_COMMAND = "/launch"


class ActionId(StrEnum):
    ITEM_TOGGLE = "launch-item-toggle"
    OPEN_CARD = "launch-open-card"
    SIGNOFF_APPROVE = "launch-signoff-approve"
    SIGNOFF_REVOKE = "launch-signoff-revoke"
    SIGNOFF_REVOKE_REASON = "launch-signoff-revoke-reason"
    ESCALATION_ACK = "launch-escalation-ack"
    ESCALATION_RESOLVE = "launch-escalation-resolve"
    ESCALATION_REPAGE = "launch-escalation-repage"
    KILLSWITCH_NAME = "launch-killswitch-name"
    KILLSWITCH_REASON = "launch-killswitch-reason"
    KILLSWITCH_AGAIN = "launch-killswitch-again"
    METRIC_ROLLBACK = "launch-metric-rollback"
    METRIC_HOLD = "launch-metric-hold"
    METRIC_ACK = "launch-metric-ack"
    TRIGGER_REPORT = "launch-trigger-report"
    CLOSE_OUTCOME = "launch-close-outcome"
    CLOSE_NOTE = "launch-close-note"
    ITEM_MENU = "launch-item-menu"
    WAIVE_ITEM = "launch-waive-item"
    WAIVE_KIND = "launch-waive-kind"
    WAIVE_REASON = "launch-waive-reason"


class BlockPrefix(StrEnum):
    """block_id prefixes. Rendered block_ids carry the message version after a colon, because Slack
    clients keep local checkbox state per block_id: a new id makes them show the re-rendered state."""

    ITEMS = "launch-items"
    HEADER = "launch-header"
    PROGRESS = "launch-progress"
    FOOTER = "launch-footer"
    SIGNOFF = "launch-signoff"


class CallbackId(StrEnum):
    SIGNOFF_REVOKE = "launch-signoff-revoke"
    KILLSWITCH_FIRE = "launch-killswitch-fire"
    LAUNCH_CLOSE = "launch-close"
    ITEM_WAIVE = "launch-item-waive"
    ITEM_UNWAIVE = "launch-item-unwaive"


class IncidentBlock(StrEnum):
    """block_ids of the kill-switch modal's inputs (the modal's errors are keyed by them), of the
    escalation message's buttons and of a never-sent kill switch's "Fire again" button."""

    KILLSWITCH_NAME = "launch-killswitch-name"
    KILLSWITCH_REASON = "launch-killswitch-reason"
    METRIC_ROLLBACK = "launch-metric-rollback"
    METRIC_HOLD = "launch-metric-hold"
    METRIC_ACK = "launch-metric-ack"
    TRIGGER_REPORT = "launch-trigger-report"
    ESCALATION_ACTIONS = "launch-escalation-actions"
    KILLSWITCH_AGAIN = "launch-killswitch-again"


class SignOffBlock(StrEnum):
    """block_ids of the revoke modal (its errors are keyed by them) and of the card's GO line."""

    REVOKE_REASON = "launch-signoff-revoke-reason"
    GO = "launch-signoff-go"


class LaunchBlock(StrEnum):
    """block_ids of the close confirmation's and the waiver form's inputs (their errors are keyed by
    them)."""

    CLOSE_OUTCOME = "launch-close-outcome"
    CLOSE_NOTE = "launch-close-note"
    WAIVE_ITEM = "launch-waive-item"
    WAIVE_KIND = "launch-waive-kind"
    WAIVE_REASON = "launch-waive-reason"
