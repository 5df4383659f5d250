"""Kill-switch follow-ups: the signed POST to the trading system and the channel's announcements."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from dataclasses import asdict
from datetime import datetime
from typing import Any

import httpx

from bot.contacts.rules import people_to_call
from bot.core.config import KillSwitchConfig
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
from bot.core.launches import card_ts
from bot.core.scheduler import Job
from bot.deps import Deps
from bot.incidents import killswitch
from bot.incidents.blocks import killswitch_firing, killswitch_outcome, killswitch_test_report
from bot.incidents.escalation_flows import post_message, update_message
from bot.incidents.killswitch import (
    KillSwitchView,
    TestedTick,
    interrupted_killswitch_requests,
    killswitch_groups_to_check,
    record_killswitch_announcement,
    record_killswitch_result,
    record_killswitch_sending,
    record_killswitch_unknown,
    set_killswitch_message,
    tick_killswitch_tested,
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


async def _announce(deps: Deps, request_pk: int, message: str, **kwargs: Any) -> str | None:
    """Post a kill-switch message and record in the log whether the channel got it."""
    ts, error = await post_message(deps, **kwargs)
    await _record_announcement(deps, request_pk, message, ts, error)
    return ts


async def _record_announcement(
    deps: Deps, request_pk: int, message: str, ts: str | None, error: str | None
) -> None:
    async with deps.db.sessions.begin() as session:
        await record_killswitch_announcement(
            session=session,
            request_pk=request_pk,
            message=message,
            ts=ts,
            error=error,
            at=deps.clock(),
        )


# ---------------------------------------------------------------------------------------------------
# Kill switch follow-ups


async def load_killswitch(deps: Deps, request_pk: int) -> KillSwitchView:
    async with deps.db.read_sessions() as session:
        return await killswitch.load_killswitch(session=session, request_pk=request_pk)


async def fire_killswitch(deps: Deps, request_pk: int) -> None:
    """Send a stored kill-switch request (or dry run) and tell the channel exactly what happened."""
    request = await load_killswitch(deps, request_pk)
    async with deps.db.sessions.begin() as session:
        # Claimed before anything is said or sent: a duplicate follow-up stops here.
        go = await record_killswitch_sending(
            session=session, request_pk=request_pk, at=deps.clock()
        )
    if not go:
        return
    announcement: asyncio.Task[tuple[str | None, str | None]] | None = None
    if not request.dry_run:
        # Everyone hears at once that it is being fired; the POST does not wait for Slack (which
        # may be slow or rate limiting) and Slack does not wait for the answer.
        firing = killswitch_firing(request)
        announcement = asyncio.create_task(
            post_message(deps, channel=request.channel_id, text=firing.text, blocks=firing.blocks)
        )
    client = KillSwitchClient(deps.http, deps.config.killswitch)
    ok = False
    error: str | None = None
    text: str | None = None
    try:
        delivery = await client.fire(request)
    except DeliveryFailed as failed:
        attempts, elapsed, status, error = (
            failed.attempts,
            failed.elapsed_ms,
            failed.status,
            failed.message,
        )
    else:
        ok = True
        attempts, elapsed, status, text = (
            delivery.attempts,
            delivery.elapsed_ms,
            delivery.status,
            delivery.text,
        )
    async with deps.db.sessions.begin() as session:
        await record_killswitch_result(
            session=session,
            request_pk=request_pk,
            ok=ok,
            tries=len(attempts),
            http_status=status,
            error=error,
            response_body=text,
            duration_ms=elapsed,
            attempts=[asdict(a) for a in attempts],
            at=deps.clock(),
        )
    first_ts: str | None = None
    if announcement is not None:
        first_ts, first_error = await announcement
        if first_ts is not None:
            async with deps.db.sessions.begin() as session:
                await set_killswitch_message(session=session, request_pk=request_pk, ts=first_ts)
        await _record_announcement(deps, request_pk, "firing", first_ts, first_error)
    request = await load_killswitch(deps, request_pk)
    if request.dry_run:
        await _report_test(deps, request)
        return
    deps.publisher.kick(request.launch_id)  # the card shows the last fire
    people = people_to_call(deps.config, deps.config.killswitch.call_on_failure)
    outcome = killswitch_outcome(request, people)
    await _announce(
        deps,
        request_pk,
        "outcome",
        channel=request.channel_id,
        text=outcome.text,
        blocks=outcome.blocks,
    )
    if first_ts is not None:
        done = killswitch_firing(request)
        await update_message(
            deps, channel=request.channel_id, ts=first_ts, text=done.text, blocks=done.blocks
        )


async def _report_test(deps: Deps, request: KillSwitchView) -> None:
    tick: TestedTick | None = None
    if request.status == "confirmed":
        async with deps.db.sessions.begin() as session:
            tick = await tick_killswitch_tested(
                session=session,
                launch_id=request.launch_id,
                actor=Actor(request.requested_by_id, request.requested_by_name),
                at=deps.clock(),
                request_id=request.request_id,
            )
        deps.publisher.kick(request.launch_id)
    async with deps.db.read_sessions() as session:
        thread = await card_ts(session=session, launch_id=request.launch_id)
    people = people_to_call(deps.config, deps.config.killswitch.call_on_failure)
    report = killswitch_test_report(request, tick, people)
    await _announce(
        deps,
        request.id,
        "test_report",
        channel=request.channel_id,
        thread_ts=thread,
        text=report.text,
        blocks=report.blocks,
    )


async def announce_unknown(deps: Deps, request_pk: int) -> None:
    request = await load_killswitch(deps, request_pk)
    people = people_to_call(deps.config, deps.config.killswitch.call_on_failure)
    message = killswitch_outcome(request, people)
    await _announce(
        deps,
        request_pk,
        "unknown",
        channel=request.channel_id,
        text=message.text,
        blocks=message.blocks,
    )


async def killswitch_membership(deps: Deps, user_id: str) -> Membership:
    """Look up the user groups of ``[killswitch].allowed_roles`` as sign-offs do (cached
    ``usergroups.users.list``), all at once within ``MEMBERSHIP_LOOKUP_SECONDS``: this runs before
    the 3-second ack. None are looked up when the user is listed directly in an allowed role."""
    return await usergroup_membership(
        deps.identity, user_id, killswitch_groups_to_check(deps.config, user_id)
    )


async def report_interrupted(deps: Deps, started_at: datetime) -> None:
    """Tell the channel about kill-switch requests whose answer never arrived before a stop."""
    async with deps.db.read_sessions() as session:
        requests = await interrupted_killswitch_requests(session=session, before=started_at)
    for request_pk in requests:
        async with deps.db.sessions.begin() as session:
            changed = await record_killswitch_unknown(
                session=session, request_pk=request_pk, at=deps.clock()
            )
        if changed:
            await announce_unknown(deps, request_pk)


async def _nothing_due(now: datetime) -> None:
    return None


def killswitch_job(deps: Deps) -> Job:
    return Job(
        name="killswitch-interrupted",
        run=_nothing_due,
        resume=functools.partial(report_interrupted, deps),
    )
