"""The tamper-evident trail and the record: `launchbot audit verify` catches rows edited behind the bot's
back and names the first bad event; `launchbot export` writes what was clicked (md, csv, json)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import select, text

from bot import audit
from bot.__main__ import main
from bot.checklist import event_hash
from bot.ids import ActionId
from bot.models import Event
from tests.test_signoffs import CTO, TRADER, click, people  # noqa: F401  (people is a fixture)
from tests.warroom import WarRoom

ALICE, BOB = "U0ALICE001", "U0BOB00001"
ROOT = Path(__file__).resolve().parents[1]


async def a_launch_with_history(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.click(BOB, "Failover tested")
    await room.click(ALICE, "Read replicas configured")
    await room.click(ALICE, "Failover tested")  # unticked again: history, not just state
    await click(room, BOB, "cto")  # refused, recorded
    await click(room, CTO, "cto")
    await click(room, TRADER, "head_of_trading")


async def seq_of(room: WarRoom, kind: str) -> int:
    async with room.bot.deps.db.read_sessions() as session:
        seq = await session.scalar(
            select(Event.seq).where(Event.kind == kind).order_by(Event.seq).limit(1)
        )
    assert seq is not None
    return int(seq)


async def verify(room: WarRoom) -> audit.ChainReport:
    async with room.bot.deps.db.read_sessions() as session:
        return await audit.verify_chain(session=session, launch_id=1)


async def behind_the_bots_back(room: WarRoom, sql: str, **params: object) -> None:
    async with room.bot.deps.db.sessions.begin() as session:
        await session.execute(text(sql), params)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, room: WarRoom) -> object:
    """``launchbot …`` against the room's database, run the way a shell runs it (own event loop)."""
    monkeypatch.setenv("DATABASE_URL", room.bot.deps.settings.database_url)
    monkeypatch.setenv("LAUNCHBOT_CONFIG", str(ROOT / "launchbot.example.toml"))

    async def run(*argv: str) -> int:
        return await asyncio.to_thread(main, list(argv))

    return run


async def test_an_untouched_log_verifies(room: WarRoom, cli, capsys) -> None:
    await a_launch_with_history(room)
    report = await verify(room)
    assert report.ok and report.events >= 10
    assert await cli("audit", "verify", "1") == 0
    out = capsys.readouterr().out
    assert f"verified: {report.events} events, head {report.head_hash}" in out


async def test_verify_names_the_row_edited_behind_the_bots_back(room: WarRoom, cli, capsys) -> None:
    await a_launch_with_history(room)
    seq = await seq_of(room, "sign_off_approved")
    # Someone with database access pretends Bob approved as CTO.
    await behind_the_bots_back(
        room, "UPDATE event SET actor_id = :who WHERE seq = :seq", who=BOB, seq=seq
    )
    report = await verify(room)
    assert report.first_bad is not None and report.first_bad.seq == seq
    assert report.first_bad.kind == "sign_off_approved"
    assert "this row was edited" in report.first_bad.reason
    assert await cli("audit", "verify", "Trading v2") == 1
    out = capsys.readouterr().out
    assert f"BROKEN at event #{seq} (sign_off_approved" in out


async def test_verify_catches_a_rewritten_hash_at_the_next_link(room: WarRoom) -> None:
    await a_launch_with_history(room)
    seq = await seq_of(room, "item_checked")
    async with room.bot.deps.db.sessions.begin() as session:
        event = await session.scalar(select(Event).where(Event.seq == seq))
        assert event is not None
        event.actor_id = ALICE
        event.hash = event_hash(event.prev_hash, event)  # a careful forger recomputes the hash
    report = await verify(room)
    assert report.first_bad is not None and report.first_bad.seq == seq + 1
    assert "prev_hash does not match" in report.first_bad.reason


async def test_verify_catches_a_deleted_event(room: WarRoom) -> None:
    await a_launch_with_history(room)
    seq = await seq_of(room, "sign_off_refused")
    await behind_the_bots_back(room, "DELETE FROM event WHERE seq = :seq", seq=seq)
    report = await verify(room)
    assert report.first_bad is not None and report.first_bad.seq == seq + 1
    assert "jumps" in report.first_bad.reason


async def test_verify_catches_a_sign_off_row_that_no_longer_matches_its_event(
    room: WarRoom, cli, capsys
) -> None:
    await a_launch_with_history(room)
    await behind_the_bots_back(
        room, "UPDATE sign_off SET user_id = :who WHERE role_id = 'cto'", who=BOB
    )
    await behind_the_bots_back(room, "UPDATE item SET changed_by_id = :who", who=CTO)
    report = await verify(room)
    assert report.first_bad is None and not report.ok
    assert any("CTO by U0BOB00001" in m for m in report.mismatches)
    assert any("Read replicas configured" in m for m in report.mismatches)
    assert await cli("audit", "verify", "1") == 1
    assert "the chain is intact but" in capsys.readouterr().out


async def test_export_json_matches_what_was_clicked(room: WarRoom, cli, tmp_path: Path) -> None:
    await a_launch_with_history(room)
    out = tmp_path / "record.json"
    assert await cli("export", "1", "--format", "json", "--output", str(out)) == 0
    record = json.loads(out.read_text())
    assert record["schema"] == "launchbot.report/1"
    assert record["launch"]["name"] == "Trading v2"
    assert record["launch"]["started_by"]["id"] == ALICE
    items = {
        i["text"]: i
        for p in record["phases"]
        for s in p["sections"]
        for g in s["groups"]
        for i in g["items"]
    }
    replicas, failover = items["Read replicas configured"], items["Failover tested"]
    assert (replicas["checked"], replicas["by"]["id"]) == (True, ALICE)
    assert failover["checked"] is False and failover["by"]["id"] == ALICE
    assert [(h["action"], h["by"]["id"]) for h in failover["history"]] == [
        ("checked", BOB),
        ("unchecked", ALICE),
    ]
    records = record["sign_offs"]["records"]
    assert [(r["role_id"], r["by"]["id"], r["by"]["name"]) for r in records] == [
        ("cto", CTO, "Carol Chen"),
        ("head_of_trading", TRADER, "Tom T"),
    ]
    assert records[0]["progress"]["done"] == 1  # one item was ticked when the CTO approved
    roles = {r["role_id"]: r["status"] for r in record["sign_offs"]["roles"]}
    assert roles == {
        "cto": "approved",
        "head_of_trading": "approved",
        "security_officer": "pending",
        "devops_lead": "pending",
        "product_owner": "pending",
    }
    kinds = [e["kind"] for e in record["events"]]
    assert kinds.count("sign_off_refused") == 1
    assert record["chain"]["verified"] is True
    assert record["chain"]["head_hash"] == record["events"][-1]["hash"]
    assert record["chain"]["events"] == len(record["events"])


async def test_export_csv_and_markdown_hold_the_same_record(
    room: WarRoom, cli, tmp_path: Path
) -> None:
    await a_launch_with_history(room)
    await click(room, CTO, "cto", ActionId.SIGNOFF_REVOKE)  # opens the form; nothing recorded
    assert await cli("export", "1", "--format", "csv", "--output", str(tmp_path / "r.csv")) == 0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text())))
    sign_offs = [(r["role"], r["user_id"], r["state"]) for r in rows if r["record"] == "sign_off"]
    assert sign_offs == [("CTO", CTO, "approved"), ("Head of Trading", TRADER, "approved")]
    history = [(r["item"], r["state"], r["user_id"]) for r in rows if r["record"] == "item_history"]
    assert ("Failover tested", "unchecked", ALICE) in history
    [chain] = [r for r in rows if r["record"] == "chain"]
    assert chain["state"] == "verified"
    assert (
        await cli("export", "Trading v2", "--format", "md", "--output", str(tmp_path / "r.md")) == 0
    )
    md = (tmp_path / "r.md").read_text()
    assert "## Sign-offs" in md and "| CTO | approved | 1 | U0CTO00001 |" in md
    assert chain["hash"] in md


async def test_export_of_an_unknown_launch_says_so(room: WarRoom, cli, capsys) -> None:
    assert await cli("export", "42", "--format", "json") == 1
    assert "There is no launch" in capsys.readouterr().err


def test_csv_cells_cannot_smuggle_spreadsheet_formulas() -> None:
    from bot.report import _cell

    assert _cell('=HYPERLINK("http://evil")').startswith("'=")
    assert _cell("@SUM(A1)") == "'@SUM(A1)"
    assert _cell("Failover tested") == "Failover tested"


def test_sign_off_domain_and_audit_modules_know_nothing_of_slack_or_http() -> None:
    from tests.test_layering import ROOT as REPO
    from tests.test_layering import imports

    for name in ("signoffs", "audit", "report", "signoff_blocks"):
        imported = imports(REPO / "bot" / f"{name}.py")
        assert not {m.split(".")[0] for m in imported} & {"slack_bolt", "slack_sdk", "httpx"}, name
