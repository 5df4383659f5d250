"""Traffic first, then the announcement: the signed, idempotent traffic webhook of every stage change."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.checklist.template import ChecklistTemplate
from bot.core.config import AppConfig, GoLiveConfig
from bot.core.models import GoLive, TrafficRequest
from bot.runtime import running_bot
from bot.standin import SlackStandIn
from bot.standin.outside import FakeTrafficRouter, Reply
from tests.conftest import FakeClock, make_settings
from tests.golive.test_golive import (
    ALICE,
    OPS,
    approve_all,
    card_state,
    channel_texts,
    criteria_posts,
    last_ephemeral,
    start_and_reach_golive,
)
from tests.warroom import WarRoom

SECRET = "traffic-test-secret-9a1e"


@pytest.fixture
async def router() -> AsyncIterator[FakeTrafficRouter]:
    fake = FakeTrafficRouter(secret=SECRET, hang_seconds=2.0)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


def traffic_config(base: AppConfig, *, router_url: str) -> AppConfig:
    """``base`` with the go-live roles and the traffic webhook at ``router_url``."""
    return base.model_copy(
        update={
            "golive": GoLiveConfig(
                allowed_roles=["devops_lead", "cto"],
                traffic_url=router_url,
                traffic_secret=SECRET,  # type: ignore[arg-type]
                timeout_seconds=0.5,
                tries=3,
                backoff_seconds=0.01,
            )
        }
    )


@pytest.fixture
def config(config: AppConfig, router: FakeTrafficRouter) -> AppConfig:
    return traffic_config(config, router_url=router.url)


async def requests_in_db(room: WarRoom) -> list[TrafficRequest]:
    async with room.bot.deps.db.read_sessions() as session:
        return list((await session.scalars(select(TrafficRequest))).all())


async def stage(room: WarRoom) -> tuple[int, int]:
    async with room.bot.deps.db.read_sessions() as session:
        row = await session.scalar(select(GoLive))
        return (row.step, row.weight) if row else (0, 0)


async def test_a_stage_change_posts_the_signed_idempotent_contract_body_before_it_is_announced(
    room: WarRoom, router: FakeTrafficRouter
) -> None:
    seen_before_announcement: list[bool] = []
    router.watchers.append(
        lambda exchange: seen_before_announcement.append(
            not any("Advanced:" in t for t in channel_texts(room))
        )
    )
    await start_and_reach_golive(room)
    await room.command(OPS, "advance")
    await room.settle()
    assert len(router.requests) == 1
    sent = router.requests[0]
    body = sent.json
    assert sent.signature_ok
    expected = "sha256=" + hmac.new(SECRET.encode(), sent.body, hashlib.sha256).hexdigest()
    assert sent.headers["x-launchbot-signature"] == expected
    assert sent.idempotency_key == body["request_id"]
    assert body["launch"] == "Trading v2" and body["launch_id"] == 1
    assert body["weight"] == 0 and body["previous_weight"] == 0
    assert body["stage"].startswith("Step 1/6 · Shadow Mode")
    assert body["requested_by"]["id"] == OPS
    assert seen_before_announcement == [True]  # traffic first, then the channel
    assert await stage(room) == (1, 0)
    announced = [t for t in channel_texts(room) if "Advanced:" in t]
    assert announced and "HTTP 200" in announced[-1]


async def test_a_failing_webhook_is_retried_then_leaves_the_stage_and_says_who_to_call(
    room: WarRoom, router: FakeTrafficRouter
) -> None:
    await start_and_reach_golive(room)
    router.script = [503, 503, 503]
    await room.command(OPS, "advance")
    await room.settle()
    assert len(router.requests) == 3  # three tries, the same Idempotency-Key each time
    assert len({r.idempotency_key for r in router.requests}) == 1
    assert await stage(room) == (0, 0)
    failed = [t for t in channel_texts(room) if "Traffic not moved" in t]
    assert failed and "HTTP 503" in failed[-1] and failed[-1].count("after 3 tries") == 1
    assert "The stage stays *not started · 0% live*" in failed[-1]
    assert "Call:" in failed[-1]
    [request] = await requests_in_db(room)
    assert request.status == "failed" and request.http_status == 503
    # The gate is clear again: the next advance sends a new request, which succeeds.
    await room.command(OPS, "advance")
    await room.settle()
    assert await stage(room) == (1, 0)


async def test_a_webhook_that_never_answers_leaves_traffic_unknown_not_failed(
    room: WarRoom, router: FakeTrafficRouter
) -> None:
    """Three tries time out: each may have reached the router (a slow one moves traffic after
    the bot gave up), so the channel reads UNKNOWN, never "Traffic not moved"; the stage stays and
    the next advance asks again with a new request."""
    await start_and_reach_golive(room)
    router.script = ["hang", "hang", "hang"]
    await room.command(OPS, "advance")
    await room.settle()
    [request] = await requests_in_db(room)
    assert (request.status, request.tries, request.http_status) == ("unknown", 3, None)
    assert await stage(room) == (0, 0)
    texts = channel_texts(room)
    [unknown] = [t for t in texts if "UNKNOWN" in t]
    assert "*UNKNOWN* whether traffic moved to *Step 1/6 · Shadow Mode" in unknown, unknown
    assert "no answer within 0.5 s (after 3 tries)." in unknown
    assert "may or may not have moved" in unknown and "Call:" in unknown
    assert not any("Traffic not moved" in t for t in texts)
    router.script = []
    await room.command(OPS, "advance")
    await room.settle()
    assert await stage(room) == (1, 0)


async def test_after_a_rollback_nobody_knows_the_card_and_status_never_state_the_weight_as_fact(
    room: WarRoom, router: FakeTrafficRouter
) -> None:
    """A rollback from the canary (10%) to shadow got no answer: the router may be at 0% already.
    The stage recorded stays, but the card and /launch status say live traffic is UNKNOWN (10% or
    0%) until a later stage change is answered; they never read "10% live" as if confirmed."""
    await start_and_reach_golive(room)
    await approve_all(room)
    for reason in ("shadow", "canary"):
        await room.command(OPS, f"advance --force {reason}")
        await room.settle()
    assert await stage(room) == (2, 10)
    router.script = ["hang", "hang", "hang"]
    await room.command(OPS, "rollback error rate climbing")
    await room.settle()
    [*_, request] = await requests_in_db(room)
    assert request.status == "unknown" and await stage(room) == (2, 10)

    assert "live traffic UNKNOWN* (10% or 0%)" in card_state(room)
    card = str(room.card().blocks)
    assert "Live traffic UNKNOWN*: the move to *Step 1/6 · Shadow Mode · 0% live*" in card
    assert "may be at 0% or still at 10%" in card
    await room.command(ALICE, "status")
    status = last_ephemeral(room, ALICE)
    assert "Step 2/6 · Canary Deployment · 10% live" in status
    assert "Live traffic UNKNOWN" in status and "may be at 0% or still at 10%" in status

    # Refused outright: that request moved nothing, so the earlier one is still unknown.
    router.script = [503, 503, 503]
    await room.command(OPS, "rollback error rate climbing")
    await room.settle()
    assert "live traffic UNKNOWN* (10% or 0%)" in card_state(room)

    # Asked again and answered: the stage is known again, and so is the traffic.
    router.script = []
    await room.command(OPS, "rollback error rate climbing")
    await room.settle()
    assert await stage(room) == (1, 0)
    assert "UNKNOWN" not in card_state(room) and "UNKNOWN" not in str(room.card().blocks)


async def test_a_failed_rollback_is_answered_with_the_rollback_criteria_too(
    room: WarRoom, router: FakeTrafficRouter
) -> None:
    """Traffic did not go back: exactly when the team must decide what next, so the criteria come
    with the failure as with a rollback that worked."""
    await start_and_reach_golive(room)
    await approve_all(room)
    for reason in ("shadow", "canary"):
        await room.command(OPS, f"advance --force {reason}")
        await room.settle()
    before = len(criteria_posts(room))
    router.script = [503, 503, 503]
    await room.command(OPS, "rollback latency above 500ms")
    await room.settle()
    assert await stage(room) == (2, 10)
    assert any("Traffic not moved" in t for t in channel_texts(room))
    assert len(criteria_posts(room)) == before + 1
    assert "*Immediate Rollback Triggers*" in criteria_posts(room)[-1]


async def test_a_4xx_is_final_and_retry_after_is_honoured(
    room: WarRoom, router: FakeTrafficRouter
) -> None:
    await start_and_reach_golive(room)
    router.script = [400]
    await room.command(OPS, "advance")
    await room.settle()
    assert len(router.requests) == 1
    assert await stage(room) == (0, 0)
    router.script = [Reply(429, retry_after=0)]
    await room.command(OPS, "advance")
    await room.settle()
    assert len(router.requests) == 3  # one 429, then the retry that worked
    assert await stage(room) == (1, 0)


async def test_a_request_left_by_a_stopped_bot_is_unknown_never_retried_silently(
    schema_url: str,
    slack: SlackStandIn,
    config: AppConfig,
    template: ChecklistTemplate,
    clock: FakeClock,
    router: FakeTrafficRouter,
) -> None:
    settings = make_settings(database_url=schema_url, api_url=slack.base_url)
    async with running_bot(settings, config=config, template=template, clock=clock) as first:
        room = WarRoom(slack=slack, bot=first)
        await start_and_reach_golive(room)
        await room.command(OPS, "advance")
        await room.settle()
        # As if the process died after claiming the next request, mid-call; and another one that
        # was stored but never sent.
        async with first.deps.db.sessions.begin() as session:
            for status, request_id in (("sending", "r-sending"), ("pending", "r-pending")):
                session.add(
                    TrafficRequest(
                        launch_id=1,
                        request_id=request_id,
                        action="advance",
                        from_step=1,
                        to_step=2,
                        weight=10,
                        previous_weight=0,
                        forced=False,
                        requested_by_id=OPS,
                        requested_by_name="ops",
                        created_at=clock(),
                        status=status,
                        tries=0,
                    )
                )
    clock.advance(seconds=5)
    sent_before = len(router.requests)
    async with running_bot(settings, config=config, template=template, clock=clock) as second:
        room = WarRoom(slack=slack, bot=second)
        for _ in range(100):
            statuses = {r.request_id: r.status for r in await requests_in_db(room)}
            if statuses.get("r-sending") == "unknown" and statuses.get("r-pending") == "failed":
                break
            await asyncio.sleep(0.05)  # the scheduler resumes at start, in its own task
        await room.settle()
        assert statuses["r-sending"] == "unknown" and statuses["r-pending"] == "failed"
        texts = channel_texts(room)
        # Sent without an answer: UNKNOWN. Never sent: says so, and claims no answer was awaited.
        [unknown] = [t for t in texts if "UNKNOWN" in t]
        assert "may or may not have moved" in unknown and "not sent" not in unknown
        [not_sent] = [t for t in texts if "Traffic not moved" in t]
        assert "not sent: the bot stopped before calling the traffic webhook" in not_sent
        assert "no answer" not in not_sent and "UNKNOWN" not in not_sent
        assert len(router.requests) == sent_before  # nothing was sent again
        assert await stage(room) == (1, 0)
