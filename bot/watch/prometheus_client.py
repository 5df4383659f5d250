"""Prometheus' HTTP API client: one instant query (``GET /api/v1/query``) → a number or why not.

Every failure is an answer, never an exception: unreachable, timed out, an error status, an empty
result, more than one series (an error in the rule), a non-numeric or NaN sample are all "unknown"
with the reason, so the caller can never take a missing metric for a healthy one."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from bot.core.config import PrometheusConfig, PrometheusRule
from bot.watch.rules import Reading

logger = logging.getLogger(__name__)


class PrometheusClient:
    def __init__(self, http: httpx.AsyncClient, config: PrometheusConfig) -> None:
        self._http = http
        self._config = config

    @property
    def configured(self) -> bool:
        return bool(self._config.url)

    async def query(self, promql: str) -> Reading:
        if not self._config.url:
            return Reading.failed("Prometheus is not configured ([prometheus] url)")
        url = self._config.url.rstrip("/") + "/api/v1/query"
        seconds = self._config.timeout_seconds
        try:
            response = await self._http.get(
                url,
                # Prometheus gives up on the query itself a little before we give up on it.
                # Whole milliseconds: Prometheus refuses a fractional duration such as "4.5s".
                params={"query": promql, "timeout": f"{round(max(seconds - 0.5, 0.5) * 1000)}ms"},
                timeout=httpx.Timeout(seconds, connect=min(seconds, 3.0)),
            )
        except httpx.TimeoutException:
            return Reading.failed(f"query failed: no answer within {seconds:g} s")
        except httpx.HTTPError as exc:
            return Reading.failed(f"query failed: Prometheus unreachable ({type(exc).__name__})")
        return _reading(response)

    async def read_all(self, rules: list[PrometheusRule]) -> list[Reading]:
        """Every rule's query at once (one slow query does not delay the others' answers)."""
        return list(await asyncio.gather(*(self.query(r.query) for r in rules)))


def _reading(response: httpx.Response) -> Reading:
    try:
        body: Any = response.json()
    except ValueError:
        return Reading.failed(f"query failed: HTTP {response.status_code}, not Prometheus JSON")
    if not isinstance(body, dict):
        return Reading.failed(f"query failed: HTTP {response.status_code}, unexpected answer")
    if body.get("status") != "success":
        kind = body.get("errorType") or f"HTTP {response.status_code}"
        return Reading.failed(f"query failed: {kind}: {str(body.get('error') or '')[:200]}")
    data = body.get("data") or {}
    result = data.get("result")
    if data.get("resultType") == "scalar":
        return _sample(result)
    if data.get("resultType") != "vector" or not isinstance(result, list):
        return Reading.failed(
            f"rule error: the query answers a {data.get('resultType')}, not an instant vector"
        )
    if not result:
        return Reading.failed("no data (the query answered an empty result)")
    if len(result) > 1:
        return Reading.failed(
            f"rule error: the query answers {len(result)} series; a rule must answer one "
            "(aggregate it, e.g. sum(...))"
        )
    return _sample((result[0] or {}).get("value"))


def _sample(value: Any) -> Reading:
    if not isinstance(value, list) or len(value) != 2:
        return Reading.failed("query failed: a sample without a value")
    try:
        number = float(value[1])
    except (TypeError, ValueError):
        return Reading.failed(f"not a number ({str(value[1])[:40]!r})")
    return Reading.of(number)
