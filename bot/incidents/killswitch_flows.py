"""Kill-switch follow-ups: the signed POST to the trading system, the channel's announcements (all
through the outbox), the confirmation modal, and requests a stopped process left."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from dataclasses import asdict
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from bot.checklist.name_flows import name_later
from bot.checklist.proofs import Proof, ProofTick, attach_proof_message, tick_proven_item
from bot.contacts.blocks import call_list
from bot.contacts.rules import ContactRow, people_to_call
from bot.core.config import KillSwitchConfig
from bot.core.errors import Conflict
from bot.core.events import Actor
from bot.core.http import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    Delivery,
    DeliveryFailed,
    Sleep,
    post_with_retries,
    sign,
)
from bot.core.identity import Membership, usergroup_membership
from bot.core.kit import MessageView
from bot.core.launches import lock_launch
from bot.core.models import Launch
from bot.core.outbox import MessageRef, OnPosted, message_tag, queue_message, replace_body
from bot.core.reactions import Happened
from bot.core.scheduler import Job
from bot.core.slack_client import open_modal
from bot.deps import Deps
from bot.incidents import killswitch_state
from bot.incidents.killswitch import (
    RESULT_EVENTS,
    allowed_killswitch_titles,
    interrupted_killswitch_requests,
    killswitch_groups_to_check,
    record_killswitch_announcement,
    record_killswitch_interrupted,
    record_killswitch_result,
    record_killswitch_sending,
    show_killswitch_firing,
)
from bot.incidents.killswitch_blocks import (
    killswitch_firing,
    killswitch_modal,
    killswitch_not_sent,
    killswitch_outcome,
    killswitch_test_report,
)
from bot.incidents.killswitch_state import (
    KILLSWITCH_MESSAGE,
    KILLSWITCH_REPORT,
    KillSwitchView,
    firing_message_id,
)

logger = logging.getLogger(__name__)


class KillSwitchClient:
    """The trading system's kill switch: a signed JSON POST to ``[killswitch].url``."""

    def __init__(
        self, http: httpx.AsyncClient, config: KillSwitchConfig, *, sleep: Sleep = asyncio.sleep
    ) -> None:
        self._http = http
        self._config = config
        self._sleep = sleep

    @property
    def missing_config(self) -> str | None:
        if not self._config.url:
            return "`[killswitch].url` is not set"
        if self._config.secret is None or not self._config.secret.get_secret_value():
            return "`[killswitch].secret` is not set (requests must be signed)"
        return None

    @staticmethod
    def body(request: KillSwitchView) -> bytes:
        payload: dict[str, Any] = {
            "launch": request.launch_name,
            "launch_id": request.launch_id,
            "reason": request.reason,
            "requested_by": {"id": request.requested_by_id, "name": request.requested_by_name},
            "request_id": request.request_id,
            "requested_at": request.created_at.isoformat(),
            "dry_run": request.dry_run,
        }
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()

    async def fire(self, request: KillSwitchView) -> Delivery:
        problem = self.missing_config
        if problem is not None:
            raise DeliveryFailed(problem, attempts=(), elapsed_ms=0)
        assert self._config.url is not None and self._config.secret is not None
        content = self.body(request)
        return await post_with_retries(
            self._http,
            self._config.url,
            content=content,
            headers={
                "Content-Type": "application/json",
                IDEMPOTENCY_HEADER: request.request_id,
                SIGNATURE_HEADER: sign(self._config.secret.get_secret_value(), content),
            },
            policy=self._config,
            sleep=self._sleep,
        )


# ---------------------------------------------------------------------------------------------------
# Firing


async def load_killswitch(deps: Deps, request_pk: int) -> KillSwitchView:
    async with deps.db.read_sessions() as session:
        return await killswitch_state.load_killswitch(session=session, request_pk=request_pk)


async def fire_killswitch(deps: Deps, request_pk: int) -> None:
    """Send a stored kill-switch request (or dry run) and tell the channel exactly what happened.

    Everyone hears at once that it is being fired: the "Firing…" message (a fixed notice, queued
    with the claim) is published while the POST is under way; neither waits for the other (Slack
    may be slow or rate limiting). It is changed to the outcome, and the outcome announced, only
    once it is out, so the channel always sees "Firing…" first."""
    request = await _claim(deps, request_pk)
    if request is None:
        return
    firing = None
    if not request.dry_run:
        firing = deps.tasks.spawn(_announce_firing(deps, request), name=f"firing-{request_pk}")
    await _send(deps, request)
    if firing is not None:
        await firing
    request = await load_killswitch(deps, request_pk)
    if request.dry_run:
        await _report_test(deps, request)
        return
    await _announce_outcome(deps, request, "outcome")
    await _tell_reactions(deps, request)


async def _tell_reactions(deps: Deps, request: KillSwitchView) -> None:
    """Whoever reacts to the kill switch (the go-live sequence holds) hears of it, whatever it
    answered: confirmed, failed, or unknown (the trading system may have halted)."""
    kind = RESULT_EVENTS.get((request.status, request.dry_run))
    if kind is not None:
        actor = Actor(request.requested_by_id, request.requested_by_name)
        await deps.reactions.emit(
            Happened(kind, request.launch_id, actor, {"status": request.status})
        )


async def _claim(deps: Deps, request_pk: int) -> KillSwitchView | None:
    """Claim the request for sending (a duplicate follow-up stops here) and, for a real fire, queue
    the "Firing…" message in the same transaction: a stop right after still gets it said."""
    async with deps.db.sessions.begin() as session:
        if not await record_killswitch_sending(
            session=session, request_pk=request_pk, at=deps.clock()
        ):
            return None
        request = await killswitch_state.load_killswitch(session=session, request_pk=request_pk)
        if not request.dry_run:
            await _queue(session, request, "firing", killswitch_firing(request))
    return request


async def _queue(
    session: AsyncSession, request: KillSwitchView, tag: str, view: MessageView
) -> int:
    """Queue a fixed message about the request: a dry run's in the card's thread, else the channel.
    Returns the message row's id."""
    message = await queue_message(
        session=session,
        launch_id=request.launch_id,
        kind=KILLSWITCH_REPORT if request.dry_run else KILLSWITCH_MESSAGE,
        channel_id=request.channel_id,
        view=view,
        tag=tag,
        subject_id=request.id,
    )
    return message.id


async def _announce_firing(deps: Deps, request: KillSwitchView) -> None:
    """The @here "Firing…" first (nothing is re-rendered before it), then the card and the GO
    messages read KILL SWITCH FIRING… (or the outcome, if the answer came first)."""
    await _publish(deps, request.launch_id)
    try:
        async with deps.db.sessions.begin() as session:
            await show_killswitch_firing(session=session, launch_id=request.launch_id)
    except Exception:  # the firing must go on; the card catches up with the outcome
        logger.exception("showing the kill switch firing on launch %s failed", request.launch_id)
    deps.publisher.kick(request.launch_id)


async def _publish(deps: Deps, launch_id: int) -> None:
    try:
        await deps.publisher.publish_now(launch_id)
    except Exception:  # the firing must go on whatever the publisher met; the outbox keeps it
        logger.exception("publishing the kill-switch message of launch %s failed", launch_id)
        deps.publisher.kick(launch_id)


async def _send(deps: Deps, request: KillSwitchView) -> None:
    """The signed POST (retried), and its answer recorded."""
    client = KillSwitchClient(deps.http, deps.config.killswitch)
    answer: Delivery | DeliveryFailed
    try:
        answer = await client.fire(request)
    except DeliveryFailed as failed:
        answer = failed
    if isinstance(answer, Delivery):
        status = "confirmed"
    else:  # a try with no answer may have halted trading: that is not a failure we can claim
        status = "unknown" if answer.may_have_arrived else "failed"
    async with deps.db.sessions.begin() as session:
        await record_killswitch_result(
            session=session,
            request_pk=request.id,
            status=status,
            tries=len(answer.attempts),
            http_status=answer.status,
            error=None if isinstance(answer, Delivery) else answer.message,
            response_body=answer.text if isinstance(answer, Delivery) else None,
            duration_ms=answer.elapsed_ms,
            attempts=[asdict(a) for a in answer.attempts],
            at=deps.clock(),
        )


def _people(deps: Deps) -> list[ContactRow]:
    """Who to phone when the kill switch did not confirm (``[killswitch].call_on_failure``)."""
    return people_to_call(deps.config, deps.config.killswitch.call_on_failure)


async def _announce_outcome(deps: Deps, request: KillSwitchView, tag: str) -> None:
    """The "Firing…" message shows how it ended, and the @here outcome (or UNKNOWN) is announced."""
    async with deps.db.sessions.begin() as session:
        await lock_launch(session, request.launch_id)
        firing = await firing_message_id(session=session, request_pk=request.id)
        if firing is not None:
            await replace_body(session=session, message_id=firing, view=killswitch_firing(request))
        await _queue(session, request, tag, killswitch_outcome(request, _people(deps)))
    deps.publisher.kick(request.launch_id)  # the card shows the last fire


async def _report_test(deps: Deps, request: KillSwitchView) -> None:
    """The dry run's report in the card's thread; a confirmed one ticks "Kill switch tested" for the
    tester, and the item links to this report."""
    tick: ProofTick | None = None
    tester = Actor(request.requested_by_id, request.requested_by_name)
    async with deps.db.sessions.begin() as session:
        if request.status == "confirmed":
            tick = await tick_proven_item(
                session=session,
                launch_id=request.launch_id,
                proof=Proof.KILLSWITCH_TEST,
                actor=tester,
                at=deps.clock(),
                ref=request.request_id,
            )
        await lock_launch(session, request.launch_id)
        report = killswitch_test_report(request, tick, _people(deps))
        message = await _queue(session, request, "test_report", report)
        if tick is not None and tick.ticked and tick.item_id is not None:
            await attach_proof_message(session=session, item_id=tick.item_id, message_id=message)
    deps.publisher.kick(request.launch_id)
    if tick is not None and tick.ticked:
        name_later(deps, tester, request.launch_id, what="proof")


def announcement_posted(deps: Deps) -> OnPosted:
    """``on_posted`` of every kill-switch message: the log says what the channel was told, and
    where (``killswitch_announced``), or Slack's refusal (``killswitch_announce_failed``)."""

    async def record(
        session: AsyncSession, message: MessageRef, ts: str | None, error: str | None
    ) -> None:
        assert message.subject_id is not None
        await record_killswitch_announcement(
            session=session,
            request_pk=message.subject_id,
            message=message_tag(message),
            ts=ts,
            error=error,
            at=deps.clock(),
        )

    return record


# ---------------------------------------------------------------------------------------------------
# The confirmation


def require_configured(deps: Deps) -> None:
    """Refuse (with who to call instead) while the kill switch has no URL or secret."""
    problem = KillSwitchClient(deps.http, deps.config.killswitch).missing_config
    if problem is not None:
        raise Conflict(
            f"The kill switch is not configured: {problem}. Who to call instead:\n"
            + call_list(_people(deps))
        )


def confirmation_modal(
    deps: Deps,
    launch: Launch,
    channel_id: str,
    *,
    armed: bool,
    allowed: bool,
    reason: str | None = None,
) -> dict[str, Any]:
    """The one confirmation every fire goes through (``/launch killswitch`` and "Fire again…")."""
    assert deps.config.killswitch.url is not None
    return killswitch_modal(
        launch_id=launch.id,
        launch_name=launch.name,
        channel_id=channel_id,
        endpoint=deps.config.killswitch.url,
        tries=deps.config.killswitch.tries,
        armed=armed,
        allowed=allowed,
        allowed_titles=allowed_killswitch_titles(deps.config),
        reason=reason,
    )


async def open_confirmation(deps: Deps, trigger_id: str, view: dict[str, Any]) -> str | None:
    """The kill-switch confirmation opened (None), or what happened (``open_modal``)."""
    return await open_modal(deps.slack, trigger_id, view, what="the kill-switch confirmation")


async def killswitch_membership(deps: Deps, user_id: str) -> Membership:
    """Look up the user groups of ``[killswitch].allowed_roles`` as sign-offs do (cached
    ``usergroups.users.list``), all at once within ``MEMBERSHIP_LOOKUP_SECONDS``: this runs before
    the 3-second ack. None are looked up when the user is listed directly in an allowed role."""
    return await usergroup_membership(
        deps.identity, user_id, killswitch_groups_to_check(deps.config, user_id)
    )


# ---------------------------------------------------------------------------------------------------
# After a restart


async def report_interrupted(deps: Deps, started_at: datetime) -> None:
    """Tell the channel about kill-switch requests a stop left: never sent (``not_sent``, with
    "Fire again…", which opens the confirmation) or sent without an answer (UNKNOWN). Neither is
    sent again behind anyone's back."""
    async with deps.db.read_sessions() as session:
        requests = await interrupted_killswitch_requests(session=session, before=started_at)
    for request_pk in requests:
        async with deps.db.sessions.begin() as session:
            status = await record_killswitch_interrupted(
                session=session, request_pk=request_pk, at=deps.clock()
            )
        if status is None:
            continue
        request = await load_killswitch(deps, request_pk)
        if request.dry_run:
            await _report_test(deps, request)
        elif status == "unknown":
            await _announce_outcome(deps, request, "unknown")
            await _tell_reactions(deps, request)  # it may have halted trading: hold the rollout
        else:
            await _announce_not_sent(deps, request)


async def _announce_not_sent(deps: Deps, request: KillSwitchView) -> None:
    async with deps.db.sessions.begin() as session:
        await lock_launch(session, request.launch_id)
        await _queue(session, request, "not_sent", killswitch_not_sent(request, _people(deps)))
    deps.publisher.kick(request.launch_id)


async def _nothing_due(now: datetime) -> None:
    return None


def killswitch_job(deps: Deps) -> Job:
    return Job(
        name="killswitch-interrupted",
        run=_nothing_due,
        resume=functools.partial(report_interrupted, deps),
    )
