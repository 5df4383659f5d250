"""A local trading-system kill switch (aiohttp, 127.0.0.1, ephemeral port): checks the HMAC signature and
honours the Idempotency-Key; can be scripted to answer 500/403/... or hang."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class KillRequest:
    headers: dict[str, str]
    body: bytes
    signature_ok: bool

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")


@dataclass
class FakeKillSwitch:
    """``script`` is consumed one entry per request: an HTTP status, or ``"hang"`` (answer after
    ``hang_seconds``). Once empty it behaves: 401 on a bad signature, else 200 and halts trading
    (only once per Idempotency-Key; a repeat gets the first answer again)."""

    secret: str
    script: list[int | str] = field(default_factory=list)
    hang_seconds: float = 3.0
    requests: list[KillRequest] = field(default_factory=list)
    halted: list[str] = field(default_factory=list)  # request ids that really halted trading
    _answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    _port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/kill"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/kill", self._kill)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _kill(self, request: web.Request) -> web.Response:
        body = await request.read()
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        signature = request.headers.get("X-Launchbot-Signature", "")
        recorded = KillRequest(
            {k.lower(): v for k, v in request.headers.items()},
            body,
            hmac.compare_digest(expected, signature),
        )
        self.requests.append(recorded)
        if self.script:
            step = self.script.pop(0)
            if step == "hang":
                await asyncio.sleep(self.hang_seconds)
            elif isinstance(step, int):
                return web.json_response({"error": f"scripted {step}"}, status=step)
        if not recorded.signature_ok:
            return web.json_response({"error": "bad signature"}, status=401)
        key = recorded.idempotency_key or ""
        if key not in self._answers:
            data = recorded.json
            if not data.get("dry_run"):
                self.halted.append(data["request_id"])
            self._answers[key] = {
                "status": "dry_run_ok" if data.get("dry_run") else "halted",
                "request_id": data["request_id"],
            }
        return web.json_response(self._answers[key])
