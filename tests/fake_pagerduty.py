"""A local PagerDuty Events API v2 (aiohttp, 127.0.0.1, ephemeral port): validates events like the real
one, keeps incidents by dedup_key, and can be scripted to answer 400/429/500 or hang."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

SEVERITIES = {"critical", "error", "warning", "info"}
ACTIONS = {"trigger", "acknowledge", "resolve"}


@dataclass
class PagerDutyIncident:
    dedup_key: str
    summary: str
    status: str  # triggered | acknowledged | resolved
    pages: int = 1  # how many times on-call phones rang for it


@dataclass
class FakePagerDuty:
    """``script`` is consumed one entry per request: an HTTP status to answer with instead of
    processing, or ``"hang"`` (answer after ``hang_seconds``). An empty script means behave."""

    routing_key: str
    script: list[int | str] = field(default_factory=list)
    hang_seconds: float = 3.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    incidents: dict[str, PagerDutyIncident] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    _port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v2/enqueue"

    @property
    def pages(self) -> int:
        return sum(i.pages for i in self.incidents.values())

    def actions(self) -> list[str]:
        return [r.get("event_action", "?") for r in self.requests]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v2/enqueue", self._enqueue)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _enqueue(self, request: web.Request) -> web.Response:
        try:
            event = await request.json()
        except ValueError:
            event = {"_unparseable": True}
        self.requests.append(event)
        if self.script:
            step = self.script.pop(0)
            if step == "hang":
                await asyncio.sleep(self.hang_seconds)
            elif isinstance(step, int):
                return _scripted(step)
        errors = _validate(event, self.routing_key)
        if errors:
            return web.json_response(
                {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
                status=400,
            )
        key = event["dedup_key"]
        incident = self.incidents.get(key)
        action = event["event_action"]
        if action == "trigger":
            if incident is None:
                self.incidents[key] = PagerDutyIncident(
                    key, event["payload"]["summary"], "triggered"
                )
            elif incident.status == "resolved":
                incident.status, incident.pages = "triggered", incident.pages + 1
            # An open incident with this dedup_key absorbs the trigger: nobody is paged again.
        elif incident is not None and incident.status != "resolved":
            incident.status = "acknowledged" if action == "acknowledge" else "resolved"
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": key}, status=202
        )


def _scripted(status: int) -> web.Response:
    if status == 429:
        return web.json_response(
            {
                "status": "throttle event",
                "message": "Requests for this service are arriving too quickly.",
            },
            status=429,
        )
    if status == 400:
        return web.json_response(
            {
                "status": "invalid event",
                "message": "Event object is invalid",
                "errors": ["scripted"],
            },
            status=400,
        )
    return web.Response(status=status, text="Internal Server Error" if status >= 500 else "")


def _validate(event: dict[str, Any], routing_key: str) -> list[str]:
    errors = []
    if event.get("routing_key") != routing_key:
        errors.append("Invalid routing key")
    if event.get("event_action") not in ACTIONS:
        errors.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
    key = event.get("dedup_key")
    if event.get("event_action") != "trigger" and not key:
        errors.append("'dedup_key' is missing or blank")
    if key is not None and (not isinstance(key, str) or len(key) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if event.get("event_action") == "trigger":
        payload = event.get("payload") or {}
        if not payload.get("summary") or len(str(payload["summary"])) > 1024:
            errors.append("'payload.summary' is missing or longer than 1024 characters")
        if not payload.get("source"):
            errors.append("'payload.source' is missing or blank")
        if payload.get("severity") not in SEVERITIES:
            errors.append("'payload.severity' is invalid")
    return errors
