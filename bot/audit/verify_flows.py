"""``/launch verify`` after the ack: the same check as ``launchbot audit verify`` (the hash chain,
then every row against the replayed log), logged; a clean result ticks "Audit trail complete" for
whoever asked and is reported in the launch thread (the message the item links to); a broken one is
announced in the channel and ticks nothing."""

from __future__ import annotations

from bot.audit.blocks import audit_broken_alarm, audit_verified_report
from bot.audit.chain import verify_chain
from bot.audit.verification import record_verification
from bot.checklist.name_flows import name_later
from bot.checklist.proofs import (
    PROOF_ANNOUNCEMENT,
    PROOF_NOTICE,
    Proof,
    ProofTick,
    attach_proof_message,
    tick_proven_item,
)
from bot.core.events import Actor
from bot.core.kit import MessageView
from bot.core.outbox import queue_message
from bot.deps import Deps


async def verify_in_slack(
    deps: Deps,
    *,
    launch_id: int,
    launch_name: str,
    channel_id: str,
    actor: Actor,
    request_key: str,
) -> None:
    async with deps.db.read_sessions() as session:
        report = await verify_chain(session=session, launch_id=launch_id)
    async with deps.db.sessions.begin() as session:
        at = deps.clock()
        if not await record_verification(
            session=session,
            launch_id=launch_id,
            actor=actor,
            at=at,
            report=report,
            request_key=request_key,
        ):
            return
        tick: ProofTick | None = None
        view: MessageView
        if report.ok:
            tick = await tick_proven_item(
                session=session,
                launch_id=launch_id,
                proof=Proof.AUDIT_VERIFY,
                actor=actor,
                at=at,
                ref=request_key,
            )
            view = audit_verified_report(
                report, user_id=actor.user_id, user_name=actor.name, tick=tick
            )
        else:
            view = audit_broken_alarm(report, launch_name=launch_name, user_id=actor.user_id)
        message = await queue_message(
            session=session,
            launch_id=launch_id,
            kind=PROOF_NOTICE if report.ok else PROOF_ANNOUNCEMENT,
            channel_id=channel_id,
            view=view,
        )
        if tick is not None and tick.ticked and tick.item_id is not None:
            await attach_proof_message(session=session, item_id=tick.item_id, message_id=message.id)
    deps.publisher.kick(launch_id)
    if tick is not None and tick.ticked:
        name_later(deps, actor, launch_id, what="proof")
