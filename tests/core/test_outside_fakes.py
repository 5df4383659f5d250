"""The outside fakes the go-live and metric-watch features will meet: the traffic webhook and
Prometheus' HTTP API answer as the real ones do, and fail as told."""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bot.core.http import sign
from bot.standin.outside import FakeTrafficRouter, Reply
from bot.standin.prometheus import PROM_TIMEOUT, FakePrometheus, PromError, prom_number

SECRET = "traffic-secret"


@pytest.fixture
async def traffic() -> AsyncIterator[FakeTrafficRouter]:
    fake = FakeTrafficRouter(secret=SECRET)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def prometheus() -> AsyncIterator[FakePrometheus]:
    fake = FakePrometheus(now=lambda: 1700000000.0)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


def change(weight: int = 5, request_id: str = "req-1", **extra: Any) -> dict[str, Any]:
    return {
        "launch": "Trading v2",
        "launch_id": 7,
        "stage": "canary",
        "weight": weight,
        "previous_weight": 0,
        "reason": "advance",
        "requested_by": {"id": "U0DEE00001", "name": "Dee Park"},
        "request_id": request_id,
        "requested_at": "2026-03-02T09:00:00+00:00",
        **extra,
    }


async def post_change(
    fake: FakeTrafficRouter,
    data: dict[str, Any],
    *,
    secret: str = SECRET,
    key: str | None = None,
    wait: float = 5.0,
) -> httpx.Response:
    body = json.dumps(data).encode()
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": key if key is not None else str(data.get("request_id")),
        "X-Launchbot-Signature": sign(secret, body),
    }
    async with httpx.AsyncClient() as http:
        return await http.post(fake.url, content=body, headers=headers, timeout=wait)


async def test_traffic_applies_a_signed_change_once_per_idempotency_key(
    traffic: FakeTrafficRouter,
) -> None:
    first = await post_change(traffic, change(5))
    assert first.status_code == 200
    assert first.json() == {"status": "applied", "weight": 5, "request_id": "req-1"}
    assert traffic.weights == {"7": 5}
    again = await post_change(traffic, change(5))  # a retry of the same request
    assert again.status_code == 200 and again.json() == first.json()
    assert len(traffic.applied) == 1 and len(traffic.requests) == 2
    await post_change(traffic, change(25, request_id="req-2", previous_weight=5))
    assert traffic.weights == {"7": 25}
    assert all(r.signature_ok for r in traffic.requests)


async def test_traffic_refuses_a_bad_signature_and_a_body_off_contract(
    traffic: FakeTrafficRouter,
) -> None:
    forged = await post_change(traffic, change(), secret="wrong")
    assert forged.status_code == 401 and not traffic.requests[-1].signature_ok
    bad = change(weight=101, requested_by="dee")
    del bad["stage"]
    refused = await post_change(traffic, bad)
    assert refused.status_code == 400
    errors = " ".join(refused.json()["errors"])
    assert "'weight'" in errors and "'stage'" in errors and "'requested_by'" in errors
    wrong_key = await post_change(traffic, change(), key="another")
    assert wrong_key.status_code == 400 and "Idempotency-Key" in wrong_key.text
    assert traffic.weights == {} and traffic.applied == []


async def test_traffic_fails_as_scripted_with_retry_after_and_hangs(
    traffic: FakeTrafficRouter,
) -> None:
    traffic.script = [Reply(503, retry_after=2), 429, "hang"]
    traffic.hang_seconds = 0.5
    busy = await post_change(traffic, change())
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "2"
    assert (await post_change(traffic, change())).status_code == 429
    assert traffic.weights == {}
    with pytest.raises(httpx.TimeoutException):
        await post_change(traffic, change(), wait=0.1)
    # The script is used up: the same request now goes through, once.
    assert (await post_change(traffic, change())).status_code == 200
    assert traffic.weights == {"7": 5} and len(traffic.requests) == 4


async def query(
    fake: FakePrometheus, promql: str | None, *, post: bool = False, **params: str
) -> httpx.Response:
    data = {**({"query": promql} if promql is not None else {}), **params}
    async with httpx.AsyncClient(base_url=fake.url, timeout=5) as http:
        if post:
            return await http.post("/api/v1/query", data=data)
        return await http.get("/api/v1/query", params=data)


async def test_prometheus_answers_instant_queries_from_set_values(
    prometheus: FakePrometheus,
) -> None:
    prometheus.set("error_rate", 0.0004)
    prometheus.set("up", [({"job": "api", "instance": "a"}, 1.0), ({"job": "api"}, 0.0)])
    r = await query(prometheus, "error_rate")
    assert r.status_code == 200
    assert r.json() == {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": {}, "value": [1700000000.0, "0.0004"]}],
        },
    }
    r = await query(prometheus, "up", post=True, time="1700000100")
    samples = r.json()["data"]["result"]
    assert [(s["metric"], s["value"]) for s in samples] == [
        ({"job": "api", "instance": "a"}, [1700000100.0, "1"]),
        ({"job": "api"}, [1700000100.0, "0"]),
    ]
    r = await query(prometheus, "never_set_series")  # a series that does not exist: empty
    assert r.json() == {"status": "success", "data": {"resultType": "vector", "result": []}}
    prometheus.set("error_rate", [])
    assert (await query(prometheus, "error_rate")).json()["data"]["result"] == []
    assert [q["query"] for q in prometheus.queries] == [
        "error_rate",
        "up",
        "never_set_series",
        "error_rate",
    ]


async def test_prometheus_errors_timeouts_and_hangs(prometheus: FakePrometheus) -> None:
    prometheus.set(
        "rate(x[1m]", PromError("bad_data", "parse error: unclosed left parenthesis", 400)
    )
    prometheus.set("slow", PROM_TIMEOUT)
    prometheus.set("stuck", "hang")
    prometheus.hang_seconds = 0.5
    r = await query(prometheus, "rate(x[1m]")
    assert r.status_code == 400 and r.json()["errorType"] == "bad_data"
    r = await query(prometheus, "slow")
    assert r.status_code == 503
    assert r.json() == {
        "status": "error",
        "errorType": "timeout",
        "error": "query timed out in expression evaluation",
    }
    assert (await query(prometheus, None)).status_code == 400  # no query parameter
    assert (await query(prometheus, "up", time="yesterday")).status_code == 400
    with pytest.raises(httpx.TimeoutException):
        async with httpx.AsyncClient(base_url=prometheus.url, timeout=0.1) as http:
            await http.get("/api/v1/query", params={"query": "stuck"})
    prometheus.script = [502]
    r = await query(prometheus, "up")
    assert r.status_code == 502 and r.json()["status"] == "error"


def test_prometheus_numbers_are_written_as_prometheus_writes_them() -> None:
    assert prom_number(0.00001) == "0.00001"
    assert prom_number(2.0) == "2"
    assert prom_number(math.nan) == "NaN"
    assert prom_number(math.inf) == "+Inf" and prom_number(-math.inf) == "-Inf"


async def test_prometheus_without_a_time_answers_at_now() -> None:
    fake = FakePrometheus()
    await fake.start()
    try:
        fake.set("up", 1)
        before = time.time()
        (sample,) = (await query(fake, "up")).json()["data"]["result"]
        assert before <= sample["value"][0] <= time.time()
    finally:
        await fake.stop()
