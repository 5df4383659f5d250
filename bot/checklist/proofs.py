"""Items the bot can prove: one mechanism that ticks the item with a key for whoever proved it.

A confirmed kill-switch dry run proves "Kill switch tested", arming the kill switch "Kill switch
armed", a clean ``/launch verify`` "Audit trail complete", and a test page PagerDuty accepted
"Escalation working". Items are found by their key (``ItemKey``: the bundled template's key table
or a custom template's ``{#key}`` marker), never by their text.

``tick_proven_item`` ticks the item like a click in the prover's name (an ``item_checked`` event
whose detail names the proof), or says why not: no such item, its phase not posted yet, already
ticked (by whom, when: left alone), waived, the launch closed. A proof that could not tick is
logged too. ``attach_proof_message`` ties the tick to the bot's message recording the proof, whose
permalink the item then shows; ``proof_message_posted`` re-renders the item once that link exists.
Takes an AsyncSession; the caller owns the transaction. No Slack or HTTP here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.checklist.rules import set_items_checked
from bot.checklist.template import ItemKey
from bot.core.errors import NotAllowed
from bot.core.events import Actor, EventKind, append_event
from bot.core.launches import lock_launch
from bot.core.models import Item, ItemGroup, Phase, Section
from bot.core.mrkdwn import plain
from bot.core.outbox import bump_messages

# Outbox kinds of the bot's messages that record a proof (registered with a permalink in bot/app.py):
# a report in the launch card's thread, or an announcement in the channel itself.
PROOF_NOTICE = "proof_notice"
PROOF_ANNOUNCEMENT = "proof_announce"  # SlackMessage.kind holds 16 characters


class Proof(StrEnum):
    """What the bot did that proves an item (stored on the item, ``Item.proof``)."""

    KILLSWITCH_TEST = "killswitch_test"
    KILLSWITCH_ARM = "killswitch_arm"
    AUDIT_VERIFY = "audit_verify"
    ESCALATION_TEST = "escalation_test"


# The item each proof ticks.
PROVES: dict[Proof, ItemKey] = {
    Proof.KILLSWITCH_TEST: ItemKey.KILLSWITCH_TESTED,
    Proof.KILLSWITCH_ARM: ItemKey.KILLSWITCH_ARMED,
    Proof.AUDIT_VERIFY: ItemKey.AUDIT_VERIFIED,
    Proof.ESCALATION_TEST: ItemKey.ESCALATION_TESTED,
}

# How the item names its proof, next to the link to the proof's message.
PROOF_LABELS: dict[str, str] = {
    Proof.KILLSWITCH_TEST: "kill-switch dry run passed",
    Proof.KILLSWITCH_ARM: "kill switch armed",
    Proof.AUDIT_VERIFY: "audit chain verified",
    Proof.ESCALATION_TEST: "test page accepted by PagerDuty",
}

# The event logged when a proof could not tick its item (the kill-switch test kept its own name).
NOT_TICKED_EVENTS: dict[Proof, EventKind] = {
    Proof.KILLSWITCH_TEST: EventKind.KILLSWITCH_TEST_NOT_TICKED,
}


@dataclass(frozen=True)
class ProofTick:
    """What a proof did to its item. ``item`` is the item's text (None when the checklist has no
    item with the key); ``ticked`` only when this proof changed it; ``already_by_*``/``already_at``
    when it was ticked before (by anyone) and left alone; ``why_not`` when it could not be ticked."""

    item: str | None
    item_id: int | None = None
    ticked: bool = False
    already_by_id: str | None = None
    already_by_name: str | None = None
    already_at: datetime | None = None
    why_not: str | None = None


async def tick_proven_item(
    *,
    session: AsyncSession,
    launch_id: int,
    proof: Proof,
    actor: Actor,
    at: datetime,
    ref: str,
) -> ProofTick:
    """Tick the item ``proof`` proves, for ``actor``; ``ref`` names this proof (a request id), so a
    replay of the same proof ticks nothing twice. An item already ticked is left alone and reported
    with who ticked it and when; ``why_not`` (logged) when it cannot be ticked."""
    key = PROVES[proof]
    found = await _keyed_item(session, launch_id, key)
    text = found[1] if found is not None else None
    why = _why_untickable(found, key)
    if found is not None and why is None:
        ticked = await _tick(session, launch_id, proof, actor, at, ref, found[0], found[1])
        if isinstance(ticked, ProofTick):
            return ticked
        why = ticked
    await lock_launch(session, launch_id)
    await append_event(
        session=session,
        launch_id=launch_id,
        actor=actor,
        kind=NOT_TICKED_EVENTS.get(proof, EventKind.PROOF_NOT_TICKED),
        at=at,
        detail={"request_id": ref, "proof": str(proof), "key": str(key), "why": why},
    )
    return ProofTick(item=text, why_not=why)


def _why_untickable(
    found: tuple[int, str, datetime | None, str | None] | None, key: str
) -> str | None:
    """Why the item ``_keyed_item`` found (or did not) cannot be ticked before trying; None if it
    may be."""
    if found is None:
        return f"this launch's checklist has no item with the key `{key}`"
    _, text, posted_at, waived = found
    if posted_at is None:
        return f"the phase with “{text}” is not posted yet"
    if waived is not None:
        return f"“{text}” is waived; left as it is"
    return None


async def _tick(
    session: AsyncSession,
    launch_id: int,
    proof: Proof,
    actor: Actor,
    at: datetime,
    ref: str,
    item_id: int,
    text: str,
) -> ProofTick | str:
    """Tick the item under the checklist's rules: what the proof did (ticked it, or found it ticked
    already), else why it could not."""
    try:
        result = await set_items_checked(
            session=session,
            launch_id=launch_id,
            desired={item_id: True},
            actor=actor,
            at=at,
            source=f"{proof}:{ref}",
            dedup_key=f"proof:{proof}:{ref}",
            proof=proof,
        )
    except NotAllowed as exc:
        # The rules' words are mrkdwn for a refusal; ``why`` is plain (escaped once, when shown).
        return plain(exc.message).rstrip(".")
    if item_id in result.changed:
        return ProofTick(item=text, item_id=item_id, ticked=True)
    item = await session.get(Item, item_id)
    if item is not None and item.checked:
        return ProofTick(
            item=text,
            item_id=item_id,
            already_by_id=item.changed_by_id,
            already_by_name=item.changed_by_name,
            already_at=item.changed_at,
        )
    if item is not None and item.waived is not None:
        # Waived between the lookup above and the launch's lock: the waiver stands.
        return f"“{text}” is waived; left as it is"
    # A replay of this proof after someone unticked the item: nothing changed now.
    return f"“{text}” was unticked after this was recorded"


async def untick_disproven_item(
    *, session: AsyncSession, launch_id: int, proof: Proof, actor: Actor, at: datetime, ref: str
) -> str | None:
    """The bot undid what ``proof`` proved (the kill switch disarmed): untick its item in ``actor``'s
    name, so the checklist never shows "armed" for a switch that is not. The item's text when this
    unticked it; None when it was not ticked (or the launch is closed: the record stays as it was)."""
    key = PROVES[proof]
    rows = (
        await session.execute(
            select(Item.id, Item.text)
            .where(Item.launch_id == launch_id, Item.key == key, Item.checked.is_(True))
            .order_by(Item.id)
        )
    ).all()
    if not rows:
        return None
    try:
        result = await set_items_checked(
            session=session,
            launch_id=launch_id,
            desired={int(row.id): False for row in rows},
            actor=actor,
            at=at,
            source=f"{proof}_undone:{ref}",
            dedup_key=f"disproof:{proof}:{ref}",
        )
    except NotAllowed:
        return None
    unticked = [str(row.text) for row in rows if int(row.id) in result.changed]
    return unticked[0] if unticked else None


async def _keyed_item(
    session: AsyncSession, launch_id: int, key: str
) -> tuple[int, str, datetime | None, str | None] | None:
    """(id, text, phase posted at, waived) of the item with ``key``: of several (a copied daily
    group), the first one still open in a posted phase, else the first one."""
    rows = (
        await session.execute(
            select(Item.id, Item.text, Phase.posted_at, Item.waived, Item.checked)
            .join(ItemGroup, ItemGroup.id == Item.group_id)
            .join(Section, Section.id == ItemGroup.section_id)
            .join(Phase, Phase.id == Section.phase_id)
            .where(Item.launch_id == launch_id, Item.key == key)
            .order_by(Phase.position, Section.position, ItemGroup.position, Item.position)
        )
    ).all()
    if not rows:
        return None
    open_now = [r for r in rows if r.posted_at is not None and not r.checked and r.waived is None]
    row = (open_now or rows)[0]
    return int(row.id), str(row.text), row.posted_at, row.waived


async def attach_proof_message(*, session: AsyncSession, item_id: int, message_id: int) -> None:
    """Tie a proof's tick to the outbox message that records the proof (its link is shown on the
    item once it is posted). Only while the item still stands on its proof."""
    await session.execute(
        update(Item)
        .where(Item.id == item_id, Item.proof.is_not(None))
        .values(proof_message_id=message_id)
    )


async def proof_message_posted(*, session: AsyncSession, message_id: int) -> int | None:
    """A message was posted (its permalink stored): re-render the items it proves. Returns their
    launch's id when there were any (the caller kicks the publisher), else None."""
    rows = (
        await session.execute(
            select(Item.launch_id, ItemGroup.section_id)
            .join(ItemGroup, ItemGroup.id == Item.group_id)
            .where(Item.proof_message_id == message_id, Item.proof.is_not(None))
        )
    ).all()
    if not rows:
        return None
    launch_id = int(rows[0].launch_id)
    await bump_messages(session, launch_id, {int(r.section_id) for r in rows})
    return launch_id
