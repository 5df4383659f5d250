"""Domain rules on a real database (SQLite and PostgreSQL): starting, ticking, phases, closing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.checklist.lifecycle import advance_phase, close_launch, start_launch, validate_name
from bot.checklist.rules import ToggleResult, set_items_checked
from bot.checklist.template import ChecklistTemplate
from bot.core.db import Database
from bot.core.errors import BadInput, Conflict, NotAllowed, NotFound, PhaseIncomplete
from bot.core.events import GENESIS_HASH, Actor, event_hash
from bot.core.launches import find_launch
from bot.core.models import Event, Item, SlackMessage
from bot.launch.state import LaunchState, load_state

ALICE = Actor("U0ALICE001", "alice")
BOB = Actor("U0BOB00001", "bob")
T0 = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)


async def start(
    db: Database, template: ChecklistTemplate, channel: str = "C0WARROOM1", name: str = "Trading v2"
) -> int:
    async with db.sessions.begin() as session:
        launch = await start_launch(
            session=session,
            template=template,
            name=name,
            team_id="T1",
            channel_id=channel,
            actor=ALICE,
            at=T0,
        )
        return launch.id


async def state(db: Database, launch_id: int) -> LaunchState:
    async with db.read_sessions() as session:
        return await load_state(session=session, launch_id=launch_id)


async def toggle(
    db: Database,
    launch_id: int,
    desired: dict[int, bool],
    actor: Actor,
    key: str,
    at: datetime = T0,
) -> ToggleResult:
    async with db.sessions.begin() as session:
        return await set_items_checked(
            session=session,
            launch_id=launch_id,
            desired=desired,
            actor=actor,
            at=at,
            source="test",
            dedup_key=key,
        )


async def test_start_copies_the_template_and_queues_card_and_first_phase(
    db: Database, template: ChecklistTemplate
) -> None:
    launch_id = await start(db, template)
    s = await state(db, launch_id)
    assert [p.title for p in s.phases] == [p.title for p in template.phases]
    assert s.current.title == "Pre-Launch Phase"
    assert s.current.total == 45
    assert [sec.title for sec in s.current.sections] == [
        "Infrastructure",
        "Security",
        "Trading System",
    ]
    kinds = sorted((m.kind, m.section_id is not None) for m in s.messages)
    assert kinds == [("card", False)] + [("section", True)] * 3
    assert all(m.ts is None and m.version > m.rendered_version for m in s.messages)
    assert not s.phases[1].posted


async def test_second_start_in_same_channel_conflicts_other_channel_is_independent(
    db: Database, template: ChecklistTemplate
) -> None:
    await start(db, template)
    with pytest.raises(Conflict):
        await start(db, template, name="Again")
    other = await start(db, template, channel="C0OTHER001", name="Risk engine")
    assert (await state(db, other)).name == "Risk engine"


async def test_launch_name_is_required_and_bounded(
    db: Database, template: ChecklistTemplate
) -> None:
    with pytest.raises(BadInput):
        await start(db, template, name='  ""  ')
    with pytest.raises(BadInput):
        await start(db, template, name="x" * 81)
    assert validate_name('"Trading v2"') == "Trading v2"


async def test_tick_records_who_and_when_and_untick_is_recorded_too(
    db: Database, template: ChecklistTemplate
) -> None:
    launch_id = await start(db, template)
    item = (await state(db, launch_id)).current.sections[0].groups[0].items[0]
    result = await toggle(db, launch_id, {item.id: True}, ALICE, "k1")
    assert result.changed == (item.id,)
    ticked = (await state(db, launch_id)).current.sections[0].groups[0].items[0]
    assert (ticked.checked, ticked.changed_by_id, ticked.changed_by_name, ticked.changed_at) == (
        True,
        ALICE.user_id,
        "alice",
        T0,
    )
    later = T0 + timedelta(minutes=3)
    await toggle(db, launch_id, {item.id: False}, BOB, "k2", at=later)
    unticked = (await state(db, launch_id)).current.sections[0].groups[0].items[0]
    assert (unticked.checked, unticked.changed_by_id, unticked.changed_at) == (
        False,
        BOB.user_id,
        later,
    )
    async with db.read_sessions() as session:
        kinds = (
            await session.scalars(
                select(Event.kind).where(Event.item_id == item.id).order_by(Event.seq)
            )
        ).all()
    assert kinds == ["item_checked", "item_unchecked"]


async def test_replayed_click_is_a_no_op(db: Database, template: ChecklistTemplate) -> None:
    launch_id = await start(db, template)
    item = (await state(db, launch_id)).current.sections[0].groups[0].items[0]
    await toggle(db, launch_id, {item.id: True}, ALICE, "same")
    await toggle(db, launch_id, {item.id: False}, BOB, "other")
    replay = await toggle(db, launch_id, {item.id: True}, ALICE, "same")
    assert replay.duplicate
    assert not (await state(db, launch_id)).current.sections[0].groups[0].items[0].checked


async def test_tick_of_already_ticked_item_keeps_the_first_person(
    db: Database, template: ChecklistTemplate
) -> None:
    launch_id = await start(db, template)
    item = (await state(db, launch_id)).current.sections[0].groups[0].items[0]
    await toggle(db, launch_id, {item.id: True}, ALICE, "a")
    result = await toggle(db, launch_id, {item.id: True}, BOB, "b")
    assert result.changed == ()
    assert (await state(db, launch_id)).current.sections[0].groups[0].items[
        0
    ].changed_by_id == ALICE.user_id


async def test_thirty_concurrent_clicks_on_thirty_items_are_all_recorded(
    db: Database, template: ChecklistTemplate
) -> None:
    launch_id = await start(db, template)
    items = [i for sec in (await state(db, launch_id)).current.sections for i in sec.items][:30]
    await asyncio.gather(
        *(
            toggle(db, launch_id, {i.id: True}, Actor(f"U0USER{n:04d}", f"user{n}"), f"c{n}")
            for n, i in enumerate(items)
        )
    )
    after = {i.id: i for sec in (await state(db, launch_id)).current.sections for i in sec.items}
    assert all(after[i.id].checked for i in items)
    async with db.read_sessions() as session:
        checked = await session.scalar(
            select(func.count()).select_from(Event).where(Event.kind == "item_checked")
        )
        seqs = (
            await session.scalars(
                select(Event.seq).where(Event.launch_id == launch_id).order_by(Event.seq)
            )
        ).all()
    assert checked == 30
    assert list(seqs) == list(range(1, len(seqs) + 1))


async def test_event_log_is_a_hash_chain(db: Database, template: ChecklistTemplate) -> None:
    launch_id = await start(db, template)
    item = (await state(db, launch_id)).current.sections[0].groups[0].items[0]
    await toggle(db, launch_id, {item.id: True}, ALICE, "h1")
    async with db.read_sessions() as session:
        events = (
            await session.scalars(
                select(Event).where(Event.launch_id == launch_id).order_by(Event.seq)
            )
        ).all()
    prev = GENESIS_HASH
    for event in events:
        assert event.prev_hash == prev
        assert event.hash == event_hash(prev, event)
        prev = event.hash


async def test_phase_completes_then_next_phase_is_posted(
    db: Database, template: ChecklistTemplate
) -> None:
    launch_id = await start(db, template)
    with pytest.raises(PhaseIncomplete, match="45 open"):
        async with db.sessions.begin() as session:
            await advance_phase(session=session, launch_id=launch_id, actor=ALICE, at=T0)
    items = [i for sec in (await state(db, launch_id)).current.sections for i in sec.items]
    result = await toggle(db, launch_id, {i.id: True for i in items}, ALICE, "all")
    assert result.phase_completed
    assert (await state(db, launch_id)).current.completed_at == T0
    async with db.sessions.begin() as session:
        nxt = await advance_phase(session=session, launch_id=launch_id, actor=BOB, at=T0)
    s = await state(db, launch_id)
    assert nxt.title == "Launch Day" and s.current.title == "Launch Day" and s.current.posted
    launch_day_sections = {sec.id for sec in s.current.sections}
    assert {
        m.section_id for m in s.messages if m.section_id in launch_day_sections
    } == launch_day_sections


async def test_unticking_reopens_a_completed_phase(
    db: Database, template: ChecklistTemplate
) -> None:
    launch_id = await start(db, template)
    items = [i for sec in (await state(db, launch_id)).current.sections for i in sec.items]
    await toggle(db, launch_id, {i.id: True for i in items}, ALICE, "all")
    await toggle(db, launch_id, {items[0].id: False}, BOB, "one")
    assert (await state(db, launch_id)).current.completed_at is None


async def test_closed_launch_refuses_clicks_and_frees_the_channel(
    db: Database, template: ChecklistTemplate
) -> None:
    launch_id = await start(db, template)
    item = (await state(db, launch_id)).current.sections[0].groups[0].items[0]
    async with db.sessions.begin() as session:
        await close_launch(session=session, launch_id=launch_id, actor=BOB, at=T0)
    with pytest.raises(NotAllowed, match="closed"):
        await toggle(db, launch_id, {item.id: True}, ALICE, "late")
    assert not (await state(db, launch_id)).current.sections[0].groups[0].items[0].checked
    await start(db, template, name="Second try")


async def test_items_of_a_phase_not_started_cannot_be_ticked(
    db: Database, template: ChecklistTemplate
) -> None:
    launch_id = await start(db, template)
    later = (await state(db, launch_id)).phases[1].sections[0].groups[0].items[0]
    with pytest.raises(NotAllowed, match="has not started"):
        await toggle(db, launch_id, {later.id: True}, ALICE, "early")
    async with db.read_sessions() as session:
        assert not (await session.get(Item, later.id)).checked  # type: ignore[union-attr]


async def test_a_click_bumps_the_card_and_its_section_message(
    db: Database, template: ChecklistTemplate
) -> None:
    launch_id = await start(db, template)
    s = await state(db, launch_id)
    section = s.current.sections[1]
    await toggle(db, launch_id, {section.items[0].id: True}, ALICE, "v")
    async with db.read_sessions() as session:
        rows = {
            (m.kind, m.section_id): m.version
            for m in (await session.scalars(select(SlackMessage))).all()
        }
    assert rows[("card", None)] == 2
    assert rows[("section", section.id)] == 2
    assert rows[("section", s.current.sections[0].id)] == 1


async def test_refusals_escape_launch_names_and_template_titles(
    db: Database, template: ChecklistTemplate
) -> None:
    """A refusal is shown as mrkdwn: the launch name (stored as typed) and the template's titles are
    escaped where they are put into it, so ``<!here>`` in either never pings anyone."""
    phases = [p.model_copy(update={"title": f"{p.title} <!channel> & co"}) for p in template.phases]
    nasty = template.model_copy(update={"phases": phases})
    launch_id = await start(db, nasty, name="<!here> R&D")
    s = await state(db, launch_id)
    assert s.name == "<!here> R&D"  # stored raw; escaped where it is rendered
    later = s.phases[1].sections[0].groups[0].items[0]
    messages: list[str] = []

    async def refused(call: object, kind: type[Exception]) -> None:
        with pytest.raises(kind) as info:
            await call  # type: ignore[misc]
        messages.append(info.value.message)  # type: ignore[attr-defined]

    await refused(toggle(db, launch_id, {later.id: True}, ALICE, "early"), NotAllowed)
    assert messages[-1].startswith(f"Phase *{s.phases[1].title.split(' <')[0]} &lt;!channel&gt;")

    async def advance() -> None:
        async with db.sessions.begin() as session:
            await advance_phase(session=session, launch_id=launch_id, actor=ALICE, at=T0)

    async def close() -> None:
        async with db.sessions.begin() as session:
            await close_launch(session=session, launch_id=launch_id, actor=BOB, at=T0)

    async def find(ref: str) -> None:
        async with db.read_sessions() as session:
            await find_launch(session=session, ref=ref)

    await refused(advance(), PhaseIncomplete)
    assert messages[-1].startswith("*Pre-Launch Phase &lt;!channel&gt; &amp; co* still has")
    await refused(start(db, nasty, name="Other"), Conflict)
    assert "active launch: *&lt;!here&gt; R&amp;D* (#" in messages[-1]
    await close()
    item = s.current.sections[0].groups[0].items[0]
    await refused(toggle(db, launch_id, {item.id: True}, ALICE, "late"), NotAllowed)
    assert messages[-1].startswith("Launch *&lt;!here&gt; R&amp;D* is closed;")
    await refused(advance(), NotAllowed)
    assert messages[-1] == "Launch *&lt;!here&gt; R&amp;D* is closed."
    await refused(close(), Conflict)
    assert messages[-1] == "Launch *&lt;!here&gt; R&amp;D* is already closed."
    await refused(find("<!here> & nobody"), NotFound)
    assert messages[-1] == "There is no launch called “&lt;!here&gt; &amp; nobody”."
    for message in messages:
        assert "<!" not in message and "& " not in message.replace("&amp; ", "")
