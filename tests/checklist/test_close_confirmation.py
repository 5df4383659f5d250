"""Issue 14, items 2-4: /launch close asks for an outcome in a modal (what is still open, a note),
the outcome is on the card, in the export and the GO message; /launch status after close shows the
closed launch; waivers by role holders; GO states what it was given on; the Approve confirm dialog
names the open items."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from sqlalchemy import select

from bot.core.ids import ActionId, BlockPrefix, CallbackId, LaunchBlock
from bot.core.models import Launch
from bot.core.mrkdwn import escape
from tests.audit.test_audit import export
from tests.signoffs.test_signoffs import approve_all
from tests.warroom import WarRoom

ALICE, CTO, OUTSIDER = "U0ALICE001", "U0CTO00001", "U0OUTSIDE1"


async def the_launch(room: WarRoom) -> Launch:
    async with room.bot.deps.db.read_sessions() as session:
        launch = await session.scalar(select(Launch).order_by(Launch.id.desc()).limit(1))
    assert launch is not None
    return launch


def texts(message: Any) -> str:
    return json.dumps(message.blocks)


def close_view(room: WarRoom, user: str) -> Any:
    views = [
        v for v in room.slack.open_views(user) if v.view["callback_id"] == CallbackId.LAUNCH_CLOSE
    ]
    assert views, "the close confirmation did not open"
    return views[-1]


async def test_close_opens_a_confirmation_that_says_what_is_open_and_closes_nothing(
    room: WarRoom,
) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.click(ALICE, "Failover tested")
    await room.command(ALICE, "close")
    view = close_view(room, ALICE)
    shown = json.dumps(view.view["blocks"])
    assert "Still open" in shown and "open item(s)" in shown and "not GO" in shown
    assert "Failover tested" not in shown  # ticked: not listed as open
    assert (await the_launch(room)).closed_at is None


async def test_missing_outcome_or_note_is_shown_in_the_modal(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.command(ALICE, "close")
    view = close_view(room, ALICE)
    await room.submit_close(ALICE, view, outcome=None)
    assert view.open and LaunchBlock.CLOSE_OUTCOME in view.errors
    await room.submit_close(ALICE, view, outcome="rolled_back", note="  ")
    assert view.open and LaunchBlock.CLOSE_NOTE in view.errors
    assert (await the_launch(room)).closed_at is None
    await room.submit_close(ALICE, view, outcome="rolled_back", note="fill latency over SLO")
    assert not view.open
    launch = await the_launch(room)
    assert (launch.close_outcome, launch.close_note) == ("rolled_back", "fill latency over SLO")


async def test_a_close_form_naming_another_channel_or_launch_is_refused_and_logged(
    room: WarRoom, caplog: pytest.LogCaptureFixture
) -> None:
    """The close form's private_metadata rewritten to name the other war room's launch, or this
    launch with another channel: refused in the form, logged, no launch closed, nothing said."""
    other = "C0OTHER001"
    room.slack.add_channel(other, "war-room-2")
    await room.command(ALICE, "start Trading v2")
    await room.command(ALICE, "start Payments", channel=other)
    await room.command(ALICE, "close")
    view = close_view(room, ALICE)
    values = {
        LaunchBlock.CLOSE_OUTCOME: {
            ActionId.CLOSE_OUTCOME: {
                "type": "radio_buttons",
                "selected_option": {"value": "abandoned"},
            }
        },
        LaunchBlock.CLOSE_NOTE: {ActionId.CLOSE_NOTE: {"type": "plain_text_input", "value": "x"}},
    }
    body, _ = room.slack.view_submission(user_id=ALICE, view_id=view.id, values=values)
    posted = {c: len(room.slack.messages.get(c, [])) for c in (room.channel, other)}
    for named, channel in ((2, room.channel), (1, other)):
        meta = json.dumps({"launch_id": named, "channel_id": channel})
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="bot.core.binding"):
            status, answer = await room.dispatch(
                *room.forge(body, lambda p, m=meta: p["view"].update(private_metadata=m))
            )
            await room.settle()
        assert status == 200
        error = json.loads(answer)["errors"][LaunchBlock.CLOSE_OUTCOME]
        assert "another channel" in error and "Nothing changed" in error
        assert f"refused a close form naming launch {named}" in caplog.text
        assert f"from channel {channel} by {ALICE}" in caplog.text
    async with room.bot.deps.db.read_sessions() as session:
        launches = (await session.scalars(select(Launch).order_by(Launch.id))).all()
    assert [launch.closed_at for launch in launches] == [None, None]
    assert "launch_closed" not in [e.kind for e in await room.events()]
    assert {c: len(room.slack.messages.get(c, [])) for c in (room.channel, other)} == posted
    # The form as the bot opened it still closes its own launch.
    await room.submit_close(ALICE, view, outcome="abandoned", note="x")
    async with room.bot.deps.db.read_sessions() as session:
        launches = (await session.scalars(select(Launch).order_by(Launch.id))).all()
    assert [launch.closed_at is not None for launch in launches] == [True, False]


async def test_the_outcome_is_on_the_card_the_channel_the_export_and_the_go_message(
    room: WarRoom,
) -> None:
    await room.command(ALICE, "start Trading v2")
    await approve_all(room)
    await room.close(CTO, outcome="abandoned", note="vendor pulled out")
    card = texts(room.card())
    assert "CLOSED" in card and "Abandoned" in card and "vendor pulled out" in card
    assert "Tick them" not in card and "for what is open" not in card
    assert any(
        "Closed *Trading v2*" in (m.text or "") and "Abandoned" in (m.text or "")
        for m in room.top_level()
    )
    go = next(m for m in room.top_level() if (m.text or "").startswith("GO:"))
    assert "Abandoned" in texts(go)
    closed = list(await room.events("launch_closed"))
    assert closed[-1].detail == {"outcome": "abandoned", "note": "vendor pulled out"}
    await room.command(ALICE, "report md")
    await room.chain_ok()


async def test_status_after_close_shows_the_launch_marked_closed(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.close(ALICE, outcome="completed")
    await room.command(ALICE, "status")
    answer = [e for e in room.slack.ephemerals if e.user == ALICE][-1]
    shown = json.dumps(answer.blocks)
    assert answer.text == "Status of Trading v2"
    assert "CLOSED" in shown and "Completed" in shown


async def test_an_outsider_is_refused_before_any_modal_opens(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    assert await room.close(OUTSIDER) is None
    assert room.ephemerals_for(OUTSIDER)[-1].startswith(":warning: Only ")
    assert not room.slack.open_views(OUTSIDER)


async def test_a_role_holder_waives_an_item_and_it_counts_as_done(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.command(OUTSIDER, 'waive "Failover tested" not needed')
    assert "Only a holder of a sign-off role" in room.ephemerals_for(OUTSIDER)[-1]
    await room.command(CTO, 'waive n/a "Failover tested" single-region launch')
    message, option = room.message_with_item("~Failover tested")
    assert option["text"]["type"] == "mrkdwn"
    assert "N/A by" in option["description"]["text"]
    assert "single-region launch" in option["description"]["text"]
    waived = await room.events("item_waived")
    assert [(e.actor_id, e.detail["kind"]) for e in waived] == [(CTO, "not_applicable")]
    assert [e.actor_id for e in await room.events("item_waive_refused")] == [OUTSIDER]
    await room.command(ALICE, "status")
    status = [e for e in room.slack.ephemerals if e.user == ALICE][-1]
    assert "Waived in" in json.dumps(status.blocks) and "single-region launch" in json.dumps(
        status.blocks
    )
    await room.chain_ok()


async def test_waive_takes_smart_quotes_and_apostrophes_as_typed_on_a_phone(room: WarRoom) -> None:
    """A phone sends “…” for "…" and ’ for '; an apostrophe in the reason never swallows words,
    and the reason is stored as typed."""
    await room.command(ALICE, "start Trading v2")
    for typed, item, reason in [
        ("waive “Failover tested” single-region", "Failover tested", "single-region"),
        ('waive "Backup strategy" don\'t need it', "Backup strategy", "don't need it"),
        (
            "waive ‘Rollback procedure’ it’s the vendor’s job",
            "Rollback procedure",
            "it’s the vendor’s job",
        ),
        ("waive n/a 'Health check' it's the vendor's job", "Health check", "it's the vendor's job"),
    ]:
        await room.command(CTO, typed)
        assert "marked" in (room.top_level()[-1].text or ""), room.ephemerals_for(CTO)[-1:]
        _, option = room.message_with_item("~" + item)
        assert escape(reason) in option["description"]["text"], option
    await room.command(CTO, "waive undo “Failover tested”")
    assert "is open again" in (room.top_level()[-1].text or "")
    await room.command(CTO, "signoff approve “cto” --anyway “looks good”")
    assert "Approved as CTO" in room.ephemerals_for(CTO)[-1]
    (approved,) = await room.events("sign_off_approved")
    assert approved.detail.get("comment") == "looks good", approved.detail


async def test_go_states_what_it_was_given_on_and_approve_asks_about_open_items(
    room: WarRoom,
) -> None:
    await room.command(ALICE, "start Trading v2")
    card = room.card()
    approve = next(
        b["accessory"]
        for b in card.blocks
        if str(b.get("block_id", "")).startswith(BlockPrefix.SIGNOFF)
        and b.get("accessory", {}).get("action_id") == ActionId.SIGNOFF_APPROVE
    )
    assert "open items. Approve anyway?" in approve["confirm"]["text"]["text"]
    await room.command(CTO, 'waive "Failover tested" covered by the DR drill')
    await approve_all(room)
    go = next(m for m in room.top_level() if (m.text or "").startswith("GO:"))
    shown = texts(go)
    assert "Given on:" in shown and "Open in" in shown and "Waived in" in shown
    launch_go = (await room.events("launch_go"))[-1]
    assert launch_go.detail["readiness"]["open_count"] > 0
    assert launch_go.detail["readiness"]["waived"][0]["text"] == "Failover tested"


async def test_waivers_with_long_reasons_are_shown_whole_in_status_and_the_go_message(
    room: WarRoom,
) -> None:
    """Ten waivers with 500-character reasons run past one section's 3,000 characters: /launch
    status and the GO message go on in further sections, every waiver and its reason whole."""
    await room.command(ALICE, "start Trading v2")
    items = ["Blue environment provisioned and tested", "Green environment provisioned and tested",
             "Load balancer configured for traffic switching", "Health check endpoints verified",
             "Rollback procedure tested", "Production database provisioned",
             "Read replicas configured", "Backup strategy implemented (daily snapshots)",
             "Connection pooling optimized", "Failover tested"]  # fmt: skip
    reasons = [f"{n} " + "R&D " * 124 for n in range(len(items))]
    for text, reason in zip(items, reasons, strict=True):
        await room.command(CTO, f'waive "{text}" {reason}')
    shown = [escape(r.strip()) for r in reasons]

    def sections(blocks: list[dict[str, Any]]) -> list[str]:
        found = [b["text"]["text"] for b in blocks if b["type"] == "section"]
        assert all(len(t) <= 3000 for t in found)
        return found

    await room.command(ALICE, "status")
    status = sections(room.slack.ephemerals[-1].blocks)
    assert all(any(r in t for t in status) for r in shown[:5])  # status names the first five
    assert any("… and 5 more (the report lists them all)" in t for t in status)
    await approve_all(room)
    go = next(m for m in room.top_level() if (m.text or "").startswith("GO:"))
    given_on = sections(go.blocks)
    assert all(any(f"~{escape(i)}~" in t and r in t for t in given_on) for i, r in zip(
        items, shown, strict=True))  # fmt: skip


@pytest.mark.parametrize(
    ("outcome", "label", "note"),
    [
        ("completed", "Completed", "all green at T+1"),
        ("abandoned", "Abandoned", "vendor pulled out"),
        ("rolled_back", "Rolled back", "fill latency over SLO"),
    ],
)
async def test_the_report_and_export_have_the_outcome_and_the_waived_items_with_who_and_why(
    room: WarRoom, outcome: str, label: str, note: str
) -> None:
    room.slack.add_user(CTO, "carol", "Carol Chen", display_name="Carol C")
    await room.command(ALICE, "start Trading v2")
    await room.command(CTO, 'waive n/a "Failover tested" single-region launch')
    await room.command(CTO, 'waive "Read replicas configured" managed DB <replicas> & backups')
    await room.click(ALICE, "Connection pooling optimized")
    await approve_all(room)
    await room.close(CTO, outcome=outcome, note=note)

    md = await export(room, "md")
    [closed_line] = [line for line in md.splitlines() if line.startswith("- Closed by ")]
    assert closed_line.endswith(f" — outcome: **{label}** ({note})"), closed_line
    [go_closed] = [line for line in md.splitlines() if line.startswith("- Launch closed at")]
    assert go_closed.endswith(f"— outcome: **{label}** ({note})"), go_closed  # the GO history
    waived = md.split("## Waived items", 1)[1].split("\n## ", 1)[0]
    rows = {
        cells[1]: cells[2:]
        for cells in (line.split(" | ") for line in waived.splitlines())
        if cells[0] == "| Pre-Launch Phase"
    }
    by = f"Carol C ({CTO})"  # the display name, once users.info answered
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"
    assert set(rows) == {"Failover tested", "Read replicas configured"}, waived
    kind, who, at, why = rows["Failover tested"]
    assert (kind, who, why) == ("not applicable", by, "single-region launch |")
    assert re.fullmatch(stamp, at), at
    kind, who, at, why = rows["Read replicas configured"]
    assert (kind, who, why) == ("waived", by, "managed DB &lt;replicas&gt; & backups |")
    assert "Connection pooling optimized" not in waived  # ticked, not waived

    record = json.loads(await export(room, "json"))
    launch = record["launch"]
    assert (launch["close_outcome"], launch["close_note"]) == (outcome, note)
    items = {
        i["text"]: i
        for p in record["phases"]
        for sec in p["sections"]
        for g in sec["groups"]
        for i in g["items"]
    }
    assert items["Failover tested"]["waived"]["kind"] == "not_applicable"
    assert items["Failover tested"]["waived"]["by"] == {"id": CTO, "name": "Carol C"}
    assert items["Failover tested"]["waived"]["reason"] == "single-region launch"
    assert items["Read replicas configured"]["waived"]["reason"] == (
        "managed DB <replicas> & backups"
    )
    assert items["Connection pooling optimized"]["waived"] is None
    [closed] = [e for e in record["events"] if e["kind"] == "launch_closed"]
    assert closed["detail"] == {"outcome": outcome, "note": note}
