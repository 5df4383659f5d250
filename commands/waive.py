"""/launch waive [n/a] [Day N] "<item>" <reason>: a sign-off role holder waives an item (or marks it
not applicable) with a reason; recorded, shown struck through, counted as done for phase completion.
/launch waive undo [Day N] "<item>": the same people undo a waiver; the item is open again.

A dated launch has a copy of its daily checks per day (T+2 … T+7): ``Day N`` names that day's copy;
without it, today's copy is meant. A day's checks not posted yet cannot be waived by text.

Each item group's "⋯" menu on the checklist opens the same two actions as forms
(``bot.checklist.listeners``); both paths share the rules (``bot.checklist.waivers``)."""

from __future__ import annotations

from bot.checklist.waive_flows import name_waiver_later, waiver_rules
from bot.checklist.waivers import WAIVE_KINDS, find_item, unwaive_item, waive_item
from bot.core.errors import BadInput, NotFound
from bot.core.kit import mention, notice
from bot.core.launches import active_launch
from bot.core.mrkdwn import escape
from bot.core.refusal import unit_of_work
from bot.core.schemas import CommandReply, LaunchCommand
from bot.deps import Deps

NOT_APPLICABLE = ("n/a", "na", "not-applicable")
UNDO = "undo"
REPLAYED = "This request was recorded already; nothing changed."


async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
    args = list(cmd.args)
    if args and args[0].lower() == UNDO:
        return await _undo(cmd, deps, " ".join(args[1:]))
    kind = "waived"
    if args and args[0].lower() in NOT_APPLICABLE:
        kind, args = "not_applicable", args[1:]
    args = _day_joined(args)
    if len(args) < 2:
        raise BadInput("Name the item (in quotes when it has spaces) and give a reason.")
    ref, reason = args[0], " ".join(args[1:])
    launch_id, item_id = await _find(cmd, deps, ref)
    actor = deps.identity.actor(cmd.user_id, cmd.user_name)
    rules = await waiver_rules(deps, actor.user_id)
    async with unit_of_work(deps.db.sessions) as session:
        waived = await waive_item(
            session=session,
            launch_id=launch_id,
            item_id=item_id,
            kind=kind,
            reason=reason,
            actor=actor,
            at=deps.clock(),
            rules=rules,
            source=f"slash:{cmd.trigger_id}",
            dedup_key=f"waive:slash:{cmd.trigger_id}" if cmd.trigger_id else None,
        )
    if waived.replayed:
        return CommandReply.of(notice(REPLAYED))
    label = WAIVE_KINDS[waived.kind]
    reply = CommandReply.of(
        notice(
            f"~{escape(waived.text)}~ marked *{label}* by {mention(actor.user_id)}: "
            f"{escape(' '.join(reason.split()))}"
        ),
        response_type="in_channel",
        launch_id=launch_id,
    )

    async def after_the_ack() -> CommandReply | None:
        name_waiver_later(deps, waived, actor)
        return None

    return reply.model_copy(update={"follow_up": after_the_ack})


async def _undo(cmd: LaunchCommand, deps: Deps, ref: str) -> CommandReply:
    if not ref.strip():
        raise BadInput('Name the waived item: `/launch waive undo "&lt;item&gt;"`.')
    launch_id, item_id = await _find(cmd, deps, ref, undo=True)
    actor = deps.identity.actor(cmd.user_id, cmd.user_name)
    rules = await waiver_rules(deps, actor.user_id)
    async with unit_of_work(deps.db.sessions) as session:
        undone = await unwaive_item(
            session=session,
            launch_id=launch_id,
            item_id=item_id,
            actor=actor,
            at=deps.clock(),
            rules=rules,
            source=f"slash:{cmd.trigger_id}",
            dedup_key=f"unwaive:slash:{cmd.trigger_id}" if cmd.trigger_id else None,
        )
    if undone.replayed:
        return CommandReply.of(notice(REPLAYED))
    return CommandReply.of(
        notice(
            f"“{escape(undone.text)}” is open again: {mention(actor.user_id)} undid its "
            f"{WAIVE_KINDS[undone.kind]} mark."
        ),
        response_type="in_channel",
        launch_id=launch_id,
    )


def _day_joined(args: list[str]) -> list[str]:
    """``Day 3 "Morning reconciliation" …`` (or ``Day3 …``): the day joined to the item's text, as
    one reference (``waivers.find_item`` reads the day from it)."""
    if len(args) >= 3 and args[0].lower() == "day" and args[1].isdigit():
        return [f"Day {args[1]} {args[2]}", *args[3:]]
    if len(args) >= 2 and args[0].lower().startswith("day") and args[0][3:].isdigit():
        return [f"Day {args[0][3:]} {args[1]}", *args[2:]]
    return args


async def _find(cmd: LaunchCommand, deps: Deps, ref: str, *, undo: bool = False) -> tuple[int, int]:
    """(launch id, item id) of the item ``ref`` names in this channel's active launch."""
    async with deps.db.read_sessions() as session:
        launch = await active_launch(session=session, channel_id=cmd.channel_id)
        if launch is None:
            raise NotFound("There is no active launch in this channel.")
        item = await find_item(
            session=session,
            launch_id=launch.id,
            ref=ref,
            at=deps.clock(),
            rule=deps.config.schedule,
            undo=undo,
        )
        return launch.id, item.id
