"""The tamper-evident trail and the record: `launchbot audit verify` catches rows edited behind the bot's
back and names the first bad event; `launchbot export` writes what was clicked (md, csv, json)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from bot.__main__ import main
from bot.audit.chain import ChainReport, verify_chain
from bot.audit.report.csv_rows import cell
from bot.audit.report.export import Format, export_launch
from bot.checklist.proofs import Proof, tick_proven_item
from bot.core.db import Database
from bot.core.events import GENESIS_HASH, Actor, event_hash
from bot.core.ids import ActionId
from bot.core.models import Event, SignOff
from tests.signoffs.test_signoffs import (  # noqa: F401  (people is a fixture)
    CTO,
    HOLDERS,
    PO,
    SECURITY,
    TRADER,
    approve_all,
    click,
    go_messages,
    people,
    revoke_via_modal,
)
from tests.warroom import WarRoom

ALICE, BOB = "U0ALICE001", "U0BOB00001"
ROOT = Path(__file__).resolve().parents[2]


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


async def verify(room: WarRoom) -> ChainReport:
    async with room.bot.deps.db.read_sessions() as session:
        return await verify_chain(session=session, launch_id=1)


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
    found = {(m.table, m.field, m.expected, m.found) for m in report.mismatches}
    assert ("sign_off", "user_id", CTO, BOB) in found
    assert ("item", "changed_by_id", ALICE, CTO) in found
    assert await cli("audit", "verify", "1") == 1
    assert "the chain is intact but" in capsys.readouterr().out


async def test_verify_replays_a_waiver_named_after_the_ack_and_catches_its_name_edited(
    room: WarRoom,
) -> None:
    """A waiver stored under the handle and shown under the display name once Slack answered
    verifies; putting the handle back behind the bot's back does not."""
    carol = "U0CTO00001"  # a sign-off role holder in the test config
    room.slack.add_user(carol, "carol", "Carol CTO", display_name="Carol C")
    await room.command(ALICE, "start Trading v2")
    await room.command(carol, 'waive "Failover tested" covered by the DR drill')
    assert (await verify(room)).ok
    await behind_the_bots_back(
        room, "UPDATE item SET waived_by_name = 'carol' WHERE waived IS NOT NULL"
    )
    report = await verify(room)
    assert report.first_bad is None and not report.ok
    found = {(m.table, m.field, m.expected, m.found) for m in report.mismatches}
    assert [f for f in found if f[1] == "waived_by_name"] == [
        ("item", "waived_by_name", "Carol C", "carol")
    ]


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


async def test_export_is_generated_on_the_bots_clock_not_the_wall_clock(
    room: WarRoom, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rehearsal runs on ``LAUNCHBOT_CLOCK_START``: its report's generated-at time reads that
    clock, as every time the bot records does, not the machine's."""
    await a_launch_with_history(room)
    monkeypatch.setenv("LAUNCHBOT_CLOCK_START", "2031-03-14T09:30:00Z")
    monkeypatch.setenv("LAUNCHBOT_TIME_SCALE", "60")
    out = tmp_path / "record.json"
    assert await cli("export", "1", "--format", "json", "--output", str(out)) == 0
    # A few real seconds at most pass in the CLI: minutes on a 60x clock, never a year.
    assert json.loads(out.read_text())["generated_at"].startswith("2031-03-14T09:3")
    assert await cli("export", "1", "--format", "md", "--output", str(out)) == 0
    assert "- Generated 2031-03-14 09:3" in out.read_text()


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
    assert "## Sign-offs" in md and re.search(
        r"\| CTO \| approved \| 1 \| \w.* \(U0CTO00001\) \|", md
    )
    assert chain["hash"] in md


async def test_export_of_an_unknown_launch_says_so(room: WarRoom, cli, capsys) -> None:
    assert await cli("export", "42", "--format", "json") == 1
    assert "There is no launch" in capsys.readouterr().err


def test_csv_cells_cannot_smuggle_spreadsheet_formulas() -> None:
    assert cell('=HYPERLINK("http://evil")').startswith("'=")
    assert cell("@SUM(A1)") == "'@SUM(A1)"
    assert cell("Failover tested") == "Failover tested"


def test_sign_off_domain_and_audit_modules_know_nothing_of_slack_or_http() -> None:
    from tests.core.test_layering import ROOT as REPO
    from tests.core.test_layering import imports

    audit = sorted((REPO / "bot" / "audit").glob("**/*.py"))
    assert len(audit) > 10, "the audit package's modules are found"
    sign_offs = [REPO / "bot" / "signoffs" / f"{name}.py" for name in ("log", "rules", "blocks")]
    for path in [*sign_offs, *audit]:
        imported = imports(path)
        assert not {m.split(".")[0] for m in imported} & {"slack_bolt", "slack_sdk", "httpx"}, path


# --- a whole lifecycle: every role approves (GO), one revokes, the launch is closed ----------------

REASON = "Pen-test finding reopened"


async def a_full_lifecycle(room: WarRoom, *, proof: bool = False) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.click(BOB, "Failover tested")
    await room.command(CTO, 'waive "Load balancer configured" switched by DNS, no LB')
    if proof:  # an item the bot ticked on a proof (bot/checklist/proofs.py), as a dry run does
        async with room.bot.deps.db.sessions.begin() as session:
            tick = await tick_proven_item(
                session=session,
                launch_id=1,
                proof=Proof.KILLSWITCH_TEST,
                actor=Actor(CTO, "Carol CTO"),
                at=room.bot.deps.clock(),
                ref="dry-run-1",
            )
        assert tick.ticked
    await approve_all(room)
    assert len(go_messages(room)) == 1, "every role approved: GO is posted"
    await revoke_via_modal(room, SECURITY, "security_officer", REASON)
    await room.close(CTO, note="all green")  # a role holder who did not start it


async def export(room: WarRoom, fmt: Format) -> str:
    """What `launchbot export 1 --format FMT` writes (the function the CLI calls), as of the bot's
    clock."""
    return await export_launch(
        room.bot.deps.settings.database_url,
        "1",
        fmt,
        roles=room.bot.deps.config.roles,
        now=room.bot.deps.clock(),
    )


async def test_export_json_of_a_full_lifecycle(room: WarRoom) -> None:
    await a_full_lifecycle(room)
    record = json.loads(await export(room, "json"))
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for e in record["events"]:
        by_kind.setdefault(e["kind"], []).append(e)
    [closed] = by_kind["launch_closed"]
    [revoked_event] = by_kind["sign_off_revoked"]
    [go_event] = by_kind["launch_go"]
    [withdrawn_event] = by_kind["go_withdrawn"]
    assert closed is record["events"][-1]

    launch = record["launch"]
    assert launch["started_by"] == {"id": ALICE, "name": "alice"}
    assert launch["closed_by"] == {
        "id": CTO,
        "name": "Carol Chen",
    }  # her display name: Slack named her at her sign-off
    assert launch["closed_at"] == closed["at"] and closed["actor"]["id"] == CTO

    records = record["sign_offs"]["records"]
    assert [(r["role_id"], r["by"]["id"]) for r in records] == list(HOLDERS.items())
    [revoked] = [r for r in records if r["revoked"]]
    assert revoked["role_id"] == "security_officer" and revoked["by"]["id"] == SECURITY
    assert revoked["revoked"] == {
        "at": revoked_event["at"],
        "by": {"id": SECURITY, "name": "Sam S"},
        "reason": REASON,
    }
    assert revoked_event["detail"]["reason"] == REASON
    assert revoked_event["detail"]["sign_off_id"] == revoked["id"]
    roles = {r["role_id"]: (r["status"], r["approved_by"]) for r in record["sign_offs"]["roles"]}
    assert roles == {
        role_id: ("pending", []) if role_id == "security_officer" else ("approved", [user])
        for role_id, user in HOLDERS.items()
    }
    assert record["sign_offs"]["all_approved"] is False

    [go] = record["go"]
    assert (go["number"], go["declared_by"]) == (1, PO)
    assert (go["event_seq"], go["event_hash"], go["at"]) == (
        go_event["seq"],
        go_event["hash"],
        go_event["at"],
    )
    assert go["withdrawn"] == {
        "at": withdrawn_event["at"],
        "by": SECURITY,
        "role": "Security Officer",
        "reason": REASON,
    }
    # In the order they happened: GO, then the revocation withdrawing it, then the closing.
    assert go_event["seq"] < revoked_event["seq"] < withdrawn_event["seq"] < closed["seq"]
    assert record["chain"]["verified"] is True
    assert record["chain"]["head_hash"] == closed["hash"]


async def test_export_csv_and_markdown_of_a_full_lifecycle(room: WarRoom) -> None:
    await a_full_lifecycle(room)
    rows = list(csv.DictReader(io.StringIO(await export(room, "csv"))))
    [launch] = [r for r in rows if r["record"] == "launch"]
    assert (launch["state"], launch["user_id"]) == ("closed", ALICE)
    [closed] = [r for r in rows if r["record"] == "launch_closed"]
    assert (closed["state"], closed["user_id"], closed["user_name"]) == (
        "closed",
        CTO,
        "Carol Chen",
    )
    [closed_event] = [r for r in rows if r["record"] == "event" and r["state"] == "launch_closed"]
    assert closed["at"] == closed_event["at"] and closed_event["user_id"] == CTO
    [revoked] = [r for r in rows if r["record"] == "sign_off_revoked"]
    assert (revoked["state"], revoked["role"], revoked["user_id"], revoked["comment"]) == (
        "revoked",
        "Security Officer",
        SECURITY,
        REASON,
    )
    [revoked_event] = [
        r for r in rows if r["record"] == "event" and r["state"] == "sign_off_revoked"
    ]
    assert revoked["at"] == revoked_event["at"]
    sign_offs = [(r["role"], r["user_id"], r["state"]) for r in rows if r["record"] == "sign_off"]
    assert sign_offs == [
        ("CTO", CTO, "approved"),
        ("Head of Trading", TRADER, "approved"),
        ("Security Officer", SECURITY, "revoked"),
        ("DevOps Lead", HOLDERS["devops_lead"], "approved"),
        ("Product Owner", PO, "approved"),
    ]
    [go] = [r for r in rows if r["record"] == "go"]
    assert (go["state"], go["user_id"]) == ("withdrawn", PO)
    assert json.loads(go["detail"])["reason"] == REASON

    md = await export(room, "md")
    assert re.search(r"^- Closed by Carol Chen \(U0CTO00001\) at \d{4}-\d\d-\d\d ", md, re.M), md
    assert "| Security Officer | pending | 1 | — |" in md
    # Who approved is named as in the other tables, not by a bare Slack ID.
    assert f"| CTO | approved | 1 | Carol Chen ({CTO}) |" in md
    assert f"by Sam S ({SECURITY}): {REASON} |" in md
    [go_line] = [line for line in md.splitlines() if line.startswith("- GO #1 at")]
    assert go["hash"] in go_line
    assert (
        "— withdrawn at" in go_line
        and f"by Sam S ({SECURITY}): Security Officer revoked ({REASON})" in go_line
    )


# --- the README's JSON schema and the exported record agree ------------------------------------

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|//[^\n]*|[{}\[\]:,|]|[^\s{}\[\]:,|"]+')
Schema = dict[str, Any] | list[Any] | None  # an object's keys, an array's element, or a leaf


def readme_schema() -> Schema:
    """The ``jsonc`` block documenting ``launchbot.report/1`` in README.md, as a tree of key names.

    The block is JSON-like shorthand: ``{"id", "name"}`` lists keys, ``"key": value`` gives a key's
    shape, ``null | {...}`` a nullable object, ``[...]`` an array; other values are leaves."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```jsonc\n(.*?)```", readme, re.S)
    [block] = [b for b in blocks if '"launchbot.report/1"' in b]
    tokens = [t for t in _TOKEN.findall(block) if not t.startswith("//")]
    pos = 0

    def peek() -> str:
        return tokens[pos]

    def take(expected: str | None = None) -> str:
        nonlocal pos
        token = tokens[pos]
        assert expected is None or token == expected, (expected, token, tokens[pos - 5 : pos + 5])
        pos += 1
        return token

    def value() -> Schema:
        shape: Schema = None
        while True:
            token = peek()
            if token == "{":
                shape = obj()
            elif token == "[":
                shape = arr()
            else:
                take()
                while peek() not in set("{}[]:,|") and not peek().startswith('"'):
                    take()  # bare words, as in [user ids]
            if peek() != "|":
                return shape
            take("|")

    def obj() -> dict[str, Any]:
        keys: dict[str, Any] = {}
        take("{")
        while peek() != "}":
            key = take()
            assert key.startswith('"'), key
            keys[json.loads(key)] = None
            if peek() == ":":
                take(":")
                keys[json.loads(key)] = value()
            if peek() == ",":
                take(",")
        take("}")
        return keys

    def arr() -> list[Any]:
        take("[")
        element = None if peek() == "]" else value()
        take("]")
        return [element]

    schema = obj()
    assert pos == len(tokens), tokens[pos:]
    return schema


def drift(schema: Schema, instances: list[Any], path: str = "$") -> list[str]:
    """Where the exported records and the documented shape disagree (both ways)."""
    if schema is None:
        return []
    present = [i for i in instances if i is not None]
    if not present:
        return [f"{path}: documented, but no exported record has a value to check it against"]
    if isinstance(schema, list):
        if schema[0] is None:
            return (
                [f"{path}: not an array"] if not all(isinstance(i, list) for i in present) else []
            )
        return drift(schema[0], [e for i in present for e in i], f"{path}[]")
    problems = []
    for i in present:
        if not isinstance(i, dict):
            return [f"{path}: not an object"]
        problems += [f"{path}.{k}: documented, not exported" for k in schema if k not in i]
        problems += [f"{path}.{k}: exported, not documented" for k in i if k not in schema]
    for key, shape in schema.items():
        problems += drift(shape, [i.get(key) for i in present], f"{path}.{key}")
    return sorted(set(problems))


def test_the_readme_schema_block_is_parsed_as_documented() -> None:
    schema = readme_schema()
    assert isinstance(schema, dict)
    assert list(schema) == [
        "schema",
        "generated_at",
        "launch",
        "phases",
        "sign_offs",
        "go",
        "golive",
        "events",
        "chain",
    ]
    assert schema["launch"]["closed_by"] == {"id": None, "name": None}
    assert schema["go"] == [
        {
            "number": None,
            "at": None,
            "declared_by": None,
            "event_seq": None,
            "event_hash": None,
            "withdrawn": {"at": None, "by": None, "role": None, "reason": None},
            "readiness": {
                "current_phase": None,
                "phases": [{"title": None, "done": None, "total": None, "complete": None}],
                "open_count": None,
                "open_items": [None],
                "waived": [{"text": None, "kind": None, "by": None, "reason": None}],
            },
        }
    ]
    assert schema["sign_offs"]["roles"][0]["approved_by"] == [None]

    # Every quoted key name in the block is in the tree (a quoted value follows a colon).
    readme = (ROOT / "README.md").read_text()
    [block] = [b for b in re.findall(r"```jsonc\n(.*?)```", readme, re.S) if "report/1" in b]
    quoted = re.findall(r'(?<!:)(?<!: )"[a-z_]+"', re.sub(r"//[^\n]*", "", block))

    def count(shape: Schema) -> int:
        if isinstance(shape, list):
            return count(shape[0])
        if isinstance(shape, dict):
            return len(shape) + sum(count(v) for v in shape.values())
        return 0

    assert count(schema) == len(quoted) > 80


async def test_exported_json_has_every_key_the_readme_documents(room: WarRoom) -> None:
    """Each key in README's ``launchbot.report/1`` block is in the export, where the block says, and
    the export has no key the block does not name: the documentation and the code cannot drift."""
    await a_full_lifecycle(room, proof=True)
    clean = json.loads(await export(room, "json"))
    assert clean["chain"]["first_bad"] is None
    # A row edited behind the bot's back in a log of the previous version: ``findings`` and
    # ``unchecked`` have entries to check.
    await behind_the_bots_back(room, "UPDATE sign_off SET comment = 'forged'")
    await as_an_old_log(room.bot.deps.db)
    tampered = json.loads(await export(room, "json"))
    assert tampered["chain"]["findings"] and tampered["chain"]["unchecked"]
    # A record whose chain is broken, so the documented ``first_bad`` object is exported too.
    seq = await seq_of(room, "item_checked")
    await behind_the_bots_back(
        room, "UPDATE event SET actor_id = :who WHERE seq = :seq", who=ALICE, seq=seq
    )
    broken = json.loads(await export(room, "json"))
    assert broken["chain"]["first_bad"]["seq"] == seq
    # This lifecycle never starts the go-live sequence: tests/golive/test_record.py checks that part.
    schema = readme_schema()
    assert isinstance(schema, dict) and clean["golive"]["steps"]
    del schema["golive"]
    records = [{k: v for k, v in r.items() if k != "golive"} for r in (clean, tampered, broken)]
    assert drift(schema, records) == []


async def as_an_old_log(db: Database) -> None:
    """Rewrite launch 1's log as log version 1 wrote it: no ``log_version`` nor the details added
    with it, the chain rehashed as it would have been then (and the chain heads the approvers
    signed with it)."""
    new_detail = {
        "launch_started": ("log_version", "team_id", "structure", "template_extra"),
        "escalation_opened": ("channel_id",),
        "killswitch_requested": ("channel_id",),
        "killswitch_confirmed": ("response_body",),
        "killswitch_failed": ("response_body",),
        "killswitch_test_confirmed": ("response_body",),
        "killswitch_test_failed": ("response_body",),
        # log version 3
        "escalation_level_due": ("due_at",),
        "escalation_path_exhausted": ("due_at",),
        "metric_alert_action": ("shown",),
        # log version 4
        "launch_date_moved": ("retitled",),
    }
    async with db.sessions.begin() as session:
        events = (await session.scalars(select(Event).order_by(Event.seq))).all()
        prev = GENESIS_HASH
        for e in events:
            detail = {k: v for k, v in e.detail.items() if k not in new_detail.get(e.kind, ())}
            if e.kind == "sign_off_approved":
                detail["progress"] = {**detail["progress"], "chain_head": prev}
                row = await session.get(SignOff, detail["sign_off_id"])
                assert row is not None
                row.progress = detail["progress"]
            e.detail = detail
            e.prev_hash = prev
            e.hash = event_hash(prev, e)
            prev = e.hash


async def test_user_html_in_the_markdown_report_is_escaped(room: WarRoom) -> None:
    await room.command(ALICE, "start <script>alert(1)</script> R&D")
    await room.command(CTO, 'signoff approve cto --anyway "<img src=x onerror=alert(1)> | ok"')
    text = await export_launch(
        room.bot.deps.settings.database_url,
        "1",
        "md",
        roles=room.bot.deps.config.roles,
        now=datetime.now(UTC),
    )
    assert "<script>" not in text and "<img" not in text
    # "&" is left as typed (a Markdown viewer shows "R&D", not "R&amp;D"); one that would start an
    # entity is escaped, so the text reads as typed there too.
    assert "&lt;script&gt;alert(1)&lt;/script&gt; R&D" in text
    assert "&lt;img src=x onerror=alert(1)&gt; \\| ok" in text
