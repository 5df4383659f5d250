"""``/launch escalate test`` after the ack: the TEST page through the PagerDuty client (retried like
every page), what PagerDuty answered recorded, "Escalation working" ticked only when it accepted,
and the result reported in the launch thread (the message the ticked item links to)."""

from __future__ import annotations

import logging
from datetime import datetime

from bot.checklist.name_flows import name_later
from bot.checklist.proofs import (
    PROOF_NOTICE,
    Proof,
    ProofTick,
    attach_proof_message,
    tick_proven_item,
)
from bot.contacts.rules import people_to_call
from bot.core.events import Actor
from bot.core.http import DeliveryFailed, unanswered_tries
from bot.core.launches import lock_launch
from bot.core.outbox import queue_message
from bot.deps import Deps
from bot.incidents.escalation_blocks import escalation_test_report
from bot.incidents.escalation_test_page import (
    PageTestReply,
    judge_test_page,
    record_escalation_test,
    unfinished_escalation_tests,
)
from bot.incidents.pagerduty import EscalationClient

logger = logging.getLogger(__name__)


async def send_test_page(
    deps: Deps, *, launch_id: int, launch_name: str, dedup_key: str, requested_by: Actor
) -> PageTestReply:
    """POST the TEST trigger; what PagerDuty made of it (never raises for PagerDuty's answer)."""
    client = EscalationClient(deps.http, deps.config.pagerduty)
    event = client.test_event(
        dedup_key=dedup_key,
        launch_id=launch_id,
        launch_name=launch_name,
        requested_by=requested_by.name,
    )
    try:
        delivery = await client.send(event)
    except DeliveryFailed as failed:
        return judge_test_page(
            http_status=failed.status,
            body=None,
            tries=len(failed.attempts),
            error=failed.message,
            unanswered_tries=unanswered_tries(failed.attempts),
        )
    return judge_test_page(
        http_status=delivery.status,
        body=delivery.body,
        tries=len(delivery.attempts),
        error=None,
        unanswered_tries=unanswered_tries(delivery.attempts),
    )


async def run_escalation_test(
    deps: Deps,
    *,
    launch_id: int,
    launch_name: str,
    channel_id: str,
    actor: Actor,
    dedup_key: str,
) -> None:
    """Send the recorded test page and tell the launch thread how it went."""
    answer = await send_test_page(
        deps, launch_id=launch_id, launch_name=launch_name, dedup_key=dedup_key, requested_by=actor
    )
    people = people_to_call(deps.config, deps.config.escalation.call_on_failure)
    async with deps.db.sessions.begin() as session:
        at = deps.clock()
        await record_escalation_test(
            session=session,
            launch_id=launch_id,
            actor=actor,
            at=at,
            dedup_key=dedup_key,
            answer=answer,
        )
        tick: ProofTick | None = None
        if answer.accepted:
            tick = await tick_proven_item(
                session=session,
                launch_id=launch_id,
                proof=Proof.ESCALATION_TEST,
                actor=actor,
                at=at,
                ref=dedup_key,
            )
        await lock_launch(session, launch_id)
        message = await queue_message(
            session=session,
            launch_id=launch_id,
            kind=PROOF_NOTICE,
            channel_id=channel_id,
            view=escalation_test_report(
                requested_by_id=actor.user_id,
                requested_by_name=actor.name,
                answer=answer,
                dedup_key=dedup_key,
                tick=tick,
                people=people,
            ),
        )
        if tick is not None and tick.ticked and tick.item_id is not None:
            await attach_proof_message(session=session, item_id=tick.item_id, message_id=message.id)
    deps.publisher.kick(launch_id)
    if tick is not None and tick.ticked:
        name_later(deps, actor, launch_id, what="proof")


async def resume_escalation_tests(deps: Deps, started_at: datetime) -> None:
    """Test pages a stopped process left without an answer are sent (again) now and reported as
    usual: the person who asked was told the result goes in the launch thread, and it does."""
    async with deps.db.read_sessions() as session:
        unfinished = await unfinished_escalation_tests(session=session, before=started_at)
    for test in unfinished:
        logger.info("resuming the escalation test page %s", test.dedup_key)
        await run_escalation_test(
            deps,
            launch_id=test.launch_id,
            launch_name=test.launch_name,
            channel_id=test.channel_id,
            actor=test.actor,
            dedup_key=test.dedup_key,
        )
