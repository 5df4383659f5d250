"""`audit verify` sees every table: a field edited with SQL behind the bot's back (no event touched) is
named (table, row, field, what the log says, what the row has), exit 1, and the JSON export says it is
not verified and shows the log's values. A log written before a field was recorded leaves that field
unchecked, and says so."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.sql import Executable

from bot.core.ids import ActionId
from bot.core.models import (
    Escalation,
    Item,
    KillSwitchRequest,
    KillSwitchState,
    Launch,
    SignOff,
    SlackMessage,
)
from bot.standin.outside import FakeKillSwitch
from tests.audit import test_audit
from tests.audit.test_audit import ALICE, BOB, as_an_old_log, export
from tests.incidents import test_incidents
from tests.incidents.test_incidents import click as press
from tests.incidents.test_incidents import escalation_message, open_modal, submit, wait_for
from tests.signoffs import test_signoffs
from tests.signoffs.test_signoffs import CTO, SECURITY, approve_all, revoke_via_modal
from tests.warroom import WarRoom

# The fixtures these tests use: the war room with PagerDuty and the kill switch (test_incidents; the
# fakes themselves are conftest fixtures),
# the approvers' display names (test_signoffs) and `launchbot …` on the room's database (test_audit).
config, running = test_incidents.config, test_incidents.running
people, cli = test_signoffs.people, test_audit.cli

COMMENT = "Risk accepted, see RFC-12"
REASON = "Pen-test finding reopened"
FORGED_AT = datetime(2020, 1, 1, 12, 0, tzinfo=UTC)


async def everything(room: WarRoom, killswitch: FakeKillSwitch) -> None:
    """A launch that touched every table the log describes."""
    await room.command(ALICE, "start Trading v2")
    await room.click(BOB, "Failover tested")
    await room.command(CTO, f'signoff approve cto "{COMMENT}"')
    await approve_all(room, skip=("cto",))  # GO
    await revoke_via_modal(room, SECURITY, "security_officer", REASON)  # GO withdrawn
    await room.command(ALICE, "escalate sev1 order gateway rejecting all orders")
    await press(room, BOB, escalation_message(room), ActionId.ESCALATION_ACK)
    await room.command(CTO, "killswitch arm")
    view = await open_modal(room, CTO)
    await submit(room, CTO, view, name="Trading v2", reason="orders rejected")
    await wait_for(lambda: len(killswitch.requests) == 1, "the kill switch fired")
    await room.close(CTO)
    await room.settle()


async def sql(room: WarRoom, *statements: Executable) -> None:
    """Someone with database access, behind the bot's back: plain SQL, no event written."""
    async with room.bot.deps.db.sessions.begin() as session:
        for statement in statements:
            await session.execute(statement)


async def verdict(room: WarRoom, cli: Any, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = await cli("audit", "verify", "1")
    return code, capsys.readouterr().out


async def record(room: WarRoom) -> dict[str, Any]:
    return dict(json.loads(await export(room, "json")))


def sign_off_record(record: dict[str, Any], role_id: str) -> dict[str, Any]:
    [found] = [r for r in record["sign_offs"]["records"] if r["role_id"] == role_id]
    return found


def item_record(record: dict[str, Any], text: str) -> dict[str, Any]:
    [found] = [
        i
        for p in record["phases"]
        for s in p["sections"]
        for g in s["groups"]
        for i in g["items"]
        if i["text"] == text
    ]
    return found


async def test_an_untampered_lifecycle_touching_every_table_verifies(
    room: WarRoom, cli: Any, capsys: pytest.CaptureFixture[str], killswitch: FakeKillSwitch
) -> None:
    await everything(room, killswitch)
    code, out = await verdict(room, cli, capsys)
    assert code == 0, out
    assert "verified" in out and "could not be checked" not in out
    chain = (await record(room))["chain"]
    assert (chain["verified"], chain["mismatches"], chain["findings"], chain["unchecked"]) == (
        True,
        [],
        [],
        [],
    )
    kinds = {e["kind"] for e in (await record(room))["events"]}
    assert {
        "display_name_resolved",
        "launch_go",
        "go_withdrawn",
        "escalation_acknowledged",
        "killswitch_armed",
        "killswitch_confirmed",
        "launch_closed",
    } <= kinds


def _cto() -> Any:
    return SignOff.role_id == "cto"


def _security() -> Any:
    return SignOff.role_id == "security_officer"


# (what was edited, the SQL, table, field, what the log says — None: only named)
Tampering = tuple[str, Callable[[], list[Executable]], str, str, Any]
TAMPERINGS: list[Tampering] = [
    (
        "sign-off comment",
        lambda: [update(SignOff).where(_cto()).values(comment="Looks fine")],
        "sign_off",
        "comment",
        COMMENT,
    ),
    (
        "approver name",
        lambda: [update(SignOff).where(_cto()).values(user_name="Mallory")],
        "sign_off",
        "user_name",
        "Carol Chen",
    ),
    (
        "approver id",
        lambda: [update(SignOff).where(_cto()).values(user_id=BOB)],
        "sign_off",
        "user_id",
        CTO,
    ),
    (
        "approval time",
        lambda: [update(SignOff).where(_cto()).values(at=FORGED_AT)],
        "sign_off",
        "at",
        None,
    ),
    (
        "revocation reason",
        lambda: [update(SignOff).where(_security()).values(revoke_reason="changed my mind")],
        "sign_off",
        "revoke_reason",
        REASON,
    ),
    (
        "revoker name",
        lambda: [update(SignOff).where(_security()).values(revoked_by_name="Mallory")],
        "sign_off",
        "revoked_by_name",
        "Sam S",
    ),
    (
        "revocation undone",
        lambda: [
            update(SignOff)
            .where(_security())
            .values(revoked_at=None, revoked_by_id=None, revoked_by_name=None, revoke_reason=None)
        ],
        "sign_off",
        "revoked_at",
        None,
    ),
    (
        "sign-off row deleted",
        lambda: [delete(SignOff).where(_security())],
        "sign_off",
        "(row)",
        None,
    ),
    (
        "item changed_at",
        lambda: [update(Item).where(Item.changed_at.is_not(None)).values(changed_at=FORGED_AT)],
        "item",
        "changed_at",
        None,
    ),
    (
        "item changed_by_name",
        lambda: [
            update(Item).where(Item.changed_by_id.is_not(None)).values(changed_by_name="Mallory")
        ],
        "item",
        "changed_by_name",
        "bob",
    ),
    (
        "item unticked",
        lambda: [update(Item).where(Item.checked.is_(True)).values(checked=False)],
        "item",
        "checked",
        True,
    ),
    (
        "launch name",
        lambda: [update(Launch).values(name="Trading v3")],
        "launch",
        "name",
        "Trading v2",
    ),
    (
        "launch started_by_id",
        lambda: [update(Launch).values(started_by_id=BOB)],
        "launch",
        "started_by_id",
        ALICE,
    ),
    (
        "launch started_by_name",
        lambda: [update(Launch).values(started_by_name="Mallory")],
        "launch",
        "started_by_name",
        "alice",
    ),
    (
        "launch channel",
        lambda: [update(Launch).values(channel_id="C0ELSEWHERE")],
        "launch",
        "channel_id",
        "C0WARROOM1",
    ),
    (
        "launch closed_by",
        lambda: [update(Launch).values(closed_by_id=BOB, closed_by_name="Bob")],
        "launch",
        "closed_by_id",
        CTO,
    ),
    (
        "launch reopened",
        lambda: [update(Launch).values(closed_at=None, active_channel="C0WARROOM1")],
        "launch",
        "closed_at",
        None,
    ),
    (
        "GO message deleted",
        lambda: [delete(SlackMessage).where(SlackMessage.kind == "go")],
        "slack_message",
        "(row)",
        None,
    ),
    (
        "escalation acknowledged by",
        lambda: [update(Escalation).values(acknowledged_by_id=ALICE)],
        "escalation",
        "acknowledged_by_id",
        BOB,
    ),
    (
        "escalation status",
        lambda: [update(Escalation).values(status="resolved")],
        "escalation",
        "status",
        "acknowledged",
    ),
    (
        "escalation severity",
        lambda: [update(Escalation).values(severity="sev3")],
        "escalation",
        "severity",
        "sev1",
    ),
    (
        "kill-switch status",
        lambda: [update(KillSwitchRequest).values(status="failed")],
        "kill_switch_request",
        "status",
        "confirmed",
    ),
    (
        "kill-switch requester",
        lambda: [update(KillSwitchRequest).values(requested_by_id=BOB)],
        "kill_switch_request",
        "requested_by_id",
        CTO,
    ),
    (
        "kill-switch reason",
        lambda: [update(KillSwitchRequest).values(reason="drill")],
        "kill_switch_request",
        "reason",
        "orders rejected",
    ),
    (
        "kill-switch http status",
        lambda: [update(KillSwitchRequest).values(http_status=500)],
        "kill_switch_request",
        "http_status",
        200,
    ),
    (
        "kill switch disarmed",
        lambda: [update(KillSwitchState).values(armed=False)],
        "kill_switch_state",
        "armed",
        True,
    ),
]


@pytest.mark.parametrize(
    ("edit", "table", "field", "logged"),
    [pytest.param(t[1], t[2], t[3], t[4], id=t[0]) for t in TAMPERINGS],
)
async def test_a_field_edited_behind_the_bots_back_is_named(
    room: WarRoom,
    cli: Any,
    capsys: pytest.CaptureFixture[str],
    killswitch: FakeKillSwitch,
    edit: Callable[[], list[Executable]],
    table: str,
    field: str,
    logged: Any,
) -> None:
    await everything(room, killswitch)
    await sql(room, *edit())
    code, out = await verdict(room, cli, capsys)
    assert code == 1, out
    assert "the chain is intact but" in out
    assert f"  - {table} " in out and f": {field} is " in out, out
    if logged is not None:
        assert f"the event log says {logged!r}" in out, out
    chain = (await record(room))["chain"]
    assert chain["verified"] is False and chain["first_bad"] is None
    named = [f for f in chain["findings"] if (f["table"], f["field"]) == (table, field)]
    assert named, chain["findings"]
    if logged is not None:
        assert named[0]["expected"] == logged
    assert len(chain["mismatches"]) == len(chain["findings"])


async def test_the_export_shows_what_the_log_says_not_the_edited_rows(
    room: WarRoom, cli: Any, capsys: pytest.CaptureFixture[str], killswitch: FakeKillSwitch
) -> None:
    await everything(room, killswitch)
    await sql(
        room,
        update(SignOff).where(_cto()).values(comment="Looks fine", user_name="Mallory"),
        update(SignOff).where(_security()).values(revoke_reason="changed my mind"),
        update(Item).where(Item.changed_by_id.is_not(None)).values(changed_by_name="Mallory"),
        update(Launch).values(name="Trading v3", started_by_id=BOB),
    )
    exported = await record(room)
    assert exported["chain"]["verified"] is False
    assert exported["launch"]["name"] == "Trading v2"
    assert exported["launch"]["started_by"]["id"] == ALICE
    cto = sign_off_record(exported, "cto")
    assert (cto["comment"], cto["by"]["name"]) == (COMMENT, "Carol Chen")
    assert sign_off_record(exported, "security_officer")["revoked"]["reason"] == REASON
    assert item_record(exported, "Failover tested")["by"] == {"id": BOB, "name": "bob"}
    found = {(f["table"], f["field"]) for f in exported["chain"]["findings"]}
    assert found == {
        ("sign_off", "comment"),
        ("sign_off", "user_name"),
        ("sign_off", "revoke_reason"),
        ("item", "changed_by_name"),
        ("launch", "name"),
        ("launch", "started_by_id"),
    }


async def test_a_rewritten_chain_head_in_a_sign_off_is_named(
    room: WarRoom, cli: Any, capsys: pytest.CaptureFixture[str], killswitch: FakeKillSwitch
) -> None:
    await everything(room, killswitch)
    async with room.bot.deps.db.read_sessions() as session:
        row = await session.scalar(select(SignOff).where(_cto()))
        assert row is not None
        progress = dict(row.progress)
    signed = progress["chain_head"]
    await sql(
        room,
        update(SignOff).where(_cto()).values(progress={**progress, "chain_head": "0" * 64}),
    )
    code, out = await verdict(room, cli, capsys)
    assert code == 1
    assert f"sign_off {row.id}: progress.chain_head is '{'0' * 64}' in the database" in out
    assert f"the event log says '{signed}'" in out
    exported = await record(room)
    assert exported["chain"]["verified"] is False
    assert sign_off_record(exported, "cto")["progress"]["chain_head"] == signed


# --- a log written before the fields were recorded: unchecked, and said so -----------------------


async def test_an_old_log_verifies_what_it_can_and_names_what_it_cannot(
    room: WarRoom, cli: Any, capsys: pytest.CaptureFixture[str], killswitch: FakeKillSwitch
) -> None:
    await everything(room, killswitch)
    await as_an_old_log(room)
    code, out = await verdict(room, cli, capsys)
    assert code == 0, out
    assert "these fields could not be checked, so they are not verified" in out
    assert "launch 1: team_id not checked" in out
    chain = (await record(room))["chain"]
    assert chain["verified"] is True and chain["findings"] == []
    unchecked = {(u["table"], u["field"]) for u in chain["unchecked"]}
    assert unchecked == {
        ("launch", "team_id"),
        ("sign_off", "user_name"),
        ("sign_off", "revoked_by_name"),
        ("escalation", "channel_id"),
        ("kill_switch_request", "channel_id"),
        ("kill_switch_request", "response_body"),
    }
    # What it can check, it still checks.
    await sql(room, update(SignOff).where(_cto()).values(comment="Looks fine"))
    code, out = await verdict(room, cli, capsys)
    assert code == 1 and ": comment is 'Looks fine' in the database" in out
