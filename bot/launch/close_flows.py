"""Closing a launch after its confirmation: the submission's one transaction (who may close, the
close with its outcome, the channel's announcement through the outbox)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.checklist.lifecycle import CLOSE_OUTCOMES, close_launch
from bot.core.binding import launch_in_channel
from bot.core.events import Actor
from bot.core.kit import mention, notice
from bot.core.mrkdwn import escape
from bot.core.outbox import queue_notice
from bot.core.refusal import unit_of_work
from bot.deps import Deps
from bot.launch.close_modal import CloseFormMeta
from bot.signoffs.close import authorize_close
from bot.signoffs.flows import close_membership


@dataclass(frozen=True)
class Closed:
    launch_id: int
    name: str


def closed_text(name: str, launch_id: int, by: str, outcome: str, note: str) -> str:
    label = CLOSE_OUTCOMES.get(outcome, outcome)
    said = f" — “{escape(note)}”" if note else ""
    return (
        f"🔒 Closed *{escape(name)}* (#{launch_id}) · outcome: *{escape(label)}*{said} · by "
        f"{mention(by)}. Its checklist is now read-only."
    )


async def close_from_form(
    deps: Deps, meta: CloseFormMeta, actor: Actor, *, outcome: str, note: str, source: str
) -> Closed:
    """Close the form's launch, which must live in the channel the form was opened from, if the
    person still may (checked again: the form may have stayed open a while); a refusal is recorded
    and raised. The channel is told through the outbox, in the same transaction."""
    async with deps.db.read_sessions() as session:
        launch = await launch_in_channel(
            session, meta.launch_id, meta.channel_id, what="a close form", user_id=actor.user_id
        )
        started_by_id = launch.started_by_id
    membership = await close_membership(deps, actor.user_id, started_by_id=started_by_id)
    async with unit_of_work(deps.db.sessions) as session:
        await authorize_close(
            session=session,
            launch_id=meta.launch_id,
            actor=actor,
            at=deps.clock(),
            roles=deps.config.roles,
            usergroup_members=membership.members,
            unchecked_groups=membership.unchecked,
            source=source,
        )
        closed = await close_launch(
            session=session,
            launch_id=meta.launch_id,
            actor=actor,
            at=deps.clock(),
            source=source,
            outcome=outcome,
            note=note,
        )
        await queue_notice(
            session=session,
            launch_id=closed.id,
            channel_id=closed.channel_id,
            view=notice(closed_text(closed.name, closed.id, actor.user_id, outcome, note)),
            loud=True,
        )
        return Closed(closed.id, closed.name)
