"""HTTP mode: /slack/events (signature checked on the raw bytes before bolt sees them), /healthz,
/readyz and /metrics on aiohttp."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.core.envelopes import MalformedRequest, parse_envelope
from bot.deps import Deps

logger = logging.getLogger(__name__)
MAX_BODY_BYTES = 1024 * 1024
MAX_CLOCK_SKEW_SECONDS = 60 * 5
MAX_TIMESTAMP_DIGITS = 12  # Unix seconds have 10 digits until the year 2286
MAX_REASON = 200


def _json(status: int, payload: dict[str, str]) -> web.Response:
    return web.json_response(payload, status=status)


def _one(request: web.Request, name: str) -> str | None:
    """The header's only value; None when it is missing or sent more than once (Slack sends each
    once, and a second copy could make us check one value while bolt reads another)."""
    values = request.headers.getall(name, [])
    return values[0] if len(values) == 1 else None


def _fresh(timestamp: str, now: float) -> bool:
    """Slack's timestamp: ASCII digits (``"²".isdigit()`` is true and ``int("²")`` fails; a
    5,000-digit one passes ``isdigit`` and trips Python's int-string limit), within 5 minutes."""
    timestamp = timestamp.strip()
    if not (0 < len(timestamp) <= MAX_TIMESTAMP_DIGITS and timestamp.isascii()):
        return False
    return timestamp.isdigit() and abs(now - int(timestamp)) <= MAX_CLOCK_SKEW_SECONDS


def _verified(secret: bytes, raw: bytes, timestamp: str, signature: str) -> bool:
    """Slack's v0 signature over the raw bytes, in constant time. Compared as bytes:
    ``hmac.compare_digest`` raises TypeError on a non-ASCII str."""
    base = b"v0:" + timestamp.strip().encode() + b":" + raw
    expected = b"v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest().encode()
    given = signature.encode("utf-8", "surrogateescape")
    return hmac.compare_digest(expected, given)


class _OneLineForBadHttp(logging.Filter):
    """aiohttp answers a request it cannot parse (a repeated Content-Type, a bad header byte) with
    400 itself, then logs the parser's traceback at ERROR: anyone could flood the log with them.
    The sender's fault gets one WARNING line instead, like every other refusal here."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg = "refused unparsable HTTP request from %s: %s %r"
            record.args = (remote, error.code, str(error.message)[:MAX_REASON])
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


BAD_HTTP_FILTER = _OneLineForBadHttp()


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
    entry = _SlackEntry(bolt, deps, activity)
    metrics = deps.metrics

    async def healthz(_request: web.Request) -> web.Response:
        return _json(200, {"status": "ok"})

    async def readyz(_request: web.Request) -> web.Response:
        ok = await deps.db.ping()
        if ok and readiness is not None:
            ok = await readiness()
        return _json(200 if ok else 503, {"status": "ready" if ok else "not ready"})

    async def metrics_endpoint(_request: web.Request) -> web.Response:
        await metrics.refresh()  # the gauges read from the database (the outbox's backlog)
        # Prometheus' own exposition type, as its client library sets it.
        return web.Response(
            body=metrics.render().encode(), headers={"Content-Type": metrics.content_type}
        )

    logging.getLogger("aiohttp.server").addFilter(BAD_HTTP_FILTER)  # added once: same object
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_post("/slack/events", entry.slack_events)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_endpoint)
    return app


class _SlackEntry:
    """/slack/events: the signature and the envelope are checked on the raw bytes, then bolt
    dispatches exactly what was checked. Every refusal is one log line and a 4xx."""

    def __init__(self, bolt: AsyncApp, deps: Deps, activity: Activity | None) -> None:
        secret = deps.settings.slack_signing_secret
        self._secret = secret.get_secret_value().encode() if secret else None
        self._bolt = bolt
        self._deps = deps
        self._metrics = deps.metrics
        self._activity = activity

    async def slack_events(self, request: web.Request) -> web.Response:
        if self._activity is not None:
            self._activity.last_request = time.monotonic()
        with self._deps.gauge.serving():
            return await self._handle(request)

    def _refuse(self, request: web.Request, status: int, kind: str, reason: str) -> web.Response:
        """The one log line of a refused request (no traceback, none of its values), counted."""
        logger.warning(
            "refused %s request from %s: %s", kind, request.remote or "?", reason[:MAX_REASON]
        )
        self._metrics.inc("launchbot_requests_total", kind=kind, status=str(status))
        error = "invalid request" if status == 401 else reason[:MAX_REASON]
        return _json(status, {"error": error})

    async def _handle(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        checked = await self._checked(request)
        if isinstance(checked, web.Response):
            return checked
        bolt_request, kind = checked
        bolt_response = await self._bolt.async_dispatch(bolt_request)
        status = bolt_response.status
        self._metrics.inc("launchbot_requests_total", kind=kind, status=str(status))
        self._metrics.observe(time.perf_counter() - started, kind=kind)
        response = web.Response(status=status, text=bolt_response.body)
        for name, values in bolt_response.headers.items():
            if name.lower() in ("content-length",):
                continue
            for value in values:
                response.headers[name] = value
        return response

    async def _checked(self, request: web.Request) -> tuple[AsyncBoltRequest, str] | web.Response:
        """The request as bolt will read it and its kind, or the refusal."""
        timestamp = _one(request, "X-Slack-Request-Timestamp")
        signature = _one(request, "X-Slack-Signature")
        content_type = _one(request, "Content-Type")
        if self._secret is None:
            return self._refuse(request, 401, "unverified", "no signing secret configured")
        if signature is None or timestamp is None or not _fresh(timestamp, time.time()):
            # Before reading the body: an unsigned flood costs no more than its headers.
            return self._refuse(
                request, 401, "unverified", "missing, repeated or stale signature headers"
            )
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._refuse(request, 413, "oversized", f"body over {MAX_BODY_BYTES} bytes")
        if not _verified(self._secret, raw, timestamp, signature):
            return self._refuse(request, 401, "unverified", "bad signature")
        if content_type is None:
            return self._refuse(request, 400, "malformed", "missing or repeated Content-Type")
        headers: dict[str, str | Sequence[str]] = {k.lower(): v for k, v in request.headers.items()}
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return self._refuse(request, 400, "malformed", "body is not UTF-8")
        try:
            # bolt parses the body once; the envelope is checked on what bolt parsed (and the form's
            # keys on the raw text), so bolt acts on exactly what was checked.
            bolt_request = AsyncBoltRequest(body=text, headers=headers)
        except (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError):
            return self._refuse(request, 400, "malformed", "bolt cannot read this body")
        try:
            envelope = parse_envelope(raw, content_type, bolt_request.body)
        except MalformedRequest as exc:
            return self._refuse(request, 400, "malformed", exc.reason)
        return bolt_request, envelope.kind
