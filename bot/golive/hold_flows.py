"""Holding the rollout: /launch hold and resume, and the safety interlocks that hold it when another feature's event says so (GO withdrawn during live traffic, the kill switch fired)."""

from __future__ import annotations

import functools
from datetime import datetime

from sqlalchemy import select

from bot.core.events import SYSTEM, Actor, EventKind
from bot.core.models import Event, GoLive, Launch
from bot.core.outbox import queue_notice
from bot.core.reactions import Happened
from bot.deps import Deps
from bot.golive import blocks, timers
from bot.golive.flows import authorize, golive_view, launch_here
from bot.golive.state import load_golive


async def hold(deps: Deps, *, actor: Actor, channel_id: str, reason: str) -> bool:
    """Pause the rollout (a person, or the kill switch firing). False if it already was."""
    launch = await launch_here(deps, channel_id)
    await authorize(deps, actor, launch, "hold")
    return await hold_launch(deps, launch=launch, actor=actor, reason=reason)


async def hold_launch(deps: Deps, *, launch: Launch, actor: Actor, reason: str) -> bool:
    """Hold without an authorization check: for the bot's own safety interlocks."""
    async with deps.db.sessions.begin() as session:
        changed = await timers.hold(
            session=session, launch_id=launch.id, actor=actor, at=deps.clock(), reason=reason
        )
        if changed:
            view = await golive_view(session, launch.id)
            await queue_notice(
                session=session,
                launch_id=launch.id,
                channel_id=launch.channel_id,
                view=blocks.held(
                    view,
                    by=f"<@{actor.user_id}>" if actor.user_id.startswith("U") else actor.name,
                    reason=reason,
                    launch_name=launch.name,
                ),
                loud=True,
            )
    deps.publisher.kick(launch.id)
    return changed


async def resume(deps: Deps, *, actor: Actor, channel_id: str) -> int:
    launch = await launch_here(deps, channel_id)
    await authorize(deps, actor, launch, "resume")
    async with deps.db.sessions.begin() as session:
        seconds = await timers.resume(
            session=session, launch_id=launch.id, actor=actor, at=deps.clock()
        )
        view = await golive_view(session, launch.id)
        await queue_notice(
            session=session,
            launch_id=launch.id,
            channel_id=launch.channel_id,
            view=blocks.resumed(view, by=f"<@{actor.user_id}>", held_minutes=seconds / 60),
            loud=True,
        )
    deps.publisher.kick(launch.id)
    return seconds


async def hold_for(deps: Deps, happened: Happened, *, live_only: bool, why: str) -> bool:
    """Hold a started rollout (only one with live traffic if ``live_only``) because ``happened``."""
    async with deps.db.read_sessions() as session:
        launch = await session.get(Launch, happened.launch_id)
        view = await load_golive(session=session, launch_id=happened.launch_id)
    if launch is None or view is None or not view.started or view.completed_at is not None:
        return False
    if live_only and view.weight == 0:
        return False
    # The reason is plain text, escaped wherever it is shown: a `<@U…>` in it would show as
    # literal markup, so it names the person as the log does.
    who = f"@{happened.actor.name}" if happened.actor.user_id.startswith("U") else "the bot"
    detail = f" ({happened.detail['role']})" if happened.detail.get("role") else ""
    return await hold_launch(deps, launch=launch, actor=SYSTEM, reason=f"{why}{detail}, by {who}")


def register_reactions(deps: Deps) -> None:
    deps.reactions.on(
        EventKind.GO_WITHDRAWN,
        functools.partial(_react, deps, live_only=True, why="GO withdrawn: a sign-off was revoked"),
    )
    deps.reactions.on(
        EventKind.KILLSWITCH_CONFIRMED,
        functools.partial(_react, deps, live_only=False, why="the kill switch fired"),
    )
    for kind in (EventKind.KILLSWITCH_FAILED, EventKind.KILLSWITCH_UNKNOWN):
        deps.reactions.on(
            kind,
            functools.partial(
                _react, deps, live_only=False, why="the kill switch was pressed (no confirmed halt)"
            ),
        )


async def _react(deps: Deps, happened: Happened, *, live_only: bool, why: str) -> None:
    await hold_for(deps, happened, live_only=live_only, why=why)


# What holds the rollout, as the log records it, and what the hold's reason says of it.
_HOLDING = {
    EventKind.KILLSWITCH_CONFIRMED: "the kill switch fired",
    EventKind.KILLSWITCH_FAILED: "the kill switch was pressed (no confirmed halt)",
    EventKind.KILLSWITCH_UNKNOWN: "the kill switch was pressed (no confirmed halt)",
    EventKind.GO_WITHDRAWN: "GO withdrawn: a sign-off was revoked",
}
# After these, an earlier holding event has been dealt with (held, resumed, moved on, GO again).
_SETTLED = (
    EventKind.GOLIVE_HELD,
    EventKind.GOLIVE_RESUMED,
    EventKind.GOLIVE_STEP_ENTERED,
    EventKind.GOLIVE_COMPLETED,
    EventKind.LAUNCH_GO,
)


async def hold_after_restart(deps: Deps, started_at: datetime) -> None:
    """The interlocks react after their event commits, in memory: a process stopped in between
    (``kill -9``) would lose the hold for good. At start, a started rollout whose last holding
    event (kill switch fired, failed or unknown; GO withdrawn) came after anything that settled it
    is held now, as the reaction would have."""
    async with deps.db.read_sessions() as session:
        launches = await session.scalars(
            select(Launch.id)
            .join(GoLive, GoLive.launch_id == Launch.id)
            .where(
                Launch.closed_at.is_(None),
                GoLive.step_started_at.is_not(None),
                GoLive.completed_at.is_(None),
                GoLive.held_since.is_(None),
            )
        )
        pending = []
        for launch_id in launches.all():
            last = await session.scalar(
                select(Event)
                .where(
                    Event.launch_id == launch_id,
                    Event.at < started_at,
                    Event.kind.in_([*_HOLDING, *_SETTLED]),
                )
                .order_by(Event.seq.desc())
                .limit(1)
            )
            if last is None or last.kind not in _HOLDING or (last.detail or {}).get("dry_run"):
                continue
            pending.append(last)
    for event in pending:
        kind = EventKind(event.kind)
        detail = {"role": event.detail.get("role_title")} if kind == EventKind.GO_WITHDRAWN else {}
        happened = Happened(kind, event.launch_id, Actor(event.actor_id, event.actor_name), detail)
        await hold_for(deps, happened, live_only=kind == EventKind.GO_WITHDRAWN, why=_HOLDING[kind])
