"""/launch help: every subcommand with one line each."""

from __future__ import annotations

from bot.blocks import escape, notice
from bot.deps import Deps
from bot.schemas import CommandReply, LaunchCommand


async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
    from commands import (
        usage_lines,
    )  # the table lives in the router; imported late to avoid a cycle

    lines = "\n".join(f"• `{escape(usage)}` — {summary}" for usage, summary in usage_lines())
    return CommandReply.of(notice(f"*Launch Control* — what `/launch` can do:\n{lines}"))
