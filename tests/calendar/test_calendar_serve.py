"""End to end through `launchbot serve` on a rehearsal clock (LAUNCHBOT_CLOCK_START and
LAUNCHBOT_TIME_SCALE): a launch started the day before posts the evening summary, launch day,
the morning after and the first daily checks on their own, then a restart posts what came due
while it was down, late, and nothing twice."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from bot.standin import SlackStandIn
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, USERS
from tests.warroom import ROOT, BotProcess, free_port, served_env, wait_for

ALICE = "U0ALICE001"
CHANNEL = "C0WARROOM1"


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    standin = SlackStandIn(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET)
    for user_id, (name, real_name) in USERS.items():
        standin.add_user(user_id, name, real_name)
    await standin.start()
    try:
        yield standin
    finally:
        await standin.stop()


def env_for(database_url: str, slack: SlackStandIn, clock_start: str) -> dict[str, str]:
    return served_env(
        api_url=slack.base_url,
        database_url=database_url,
        # [schedule]: Europe/London, 09:00 posts, 18:00 evening summary.
        config=ROOT / "launchbot.example.toml",
        LAUNCHBOT_CLOCK_START=clock_start,
        # Ten bot hours per real second: launch day is 2.4 s after 08:55 the day before.
        LAUNCHBOT_TIME_SCALE="36000",
    )


def said(slack: SlackStandIn, marker: str) -> list[str]:
    texts = [
        (m.text or "") + json.dumps(m.blocks or [], ensure_ascii=False)
        for m in slack.messages.get(CHANNEL, [])
        if not m.thread_ts or m.thread_ts == m.ts
    ]
    return [t for t in texts if marker in t]


async def test_serve_posts_the_calendar_on_the_rehearsal_clock_and_late_after_downtime(
    database_url: str, slack: SlackStandIn
) -> None:
    port = free_port()
    bot = BotProcess(env_for(database_url, slack, "2026-12-08T08:55:00Z"), port, slack)
    await bot.start()
    try:
        sent = await slack.send(
            *slack.slash_command(user_id=ALICE, text="start Trading v2 --on 2026-12-09")
        )
        assert sent.status == 200
        await wait_for(lambda: bool(said(slack, "Launch day is tomorrow")), "evening", 15)
        await wait_for(lambda: bool(said(slack, "*Launch Day* (T-0) is posted")), "T-0", 15)
        await wait_for(lambda: bool(said(slack, "*Post-Launch* (T+1) is posted")), "T+1", 15)
        await wait_for(lambda: bool(said(slack, "Daily checks · Day 2 · Dec 11")), "T+2", 15)
    finally:
        assert bot.stop() == 0
    assert not said(slack, "Late:")
    # Back at noon on Dec 12 (London): Day 3 came due at 09:00 while the bot was down.
    bot.env = env_for(database_url, slack, "2026-12-12T12:00:00Z")
    await bot.start()
    try:
        await wait_for(lambda: bool(said(slack, "Daily checks · Day 3 · Dec 12")), "T+3", 15)
    finally:
        assert bot.stop() == 0
    (day3,) = said(slack, "Day 3 · Dec 12* — 5 check")
    assert "Late: posted at" in day3
    assert len(said(slack, "*Launch Day* (T-0) is posted")) == 1
    assert len(said(slack, "Day 2 · Dec 11* — 5 check")) == 1
