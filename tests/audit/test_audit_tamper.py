"""`audit verify` sees every table: a field edited with SQL behind the bot's back (no event touched) is
named (table, row, field, what the log says, what the row has), exit 1, and the JSON export says it is
not verified and shows the log's values. A log written before a field was recorded leaves that field
unchecked, and says so."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.sql import Executable

from bot.audit.report.export import export_launch
from bot.checklist.template import ChecklistTemplate
from bot.core.ids import ActionId
from bot.core.models import (
    Escalation,
    Item,
    ItemGroup,
    KillSwitchRequest,
    KillSwitchState,
    Launch,
    Phase,
    Section,
    SignOff,
    SlackMessage,
)
from bot.runtime import running_bot
from bot.standin import SlackStandIn
from bot.standin.outside import FakeKillSwitch, FakePagerDuty
from tests.audit.tamper import Copy, edited_and_named, record, sql, verdict
from tests.audit.test_audit import ALICE, BOB, as_an_old_log
from tests.conftest import (
    BOT_TOKEN,
    KILL_SECRET,
    ROUTING_KEY,
    SIGNING_SECRET,
    USERS,
    FakeClock,
    base_config,
    create_schema,
    drop_copy,
    make_settings,
    new_database,
    on_own_loop,
)
from tests.incidents.test_incidents import click as press
from tests.incidents.test_incidents import (
    escalation_message,
    incident_config,
    open_modal,
    submit,
    wait_for,
)
from tests.signoffs.test_signoffs import (
    CTO,
    OPS,
    PO,
    SECURITY,
    TRADER,
    approve_all,
    revoke_via_modal,
)
from tests.warroom import WarRoom

# One worker builds the lifecycle (per database) and runs every case on copies of it (the copy and
# cli fixtures: tests/audit/conftest.py).
pytestmark = pytest.mark.xdist_group("audit-tamper")

COMMENT = "Risk accepted, see RFC-12"
REASON = "Pen-test finding reopened"
FORGED_AT = datetime(2020, 1, 1, 12, 0, tzinfo=UTC)
# The approvers as tests/signoffs shows them: display names differ from the handles.
PEOPLE = {
    CTO: ("carol", "Carol Chen", "Carol Chen"),
    TRADER: ("tom", "Tom Trader", "Tom T"),
    SECURITY: ("sam", "Sam Secure", "Sam S"),
    OPS: ("olga", "Olga Ops", "Olga O"),
    PO: ("pat", "Pat Owner", "Pat O"),
}


async def everything(room: WarRoom, killswitch: FakeKillSwitch) -> None:
    """A launch that touched every table the log describes."""
    await room.command(ALICE, "start Trading v2")
    await room.click(BOB, "Failover tested")
    await room.command(CTO, f'signoff approve cto --anyway "{COMMENT}"')
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


async def a_war_room_lives_through_everything(url: str, template: ChecklistTemplate) -> None:
    """``everything`` through the real bolt app against the Slack stand-in, PagerDuty and the kill
    switch, on the database at ``url``; everything is stopped and disconnected when it returns."""
    await create_schema(url)
    async with AsyncExitStack() as stack:
        slack = SlackStandIn(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET)
        for user_id, (name, real_name) in USERS.items():
            slack.add_user(user_id, name, real_name)
        for user_id, (name, real_name, display_name) in PEOPLE.items():
            slack.add_user(user_id, name, real_name, display_name=display_name)
        pagerduty = FakePagerDuty(routing_key=ROUTING_KEY)
        killswitch = FakeKillSwitch(secret=KILL_SECRET)
        for server in (slack, pagerduty, killswitch):
            await server.start()
            stack.push_async_callback(server.stop)
        config = incident_config(
            base_config(), pagerduty_url=pagerduty.url, killswitch_url=killswitch.url
        )
        settings = make_settings(database_url=url, api_url=slack.base_url)
        bot = await stack.enter_async_context(
            running_bot(settings, config=config, template=template, clock=FakeClock())
        )
        await everything(WarRoom(slack=slack, bot=bot), killswitch)


@pytest.fixture(scope="module")
def lifecycle(
    backend: str, tmp_path_factory: pytest.TempPathFactory, template: ChecklistTemplate
) -> Iterator[str]:
    """The URL of the database as the bot left it after ``everything``: built once per database
    kind and copied for each test, which tampers with its own copy."""
    url = on_own_loop(new_database(backend, tmp_path_factory.mktemp("lifecycle")))
    try:
        on_own_loop(a_war_room_lives_through_everything(url, template))
        yield url
    finally:
        on_own_loop(drop_copy(url))


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
    copy: Copy, cli: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = await verdict(cli, capsys)
    assert code == 0, out
    assert "verified" in out and "could not be checked" not in out
    chain = (await record(copy))["chain"]
    assert (chain["verified"], chain["mismatches"], chain["findings"], chain["unchecked"]) == (
        True,
        [],
        [],
        [],
    )
    kinds = {e["kind"] for e in (await record(copy))["events"]}
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
        "item text",
        lambda: [
            update(Item).where(Item.text == "Failover tested").values(text="Failover skipped")
        ],
        "item",
        "text",
        "Failover tested",
    ),
    (
        "an unticked item's text",
        lambda: [update(Item).where(Item.text == "25% traffic").values(text="100% traffic")],
        "item",
        "text",
        "25% traffic",
    ),
    (
        "item duration",
        lambda: [update(Item).where(Item.text == "25% traffic").values(duration_minutes=1)],
        "item",
        "duration_minutes",
        30,
    ),
    (
        "item key",
        lambda: [update(Item).where(Item.key.is_not(None)).values(key=None)],
        "item",
        "key",
        None,
    ),
    (
        "item moved to another group",
        lambda: [update(Item).where(Item.text == "25% traffic").values(group_id=1)],
        "item",
        "group_id",
        None,
    ),
    (
        "item inserted",
        lambda: [
            insert(Item).values(
                launch_id=1, group_id=1, position=99, text="Forged item", checked=True
            )
        ],
        "item",
        "(row)",
        "no row (not in launch_started)",
    ),
    (
        "go-live step soak",
        lambda: [
            update(ItemGroup).where(ItemGroup.title == "Shadow Mode").values(duration_minutes=1)
        ],
        "item_group",
        "duration_minutes",
        60,
    ),
    (
        "go-live step stage",
        lambda: [
            update(ItemGroup).where(ItemGroup.title == "Canary Deployment").values(stage=None)
        ],
        "item_group",
        "stage",
        2,
    ),
    (
        "group title",
        lambda: [update(ItemGroup).where(ItemGroup.title == "Shadow Mode").values(title="Skip")],
        "item_group",
        "title",
        "Shadow Mode",
    ),
    (
        "section title",
        lambda: [update(Section).where(Section.title == "Security").values(title="Optional")],
        "section",
        "title",
        "Security",
    ),
    (
        "section deleted",
        lambda: [delete(Section).where(Section.title == "Security")],
        "section",
        "(row)",
        "a row (launch_started)",
    ),
    (
        "phase title",
        lambda: [update(Phase).where(Phase.title == "Launch Day").values(title="Day off")],
        "phase",
        "title",
        "Launch Day",
    ),
    (
        "phase timing",
        lambda: [update(Phase).where(Phase.title == "Launch Day").values(timing="T+30 days")],
        "phase",
        "timing",
        "T-0",
    ),
    (
        "launch current phase",
        lambda: [update(Launch).values(current_phase=2)],
        "launch",
        "current_phase",
        0,
    ),
    (
        "contacts",
        lambda: [update(Launch).values(template_extra={"contacts": [], "sign_off_roles": []})],
        "launch",
        "template_extra.contacts",
        None,
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
    copy: Copy,
    cli: Any,
    capsys: pytest.CaptureFixture[str],
    edit: Callable[[], list[Executable]],
    table: str,
    field: str,
    logged: Any,
) -> None:
    await edited_and_named(copy, cli, capsys, edit(), table, field, logged)


async def test_the_export_shows_what_the_log_says_not_the_edited_rows(
    copy: Copy, cli: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    await sql(
        copy,
        update(SignOff).where(_cto()).values(comment="Looks fine", user_name="Mallory"),
        update(SignOff).where(_security()).values(revoke_reason="changed my mind"),
        update(Item).where(Item.changed_by_id.is_not(None)).values(changed_by_name="Mallory"),
        update(Launch).values(name="Trading v3", started_by_id=BOB),
    )
    exported = await record(copy)
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


async def test_the_export_shows_the_checklist_the_log_recorded_not_the_edited_rows(
    copy: Copy, cli: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    async with copy.db.read_sessions() as session:
        failover = await session.scalar(select(Item).where(Item.text == "Failover tested"))
        shadow = await session.scalar(select(ItemGroup).where(ItemGroup.title == "Shadow Mode"))
        assert failover is not None and shadow is not None
    await sql(
        copy,
        update(Item).where(Item.id == failover.id).values(text="Failover skipped"),
        update(ItemGroup).where(ItemGroup.id == shadow.id).values(duration_minutes=1),
        update(Section).where(Section.title == "Security").values(title="Optional"),
        update(Phase).where(Phase.title == "Launch Day").values(title="Day off"),
        update(Launch).values(current_phase=2),
    )
    code, out = await verdict(cli, capsys)
    assert code == 1, out
    assert (
        f"item {failover.id}: text is 'Failover skipped' in the database, "
        "the event log says 'Failover tested'"
    ) in out
    assert (
        f"item_group {shadow.id}: duration_minutes is 1 in the database, the event log says 60"
    ) in out
    assert "launch 1: current_phase is 2 in the database, the event log says 0" in out
    exported = await record(copy)
    assert exported["chain"]["verified"] is False
    found = {(f["table"], f["field"]) for f in exported["chain"]["findings"]}
    assert found == {
        ("item", "text"),
        ("item_group", "duration_minutes"),
        ("section", "title"),
        ("phase", "title"),
        ("launch", "current_phase"),
    }
    # The names and soaks the record shows are the log's.
    assert item_record(exported, "Failover tested")["by"] == {"id": BOB, "name": "bob"}
    phases = {p["title"]: p for p in exported["phases"]}
    assert list(phases) == ["Pre-Launch Phase", "Launch Day", "Post-Launch", "Rollback Criteria"]
    assert "Security" in [s["title"] for s in phases["Pre-Launch Phase"]["sections"]]
    groups = [g for s in phases["Launch Day"]["sections"] for g in s["groups"]]
    assert [g["duration_minutes"] for g in groups if g["title"] == "Shadow Mode"] == [60]
    assert exported["golive"]["steps"][0]["soak_minutes"] == 60
    assert exported["launch"]["current_phase"] == "Pre-Launch Phase"
    # The Markdown event log counts the recorded checklist rather than dumping it.
    markdown = await export_launch(
        copy.url, "1", "md", roles=base_config().roles, now=datetime.now(UTC)
    )
    assert re.search(r"structure: 4 phases, \d+ sections, \d+ groups, \d+ items", markdown)


async def test_a_rewritten_chain_head_in_a_sign_off_is_named(
    copy: Copy, cli: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    async with copy.db.read_sessions() as session:
        row = await session.scalar(select(SignOff).where(_cto()))
        assert row is not None
        progress = dict(row.progress)
    signed = progress["chain_head"]
    await sql(
        copy,
        update(SignOff).where(_cto()).values(progress={**progress, "chain_head": "0" * 64}),
    )
    code, out = await verdict(cli, capsys)
    assert code == 1
    assert f"sign_off {row.id}: progress.chain_head is '{'0' * 64}' in the database" in out
    assert f"the event log says '{signed}'" in out
    exported = await record(copy)
    assert exported["chain"]["verified"] is False
    assert sign_off_record(exported, "cto")["progress"]["chain_head"] == signed


# --- a log written before the fields were recorded: unchecked, and said so -----------------------


async def test_an_old_log_verifies_what_it_can_and_names_what_it_cannot(
    copy: Copy, cli: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    await as_an_old_log(copy.db)
    code, out = await verdict(cli, capsys)
    assert code == 0, out
    assert "these fields could not be checked, so they are not verified" in out
    assert "launch 1: team_id not checked" in out
    chain = (await record(copy))["chain"]
    assert chain["verified"] is True and chain["findings"] == []
    unchecked = {(u["table"], u["field"]) for u in chain["unchecked"]}
    assert unchecked == {
        ("launch", "team_id"),
        ("sign_off", "user_name"),
        ("sign_off", "revoked_by_name"),
        ("escalation", "channel_id"),
        ("kill_switch_request", "channel_id"),
        ("kill_switch_request", "response_body"),
        # log version 4: the checklist's rows and the launch's current phase
        ("launch", "current_phase"),
        ("launch", "template_extra"),
        ("phase", "title, timing, kind, position"),
        ("section", "title, day, position, phase_id"),
        ("item_group", "title, stage, duration_minutes, position, section_id"),
        ("item", "text, key, duration_minutes, position, group_id"),
    }
    # What it can check, it still checks.
    await sql(copy, update(SignOff).where(_cto()).values(comment="Looks fine"))
    code, out = await verdict(cli, capsys)
    assert code == 1 and ": comment is 'Looks fine' in the database" in out
