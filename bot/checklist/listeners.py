"""Listeners for interactive components: a checkbox toggle is stored, then acked, then applied and
re-rendered; a group's "⋯" menu opens a waiver form, whose submission waives (or undoes a waiver)
before the ack, a refusal shown in the form.

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
from bot.checklist.waive_blocks import (
    MenuChoice,
    WaiveFormMeta,
    read_unwaive_form,
    read_waive_form,
)
from bot.checklist.waive_flows import (
    name_waiver_later,
    unwaive_from_form,
    waive_from_form,
    waiver_form,
)
from bot.core.errors import BadInput
from bot.core.events import Actor
from bot.core.ids import ActionId, CallbackId, LaunchBlock
from bot.core.mrkdwn import plain
from bot.core.refusal import Refused
from bot.core.slack_client import open_modal
from bot.deps import Deps, answer_privately, refuse_privately

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
        await refuse_privately(ack, deps, respond, exc, body=body)
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


async def on_item_menu(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond, deps: Deps
) -> None:
    """A group's "⋯" menu: "Waive an item…" or "Undo a waiver…" opens that form (anyone may open
    it; the submission checks who may waive)."""
    container = body.get("container") or {}
    channel_id = str(container.get("channel_id") or (body.get("channel") or {}).get("id") or "")
    try:
        choice = MenuChoice.parse((action.get("selected_option") or {}).get("value"))
        # The message must be a checklist of this channel's launch: its launch is the form's.
        _, launch_id = await deps.clicks.index.lookup(
            channel_id, str(container.get("message_ts") or "")
        )
    except Refused as exc:
        await refuse_privately(ack, deps, respond, exc, body=body)
        return
    await ack()
    meta = WaiveFormMeta(launch_id=launch_id, group_id=choice.group_id, channel_id=channel_id)
    # trigger_id lives 3 s and the ack has just left: open the form right away, after it.
    deps.tasks.spawn(
        _open_waiver_form(deps, respond, str(body.get("trigger_id") or ""), meta, choice.undo),
        name="waiver-form",
    )


async def _open_waiver_form(
    deps: Deps, respond: AsyncRespond, trigger_id: str, meta: WaiveFormMeta, undo: bool
) -> None:
    try:
        form = await waiver_form(deps, meta, undo=undo)
        problem = await open_modal(deps.slack, trigger_id, form, what="a waiver form")
    except Refused as exc:
        problem = f"did not open ({exc.message})"
    if problem is not None:
        answer_privately(
            deps,
            respond,
            f":warning: The waiver form {problem}. Nothing changed; you can also "
            'type `/launch waive "&lt;item&gt;" &lt;reason&gt;` or `/launch waive undo "&lt;item&gt;"`.',
        )


def _form_actor(body: dict[str, Any], deps: Deps) -> Actor:
    actor = Actor.of_user(body["user"])
    return deps.identity.actor(actor.user_id, actor.name)


def _view_id(view: dict[str, Any]) -> str | None:
    """The submitted view's id: one form, so a replay of its submission is recognised."""
    return str(view["id"]) if view.get("id") else None


async def on_waive_submit(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], deps: Deps
) -> None:
    """A missing item or reason is shown on its field; a refusal (not a sign-off role holder, an
    item ticked meanwhile, a closed launch) on the item, recorded when the rules record it."""
    form = read_waive_form(view)
    if form.errors:
        await ack(response_action="errors", errors=dict(form.errors))
        return
    try:
        meta = WaiveFormMeta.decode(view.get("private_metadata"))
        actor = _form_actor(body, deps)
        waived = await waive_from_form(deps, meta, actor, form, view_id=_view_id(view))
    except Refused as exc:
        await ack(response_action="errors", errors={LaunchBlock.WAIVE_ITEM: plain(exc.message)})
        return
    await ack()
    deps.publisher.kick(waived.launch_id)
    name_waiver_later(deps, waived, actor)


async def on_unwaive_submit(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], deps: Deps
) -> None:
    item_id, errors = read_unwaive_form(view)
    if errors or item_id is None:
        await ack(response_action="errors", errors=errors)
        return
    try:
        meta = WaiveFormMeta.decode(view.get("private_metadata"))
        undone = await unwaive_from_form(
            deps, meta, _form_actor(body, deps), item_id, view_id=_view_id(view)
        )
    except Refused as exc:
        await ack(response_action="errors", errors={LaunchBlock.WAIVE_ITEM: plain(exc.message)})
        return
    await ack()
    deps.publisher.kick(undone.launch_id)


def register(app: AsyncApp) -> None:
    app.action(ActionId.ITEM_TOGGLE)(on_item_toggle)
    app.action(ActionId.ITEM_MENU)(on_item_menu)
    app.view_submission(CallbackId.ITEM_WAIVE)(on_waive_submit)
    app.view_submission(CallbackId.ITEM_UNWAIVE)(on_unwaive_submit)
