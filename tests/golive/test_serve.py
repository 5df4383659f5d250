"""Launch day through a real `launchbot serve` on a fast clock: with ``LAUNCHBOT_TIME_SCALE=3600`` and
``LAUNCHBOT_CLOCK_START`` the 1 h shadow soak passes in about a second of real time, and its reminder
reaches the Slack stand-in's thread from the bot's one scheduler loop. Requests are signed as Slack
signs them (real time: the bot's clock never judges a signature)."""

from __future__ import annotations

import os
import time
import tomllib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import tomli_w
from sqlalchemy import select

from bot.core.db import open_database
from bot.core.models import Event
from bot.golive.blocks import reminder
from bot.golive.timer_flows import late_after
from bot.standin import SlackStandIn
from bot.standin.outside import FakeTrafficRouter
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, USERS
from tests.warroom import BotProcess, free_port, served_env, wait_for

ROOT = Path(__file__).resolve().parents[2]
OPS = "U0OPS00001"  # the example config's DevOps Lead
CHANNEL = "C0WARROOM1"
SCALE = 3600  # one bot hour per real second
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SECRET = "serve-traffic-secret-51c2"


@pytest.fixture
async def router() -> AsyncIterator[FakeTrafficRouter]:
    fake = FakeTrafficRouter(secret=SECRET)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def served(
    database_url: str, tmp_path: Path, router: FakeTrafficRouter
) -> AsyncIterator[tuple[SlackStandIn, BotProcess]]:
    config = tomllib.loads((ROOT / "launchbot.example.toml").read_text())
    config["golive"].update(traffic_url=router.url, traffic_secret=SECRET, backoff_seconds=0.05)
    config_file = tmp_path / "launchbot.toml"
    config_file.write_text(tomli_w.dumps(config))
    port = free_port()
    slack = SlackStandIn(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET)
    for user_id, (name, real_name) in {**USERS, OPS: ("dee", "Dee Park")}.items():
        slack.add_user(user_id, name, real_name)
    await slack.start()
    env = served_env(
        api_url=slack.base_url,
        database_url=database_url,
        config=config_file,
        LAUNCHBOT_TIME_SCALE=str(SCALE),
        LAUNCHBOT_CLOCK_START=START.isoformat(),
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    )
    bot = BotProcess(env, port, slack)
    await bot.start()
    try:
        yield slack, bot
    finally:
        if bot.proc and bot.proc.poll() is None:
            bot.stop()
        await slack.stop()


def texts(slack: SlackStandIn) -> list[str]:
    return [m.text or "" for m in slack.messages.get(CHANNEL, [])]


def ephemerals(slack: SlackStandIn, user: str) -> str:
    return "\n".join(f"{e.text} {e.blocks}" for e in slack.ephemerals if e.user == user)


async def events(database_url: str) -> list[Event]:
    db = open_database(database_url)
    try:
        async with db.read_sessions() as session:
            return list((await session.scalars(select(Event).order_by(Event.seq))).all())
    finally:
        await db.dispose()


async def test_a_soak_reminder_arrives_in_real_seconds_on_a_fast_clock(
    served: tuple[SlackStandIn, BotProcess], router: FakeTrafficRouter, database_url: str
) -> None:
    slack, _ = served
    sent = await slack.send(*slack.slash_command(user_id=OPS, text="start Trading v2"))
    assert sent.status == 200
    await wait_for(lambda: any("Trading v2" in t for t in texts(slack)), "the launch card")

    await slack.send(*slack.slash_command(user_id=OPS, text="advance"))
    await wait_for(lambda: "Not advancing to" in ephemerals(slack, OPS), "the gate's refusal")
    assert router.requests == []

    await slack.send(*slack.slash_command(user_id=OPS, text="advance --force e2e rehearsal"))
    await wait_for(lambda: any("Advanced:" in t for t in texts(slack)), "shadow mode announced")
    entered = time.monotonic()
    [request] = router.requests
    assert request.signature_ok and request.json["weight"] == 0
    await wait_for(
        lambda: any("Shadow Mode* has soaked 1 h" in t for t in texts(slack)),
        "the soak reminder",
        within=20,
    )
    waited = time.monotonic() - entered
    assert waited < 10, f"an hour of bot time took {waited:.1f} s of real time"
    reminders = [t for t in texts(slack) if "has soaked" in t]
    assert reminders == ["⏰ *Shadow Mode* has soaked 1 h — `/launch advance` when ready"]

    # Every recorded time is on the bot's clock: it started at LAUNCHBOT_CLOCK_START and runs 3600×.
    log = await events(database_url)
    [step] = [e for e in log if e.kind == "golive_step_entered"]
    [reminded] = [e for e in log if e.kind == "soak_reminder_sent"]
    assert START <= log[0].at < START + timedelta(hours=2)
    assert reminded.at - step.at >= timedelta(hours=1)
    card = next(m for m in slack.messages[CHANNEL] if m.blocks and "🚀" in str(m.blocks[0]))
    assert "rehearsal clock: 3600× real time" in str(card.blocks)


def test_a_reminder_is_marked_late_only_past_a_real_margin() -> None:
    """On a fast clock one scheduler poll is minutes of bot time: that is not "the bot was down"."""
    assert late_after(1) == 60 and late_after(3600) == 5 * 3600
    three_minutes = START + timedelta(minutes=3)

    def shown(scale: float) -> str:
        view = reminder(
            "Shadow Mode", 60, due_at=START, sent_at=three_minutes, late_after=late_after(scale)
        )
        return view.text

    assert "the bot was down" in shown(1)
    assert "the bot was down" not in shown(3600)
