"""/launch report [md|csv|json]: the launch's record (items, sign-offs, events, chain head) as a file in its thread.

The record is read from the database before the ack, so the file shows the state at the moment you
asked; the upload (files.getUploadURLExternal, the upload itself, files.completeUploadExternal) is
slow Web API work and runs after the ack, and its outcome is reported back to you either way.
"""

from __future__ import annotations

from bot.audit.record.build import build_record, launch_in_channel
from bot.audit.report.export import FORMATS, Format, filename, render
from bot.core.errors import BadInput, NotFound
from bot.core.mrkdwn import escape
from bot.core.schemas import CommandReply, LaunchCommand
from bot.core.slack_client import call_slack
from bot.deps import Deps
from bot.launch.state import load_state


async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
    fmt = cmd.args[0].lower().lstrip(".") if cmd.args else "md"
    if fmt == "markdown":
        fmt = "md"
    if fmt not in FORMATS:
        raise BadInput(f"`{escape(fmt)}` is not a report format; use `md`, `csv` or `json`.")
    async with deps.db.read_sessions() as session:
        launch = await launch_in_channel(session=session, channel_id=cmd.channel_id)
        if launch is None:
            raise NotFound("There is no launch in this channel to report on.")
        state = await load_state(session=session, launch_id=launch.id)
        record = await build_record(
            session=session, launch_id=launch.id, now=deps.clock(), roles=deps.config.roles
        )
    card = state.card
    thread_ts = card.ts if card else None
    fmt_key: Format = fmt
    content = render(record, fmt_key)
    name = filename(record, fmt_key)
    head = str(record["chain"]["head_hash"])

    async def upload() -> CommandReply:
        if thread_ts is None:
            return CommandReply(
                text=":warning: The launch card is not posted yet, so there is no thread to put "
                "the report in. Try again in a moment."
            )
        answer = await call_slack(
            deps.slack.files_upload_v2(
                channel=state.channel_id,
                thread_ts=thread_ts,
                content=content,
                filename=name,
                title=f"Launch report: {state.name}",
            ),
            what=f"report upload for launch {state.id}",
        )
        if not answer.ok and not answer.answered:
            # No answer (a timeout, a dropped connection): the file may be in the thread already.
            return CommandReply(
                text=f":warning: Slack did not answer the upload (`{escape(str(answer.error))}`): "
                "the report may or may not be in the launch thread. Look there before trying "
                f"again, or run `launchbot export {state.id} --format {fmt_key}` on the bot's host."
            )
        if not answer.ok:
            return CommandReply(
                text=f":x: The report was not uploaded: Slack said `{escape(str(answer.error))}`. Nothing "
                f"is lost; try again, or run `launchbot export {state.id} --format {fmt_key}` "
                "on the bot's host."
            )
        return CommandReply(
            text=f":page_facing_up: Uploaded `{escape(name)}` to the launch thread. "
            f"Audit chain head `{head[:16]}`."
        )

    return CommandReply(
        text=f"Uploading the report of *{escape(state.name)}* (`{fmt_key}`)…", follow_up=upload
    )
