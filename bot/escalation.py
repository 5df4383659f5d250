"""Outbound incident work: the PagerDuty and kill-switch HTTP clients (retries, HMAC) and the follow-ups that use them.

Everything here runs after Slack got its ack (as a follow-up task or from the scheduler). Each step is
recorded through ``bot.incidents`` before and after it happens, and nothing is announced as done
unless the other side said so: a 2xx from PagerDuty or the kill switch, a ``ts`` from Slack.

Retries: connection errors, timeouts, 429 and 5xx are retried with exponential backoff (or the
server's Retry-After, capped); any other 4xx is final. Every try of one logical send carries the same
idempotency data (PagerDuty ``dedup_key``; kill switch ``Idempotency-Key``), so a retry that reaches
a server which already acted on the first try changes nothing there.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import aiohttp
import httpx
from slack_sdk.errors import SlackApiError, SlackClientError

from bot import incident_blocks, incidents
from bot.blocks import escape
from bot.checklist import Actor
from bot.config import KillSwitchConfig, PagerDutyConfig, RetryConfig
from bot.deps import Deps
from bot.errors import EscalationFailed
from bot.incidents import EscalationView, KillSwitchView
from bot.slack_client import slack_error

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
PAGERDUTY_SEVERITY = {"sev1": "critical", "sev2": "error", "sev3": "warning"}
SIGNATURE_HEADER = "X-Launchbot-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_RENDERS = 5


# ---------------------------------------------------------------------------------------------------
# HTTP with retries


@dataclass(frozen=True)
class Attempt:
    """One try: the HTTP status if an answer came, else what went wrong."""

    number: int
    status: int | None
    error: str | None
    elapsed_ms: int


@dataclass(frozen=True)
class Delivery:
    status: int
    body: Any
    text: str
    attempts: tuple[Attempt, ...]
    elapsed_ms: int


class DeliveryFailed(EscalationFailed):
    """The other side never confirmed: ``attempts`` says what each try got."""

    def __init__(self, message: str, *, attempts: tuple[Attempt, ...], elapsed_ms: int) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.elapsed_ms = elapsed_ms

    @property
    def status(self) -> int | None:
        return self.attempts[-1].status if self.attempts else None


def _retry_after(response: httpx.Response, policy: RetryConfig) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), policy.max_backoff_seconds)
    except ValueError:
        return None


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def post_with_retries(
    http: httpx.AsyncClient,
    url: str,
    *,
    content: bytes,
    headers: Mapping[str, str],
    policy: RetryConfig,
    sleep: Sleep = asyncio.sleep,
) -> Delivery:
    """POST ``content`` until a 2xx, a final 4xx, or ``policy.tries`` tries; raises DeliveryFailed."""
    timeout = httpx.Timeout(policy.timeout_seconds)
    attempts: list[Attempt] = []
    started = time.monotonic()
    last_error = "not sent"
    for number in range(1, policy.tries + 1):
        t0 = time.monotonic()
        wait: float | None = None
        status: int | None = None
        try:
            response = await http.post(url, content=content, headers=dict(headers), timeout=timeout)
        except httpx.TimeoutException:
            last_error = f"no answer within {policy.timeout_seconds:g} s"
        except httpx.UnsupportedProtocol as exc:
            attempts.append(Attempt(number, None, str(exc), _ms(t0)))
            raise DeliveryFailed(
                f"bad URL {url!r}: {exc}", attempts=tuple(attempts), elapsed_ms=_ms(started)
            ) from exc
        except httpx.ConnectError as exc:
            last_error = f"could not connect ({_short(str(exc)) or type(exc).__name__})"
        except httpx.TransportError as exc:
            last_error = f"connection failed ({_short(str(exc)) or type(exc).__name__})"
        else:
            status = response.status_code
            if 200 <= status < 300:
                attempts.append(Attempt(number, status, None, _ms(t0)))
                return Delivery(
                    status=status,
                    body=_json_or_none(response),
                    text=response.text,
                    attempts=tuple(attempts),
                    elapsed_ms=_ms(started),
                )
            last_error = f"HTTP {status}" + (
                f": {_short(response.text)}" if response.text.strip() else ""
            )
            if status != 429 and status < 500:
                # A 4xx other than 429 means the request itself is wrong: sending it again won't help.
                attempts.append(Attempt(number, status, last_error, _ms(t0)))
                raise DeliveryFailed(last_error, attempts=tuple(attempts), elapsed_ms=_ms(started))
            wait = _retry_after(response, policy)
        attempts.append(Attempt(number, status, last_error, _ms(t0)))
        logger.warning("POST %s try %d/%d failed: %s", url, number, policy.tries, last_error)
        if number < policy.tries:
            backoff = min(policy.backoff_seconds * 2 ** (number - 1), policy.max_backoff_seconds)
            await sleep(backoff if wait is None else wait)
    raise DeliveryFailed(
        f"{last_error} (after {policy.tries} tries)",
        attempts=tuple(attempts),
        elapsed_ms=_ms(started),
    )


def _ms(since: float) -> int:
    return int((time.monotonic() - since) * 1000)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------------
# Clients


class EscalationClient:
    """PagerDuty Events API v2 (``POST [pagerduty].url``; 202 means accepted)."""

    def __init__(
        self, http: httpx.AsyncClient, config: PagerDutyConfig, *, sleep: Sleep = asyncio.sleep
    ) -> None:
        self._http = http
        self._config = config
        self._sleep = sleep

    @property
    def configured(self) -> bool:
        return self._config.routing_key is not None and bool(self._config.url)

    def event(
        self,
        action: Literal["trigger", "acknowledge", "resolve"],
        *,
        dedup_key: str,
        escalation: EscalationView | None = None,
    ) -> dict[str, Any]:
        assert self._config.routing_key is not None
        body: dict[str, Any] = {
            "routing_key": self._config.routing_key.get_secret_value(),
            "event_action": action,
            "dedup_key": dedup_key,
        }
        if action == "trigger" and escalation is not None:
            body["payload"] = {
                # PagerDuty caps summary at 1024 characters.
                "summary": f"[{escalation.severity.upper()}] {escalation.launch_name}: {escalation.summary}"[
                    :1024
                ],
                "severity": PAGERDUTY_SEVERITY[escalation.severity],
                "source": self._config.source,
                "component": escalation.launch_name[:200],
                "group": "launch",
                "class": "launch escalation",
                "custom_details": {
                    "launch": escalation.launch_name,
                    "launch_id": escalation.launch_id,
                    "escalation_id": escalation.id,
                    "severity": escalation.severity,
                    "reported_by": f"{escalation.reporter_name} ({escalation.reporter_id})",
                    "slack_channel": escalation.channel_id,
                    "slack_message": escalation.permalink,
                },
            }
            body["client"] = "Launch Control"
            if escalation.permalink:
                body["client_url"] = escalation.permalink
                body["links"] = [{"href": escalation.permalink, "text": "Escalation in Slack"}]
        return body

    async def send(self, event: Mapping[str, Any]) -> Delivery:
        content = json.dumps(event, separators=(",", ":")).encode()
        return await post_with_retries(
            self._http,
            self._config.url,
            content=content,
            headers={"Content-Type": "application/json"},
            policy=self._config,
            sleep=self._sleep,
        )


def sign(secret: str, body: bytes) -> str:
    """The signature header value: ``sha256=`` + hex HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


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
# Slack helpers (errors are recorded, never raised: the outside call must still happen)


async def _post(deps: Deps, **kwargs: Any) -> tuple[str | None, str | None]:
    """chat.postMessage -> (ts, error)."""
    try:
        response = await deps.slack.chat_postMessage(
            unfurl_links=False, unfurl_media=False, **kwargs
        )
    except SlackApiError as exc:
        error = slack_error(exc)
    except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
        # Slack unreachable: still an answer to record, not a reason to drop the rest of the work.
        error = type(exc).__name__
    else:
        return str(response["ts"]), None
    logger.warning("chat.postMessage to %s failed: %s", kwargs.get("channel"), error)
    return None, error


async def _notice(deps: Deps, escalation_id: int, message: str, **kwargs: Any) -> str | None:
    """Post a follow-up about an escalation and record in its log whether it went out."""
    ts, error = await _post(deps, **kwargs)
    async with deps.db.sessions.begin() as session:
        await incidents.record_escalation_notice(
            session=session,
            escalation_id=escalation_id,
            message=message,
            ts=ts,
            error=error,
            at=deps.clock(),
        )
    return ts


async def _announce(deps: Deps, request_pk: int, message: str, **kwargs: Any) -> str | None:
    """Post a kill-switch message and record in the log whether the channel got it."""
    ts, error = await _post(deps, **kwargs)
    await _record_announcement(deps, request_pk, message, ts, error)
    return ts


async def _record_announcement(
    deps: Deps, request_pk: int, message: str, ts: str | None, error: str | None
) -> None:
    async with deps.db.sessions.begin() as session:
        await incidents.record_killswitch_announcement(
            session=session,
            request_pk=request_pk,
            message=message,
            ts=ts,
            error=error,
            at=deps.clock(),
        )


async def _permalink(deps: Deps, channel: str, ts: str) -> str | None:
    try:
        response = await deps.slack.chat_getPermalink(channel=channel, message_ts=ts)
    except SlackApiError:
        return None
    return str(response.get("permalink") or "") or None


async def _update(deps: Deps, *, channel: str, ts: str, text: str, blocks: Any) -> bool:
    try:
        await deps.slack.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
    except SlackApiError as exc:
        logger.warning("chat.update of %s failed: %s", ts, slack_error(exc))
        return False
    return True


# ---------------------------------------------------------------------------------------------------
# Escalation follow-ups


async def load_escalation(deps: Deps, escalation_id: int) -> EscalationView:
    async with deps.db.read_sessions() as session:
        return await incidents.load_escalation(session=session, escalation_id=escalation_id)


async def run_escalation(deps: Deps, escalation_id: int) -> None:
    """Post the escalation message (with its Acknowledge button) and page PagerDuty.

    Safe to run again for the same escalation (after a restart): a posted message is not posted
    twice, and a page that went through is not sent again."""
    view = await load_escalation(deps, escalation_id)
    if view.message_ts is None:
        message = incident_blocks.escalation_message(view)
        ts, error = await _post(
            deps, channel=view.channel_id, text=message.text, blocks=message.blocks
        )
        link = await _permalink(deps, view.channel_id, ts) if ts else None
        async with deps.db.sessions.begin() as session:
            await incidents.record_escalation_message(
                session=session,
                escalation_id=escalation_id,
                ts=ts,
                permalink=link,
                error=error,
                at=deps.clock(),
            )
    view = await load_escalation(deps, escalation_id)
    if view.page_status == "pending" and view.status != "resolved":
        await page(deps, view, "trigger")
    await render_escalation(deps, escalation_id)


async def page(
    deps: Deps, view: EscalationView, action: Literal["trigger", "acknowledge", "resolve"]
) -> bool:
    """Send one PagerDuty event for the escalation (retried) and record the answer; True if PagerDuty
    accepted it. A trigger that finally fails is announced in the channel with who to phone."""
    client = EscalationClient(deps.http, deps.config.pagerduty)
    if not client.configured:
        async with deps.db.sessions.begin() as session:
            await incidents.record_page(
                session=session,
                escalation_id=view.id,
                action=action,
                ok=False,
                tries=0,
                at=deps.clock(),
                error="PagerDuty is not configured (`[pagerduty].routing_key`)",
                skipped=action != "trigger",
            )
        if action == "trigger":
            await _announce_page_failure(
                deps, view, "PagerDuty is not configured (`[pagerduty].routing_key`)"
            )
        return False
    event = client.event(action, dedup_key=view.dedup_key, escalation=view)
    try:
        delivery = await client.send(event)
    except DeliveryFailed as failed:
        async with deps.db.sessions.begin() as session:
            await incidents.record_page(
                session=session,
                escalation_id=view.id,
                action=action,
                ok=False,
                tries=len(failed.attempts),
                http_status=failed.status,
                error=failed.message,
                at=deps.clock(),
            )
        if action == "trigger":
            await _announce_page_failure(deps, view, failed.message)
        else:
            await _notice(
                deps,
                view.id,
                f"pagerduty_{action}_failed",
                channel=view.channel_id,
                thread_ts=view.message_ts,
                text=f":warning: Could not tell PagerDuty about the {action} ({escape(failed.message)}). "
                f"Please {action} it in PagerDuty directly.",
            )
        return False
    async with deps.db.sessions.begin() as session:
        await incidents.record_page(
            session=session,
            escalation_id=view.id,
            action=action,
            ok=True,
            tries=len(delivery.attempts),
            http_status=delivery.status,
            at=deps.clock(),
        )
        catch_up = (
            await incidents.pagerduty_catch_up(session=session, escalation_id=view.id)
            if action == "trigger"
            else None
        )
    if catch_up is not None:
        # Someone acknowledged or resolved in Slack while the trigger was still being sent.
        await page(deps, await load_escalation(deps, view.id), catch_up)
    return True


async def _announce_page_failure(deps: Deps, view: EscalationView, error: str) -> None:
    people = incidents.people_to_call(deps.config, deps.config.escalation.call_on_failure)
    message = incident_blocks.page_failed_message(view, error, people)
    await _notice(
        deps,
        view.id,
        "page_failed",
        channel=view.channel_id,
        text=message.text,
        blocks=message.blocks,
    )


async def render_escalation(deps: Deps, escalation_id: int) -> None:
    """Bring the escalation message up to date with the database.

    Two follow-ups (a click and the page result) may render at once and Slack keeps whichever
    chat.update came last; so after each update we re-read, and render again if the version moved
    on meanwhile. The last renderer to finish therefore always shows the latest committed state."""
    for _ in range(MAX_RENDERS):
        view = await load_escalation(deps, escalation_id)
        if view.message_ts is None:
            return
        message = incident_blocks.escalation_message(view)
        await _update(
            deps,
            channel=view.channel_id,
            ts=view.message_ts,
            text=message.text,
            blocks=message.blocks,
        )
        latest = await load_escalation(deps, escalation_id)
        if latest.version == view.version:
            return


async def after_acknowledge(deps: Deps, escalation_id: int) -> None:
    view = await load_escalation(deps, escalation_id)
    await render_escalation(deps, escalation_id)
    if view.page_status == "sent":
        # Tell PagerDuty too, so it stops escalating on its side.
        await page(deps, view, "acknowledge")


async def after_resolve(deps: Deps, escalation_id: int) -> None:
    view = await load_escalation(deps, escalation_id)
    if view.resolve_status == "pending":
        await page(deps, view, "resolve")
    await render_escalation(deps, escalation_id)
    view = await load_escalation(deps, escalation_id)
    note = incident_blocks.resolved_note(view)
    await _notice(
        deps,
        escalation_id,
        "resolved",
        channel=view.channel_id,
        thread_ts=view.message_ts,
        text=note.text,
        blocks=note.blocks,
    )


async def after_repage(deps: Deps, escalation_id: int) -> None:
    view = await load_escalation(deps, escalation_id)
    await render_escalation(deps, escalation_id)
    if view.page_status == "pending":
        await page(deps, view, "trigger")
    await render_escalation(deps, escalation_id)


async def post_level_ping(deps: Deps, ping: incidents.PingView) -> None:
    """Post one due escalation level (a thread reply, also shown in the channel) and record it."""
    view = await load_escalation(deps, ping.escalation_id)
    people = incidents.people_to_call(deps.config, deps.config.escalation.call_on_failure)
    message = incident_blocks.level_ping(view, ping.level, people)
    kwargs: dict[str, Any] = {
        "channel": view.channel_id,
        "text": message.text,
        "blocks": message.blocks,
    }
    if view.message_ts:
        kwargs.update(thread_ts=view.message_ts, reply_broadcast=True)
    ts, error = await _post(deps, **kwargs)
    async with deps.db.sessions.begin() as session:
        await incidents.record_ping(
            session=session, ping_id=ping.id, ts=ts, error=error, at=deps.clock()
        )
    await render_escalation(deps, ping.escalation_id)


# ---------------------------------------------------------------------------------------------------
# Kill switch follow-ups


async def load_killswitch(deps: Deps, request_pk: int) -> KillSwitchView:
    async with deps.db.read_sessions() as session:
        return await incidents.load_killswitch(session=session, request_pk=request_pk)


async def fire_killswitch(deps: Deps, request_pk: int) -> None:
    """Send a stored kill-switch request (or dry run) and tell the channel exactly what happened."""
    request = await load_killswitch(deps, request_pk)
    async with deps.db.sessions.begin() as session:
        # Claimed before anything is said or sent: a duplicate follow-up stops here.
        go = await incidents.record_killswitch_sending(
            session=session, request_pk=request_pk, at=deps.clock()
        )
    if not go:
        return
    announcement: asyncio.Task[tuple[str | None, str | None]] | None = None
    if not request.dry_run:
        # Everyone hears at once that it is being fired; the POST does not wait for Slack (which
        # may be slow or rate limiting) and Slack does not wait for the answer.
        firing = incident_blocks.killswitch_firing(request)
        announcement = asyncio.create_task(
            _post(deps, channel=request.channel_id, text=firing.text, blocks=firing.blocks)
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
        await incidents.record_killswitch_result(
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
                await incidents.set_killswitch_message(
                    session=session, request_pk=request_pk, ts=first_ts
                )
        await _record_announcement(deps, request_pk, "firing", first_ts, first_error)
    request = await load_killswitch(deps, request_pk)
    if request.dry_run:
        await _report_test(deps, request)
        return
    deps.publisher.kick(request.launch_id)  # the card shows the last fire
    people = incidents.people_to_call(deps.config, deps.config.killswitch.call_on_failure)
    outcome = incident_blocks.killswitch_outcome(request, people)
    await _announce(
        deps,
        request_pk,
        "outcome",
        channel=request.channel_id,
        text=outcome.text,
        blocks=outcome.blocks,
    )
    if first_ts is not None:
        done = incident_blocks.killswitch_firing(request)
        await _update(
            deps, channel=request.channel_id, ts=first_ts, text=done.text, blocks=done.blocks
        )


async def _report_test(deps: Deps, request: KillSwitchView) -> None:
    tick: incidents.TestedTick | None = None
    if request.status == "confirmed":
        async with deps.db.sessions.begin() as session:
            tick = await incidents.tick_killswitch_tested(
                session=session,
                launch_id=request.launch_id,
                actor=Actor(request.requested_by_id, request.requested_by_name),
                at=deps.clock(),
                request_id=request.request_id,
            )
        deps.publisher.kick(request.launch_id)
    async with deps.db.read_sessions() as session:
        thread = await incidents.card_ts(session=session, launch_id=request.launch_id)
    people = incidents.people_to_call(deps.config, deps.config.killswitch.call_on_failure)
    report = incident_blocks.killswitch_test_report(request, tick, people)
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
    people = incidents.people_to_call(deps.config, deps.config.killswitch.call_on_failure)
    message = incident_blocks.killswitch_outcome(request, people)
    await _announce(
        deps,
        request_pk,
        "unknown",
        channel=request.channel_id,
        text=message.text,
        blocks=message.blocks,
    )
