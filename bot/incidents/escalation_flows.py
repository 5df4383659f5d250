"""Escalation follow-ups: publish the escalation (outbox), page PagerDuty, queue its follow-ups and
due levels (outbox, under the escalation message), acknowledge/resolve in PagerDuty, restarts."""

from __future__ import annotations

import functools
import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.contacts.rules import people_to_call
from bot.core.http import Delivery, DeliveryFailed
from bot.core.kit import MessageView
from bot.core.launches import lock_launch
from bot.core.outbox import MessageRef, OnPosted, message_tag, queue_message
from bot.core.scheduler import Job
from bot.deps import Deps
from bot.incidents import escalation_state
from bot.incidents.escalation_blocks import (
    page_failed_message,
    page_unknown_message,
    pagerduty_failed_note,
    resolved_note,
)
from bot.incidents.escalation_levels import any_due, claim_due_levels, record_ping
from bot.incidents.escalation_pages import (
    PageAction,
    claim_page,
    follow_ups_to_resume,
    pagerduty_catch_up,
    pages_to_resume,
    record_page,
    record_page_unknown,
)
from bot.incidents.escalation_state import (
    ESCALATION_ALERT,
    ESCALATION_NOTE,
    PAGED_OR_MAYBE,
    EscalationView,
    escalation_message_id,
)
from bot.incidents.escalation_test_flows import resume_escalation_tests
from bot.incidents.escalations import record_escalation_notice
from bot.incidents.pagerduty import EscalationClient

logger = logging.getLogger(__name__)

NOT_CONFIGURED = "PagerDuty is not configured (`[pagerduty].routing_key`)"


async def load_escalation(deps: Deps, escalation_id: int) -> EscalationView:
    async with deps.db.read_sessions() as session:
        return await escalation_state.load_escalation(session=session, escalation_id=escalation_id)


async def queue_follow_up(
    deps: Deps, view: EscalationView, tag: str, message: MessageView, *, loud: bool = False
) -> None:
    """A fixed message under the escalation (``loud``: also shown in the channel), posted by the
    outbox; whether Slack took it is recorded when it is posted (``follow_up_posted``)."""
    async with deps.db.sessions.begin() as session:
        await lock_launch(session, view.launch_id)
        await queue_message(
            session=session,
            launch_id=view.launch_id,
            kind=ESCALATION_ALERT if loud else ESCALATION_NOTE,
            channel_id=view.channel_id,
            view=message,
            tag=tag,
            subject_id=view.id,
            parent_id=await escalation_message_id(session=session, escalation_id=view.id),
        )
    deps.publisher.kick(view.launch_id)


def follow_up_posted(deps: Deps) -> OnPosted:
    """``on_posted`` of the escalation's follow-ups: the log says whether the channel got them."""

    async def record(
        session: AsyncSession, message: MessageRef, ts: str | None, error: str | None
    ) -> None:
        assert message.subject_id is not None
        await record_escalation_notice(
            session=session,
            escalation_id=message.subject_id,
            message=message_tag(message),
            ts=ts,
            error=error,
            at=deps.clock(),
        )

    return record


def ping_posted(deps: Deps) -> OnPosted:
    """``on_posted`` of a due level's message (``part`` = the level)."""

    async def record(
        session: AsyncSession, message: MessageRef, ts: str | None, error: str | None
    ) -> None:
        assert message.subject_id is not None
        await record_ping(
            session=session,
            escalation_id=message.subject_id,
            level=message.part,
            ts=ts,
            error=error,
            at=deps.clock(),
        )

    return record


# ---------------------------------------------------------------------------------------------------
# The escalation and its page


async def run_escalation(deps: Deps, escalation_id: int) -> None:
    """Post the escalation message (with its Acknowledge button) and page PagerDuty.

    Safe to run again for the same escalation (after a restart): the message is the outbox's (a
    posted one is not posted twice), and only a page still waiting is sent (``claim_page``). The
    message goes out first, so the page can link to it."""
    view = await load_escalation(deps, escalation_id)
    await deps.publisher.publish_now(view.launch_id)
    view = await load_escalation(deps, escalation_id)
    if view.page_status == "pending" and view.status != "resolved":
        await page(deps, view, "trigger")
    deps.publisher.kick(view.launch_id)


async def page(deps: Deps, view: EscalationView, action: PageAction) -> bool:
    """Send one PagerDuty event for the escalation (retried) and record the answer; True if PagerDuty
    accepted it. A trigger is claimed first (``sending``), so a stop mid-send is told apart from a
    page never sent; one that finally fails is announced with who to phone."""
    if action == "trigger":
        async with deps.db.sessions.begin() as session:
            if not await claim_page(session=session, escalation_id=view.id, at=deps.clock()):
                return False
    client = EscalationClient(deps.http, deps.config.pagerduty)
    if not client.configured:
        await _page_failed(deps, view, action, NOT_CONFIGURED, skipped=action != "trigger")
        return False
    try:
        delivery = await client.send(
            client.event(action, dedup_key=view.dedup_key, escalation=view)
        )
    except DeliveryFailed as failed:
        catch_up = await _page_failed(
            deps,
            view,
            action,
            failed.message,
            tries=len(failed.attempts),
            status=failed.status,
            unanswered=failed.may_have_arrived,
        )
        await _catch_up(deps, view, catch_up)
        return False
    await _catch_up(deps, view, await _page_sent(deps, view, action, delivery))
    return True


async def _catch_up(deps: Deps, view: EscalationView, catch_up: PageAction | None) -> None:
    """Someone acknowledged or resolved in Slack while the trigger was still being sent: tell
    PagerDuty now (also after a trigger that got no answer, since it may have paged)."""
    if catch_up is not None:
        await page(deps, await load_escalation(deps, view.id), catch_up)


async def _page_sent(
    deps: Deps, view: EscalationView, action: PageAction, delivery: Delivery
) -> PageAction | None:
    """Record PagerDuty's yes; after a trigger, the event it still needs (``pagerduty_catch_up``)."""
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
        if action != "trigger":
            return None
        return await pagerduty_catch_up(session=session, escalation_id=view.id)


async def _page_failed(
    deps: Deps,
    view: EscalationView,
    action: PageAction,
    error: str,
    *,
    tries: int = 0,
    status: int | None = None,
    skipped: bool = False,
    unanswered: bool = False,
) -> PageAction | None:
    """Record the failure and tell the channel: who to phone (trigger), or to do it by hand. A
    trigger that went unanswered is said to be UNKNOWN (PagerDuty may have paged), not failed;
    then, as after a page sent, the event PagerDuty still needs (``pagerduty_catch_up``)."""
    catch_up: PageAction | None = None
    async with deps.db.sessions.begin() as session:
        outcome = await record_page(
            session=session,
            escalation_id=view.id,
            action=action,
            ok=False,
            tries=tries,
            http_status=status,
            error=error,
            at=deps.clock(),
            skipped=skipped,
            unanswered=unanswered,
        )
        if action == "trigger" and outcome == "unknown":
            catch_up = await pagerduty_catch_up(session=session, escalation_id=view.id)
    if action == "trigger":
        people = people_to_call(deps.config, deps.config.escalation.call_on_failure)
        if outcome == "unknown":
            message = page_unknown_message(await load_escalation(deps, view.id), people)
            await queue_follow_up(deps, view, "page_unknown", message, loud=True)
            return catch_up
        await queue_follow_up(
            deps, view, "page_failed", page_failed_message(view, error, people), loud=True
        )
    elif not skipped:
        await queue_follow_up(
            deps, view, f"pagerduty_{action}_failed", pagerduty_failed_note(action, error)
        )
    return None


# ---------------------------------------------------------------------------------------------------
# After a button


async def after_acknowledge(deps: Deps, escalation_id: int) -> None:
    view = await load_escalation(deps, escalation_id)
    deps.publisher.kick(view.launch_id)  # the message shows who took it
    if view.page_status in PAGED_OR_MAYBE:
        # Tell PagerDuty too, so it stops escalating on its side (Slack failing the message's
        # update is the publisher's to retry and does not stand in the way). A page that got no
        # answer may have paged: acknowledged there too (same dedup_key).
        await page(deps, view, "acknowledge")
    deps.publisher.kick(view.launch_id)


async def after_resolve(deps: Deps, escalation_id: int) -> None:
    view = await load_escalation(deps, escalation_id)
    if view.resolve_status == "pending":
        await page(deps, view, "resolve")
    view = await load_escalation(deps, escalation_id)
    await queue_follow_up(deps, view, "resolved", resolved_note(view))


async def after_repage(deps: Deps, escalation_id: int) -> None:
    view = await load_escalation(deps, escalation_id)
    deps.publisher.kick(view.launch_id)
    if view.page_status == "pending":
        await page(deps, view, "trigger")
    deps.publisher.kick(view.launch_id)


# ---------------------------------------------------------------------------------------------------
# The timer and restarts


async def fire_due_levels(deps: Deps, now: datetime) -> int:
    """The escalation timer's job: claim every due level and queue its ping (one transaction); the
    outbox posts them. Returns how many launches have new pings."""
    # Most polls find nothing: look with a reader first so the poll never takes the write lock.
    async with deps.db.read_sessions() as session:
        due = await any_due(session=session, now=now)
    if not due:
        return 0
    async with deps.db.sessions.begin() as session:
        launches = await claim_due_levels(session=session, now=now)
    for launch_id in launches:
        deps.publisher.kick(launch_id)
    return len(launches)


async def resume_escalations(deps: Deps, started_at: datetime) -> None:
    """Finish escalations a stopped process left half done: a page never sent is sent now (the
    message is the outbox's to recover); one sent without an answer is not sent again behind
    anyone's back but said to be UNKNOWN, with "Page again" and who to phone. Test pages left
    without an answer are sent again (their own dedup key: PagerDuty pages once) and reported."""
    async with deps.db.read_sessions() as session:
        never_sent, unanswered = await pages_to_resume(session=session, before=started_at)
        acks, resolves = await follow_ups_to_resume(session=session, before=started_at)
    for escalation_id in unanswered:
        async with deps.db.sessions.begin() as session:
            changed = await record_page_unknown(
                session=session, escalation_id=escalation_id, at=deps.clock()
            )
            # Acknowledged or resolved while the trigger was being sent: PagerDuty may have paged,
            # so it is told now, as the trigger's own answer would have done.
            catch_up = (
                await pagerduty_catch_up(session=session, escalation_id=escalation_id)
                if changed
                else None
            )
        if changed:
            view = await load_escalation(deps, escalation_id)
            if view.status != "resolved":
                people = people_to_call(deps.config, deps.config.escalation.call_on_failure)
                await queue_follow_up(
                    deps, view, "page_unknown", page_unknown_message(view, people), loud=True
                )
            await _catch_up(deps, view, catch_up)
    for escalation_id in never_sent:
        logger.info("resuming escalation #%s", escalation_id)
        await run_escalation(deps, escalation_id)
    # Acknowledge and Resolve are stored before the ack and sent to PagerDuty after it: what a stop
    # in between left untold is told now, or PagerDuty keeps paging for an incident Slack shows as
    # taken or resolved.
    for escalation_id in acks:
        logger.info("telling PagerDuty escalation #%s was acknowledged", escalation_id)
        await after_acknowledge(deps, escalation_id)
    for escalation_id in resolves:
        logger.info("telling PagerDuty escalation #%s was resolved", escalation_id)
        await after_resolve(deps, escalation_id)
    await resume_escalation_tests(deps, started_at)


def escalation_job(deps: Deps) -> Job:
    return Job(
        name="escalation-levels",
        run=functools.partial(fire_due_levels, deps),
        resume=functools.partial(resume_escalations, deps),
    )
