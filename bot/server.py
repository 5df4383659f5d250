"""HTTP mode: /slack/events (signature checked on the raw bytes before bolt sees them), /healthz,
/readyz and /metrics on aiohttp."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.deps import Deps

logger = logging.getLogger(__name__)
MAX_BODY_BYTES = 1024 * 1024
MAX_CLOCK_SKEW_SECONDS = 60 * 5


def _json(status: int, payload: dict[str, str]) -> web.Response:
    return web.json_response(payload, status=status)


def _verified(secret: bytes, raw: bytes, headers: dict[str, str], now: float) -> bool:
    """Slack's v0 signature over the raw bytes, in constant time, within the 5-minute window
    (either side: slack_sdk also rejects timestamps from the future)."""
    timestamp = headers.get("x-slack-request-timestamp", "").strip()
    signature = headers.get("x-slack-signature", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > MAX_CLOCK_SKEW_SECONDS:
        return False
    base = b"v0:" + timestamp.encode() + b":" + raw
    expected = "v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def _kind(body: dict[str, object]) -> str:
    """A coarse label for metrics: command, block_actions, view_submission, event_callback, ..."""
    if "command" in body:
        return "command"
    return str(body.get("type") or "unknown")


def _not_like_slack(body: dict[str, object]) -> str | None:
    """What a signed request lacks that Slack always sends (who, and where); None when it has it.
    Without this a slash command with no ``user_id`` reached the router and got a 200 "Something
    went wrong": the sender's fault, answered as ours."""
    if "command" in body:
        missing = [key for key in ("user_id", "channel_id") if not body.get(key)]
        return f"slash command without {' and '.join(missing)}" if missing else None
    kind = body.get("type")
    if kind in ("block_actions", "view_submission", "view_closed"):
        user = body.get("user")
        if not isinstance(user, dict) or not user.get("id"):
            return f"{kind} without user.id"
    return None


class Activity:
    """When the last request from Slack arrived (monotonic seconds), for work that waits for a lull."""

    def __init__(self) -> None:
        self.last_request = 0.0


def make_web_app(
    bolt: AsyncApp,
    deps: Deps,
    *,
    readiness: Callable[[], Awaitable[bool]] | None = None,
    activity: Activity | None = None,
) -> web.Application:
    secret = deps.settings.slack_signing_secret
    secret_bytes = secret.get_secret_value().encode() if secret else None
    metrics = deps.metrics

    async def slack_events(request: web.Request) -> web.Response:
        if activity is not None:
            activity.last_request = time.monotonic()
        with deps.gauge.serving():
            return await handle_slack_request(request)

    async def handle_slack_request(request: web.Request) -> web.Response:
        started = time.perf_counter()
        raw = await request.read()
        plain = {k.lower(): v for k, v in request.headers.items()}
        headers: dict[str, str | Sequence[str]] = dict(plain)
        if secret_bytes is None or not _verified(secret_bytes, raw, plain, time.time()):
            metrics.inc("launchbot_requests_total", kind="unverified", status="401")
            return _json(401, {"error": "invalid request"})
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            metrics.inc("launchbot_requests_total", kind="malformed", status="400")
            return _json(400, {"error": "body is not UTF-8"})
        try:
            bolt_request = AsyncBoltRequest(body=body, headers=headers)
            kind = _kind(bolt_request.body)
        except (ValueError, AttributeError, TypeError):
            # Signed but malformed (payload=not-json, payload=[]): bolt raises while parsing, which
            # aiohttp would turn into a 500. It is the sender's fault: 400.
            metrics.inc("launchbot_requests_total", kind="malformed", status="400")
            return _json(400, {"error": "malformed payload"})
        problem = _not_like_slack(bolt_request.body)
        if problem is not None:
            metrics.inc("launchbot_requests_total", kind="malformed", status="400")
            return _json(400, {"error": problem})
        bolt_response = await bolt.async_dispatch(bolt_request)
        status = bolt_response.status
        metrics.inc("launchbot_requests_total", kind=kind, status=str(status))
        metrics.observe(time.perf_counter() - started, kind=kind)
        response = web.Response(status=status, text=bolt_response.body)
        for name, values in bolt_response.headers.items():
            if name.lower() in ("content-length",):
                continue
            for value in values:
                response.headers[name] = value
        return response

    async def healthz(_request: web.Request) -> web.Response:
        return _json(200, {"status": "ok"})

    async def readyz(_request: web.Request) -> web.Response:
        ok = await deps.db.ping()
        if ok and readiness is not None:
            ok = await readiness()
        return _json(200 if ok else 503, {"status": "ready" if ok else "not ready"})

    async def metrics_endpoint(_request: web.Request) -> web.Response:
        return web.Response(text=metrics.render(), content_type="text/plain", charset="utf-8")

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_endpoint)
    return app
