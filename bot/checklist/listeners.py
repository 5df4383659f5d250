"""Listeners for interactive components: a checkbox toggle is stored, then acked, then applied and re-rendered.

Slack sends a checkboxes element's *whole* selection as the clicker's client saw it. Writing that set
would undo ticks other people made since that view was rendered, so we diff it against the element's
``initial_options`` in the payload's copy of the message and apply only what this person changed.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.checklist.clicks import ReceivedClick
from bot.core.errors import BadInput
from bot.core.events import Actor
from bot.core.ids import ActionId
from bot.core.refusal import Refused
from bot.deps import Deps, refuse_privately

logger = logging.getLogger(__name__)


def _element_values(
    blocks: list[dict[str, Any]], block_id: str, action_id: str
) -> tuple[set[str], set[str]]:
    """(all option values, initially selected values) of one checkboxes element in a message."""
    for block in blocks:
        if block.get("block_id") != block_id:
            continue
        elements = block.get("elements") or ([block["accessory"]] if "accessory" in block else [])
        for element in elements:
            if element.get("action_id") == action_id:
                options = {str(o["value"]) for o in element.get("options", [])}
                initial = {str(o["value"]) for o in element.get("initial_options", [])}
                return options, initial
    raise BadInput("That checklist message is out of date; it is being refreshed.")


def toggled_items(body: dict[str, Any], action: dict[str, Any]) -> dict[int, bool]:
    """The items this click changed, each mapped to its new checked state."""
    message = body.get("message") or {}
    options, initial = _element_values(
        message.get("blocks") or [], str(action.get("block_id")), str(action.get("action_id"))
    )
    selected = {str(o["value"]) for o in action.get("selected_options") or []}
    if not selected <= options:
        raise BadInput("That selection does not match the checklist message.")
    try:
        return {int(value): value in selected for value in selected ^ initial}
    except ValueError as exc:
        raise BadInput("That checklist option is not one the bot made.") from exc


async def on_item_toggle(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond, deps: Deps
) -> None:
    container = body.get("container") or {}
    channel_id = str(container.get("channel_id") or (body.get("channel") or {}).get("id") or "")
    message_ts = str(container.get("message_ts") or "")
    actor = Actor.of_user(body["user"])
    # Slack's own fields identify one click; a replayed request carries the same ones.
    dedup_key = f"ba:{channel_id}:{message_ts}:{action.get('block_id')}:{action.get('action_ts')}:{actor.user_id}"
    try:
        message_id, launch_id = await deps.clicks.index.lookup(channel_id, message_ts)
        desired = toggled_items(body, action)
    except Refused as exc:
        await refuse_privately(ack, deps, respond, exc)
        return
    if desired:
        # Stored before the ack; the applier gives it effect (and the rules their say) right after.
        fresh = await deps.clicks.store(
            ReceivedClick(
                launch_id=launch_id,
                message_id=message_id,
                desired=desired,
                actor=actor,
                at=deps.clock(),
                source=f"block_actions:{action.get('action_ts')}",
                dedup_key=dedup_key,
            )
        )
        if fresh:
            deps.clicks.expect_reply(dedup_key, body.get("response_url"))
    await ack()
    deps.clicks.kick()


def register(app: AsyncApp) -> None:
    app.action(ActionId.ITEM_TOGGLE)(on_item_toggle)
