"""The traffic webhook client: a signed, idempotent JSON POST to [golive].traffic_url, retried as the
kill switch is. The body is part of the outside contract (README, "The traffic webhook")."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from bot.core.config import GoLiveConfig
from bot.core.http import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    Delivery,
    DeliveryFailed,
    Sleep,
    post_with_retries,
    sign,
)
from bot.golive.state import TrafficView


class TrafficClient:
    """The traffic webhook: a signed, idempotent JSON POST to ``[golive].traffic_url``."""

    def __init__(
        self, http: httpx.AsyncClient, config: GoLiveConfig, *, sleep: Sleep = asyncio.sleep
    ) -> None:
        self._http = http
        self._config = config
        self._sleep = sleep

    @property
    def configured(self) -> bool:
        return bool(self._config.traffic_url)

    @staticmethod
    def body(request: TrafficView, *, launch: str, stage: str) -> bytes:
        payload: dict[str, Any] = {
            "launch": launch,
            "launch_id": request.launch_id,
            "stage": stage,
            "weight": request.weight,
            "previous_weight": request.previous_weight,
            "reason": request.reason or "",
            "requested_by": {"id": request.requested_by_id, "name": request.requested_by_name},
            "request_id": request.request_id,
            "requested_at": request.created_at.isoformat(),
        }
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()

    async def send(self, content: bytes, request_id: str) -> Delivery:
        url, secret = self._config.traffic_url, self._config.traffic_secret
        if not url:
            raise DeliveryFailed("`[golive].traffic_url` is not set", attempts=(), elapsed_ms=0)
        if secret is None or not secret.get_secret_value():
            raise DeliveryFailed(
                "`[golive].traffic_secret` is not set (requests must be signed)",
                attempts=(),
                elapsed_ms=0,
            )
        return await post_with_retries(
            self._http,
            url,
            content=content,
            headers={
                "Content-Type": "application/json",
                IDEMPOTENCY_HEADER: request_id,
                SIGNATURE_HEADER: sign(secret.get_secret_value(), content),
            },
            policy=self._config,
            sleep=self._sleep,
        )
