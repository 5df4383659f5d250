"""Pure Block Kit builders for ``/launch verify``: what was verified, or the alarm when the audit
trail does not hold (loud: in the channel, with @here)."""

from __future__ import annotations

from bot.audit.chain import ChainReport
from bot.checklist.proof_blocks import tick_note
from bot.checklist.proofs import ProofTick
from bot.core.kit import MessageView, mention, section_block, truncate
from bot.core.mrkdwn import escape

SHOWN_MISMATCHES = 3


def audit_verified_report(
    report: ChainReport, *, user_id: str, user_name: str, tick: ProofTick | None
) -> MessageView:
    """In the launch thread: how many events, the chain intact, every row as the log says."""
    text = (
        f"🔐 Audit trail verified by {mention(user_id, user_name)}: *{report.events} events*, hash "
        f"chain intact from #1 to #{report.events} (head `{report.head_hash[:16]}…`), and every "
        "row the log describes matches it."
    )
    if report.unchecked:
        text += (
            f" {len(report.unchecked)} field(s) predate what the log records and could not be "
            "checked; they are not counted as verified."
        )
    text += tick_note(tick)
    return MessageView(
        text=f"Audit trail verified: {report.events} events", blocks=[section_block(text)]
    )


def audit_broken_alarm(report: ChainReport, *, launch_name: str, user_id: str) -> MessageView:
    """In the channel, @here: the chain is broken or rows differ from the log. Nothing is ticked."""
    name = escape(launch_name)
    if report.first_bad is not None:
        what = (
            f"🚨 <!here> *The audit trail of {name} is BROKEN* at "
            f"{escape(report.first_bad.describe())}. The log cannot be trusted from that event on."
        )
    else:
        shown = "\n".join(
            f"• {escape(truncate(m.describe(), 300))}" for m in report.mismatches[:SHOWN_MISMATCHES]
        )
        more = len(report.mismatches) - SHOWN_MISMATCHES
        what = (
            f"🚨 <!here> *The audit trail of {name} does not match its data*: the hash chain is "
            f"intact ({report.events} events) but {len(report.mismatches)} field(s) differ from "
            f"what the log says:\n{shown}" + (f"\n…and {more} more." if more > 0 else "")
        )
    text = (
        f"{what}\nNothing was ticked. Checked by {mention(user_id)}; run "
        f"`launchbot audit verify {report.launch_id}` on the bot's host for the full report."
    )
    return MessageView(
        text=f"<!here> The audit trail of {name} does not verify", blocks=[section_block(text)]
    )
