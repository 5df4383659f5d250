"""/launch help: every subcommand with one line each.

Words after ``help`` are not an error worth refusing someone who asked for help, but they are not
silently dropped either: the answer says they were ignored, then shows the whole list.
"""

from __future__ import annotations

from bot.blocks import escape, notice
from bot.deps import Deps
from bot.schemas import CommandReply, LaunchCommand


async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
    from commands import (
        usage_lines,
    )  # the table lives in the router; imported late to avoid a cycle

    lines = "\n".join(f"• `{escape(usage)}` — {summary}" for usage, summary in usage_lines())
    ignored = (
        f"`/launch help` takes no arguments; ignored “{escape(' '.join(cmd.args))}”.\n"
        if cmd.args
        else ""
    )
    return CommandReply.of(notice(f"{ignored}*Launch Control* — what `/launch` can do:\n{lines}"))
