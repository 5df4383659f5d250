"""Fakes of the outside systems the bot calls, shared by the tests and the playground: the trading
system's kill switch, PagerDuty's Events API v2 and the traffic webhook (Prometheus' HTTP API is
``bot.standin.prometheus``, on the same ``OutsideFake``).

Each is an aiohttp server on 127.0.0.1 (an ephemeral port; ``url`` once started), or a handler the
playground mounts on its own server. Each answers as the real system does, refusals included, and
can be told to fail: ``script`` is consumed one entry per request, an HTTP status (or a ``Reply``
with a ``Retry-After``) to answer instead of processing, or ``"hang"`` to answer only after
``hang_seconds``. ``watchers`` hear of every answered request."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from aiohttp import web

SIGNATURE_HEADER = "X-Launchbot-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class Reply:
    """A scripted failure: ``status``, and a ``Retry-After`` header if ``retry_after`` is set."""

    status: int
    retry_after: float | str | None = None


Step = int | str | Reply


@dataclass(frozen=True)
class Exchange:
    """One request a fake answered: which fake, the JSON it received (``{}`` if none) and the status."""

    service: str
    data: Any
    status: int


def signed(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class SignedRequest:
    """A POST as received: lower-cased headers, the exact body, whether its signature matched."""

    headers: dict[str, str]
    body: bytes
    signature_ok: bool

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")


@dataclass(kw_only=True)
class OutsideFake:
    """What every fake shares: the server, the failure script and the watchers."""

    service: ClassVar[str]
    path: ClassVar[str]
    methods: ClassVar[tuple[str, ...]] = ("POST",)

    script: list[Step] = field(default_factory=list)
    hang_seconds: float = 3.0
    watchers: list[Callable[[Exchange], None]] = field(default_factory=list)
    _runner: web.AppRunner | None = field(default=None, repr=False)
    _port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}{self.path}"

    async def start(self) -> None:
        app = web.Application()
        for method in self.methods:
            app.router.add_route(method, self.path, self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def handle(self, request: web.Request) -> web.Response:
        """The route: record, then a scripted failure or the real system's answer."""
        data, record = await self._receive(request)
        response = await self._scripted()
        if response is None:
            response = await self._answer(data, record)
        for watcher in self.watchers:
            watcher(Exchange(self.service, data, response.status))
        return response

    async def _scripted(self) -> web.Response | None:
        if not self.script:
            return None
        step = self.script.pop(0)
        if step == "hang":
            await asyncio.sleep(self.hang_seconds)
            return None
        reply = step if isinstance(step, Reply) else Reply(int(step))
        response = self._failure(reply.status)
        if reply.retry_after is not None:
            response.headers["Retry-After"] = str(reply.retry_after)
        return response

    async def _receive(self, request: web.Request) -> tuple[Any, Any]:
        """Record the request: its JSON (or parameters) for the watchers, and what ``_answer`` needs."""
        raise NotImplementedError

    async def _answer(self, data: Any, record: Any) -> web.Response:
        raise NotImplementedError

    def _failure(self, status: int) -> web.Response:
        return web.json_response({"error": f"scripted {status}"}, status=status)


@dataclass(kw_only=True)
class SignedWebhookFake(OutsideFake):
    """A webhook that checks ``X-Launchbot-Signature`` (401 if wrong) and honours the
    ``Idempotency-Key``: a repeated key gets the first answer again and changes nothing."""

    secret: str
    requests: list[SignedRequest] = field(default_factory=list)
    _answers: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    async def _receive(self, request: web.Request) -> tuple[Any, Any]:
        body = await request.read()
        signature = request.headers.get(SIGNATURE_HEADER, "")
        recorded = SignedRequest(
            {k.lower(): v for k, v in request.headers.items()},
            body,
            hmac.compare_digest(signed(self.secret, body), signature),
        )
        self.requests.append(recorded)
        try:
            data = recorded.json
        except ValueError:
            data = None
        return data, recorded

    async def _answer(self, data: Any, record: Any) -> web.Response:
        recorded: SignedRequest = record
        if not recorded.signature_ok:
            return web.json_response({"error": "bad signature"}, status=401)
        if not isinstance(data, dict):
            return web.json_response({"error": "body must be a JSON object"}, status=400)
        errors = self._invalid(data, recorded.idempotency_key)
        if errors:
            return web.json_response({"error": "invalid request", "errors": errors}, status=400)
        key = recorded.idempotency_key or ""
        if key not in self._answers:
            self._answers[key] = self._apply(data)
        return web.json_response(self._answers[key])

    def _invalid(self, data: dict[str, Any], key: str | None) -> list[str]:
        return []

    def _apply(self, data: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(kw_only=True)
class FakeKillSwitch(SignedWebhookFake):
    """The trading system's kill switch: halts trading once per Idempotency-Key (not on a dry run)."""

    service: ClassVar[str] = "killswitch"
    path: ClassVar[str] = "/kill"
    halted: list[str] = field(default_factory=list)  # request ids that really halted trading

    def _invalid(self, data: dict[str, Any], key: str | None) -> list[str]:
        return [] if data.get("request_id") else ["'request_id' is missing"]

    def _apply(self, data: dict[str, Any]) -> dict[str, Any]:
        if not data.get("dry_run"):
            self.halted.append(data["request_id"])
        status = "dry_run_ok" if data.get("dry_run") else "halted"
        return {"status": status, "request_id": data["request_id"]}


TRAFFIC_FIELDS = ("launch", "stage", "reason", "request_id", "requested_at")


def _percent(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100


def _traffic_errors(data: dict[str, Any], key: str | None) -> list[str]:
    errors = [
        f"'{name}' must be a string"
        for name in TRAFFIC_FIELDS
        if not isinstance(data.get(name), str)
    ]
    if data.get("launch_id") in (None, ""):
        errors.append("'launch_id' is missing")
    if not _percent(data.get("weight")):
        errors.append("'weight' must be an integer percent (0-100)")
    if data.get("previous_weight") is not None and not _percent(data.get("previous_weight")):
        errors.append("'previous_weight' must be an integer percent (0-100) or null")
    who = data.get("requested_by")
    if not (isinstance(who, dict) and isinstance(who.get("id"), str) and "name" in who):
        errors.append("'requested_by' must be {id, name}")
    try:
        datetime.fromisoformat(str(data.get("requested_at")).replace("Z", "+00:00"))
    except ValueError:
        errors.append("'requested_at' must be an ISO 8601 instant")
    if not key or key != data.get("request_id"):
        errors.append("'Idempotency-Key' must be the body's request_id")
    return errors


@dataclass(kw_only=True)
class FakeTrafficRouter(SignedWebhookFake):
    """The traffic webhook (``[golive].traffic_url``): sets a launch's live-traffic weight once per
    Idempotency-Key; 400 names every field that is not as the contract says."""

    service: ClassVar[str] = "traffic"
    path: ClassVar[str] = "/weights"
    weights: dict[str, int] = field(default_factory=dict)  # launch_id -> percent now live
    applied: list[dict[str, Any]] = field(default_factory=list)  # the changes that took effect

    def _invalid(self, data: dict[str, Any], key: str | None) -> list[str]:
        return _traffic_errors(data, key)

    def _apply(self, data: dict[str, Any]) -> dict[str, Any]:
        self.weights[str(data["launch_id"])] = data["weight"]
        self.applied.append(data)
        return {"status": "applied", "weight": data["weight"], "request_id": data["request_id"]}


SEVERITIES = {"critical", "error", "warning", "info"}
ACTIONS = {"trigger", "acknowledge", "resolve"}


@dataclass
class PagerDutyIncident:
    dedup_key: str
    summary: str
    status: str  # triggered | acknowledged | resolved
    pages: int = 1  # how many times on-call phones rang for it


@dataclass(kw_only=True)
class FakePagerDuty(OutsideFake):
    """PagerDuty's Events API v2: validates events like the real one, keeps incidents by dedup_key."""

    service: ClassVar[str] = "pagerduty"
    path: ClassVar[str] = "/v2/enqueue"
    routing_key: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    incidents: dict[str, PagerDutyIncident] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return sum(i.pages for i in self.incidents.values())

    def actions(self) -> list[str]:
        return [r.get("event_action", "?") for r in self.requests]

    async def _receive(self, request: web.Request) -> tuple[Any, Any]:
        try:
            event = await request.json()
        except ValueError:
            event = {"_unparseable": True}
        self.requests.append(event)
        return event, None

    async def _answer(self, data: Any, record: Any) -> web.Response:
        errors = _pagerduty_errors(data, self.routing_key)
        if errors:
            return web.json_response(
                {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
                status=400,
            )
        key, action = data["dedup_key"], data["event_action"]
        incident = self.incidents.get(key)
        if action == "trigger":
            if incident is None:
                self.incidents[key] = PagerDutyIncident(
                    key, data["payload"]["summary"], "triggered"
                )
            elif incident.status == "resolved":
                incident.status, incident.pages = "triggered", incident.pages + 1
            # An open incident with this dedup_key absorbs the trigger: nobody is paged again.
        elif incident is not None and incident.status != "resolved":
            incident.status = "acknowledged" if action == "acknowledge" else "resolved"
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": key}, status=202
        )

    def _failure(self, status: int) -> web.Response:
        if status == 429:
            message = "Requests for this service are arriving too quickly."
            return web.json_response({"status": "throttle event", "message": message}, status=429)
        if status == 400:
            body = {"status": "invalid event", "message": "Event object is invalid"}
            return web.json_response({**body, "errors": ["scripted"]}, status=400)
        return web.Response(status=status, text="Internal Server Error" if status >= 500 else "")


def _pagerduty_errors(event: dict[str, Any], routing_key: str) -> list[str]:
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
