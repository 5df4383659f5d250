"""`/launch waive` by text in a dated launch, whose first week has one copy of the daily checks per
day: today's copy is the one waived, `Day N` names another day's, a day not posted yet is not
waivable, and text that matches several other items still asks for more of it."""

from __future__ import annotations

from sqlalchemy import select

from bot.core.models import Item, ItemGroup, Section
from tests.calendar.conftest import ALICE, CTO, run_at, utc
from tests.conftest import FakeClock
from tests.warroom import WarRoom

RECONCILIATION = "Morning reconciliation"


async def waived_days(room: WarRoom, text: str) -> dict[int, str | None]:
    """Each day's copy of ``text``: its waiver kind (None while open), by the section's day."""
    async with room.bot.deps.db.read_sessions() as session:
        rows = await session.execute(
            select(Section.day, Item.waived)
            .join(ItemGroup, ItemGroup.id == Item.group_id)
            .join(Section, Section.id == ItemGroup.section_id)
            .where(Item.text == text, Section.day.is_not(None))
        )
        return {day: waived for day, waived in rows.all() if day is not None}


async def test_waive_by_text_takes_todays_copy_and_day_n_names_another(
    room: WarRoom, clock: FakeClock
) -> None:
    await room.command(ALICE, "start Trading v2 --on 2026-12-09")
    await run_at(room, clock, utc(2026, 12, 11, 14, 0))  # T+2, 09:00 in New York
    await run_at(room, clock, utc(2026, 12, 12, 14, 0))  # T+3: Day 2 and Day 3 are posted
    assert await waived_days(room, RECONCILIATION) == dict.fromkeys(range(2, 8))

    # Without a day: today's (Day 3's) copy, not Day 2's.
    await room.command(CTO, f'waive "{RECONCILIATION}" the nightly job reconciles')
    assert await waived_days(room, RECONCILIATION) == {
        **dict.fromkeys(range(2, 8)),
        3: "waived",
    }, room.ephemerals_for(CTO)

    # "Day 2" names Day 2's copy, quoted together or as words before the item.
    await room.command(CTO, f'waive n/a "Day 2 {RECONCILIATION}" market closed that day')
    assert (await waived_days(room, RECONCILIATION))[2] == "not_applicable"
    await room.command(CTO, 'waive Day 2 "Backup verification" restored from the snapshot')
    backups = await waived_days(room, "Backup verification")
    assert backups[2] == "waived" and backups[3] is None

    # A day whose checks are not posted yet (Day 5, Dec 14) cannot be waived by text.
    before = await waived_days(room, "EOD reports generated")
    await room.command(CTO, 'waive Day 5 "EOD reports generated" not needed')
    assert "not posted yet" in room.ephemerals_for(CTO)[-1]
    assert await waived_days(room, "EOD reports generated") == before

    # A day the first week does not have: says which days there are, and changes nothing.
    for day in ("Day 0", "Day 99"):
        await room.command(CTO, f'waive {day} "{RECONCILIATION}" not needed')
        told = room.ephemerals_for(CTO)[-1]
        assert f"There is no {day} of daily checks: they run Day 2 to Day 7" in told, told
    assert (await waived_days(room, RECONCILIATION))[2] == "not_applicable"

    # Undo without a day: the one waived copy of Backup verification (Day 2's).
    await room.command(CTO, 'waive undo "Backup verification"')
    assert (await waived_days(room, "Backup verification"))[2] is None

    # Text matching several posted items that are not copies of one daily check: asks for more.
    await room.command(CTO, 'waive "provisioned and tested" same box')
    told = room.ephemerals_for(CTO)[-1]
    assert "matches 2 items" in told and "give more of the text" in told, told
    async with room.bot.deps.db.read_sessions() as session:
        waived = (await session.scalars(select(Item.text).where(Item.waived.is_not(None)))).all()
    assert sorted(waived) == [RECONCILIATION, RECONCILIATION]
