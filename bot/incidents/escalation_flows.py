"""Escalation follow-ups: publish the escalation (outbox), page PagerDuty, ping each level, acknowledge/resolve."""

from __future__ import annotations

import functools
import logging
from datetime import datetime
from typing import Any, Literal

from bot.contacts.rules import people_to_call
from bot.core.http import DeliveryFailed
from bot.core.mrkdwn import escape
from bot.core.scheduler import Job
from bot.core.slack_client import call_slack
from bot.deps import Deps
from bot.incidents import escalations
from bot.incidents.blocks import level_ping, page_failed_message, resolved_note
from bot.incidents.escalations import (
    EscalationView,
    PingView,
    any_due,
    claim_due_levels,
    escalations_to_resume,
    pagerduty_catch_up,
    record_escalation_notice,
    record_page,
    record_ping,
    unposted_pings,
)
from bot.incidents.pagerduty import EscalationClient

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------------
# Slack helpers (errors are recorded, never raised: the outside call must still happen)


async def post_message(deps: Deps, **kwargs: Any) -> tuple[str | None, str | None]:
    """chat.postMessage -> (ts, error)."""
    answer = await call_slack(
        deps.slack.chat_postMessage(unfurl_links=False, unfurl_media=False, **kwargs),
        what=f"chat.postMessage to {kwargs.get('channel')}",
    )
    return (str(answer.get("ts")) if answer.ok else None), answer.error


async def _notice(deps: Deps, escalation_id: int, message: str, **kwargs: Any) -> str | None:
    """Post a follow-up about an escalation and record in its log whether it went out."""
    ts, error = await post_message(deps, **kwargs)
    async with deps.db.sessions.begin() as session:
        await record_escalation_notice(
            session=session,
            escalation_id=escalation_id,
            message=message,
            ts=ts,
            error=error,
            at=deps.clock(),
        )
    return ts


async def update_message(deps: Deps, *, channel: str, ts: str, text: str, blocks: Any) -> bool:
    answer = await call_slack(
        deps.slack.chat_update(channel=channel, ts=ts, text=text, blocks=blocks),
        what=f"chat.update of {ts}",
    )
    return answer.ok


# ---------------------------------------------------------------------------------------------------
# Escalation follow-ups


async def load_escalation(deps: Deps, escalation_id: int) -> EscalationView:
    async with deps.db.read_sessions() as session:
        return await escalations.load_escalation(session=session, escalation_id=escalation_id)


async def run_escalation(deps: Deps, escalation_id: int) -> None:
    """Post the escalation message (with its Acknowledge button) and page PagerDuty.

    Safe to run again for the same escalation (after a restart): the message is the outbox's (a
    posted one is not posted twice), and a page that went through is not sent again. The message
    goes out first, so the page can link to it."""
    view = await load_escalation(deps, escalation_id)
    await deps.publisher.publish_now(view.launch_id)
    view = await load_escalation(deps, escalation_id)
    if view.page_status == "pending" and view.status != "resolved":
        await page(deps, view, "trigger")
    deps.publisher.kick(view.launch_id)


async def page(
    deps: Deps, view: EscalationView, action: Literal["trigger", "acknowledge", "resolve"]
) -> bool:
    """Send one PagerDuty event for the escalation (retried) and record the answer; True if PagerDuty
    accepted it. A trigger that finally fails is announced in the channel with who to phone."""
    client = EscalationClient(deps.http, deps.config.pagerduty)
    if not client.configured:
        async with deps.db.sessions.begin() as session:
            await record_page(
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
            await record_page(
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
        await record_page(
            session=session,
            escalation_id=view.id,
            action=action,
            ok=True,
            tries=len(delivery.attempts),
            http_status=delivery.status,
            at=deps.clock(),
        )
        catch_up = (
            await pagerduty_catch_up(session=session, escalation_id=view.id)
            if action == "trigger"
            else None
        )
    if catch_up is not None:
        # Someone acknowledged or resolved in Slack while the trigger was still being sent.
        await page(deps, await load_escalation(deps, view.id), catch_up)
    return True


async def _announce_page_failure(deps: Deps, view: EscalationView, error: str) -> None:
    people = people_to_call(deps.config, deps.config.escalation.call_on_failure)
    message = page_failed_message(view, error, people)
    await _notice(
        deps,
        view.id,
        "page_failed",
        channel=view.channel_id,
        text=message.text,
        blocks=message.blocks,
    )


async def after_acknowledge(deps: Deps, escalation_id: int) -> None:
    view = await load_escalation(deps, escalation_id)
    deps.publisher.kick(view.launch_id)  # the message shows who took it
    if view.page_status == "sent":
        # Tell PagerDuty too, so it stops escalating on its side (Slack failing the message's
        # update is the publisher's to retry and does not stand in the way).
        await page(deps, view, "acknowledge")
    deps.publisher.kick(view.launch_id)


async def after_resolve(deps: Deps, escalation_id: int) -> None:
    view = await load_escalation(deps, escalation_id)
    if view.resolve_status == "pending":
        await page(deps, view, "resolve")
    deps.publisher.kick(view.launch_id)
    view = await load_escalation(deps, escalation_id)
    note = resolved_note(view)
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
    deps.publisher.kick(view.launch_id)
    if view.page_status == "pending":
        await page(deps, view, "trigger")
    deps.publisher.kick(view.launch_id)


async def post_level_ping(deps: Deps, ping: PingView) -> None:
    """Post one due escalation level (a thread reply, also shown in the channel) and record it."""
    view = await load_escalation(deps, ping.escalation_id)
    people = people_to_call(deps.config, deps.config.escalation.call_on_failure)
    message = level_ping(view, ping.level, people)
    kwargs: dict[str, Any] = {
        "channel": view.channel_id,
        "text": message.text,
        "blocks": message.blocks,
    }
    if view.message_ts:
        kwargs.update(thread_ts=view.message_ts, reply_broadcast=True)
    ts, error = await post_message(deps, **kwargs)
    async with deps.db.sessions.begin() as session:
        await record_ping(session=session, ping_id=ping.id, ts=ts, error=error, at=deps.clock())
    deps.publisher.kick(view.launch_id)  # the message shows the level it is at


async def fire_due_levels(deps: Deps, now: datetime) -> int:
    """The escalation timer's job: claim every due level (one transaction), then post each unposted
    ping. Returns how many pings were posted or attempted."""
    # Most polls find nothing: look with a reader first so the poll never takes the write lock.
    async with deps.db.read_sessions() as session:
        due = await any_due(session=session, now=now)
    if due:
        async with deps.db.sessions.begin() as session:
            await claim_due_levels(session=session, now=now)
    async with deps.db.read_sessions() as session:
        pings = await unposted_pings(session=session)
    for ping in pings:
        await post_level_ping(deps, ping)
    return len(pings)


async def resume_escalations(deps: Deps, started_at: datetime) -> None:
    """Finish escalations a stopped process left half done (not yet posted or paged)."""
    async with deps.db.read_sessions() as session:
        escalations = await escalations_to_resume(session=session, before=started_at)
    for escalation_id in escalations:
        logger.info("resuming escalation #%s", escalation_id)
        await run_escalation(deps, escalation_id)


def escalation_job(deps: Deps) -> Job:
    return Job(
        name="escalation-levels",
        run=functools.partial(fire_due_levels, deps),
        resume=functools.partial(resume_escalations, deps),
    )
