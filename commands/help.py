"""/launch help: every subcommand with one line each.

Words after ``help`` are not an error worth refusing someone who asked for help, but they are not
silently dropped either: the answer says they were ignored, then shows the whole list.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.core.kit import notice
from bot.core.mrkdwn import escape
from bot.core.schemas import CommandReply, LaunchCommand
from bot.deps import Deps

UsageLines = Callable[[], list[tuple[str, str]]]


def runner(usage_lines: UsageLines) -> Callable[[LaunchCommand, Deps], Awaitable[CommandReply]]:
    """The help subcommand over the router's table (handed in: the router imports this module)."""

    async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
        return answer(cmd, usage_lines())

    return run


def answer(cmd: LaunchCommand, usage_lines: list[tuple[str, str]]) -> CommandReply:
    lines = "\n".join(f"• `{escape(usage)}` — {summary}" for usage, summary in usage_lines)
    ignored = (
        f"`/launch help` takes no arguments; ignored “{escape(' '.join(cmd.args))}”.\n"
        if cmd.args
        else ""
    )
    return CommandReply.of(notice(f"{ignored}*Launch Control* — what `/launch` can do:\n{lines}"))
