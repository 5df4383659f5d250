"""The one /launch listener: parses the text into a LaunchCommand, runs the subcommand, answers in the ack.

A subcommand's ``run`` does only fast work (a database read or one short transaction) and its answer
travels in the ack body: nothing is claimed before it is stored, and no Web API call is needed. The
app runs listeners inline (``process_before_response``), so the HTTP answer leaves only when the
listener returns: slow work (outside systems, views.open) goes in the reply's ``follow_up``, which
runs as an owned background task after the ack and answers through ``respond``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.core.ids import SLASH_COMMAND
from bot.core.mrkdwn import escape, unescape
from bot.core.refusal import Refused, warning
from bot.core.schemas import CommandReply, LaunchCommand
from bot.deps import Deps
from commands import (
    advance,
    close,
    contacts,
    date,
    escalate,
    help,
    hold,
    killswitch,
    metrics,
    phase,
    report,
    resume,
    rollback,
    signoff,
    start,
    status,
    trigger,
    verify,
    waive,
)

logger = logging.getLogger(__name__)

Runner = Callable[[LaunchCommand, Deps], Awaitable[CommandReply]]


@dataclass(frozen=True)
class Subcommand:
    run: Runner
    usage: str
    summary: str
    # How many words may follow the subcommand; more are refused with the usage line before ``run``
    # (None: the subcommand reads the rest itself, e.g. a launch name or a reason).
    max_args: int | None = None


SUBCOMMANDS: dict[str, Subcommand] = {
    "start": Subcommand(
        start.run,
        "/launch start <name> [--on YYYY-MM-DD]",
        "start a launch in this channel and post its checklist (`--on`: launch day; each phase "
        "and the first week's checks are then posted on their days)",
    ),
    "status": Subcommand(
        status.run,
        "/launch status [items] [<name or #id>]",
        "where the launch stands at a glance (`items`: every open item), this channel's launch or "
        "the one named",
    ),
    "phase": Subcommand(
        phase.run, "/launch phase next", "post the next phase once the current one is complete"
    ),
    "close": Subcommand(
        close.run,
        "/launch close",
        "end this channel's launch (its starter or a sign-off role holder only; recorded, the "
        "checklist becomes read-only)",
        max_args=0,
    ),
    "waive": Subcommand(
        waive.run,
        '/launch waive [n/a] [Day N] "<item>" <reason> | undo [Day N] "<item>"',
        "waive an item, or mark it not applicable, with a reason; `undo` opens it again (sign-off "
        "role holders; counted as done for phase completion; also in each group's ⋯ menu). "
        "`Day N` picks that day's daily check (default: today's)",
    ),
    "contacts": Subcommand(
        contacts.run,
        "/launch contacts [public]",
        "emergency contacts: internal roles with phone, vendors (only you see it unless `public`)",
        max_args=1,
    ),
    "escalate": Subcommand(
        escalate.run,
        "/launch escalate [sev1|sev2|sev3] <what's wrong> | test",
        "post an escalation here, page the on-call via PagerDuty, escalate until acknowledged; "
        "`test`: a TEST page (no escalation) that ticks “Escalation working” once PagerDuty "
        "accepts it",
    ),
    "killswitch": Subcommand(
        killswitch.run,
        "/launch killswitch [status|arm|disarm|test]",
        "fire the trading kill switch (confirmation modal, allowed roles only), or arm/test it "
        "(arming and a passed test tick their checklist items)",
    ),
    "signoff": Subcommand(
        signoff.run,
        "/launch signoff [approve <role> [--anyway] [comment] | revoke <role> <reason>]",
        "the sign-off table with Approve buttons (only you see it), or approve/revoke by command",
    ),
    "report": Subcommand(
        report.run,
        "/launch report [md|csv|json]",
        "upload the launch's audit record (items, sign-offs, events, chain head) to its thread",
        max_args=1,
    ),
    "verify": Subcommand(
        verify.run,
        "/launch verify",
        "check the audit trail like `launchbot audit verify`; intact, it ticks “Audit trail "
        "complete”, broken, the channel is told",
        max_args=0,
    ),
    "advance": Subcommand(
        advance.run,
        "/launch advance [--force <reason>]",
        "go-live: the next step once its gate is clear (allowed roles; --force passes items, soak, "
        "metrics)",
    ),
    "hold": Subcommand(
        hold.run, "/launch hold <reason>", "go-live: pause the rollout (the soak clock stops)"
    ),
    "resume": Subcommand(resume.run, "/launch resume", "go-live: end a hold", max_args=0),
    "rollback": Subcommand(
        rollback.run,
        "/launch rollback [all] <reason>",
        "go-live: back one step, or `all` to take live traffic to 0",
    ),
    "date": Subcommand(
        date.run,
        "/launch date YYYY-MM-DD <reason>",
        "move launch day (sign-off or go-live role holders); what is not posted yet moves with it",
    ),
    "metrics": Subcommand(
        metrics.run,
        "/launch metrics",
        "every Prometheus rule now: value, threshold, state; and template lines not watched",
        max_args=0,
    ),
    "trigger": Subcommand(
        trigger.run,
        "/launch trigger [<name>]",
        "list the immediate rollback triggers, or report one: red alert and a critical page",
    ),
    "help": Subcommand(help.runner(lambda: usage_lines()), "/launch help", "this list"),
}


def usage_lines() -> list[tuple[str, str]]:
    return [(s.usage, s.summary) for s in SUBCOMMANDS.values()]


_DOUBLE_QUOTES = '"“”„'
_SINGLE_QUOTES = "'‘’‚"


def split_words(text: str) -> list[str]:
    """The words of ``text``; a word that starts with a quote runs to its closing quote at the end
    of a word (``"Blue environment"``, or ``“Blue environment”`` as a phone's smart punctuation
    sends it), without the quotes. A quote anywhere else is a character of its word, so an
    apostrophe (``don't``, ``it’s``) never swallows the words after it, and a quote that is never
    closed stays as typed."""
    words: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        quotes = (
            _DOUBLE_QUOTES
            if text[i] in _DOUBLE_QUOTES
            else _SINGLE_QUOTES
            if text[i] in _SINGLE_QUOTES
            else ""
        )
        if quotes:
            end = next(
                (
                    j
                    for j in range(i + 1, n)
                    if text[j] in quotes and (j + 1 == n or text[j + 1].isspace())
                ),
                None,
            )
            if end is not None:
                words.append(text[i + 1 : end])
                i = end + 1
                continue
        j = i
        while j < n and not text[j].isspace():
            j += 1
        words.append(text[i:j])
        i = j
    return words


def parse(command: dict[str, Any]) -> LaunchCommand:
    # Slack sends a slash command's ``&``, ``<``, ``>`` as entities (``R&amp;D``): decoded once
    # here, so names are stored as typed and escaped once on the way out (bot.core.mrkdwn.escape).
    text = unescape(str(command.get("text") or "")).strip()
    words = split_words(text)
    name = words[0].lower() if words else "help"
    rest = text.split(None, 1)[1] if len(text.split(None, 1)) > 1 else ""
    return LaunchCommand(
        name=name,
        args=words[1:],
        rest=rest,
        user_id=str(command["user_id"]),
        user_name=str(command.get("user_name") or command["user_id"]),
        channel_id=str(command["channel_id"]),
        team_id=str(command.get("team_id") or ""),
        trigger_id=str(command.get("trigger_id") or ""),
        response_url=str(command.get("response_url") or ""),
    )


def _refusal(message: str, sub: Subcommand | None) -> CommandReply:
    usage = f"\nUsage: `{escape(sub.usage)}`" if sub else ""
    return CommandReply(text=f"{message}{usage}")


def _too_many_args(sub: Subcommand, cmd: LaunchCommand) -> CommandReply | None:
    """Words a subcommand does not take are refused, never silently dropped (``/launch close now
    please`` must not close)."""
    if sub.max_args is None or len(cmd.args) <= sub.max_args:
        return None
    takes = {0: "takes no arguments", 1: "takes at most one argument"}.get(
        sub.max_args, f"takes at most {sub.max_args} arguments"
    )
    extra = " ".join(cmd.args[sub.max_args :])
    return _refusal(
        f":warning: `{SLASH_COMMAND} {escape(cmd.name)}` {takes}, so “{escape(extra)}” was not "
        "expected. Nothing was done.",
        sub,
    )


async def _run(sub: Subcommand, cmd: LaunchCommand, deps: Deps) -> CommandReply:
    refused = _too_many_args(sub, cmd)
    if refused is not None:
        return refused
    try:
        return await sub.run(cmd, deps)
    except Refused as exc:
        return _refusal(exc.text, sub)


async def handle_launch(
    ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any], deps: Deps
) -> None:
    cmd = parse(command)
    sub = SUBCOMMANDS.get(cmd.name)
    if sub is None:
        known = ", ".join(f"`{n}`" for n in SUBCOMMANDS)
        reply = CommandReply(
            text=f":warning: `{escape(cmd.name)}` is not a /launch subcommand. Try one of {known}.\n"
            f"Usage: `{SLASH_COMMAND} &lt;subcommand&gt; [arguments]` · `{SLASH_COMMAND} help` lists them all."
        )
        await ack(**reply.slack_body())
        return
    reply = await _run(sub, cmd, deps)
    await ack(**reply.slack_body())
    if reply.launch_id is not None:
        deps.publisher.kick(reply.launch_id)
    if reply.follow_up is not None:
        deps.tasks.spawn(
            _follow_up(reply, cmd.name, sub, respond, deps), name=f"follow-up-{cmd.name}"
        )


async def _follow_up(
    reply: CommandReply, name: str, sub: Subcommand, respond: AsyncRespond, deps: Deps
) -> None:
    assert reply.follow_up is not None
    try:
        later = await reply.follow_up()
    except Refused as exc:
        later = _refusal(exc.text, sub)
    except Exception:
        # The answer already said the work is under way: a crash after it must not leave the
        # person waiting for a result that will never come, nor let silence read as success.
        incident = uuid.uuid4().hex[:8]
        logger.exception("follow-up of /launch %s failed (incident %s)", name, incident)
        later = CommandReply(
            text=warning(
                f"`{SLASH_COMMAND} {escape(name)}` did not finish: the bot hit an internal error "
                f"(incident `{incident}`). What it did before is unknown: check the launch's "
                "thread before you run it again."
            )
        )
    if later is None:
        return
    await respond(**later.slack_body(), replace_original=False)
    if later.launch_id is not None:
        deps.publisher.kick(later.launch_id)


def register(app: AsyncApp) -> None:
    app.command(SLASH_COMMAND)(handle_launch)
