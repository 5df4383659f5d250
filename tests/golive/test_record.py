"""The go-live sequence in the record: the export's ``golive`` section (JSON, Markdown, CSV) comes from
the event log, and ``audit verify`` names a ``golive`` or ``traffic_request`` row edited behind the
bot's back."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import Iterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.sql import Executable

from bot.__main__ import main
from bot.audit.report.export import export_launch
from bot.checklist.template import ChecklistTemplate
from bot.core.config import GoLiveConfig, load_config
from bot.core.db import open_database
from bot.core.models import GoLive, TrafficRequest
from bot.golive.timer_flows import post_due_reminders
from bot.runtime import running_bot
from bot.standin import SlackStandIn
from bot.standin.outside import FakeTrafficRouter
from tests.audit.test_audit import drift, export, readme_schema
from tests.conftest import (
    BOT_TOKEN,
    SIGNING_SECRET,
    USERS,
    FakeClock,
    base_config,
    copy_database,
    create_schema,
    drop_copy,
    make_settings,
    new_database,
    on_own_loop,
)
from tests.golive import test_traffic
from tests.golive.test_golive import (
    ALICE,
    CTO,
    OPS,
    SHADOW_ITEMS,
    approve_all,
    start_and_reach_golive,
    tick,
)
from tests.warroom import WarRoom

ROOT = Path(__file__).resolve().parents[2]
# The traffic webhook (a fake router).
router, config = test_traffic.router, test_traffic.config


async def launch_day(room: WarRoom, clock: FakeClock, router: FakeTrafficRouter) -> None:
    """Refused, failed, advanced, held, resumed, reminded, forced, rolled back."""
    await start_and_reach_golive(room)
    await room.command(ALICE, "advance")  # not an allowed role
    router.script = [503, 503, 503]
    await room.command(OPS, "advance")  # the webhook fails: the stage stays
    await room.settle()
    await room.command(OPS, "advance")  # into shadow mode
    await room.settle()
    await tick(room, SHADOW_ITEMS)
    clock.advance(minutes=10)
    await room.command(CTO, "hold exchange latency spike")
    clock.advance(minutes=15)
    await room.command(OPS, "resume")
    clock.advance(minutes=51)
    await post_due_reminders(room.bot.deps, clock())
    await room.command(OPS, "advance")  # refused: GO not declared
    await approve_all(room)
    await room.command(OPS, "advance")  # canary 10%
    await room.settle()
    clock.advance(minutes=5)
    await room.command(OPS, "advance --force vendor window closes at 10")  # 25%, soak not done
    await room.settle()
    await room.command(CTO, "rollback error rate above 1%")
    await room.settle()
    await room.command(CTO, "hold investigating")  # still on hold at the export


async def record(room: WarRoom) -> dict[str, Any]:
    return dict(json.loads(await export(room, "json")))


async def test_the_export_has_the_go_live_sequence_from_the_event_log(
    room: WarRoom, clock: FakeClock, router: FakeTrafficRouter
) -> None:
    await launch_day(room, clock, router)
    exported = await record(room)
    assert exported["chain"]["verified"] is True, exported["chain"]
    golive = exported["golive"]
    assert (golive["step"], golive["weight"], golive["total"]) == (2, 10, 6)
    assert golive["on_hold"]["reason"] == "investigating"
    assert golive["on_hold"]["by"]["id"] == CTO
    steps = golive["steps"]
    assert [(s["number"], s["title"], s["weight"], s["soak_minutes"]) for s in steps[:3]] == [
        (1, "Shadow Mode", 0, 60),
        (2, "Canary Deployment", 10, 120),
        (3, "25% traffic", 25, 30),
    ]
    [shadow] = steps[0]["visits"]
    assert shadow["action"] == "advance" and shadow["by"]["id"] == OPS
    assert shadow["forced"] is False and shadow["left_at"] is not None
    canary, back = steps[1]["visits"]
    assert canary["left_at"] is not None and back["left_at"] is None
    assert (back["action"], back["reason"], back["by"]["id"]) == (
        "rollback",
        "error rate above 1%",
        CTO,
    )
    [forced] = steps[2]["visits"]
    assert forced["forced"] is True and forced["reason"] == "vendor window closes at 10"
    assert any("soak" in past for past in forced["forced_past"])
    assert forced["entered_at"] == canary["left_at"] and forced["left_at"] == back["entered_at"]

    requests = golive["traffic_requests"]
    assert [(q["action"], q["status"], q["http_status"], q["tries"]) for q in requests] == [
        ("advance", "failed", 503, 3),
        ("advance", "confirmed", 200, 1),
        ("advance", "confirmed", 200, 1),
        ("advance", "confirmed", 200, 1),
        ("rollback", "confirmed", 200, 1),
    ]
    assert requests[3]["forced"] is True and requests[3]["forced_past"] == forced["forced_past"]
    assert requests[0]["requested_by"] == {"id": OPS, "name": requests[0]["requested_by"]["name"]}

    first, second = golive["holds"]
    assert (first["step"], first["reason"], first["by"]["id"]) == (1, "exchange latency spike", CTO)
    assert first["resumed_by"]["id"] == OPS and first["held_seconds"] == 15 * 60
    assert first["from"] < first["to"]
    assert second["to"] is None and second["reason"] == "investigating"
    assert [r["step"] for r in golive["reminders"]] == [1]
    refusals = [(r["action"], r["not_allowed"], r["by"]["id"]) for r in golive["refusals"]]
    assert refusals == [("advance", True, ALICE), ("advance", False, OPS)]
    assert any("GO has not been declared" in r for r in golive["refusals"][1]["reasons"])

    # Every key the README documents for the section, and no other.
    schema = readme_schema()
    assert isinstance(schema, dict)
    assert drift(schema["golive"], [golive], "$.golive") == []

    md = await export(room, "md")
    assert "## Go-live sequence" in md
    assert "ON HOLD since" in md and "investigating" in md
    assert "| 3. 25% traffic | 25% | 30 min |" in md and "yes, past:" in md
    assert "| failed | 503 | 3 |" in md
    rows = list(csv.DictReader(io.StringIO(await export(room, "csv"))))
    steps_csv = [(r["item"], r["state"]) for r in rows if r["record"] == "golive_step"]
    assert steps_csv == [
        ("Shadow Mode", "advance"),
        ("Canary Deployment", "advance"),
        ("Canary Deployment", "rollback"),
        ("25% traffic", "advance"),
    ]
    assert [r["state"] for r in rows if r["record"] == "traffic_request"][0] == "failed"
    assert [r["state"] for r in rows if r["record"] == "golive_hold"] == ["resumed", "held"]


async def test_the_report_timeline_has_the_stage_changes_in_words(
    room: WarRoom, clock: FakeClock, router: FakeTrafficRouter
) -> None:
    """The incident timeline tells the rollout as it went (requested, failed, entered, forced,
    rolled back, held, resumed, who), in log order; the JSON export has the same events."""
    await launch_day(room, clock, router)
    md = await export(room, "md")
    timeline = md.split("## Incident timeline", 1)[1].split("\n## ", 1)[0]
    rows = [line.split(" | ")[1:3] for line in timeline.splitlines() if line.startswith("| 2")]
    ops, cto, bot = f"u0ops00001 ({OPS})", f"carol ({CTO})", "Launch Control (launchbot)"
    assert rows[0] == ["🚦 Stage change requested: advance step 0 → 1 (0% → 0%)", ops]
    assert rows[1] == [
        '⚠️ Traffic change FAILED (HTTP 503, 3 tries, {"error": "scripted 503"})',
        bot,
    ]
    assert rows[2:] == [
        ["🚦 Stage change requested: advance step 0 → 1 (0% → 0%)", ops],
        ["⏩ Stage 1: Shadow Mode, 0% live (advance)", ops],
        ["⏸️ Rollout ON HOLD at step 1: exchange latency spike", cto],
        ["▶️ Rollout resumed at step 1 after 15 min 00 s", ops],
        ["🚦 Stage change requested: advance step 1 → 2 (0% → 10%)", ops],
        ["⏩ Stage 2: Canary Deployment, 10% live (advance)", ops],
        [
            "🚦 Stage change requested: advance step 2 → 3 (10% → 25%) (forced past the gate): "
            "vendor window closes at 10",
            ops,
        ],
        ["⏩ Stage 3: 25% traffic, 25% live (advance)", ops],
        ["🚦 Stage change requested: rollback step 3 → 2 (25% → 10%): error rate above 1%", cto],
        ["⏩ Stage 2: Canary Deployment, 10% live (rollback)", cto],
        ["⏸️ Rollout ON HOLD at step 2: investigating", cto],
    ], timeline

    exported = await record(room)
    entered = [
        (e["detail"]["step"], e["detail"]["action"], e["actor"]["id"])
        for e in exported["events"]
        if e["kind"] == "golive_step_entered"
    ]
    assert entered == [(1, "advance", OPS), (2, "advance", OPS), (3, "advance", OPS)] + [
        (2, "rollback", CTO)
    ]
    held = [e["detail"]["reason"] for e in exported["events"] if e["kind"] == "golive_held"]
    assert held == ["exchange latency spike", "investigating"]


async def test_a_launch_without_go_live_activity_has_the_steps_and_nothing_else(
    room: WarRoom,
) -> None:
    await room.command(ALICE, "start Trading v2")
    golive = (await record(room))["golive"]
    assert (golive["step"], golive["on_hold"], golive["traffic_requests"]) == (0, None, [])
    assert len(golive["steps"]) == 6 and all(s["visits"] == [] for s in golive["steps"])


# (what was edited, the SQL, table, field, what the log says)
EDITS: list[tuple[str, Executable, str, str, Any]] = [
    ("stage moved", update(GoLive).values(step=6, weight=100), "golive", "step", 2),
    ("hold lifted", update(GoLive).values(held_since=None), "golive", "held_since", None),
    ("hold reason", update(GoLive).values(hold_reason="nothing"), "golive", "hold_reason", None),
    (
        "failure hidden",
        update(TrafficRequest).where(TrafficRequest.http_status == 503).values(status="confirmed"),
        "traffic_request",
        "status",
        "failed",
    ),
    (
        "http status",
        update(TrafficRequest).where(TrafficRequest.http_status == 503).values(http_status=200),
        "traffic_request",
        "http_status",
        503,
    ),
    (
        "force hidden",
        update(TrafficRequest).where(TrafficRequest.forced.is_(True)).values(forced=False),
        "traffic_request",
        "forced",
        True,
    ),
    (
        "requester",
        update(TrafficRequest).values(requested_by_id=ALICE),
        "traffic_request",
        "requested_by_id",
        None,
    ),
]


async def a_war_room_lives_through_launch_day(url: str, template: ChecklistTemplate) -> None:
    """``launch_day`` through the real bolt app against the Slack stand-in and the traffic webhook,
    on the database at ``url``; everything is stopped and disconnected when it returns."""
    await create_schema(url)
    async with AsyncExitStack() as stack:
        slack = SlackStandIn(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET)
        for user_id, (name, real_name) in USERS.items():
            slack.add_user(user_id, name, real_name)
        router = FakeTrafficRouter(secret=test_traffic.SECRET, hang_seconds=2.0)
        for server in (slack, router):
            await server.start()
            stack.push_async_callback(server.stop)
        config = test_traffic.traffic_config(base_config(), router_url=router.url)
        settings = make_settings(database_url=url, api_url=slack.base_url)
        clock = FakeClock()
        bot = await stack.enter_async_context(
            running_bot(settings, config=config, template=template, clock=clock)
        )
        await launch_day(WarRoom(slack=slack, bot=bot), clock, router)


@pytest.fixture(scope="module")
def launch_day_url(
    backend: str, tmp_path_factory: pytest.TempPathFactory, template: ChecklistTemplate
) -> Iterator[str]:
    """The database as the bot left it after ``launch_day``: built once per database kind and
    copied for each edit below, which edits its own copy."""
    url = on_own_loop(new_database(backend, tmp_path_factory.mktemp("launch_day")))
    try:
        on_own_loop(a_war_room_lives_through_launch_day(url, template))
        yield url
    finally:
        on_own_loop(drop_copy(url))


@pytest.mark.xdist_group("golive-record-edits")  # one worker builds launch_day_url once
@pytest.mark.parametrize(
    ("edit", "table", "field", "logged"),
    [pytest.param(e[1], e[2], e[3], e[4], id=e[0]) for e in EDITS],
)
async def test_verify_names_a_go_live_row_edited_behind_the_bots_back(
    launch_day_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    edit: Executable,
    table: str,
    field: str,
    logged: Any,
) -> None:
    url = await copy_database(launch_day_url, tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("LAUNCHBOT_CONFIG", str(ROOT / "launchbot.example.toml"))

    async def cli(*argv: str) -> int:
        return await asyncio.to_thread(main, list(argv))

    db = open_database(url)
    try:
        capsys.readouterr()
        assert await cli("audit", "verify", "1") == 0, capsys.readouterr().out
        async with db.sessions.begin() as session:
            await session.execute(edit)
        capsys.readouterr()
        assert await cli("audit", "verify", "1") == 1
        out = capsys.readouterr().out
        assert f"  - {table} " in out and f": {field} is " in out, out
        if logged is not None:
            assert f"the event log says {logged!r}" in out, out
        exported = json.loads(
            await export_launch(url, "1", "json", roles=base_config().roles, now=datetime.now(UTC))
        )
        assert exported["chain"]["verified"] is False
        # The report still tells what the log says.
        assert exported["golive"]["step"] == 2
        assert exported["golive"]["traffic_requests"][0]["status"] == "failed"
    finally:
        await db.dispose()
        await drop_copy(url)


def test_every_golive_config_key_is_in_the_readme_and_the_example() -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Launch day: the go-live sequence")
    section = readme[start : readme.index("\n## ", start + 1)]
    example = (ROOT / "launchbot.example.toml").read_text()
    parsed = load_config(ROOT / "launchbot.example.toml")
    assert parsed.golive.allowed_roles and parsed.golive.traffic_secret
    for key in GoLiveConfig.model_fields:
        assert f"`{key}`" in section, key
        assert re.search(rf"^{key} =", example, re.M), key
    assert "bot/playground/static/golive.png" in section
    assert (ROOT / "bot/playground/static/golive.png").stat().st_size > 10_000
