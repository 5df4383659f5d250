"""Launch listeners: the close confirmation's submission (errors are shown in the modal)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot.core.ids import CallbackId, LaunchBlock
from bot.core.mrkdwn import plain
from bot.core.refusal import Refused
from bot.deps import Deps
from bot.launch.close_flows import close_from_form
from bot.launch.close_modal import CloseFormMeta, read_close_form


async def on_close_submit(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], deps: Deps
) -> None:
    """A missing outcome or note is shown on its field; a refusal (not the starter nor a role
    holder, a launch already closed, another channel's launch) on the outcome field, recorded."""
    actor = deps.identity.actor_of_user(body["user"])
    outcome, note, errors = read_close_form(view)
    if errors:
        await ack(response_action="errors", errors=errors)
        return
    try:
        meta = CloseFormMeta.decode(view.get("private_metadata"))
        closed = await close_from_form(
            deps, meta, actor, outcome=outcome, note=note, source=f"view:{view.get('id')}"
        )
    except Refused as exc:
        await ack(response_action="errors", errors={LaunchBlock.CLOSE_OUTCOME: plain(exc.message)})
        return
    await ack()
    deps.publisher.kick(closed.launch_id)


def register(app: AsyncApp) -> None:
    app.view_submission(CallbackId.LAUNCH_CLOSE)(on_close_submit)
