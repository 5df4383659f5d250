"""A confirmed dry run ticks the template's "Kill switch tested" item for the tester."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.checklist.rules import set_items_checked
from bot.core.errors import NotAllowed
from bot.core.events import Actor, EventKind, append_event
from bot.core.launches import lock_launch
from bot.core.models import Item, ItemGroup, Phase, Section

KILLSWITCH_TESTED_ITEM = "Kill switch tested"


@dataclass(frozen=True)
class TestedTick:
    """What a confirmed dry run did to the "Kill switch tested" item: ``ticked`` only when this
    test changed it; ``already_by_*``/``already_at`` when it was ticked before (by anyone) and was
    left alone; ``why_not`` when it could not be ticked at all."""

    ticked: bool = False
    already_by_id: str | None = None
    already_by_name: str | None = None
    already_at: datetime | None = None
    why_not: str | None = None


async def tick_killswitch_tested(
    *, session: AsyncSession, launch_id: int, actor: Actor, at: datetime, request_id: str
) -> TestedTick:
    """Tick the template's "Kill switch tested" item for the tester after a confirmed dry run.

    ``ticked`` only if this call changed the item; an item already ticked (by someone else, or by
    a replay of this test) is left alone and reported with who ticked it and when. ``why_not`` when
    it cannot be ticked (no such item, its phase not posted yet, launch closed); then the test
    result is in the event log only, and the caller says so."""
    found = (
        await session.execute(
            select(Item.id, Phase.posted_at)
            .join(ItemGroup, ItemGroup.id == Item.group_id)
            .join(Section, Section.id == ItemGroup.section_id)
            .join(Phase, Phase.id == Section.phase_id)
            .where(Item.launch_id == launch_id, Item.text == KILLSWITCH_TESTED_ITEM)
            .limit(1)
        )
    ).first()
    why: str
    if found is None:
        why = f"this launch's checklist has no “{KILLSWITCH_TESTED_ITEM}” item"
    elif found[1] is None:
        why = f"the phase with “{KILLSWITCH_TESTED_ITEM}” is not posted yet"
    else:
        try:
            result = await set_items_checked(
                session=session,
                launch_id=launch_id,
                desired={found[0]: True},
                actor=actor,
                at=at,
                source=f"killswitch_test:{request_id}",
                dedup_key=f"killswitch-test:{request_id}",
            )
        except NotAllowed as exc:
            why = exc.message
        else:
            if found[0] in result.changed:
                return TestedTick(ticked=True)
            item = await session.get(Item, found[0])
            if item is not None and item.checked:
                return TestedTick(
                    already_by_id=item.changed_by_id,
                    already_by_name=item.changed_by_name,
                    already_at=item.changed_at,
                )
            # A replay of this test after someone unticked the item: nothing changed now.
            why = f"“{KILLSWITCH_TESTED_ITEM}” was unticked after this test was recorded"
    await lock_launch(session, launch_id)
    await append_event(
        session=session,
        launch_id=launch_id,
        actor=actor,
        kind=EventKind.KILLSWITCH_TEST_NOT_TICKED,
        at=at,
        detail={"request_id": request_id, "why": why},
    )
    return TestedTick(why_not=why)
