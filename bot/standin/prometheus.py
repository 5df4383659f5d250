"""A fake of Prometheus' HTTP API for the tests and the playground: ``/api/v1/query`` instant queries
answered from settable values, errors and timeouts as Prometheus answers them (an ``OutsideFake``,
so it can be scripted to fail like the other outside systems)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from aiohttp import web

from bot.standin.outside import OutsideFake


@dataclass(frozen=True)
class PromError:
    """An error Prometheus answers for a query: 422 ``execution``, 503 ``timeout``, 400 ``bad_data``."""

    error_type: str
    error: str
    status: int


PROM_TIMEOUT = PromError("timeout", "query timed out in expression evaluation", 503)
Sample = tuple[dict[str, str], float]


def prom_number(value: float) -> str:
    """A sample value as Prometheus writes it: a string, ``NaN``/``+Inf``/``-Inf``, no exponent."""
    value = float(value)
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer():
        return str(int(value))
    return format(Decimal(repr(value)), "f")


@dataclass(kw_only=True)
class FakePrometheus(OutsideFake):
    """Prometheus' HTTP API, ``/api/v1/query`` instant queries answered from settable values.

    ``set(query, 0.0004)`` answers a one-sample vector, ``set(query, [(labels, v), ...])`` several,
    ``set(query, [])`` an empty result (as is every query never set, like a series that does not
    exist), ``set(query, PromError(...))`` or ``PROM_TIMEOUT`` an error, ``set(query, "hang")`` an
    answer only after ``hang_seconds`` (then the timeout error). ``url`` is the base URL the
    config's ``[prometheus].url`` takes."""

    service: ClassVar[str] = "prometheus"
    path: ClassVar[str] = "/api/v1/query"
    methods: ClassVar[tuple[str, ...]] = ("GET", "POST")
    answers: dict[str, list[Sample] | PromError | str] = field(default_factory=dict)
    queries: list[dict[str, str]] = field(default_factory=list)
    now: Callable[[], float] = time.time

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def set(self, query: str, value: float | list[Sample] | PromError | str) -> None:
        self.answers[query] = [({}, value)] if isinstance(value, int | float) else value

    async def _receive(self, request: web.Request) -> tuple[Any, Any]:
        params = dict(request.query)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.post()).items()})
        self.queries.append(params)
        return params, None

    async def _answer(self, data: Any, record: Any) -> web.Response:
        query = data.get("query")
        if not query:
            return _prom_error(PromError("bad_data", 'invalid parameter "query": empty', 400))
        at = _prom_time(data.get("time"), self.now)
        if at is None:
            return _prom_error(PromError("bad_data", 'invalid parameter "time"', 400))
        timeout = data.get("timeout")
        if timeout is not None and not _PROM_DURATION.match(timeout):
            # As Prometheus does: a duration is whole numbers with units ("4500ms"), never "4.5s".
            message = f'invalid parameter "timeout": cannot parse "{timeout}" to a valid duration'
            return _prom_error(PromError("bad_data", message, 400))
        answer = self.answers.get(query, [])
        if isinstance(answer, str):  # "hang": the query runs until Prometheus gives up on it
            await asyncio.sleep(self.hang_seconds)
            answer = PROM_TIMEOUT
        if isinstance(answer, PromError):
            return _prom_error(answer)
        result = [{"metric": labels, "value": [at, prom_number(v)]} for labels, v in answer]
        data_ = {"resultType": "vector", "result": result}
        return web.json_response({"status": "success", "data": data_})

    def _failure(self, status: int) -> web.Response:
        kind = "unavailable" if status >= 500 else "bad_data"
        return _prom_error(PromError(kind, f"scripted {status}", status))


_PROM_DURATION = re.compile(r"^(?:\d+(?:y|w|d|h|ms|m|s))+$")


def _prom_time(value: str | None, now: Callable[[], float]) -> float | None:
    """The evaluation instant: ``time`` as Unix seconds or RFC 3339, else now; None if unreadable."""
    if not value:
        return now()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _prom_error(error: PromError) -> web.Response:
    body = {"status": "error", "errorType": error.error_type, "error": error.error}
    return web.json_response(body, status=error.status)
