"""Go-live flows: authorize, gate and store a stage change, then move traffic (the signed webhook) and
announce what happened; hold, resume, soak reminders and requests a stopped process left behind.

Traffic first, then the announcement: the stage changes only after the webhook's 2xx (or as a
declaration when no webhook is configured), and every announcement is queued in the same
transaction as the change it tells of.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.checklist.state import load_phases
from bot.contacts.blocks import call_list
from bot.contacts.rules import people_to_call
from bot.core.errors import Conflict, NotAllowed, NotFound
from bot.core.events import Actor
from bot.core.http import DeliveryFailed
from bot.core.identity import usergroup_membership
from bot.core.launches import active_launch, lock_launch
from bot.core.models import Launch, TrafficRequest
from bot.core.mrkdwn import escape
from bot.core.outbox import queue_notice
from bot.deps import Deps
from bot.golive import blocks, rules
from bot.golive.gate import advance_blockers
from bot.golive.state import GoLiveView, TrafficView, load_golive
from bot.golive.traffic_client import TrafficClient
from bot.signoffs.log import load_sign_offs
from bot.watch.flows import gate_problems

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------------
# Who may


async def authorize(deps: Deps, actor: Actor, launch: Launch, action: str) -> None:
    """Holders of ``[golive].allowed_roles`` only; a refusal is recorded and says who may."""
    groups = rules.groups_to_check(deps.config, actor.user_id)
    membership = await usergroup_membership(deps.identity, actor.user_id, groups)
    if rules.may_move(deps.config, actor.user_id, membership.members):
        return
    async with deps.db.sessions.begin() as session:
        await lock_launch(session, launch.id)
        await rules.record_refusal(
            session=session,
            launch_id=launch.id,
            actor=actor,
            at=deps.clock(),
            action=action,
            reasons=("not an allowed role",),
            not_allowed=True,
        )
    logger.warning("go-live %s refused for %s: not an allowed role", action, actor.user_id)
    unchecked = (
        " (some user groups did not answer in time; try again)" if membership.unchecked else ""
    )
    titles = rules.who_may_move(deps.config)
    what = f"{action.replace('_', ' ')} the go-live sequence"
    raise NotAllowed(
        f"Only {escape(', '.join(titles))} may {what}{unchecked}. Nothing was changed."
        if titles
        else f"Nobody may {what}: `[golive] allowed_roles` names no role of `[roles]`. Nothing "
        "was changed."
    )


async def launch_here(deps: Deps, channel_id: str) -> Launch:
    async with deps.db.read_sessions() as session:
        launch = await active_launch(session=session, channel_id=channel_id)
    if launch is None:
        raise NotFound("There is no active launch in this channel.")
    return launch


# ---------------------------------------------------------------------------------------------------
# Stage changes


@dataclass(frozen=True)
class Requested:
    """A stage change stored and about to be sent (``request_pk``), or refused (``refusal``)."""

    launch_id: int
    request_pk: int | None = None
    label: str = ""
    refusal: str | None = None
    # The same Slack request was delivered before: ``request_pk`` is the change it stored then.
    replayed: bool = False


async def _replayed(session: AsyncSession, launch_id: int, source: str) -> Requested | None:
    row = await rules.replayed_request(session, source)
    if row is None or row.launch_id != launch_id:
        return None
    view = await golive_view(session, launch_id)
    return Requested(launch_id, row.id, blocks.step_label(view, row.to_step), replayed=True)


async def golive_view(session: AsyncSession, launch_id: int) -> GoLiveView:
    view = await load_golive(session=session, launch_id=launch_id)
    if view is None:
        raise NotFound("This launch's checklist has no go-live sequence (no numbered stages).")
    return view


async def request_advance(
    deps: Deps, *, actor: Actor, channel_id: str, force_reason: str | None, source: str
) -> Requested:
    """Gate the next step; store it (forced past items, soak and metrics if asked) or refuse."""
    launch = await launch_here(deps, channel_id)
    await authorize(deps, actor, launch, "advance")
    # Gate rules are queried now, outside the transaction: unknown counts as unhealthy.
    unhealthy = await gate_problems(deps)
    now = deps.clock()
    async with deps.db.sessions.begin() as session:
        locked = await lock_launch(session, launch.id)
        if (replayed := await _replayed(session, launch.id, source)) is not None:
            return replayed
        phases = await load_phases(session=session, launch_id=launch.id)
        view = await golive_view(session, launch.id)
        blockers = advance_blockers(
            view,
            phases=phases,
            sign_offs=await load_sign_offs(session=session, launch=locked),
            roles=deps.config.roles,
            now=now,
            launch_closed=locked.closed_at is not None,
            unhealthy_metrics=unhealthy,
        )
        forced = force_reason is not None
        if blockers.hard or (blockers.soft and not forced):
            await rules.record_refusal(
                session=session,
                launch_id=launch.id,
                actor=actor,
                at=now,
                action="advance",
                reasons=blockers.hard + blockers.soft,
            )
            return Requested(launch.id, refusal=blocks.refusal(view, blockers, forced=forced))
        target = rules.target_of(view, "advance")
        row = await rules.request_change(
            session=session,
            view=view,
            target=target,
            actor=actor,
            at=now,
            reason=force_reason,
            forced_past=blockers.soft if forced else (),
            source=source,
        )
        return Requested(launch.id, row.id, blocks.step_label(view, target.to_step))


async def request_rollback(
    deps: Deps, *, actor: Actor, channel_id: str, reason: str, all_the_way: bool, source: str
) -> Requested:
    launch = await launch_here(deps, channel_id)
    action = "rollback_all" if all_the_way else "rollback"
    await authorize(deps, actor, launch, "roll back")
    now = deps.clock()
    async with deps.db.sessions.begin() as session:
        await lock_launch(session, launch.id)
        if (replayed := await _replayed(session, launch.id, source)) is not None:
            return replayed
        view = await golive_view(session, launch.id)
        if view.in_flight is not None:
            raise Conflict("A traffic change is still in flight; wait for its answer.")
        target = rules.target_of(view, action)
        if target.to_step == view.step and target.weight == view.weight:
            raise Conflict(f"Nothing to roll back: the rollout is at {blocks.step_label(view, 0)}.")
        row = await rules.request_change(
            session=session,
            view=view,
            target=target,
            actor=actor,
            at=now,
            reason=reason,
            source=source,
        )
        return Requested(launch.id, row.id, blocks.step_label(view, target.to_step))


def who_to_call(deps: Deps) -> str:
    return call_list(people_to_call(deps.config, deps.config.golive.call_on_failure))


async def move_traffic(deps: Deps, request_pk: int) -> None:
    """Send a stored stage change, record the answer (the stage moves only on success) and queue
    the announcement in the same transaction."""
    client = TrafficClient(deps.http, deps.config.golive)
    async with deps.db.sessions.begin() as session:
        if not await rules.claim_request(session=session, request_pk=request_pk, at=deps.clock()):
            return
        view = await golive_view(session, (await traffic_request(session, request_pk)).launch_id)
        request = next(r for r in view.requests if r.id == request_pk)
        launch = await lock_launch(session, view.launch_id)
    outcome: dict[str, Any] = {"ok": False, "declared": not client.configured}
    if client.configured:
        content = client.body(
            request, launch=launch.name, stage=blocks.step_label(view, request.to_step)
        )
        try:
            delivery = await client.send(content, request.request_id)
        except DeliveryFailed as exc:
            outcome.update(
                http_status=exc.status,
                error=str(exc),
                tries=len(exc.attempts),
                unanswered=exc.may_have_arrived,
            )
        else:
            outcome.update(ok=True, http_status=delivery.status, tries=len(delivery.attempts))
    await _record_outcome(deps, request_pk, launch, outcome)


async def traffic_request(session: AsyncSession, request_pk: int) -> TrafficView:
    from_db = await session.get(TrafficRequest, request_pk)
    if from_db is None:
        raise NotFound(f"There is no traffic request #{request_pk}.")
    return TrafficView.of(from_db)


async def _record_outcome(
    deps: Deps, request_pk: int, launch: Launch, outcome: dict[str, Any]
) -> None:
    async with deps.db.sessions.begin() as session:
        await rules.complete_request(
            session=session, request_pk=request_pk, at=deps.clock(), **outcome
        )
        view = await golive_view(session, launch.id)
        request = next(r for r in view.requests if r.id == request_pk)
        if request.status in ("confirmed", "declared"):
            message = blocks.stage_changed(
                view, request, launch_name=launch.name, declared=request.status == "declared"
            )
        else:
            message = blocks.traffic_unconfirmed(
                view, request, call=who_to_call(deps), unknown=request.status == "unknown"
            )
        await queue_notice(
            session=session,
            launch_id=launch.id,
            channel_id=launch.channel_id,
            view=message,
            loud=True,
        )
        starting = request.action == "advance" and request.from_step == 0
        moved = request.status in ("confirmed", "declared")
        if request.action != "advance" or (starting and moved):
            await queue_criteria(session, launch)
    deps.publisher.kick(launch.id)


async def queue_criteria(session: AsyncSession, launch: Launch) -> None:
    """The rollback criteria in the card's thread: when the go-live sequence starts and with every
    rollback's answer (moved, failed or unknown), so whoever decides what next has them at hand."""
    phases = await load_phases(session=session, launch_id=launch.id)
    criteria = [p for p in phases if p.kind == "criteria"]
    if criteria:
        await queue_notice(
            session=session,
            launch_id=launch.id,
            channel_id=launch.channel_id,
            view=blocks.rollback_criteria(criteria),
            loud=False,
        )


# ---------------------------------------------------------------------------------------------------
# Hold and resume


# ---------------------------------------------------------------------------------------------------
# The scheduler's job: soak reminders, and requests a stopped process left behind
