"""Signed, idempotent, retried outbound POSTs (PagerDuty, the kill switch, the traffic webhook) over httpx."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from bot.core.config import RetryConfig
from bot.core.errors import EscalationFailed

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

SIGNATURE_HEADER = "X-Launchbot-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


# ---------------------------------------------------------------------------------------------------
# HTTP with retries


@dataclass(frozen=True)
class Attempt:
    """One try: the HTTP status if an answer came, else what went wrong. ``may_have_arrived``: no
    answer came, yet the request may have reached the other side (it timed out or the connection
    broke after connecting), so whatever it asked for may have happened."""

    number: int
    status: int | None
    error: str | None
    elapsed_ms: int
    may_have_arrived: bool = False


def unanswered_tries(attempts: Sequence[Attempt]) -> int:
    """How many tries may have been acted on without an answer saying so."""
    return sum(1 for a in attempts if a.may_have_arrived)


@dataclass(frozen=True)
class Delivery:
    status: int
    body: Any
    text: str
    attempts: tuple[Attempt, ...]
    elapsed_ms: int


class DeliveryFailed(EscalationFailed):
    """The other side never confirmed: ``attempts`` says what each try got."""

    def __init__(self, message: str, *, attempts: tuple[Attempt, ...], elapsed_ms: int) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.elapsed_ms = elapsed_ms

    @property
    def status(self) -> int | None:
        return self.attempts[-1].status if self.attempts else None

    @property
    def may_have_arrived(self) -> bool:
        """Some try may have been acted on without an answer saying so: the outcome is unknown,
        not a failure anyone may report as "nothing happened"."""
        return unanswered_tries(self.attempts) > 0


def _retry_after(response: httpx.Response, policy: RetryConfig) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), policy.max_backoff_seconds)
    except ValueError:
        return None


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def post_with_retries(
    http: httpx.AsyncClient,
    url: str,
    *,
    content: bytes,
    headers: Mapping[str, str],
    policy: RetryConfig,
    sleep: Sleep = asyncio.sleep,
) -> Delivery:
    """POST ``content`` until a 2xx, a final 4xx, or ``policy.tries`` tries; raises DeliveryFailed."""
    timeout = httpx.Timeout(policy.timeout_seconds)
    attempts: list[Attempt] = []
    started = time.monotonic()
    last_error = "not sent"
    for number in range(1, policy.tries + 1):
        t0 = time.monotonic()
        wait: float | None = None
        status: int | None = None
        may_have_arrived = False
        try:
            response = await http.post(url, content=content, headers=dict(headers), timeout=timeout)
        except httpx.ConnectTimeout:
            last_error = f"could not connect within {policy.timeout_seconds:g} s"
        except httpx.TimeoutException:
            last_error = f"no answer within {policy.timeout_seconds:g} s"
            may_have_arrived = True
        except httpx.UnsupportedProtocol as exc:
            attempts.append(Attempt(number, None, str(exc), _ms(t0)))
            raise DeliveryFailed(
                f"bad URL {url!r}: {exc}", attempts=tuple(attempts), elapsed_ms=_ms(started)
            ) from exc
        except httpx.ConnectError as exc:
            last_error = f"could not connect ({_short(str(exc)) or type(exc).__name__})"
        except httpx.TransportError as exc:
            last_error = f"connection failed ({_short(str(exc)) or type(exc).__name__})"
            may_have_arrived = True
        else:
            status = response.status_code
            if 200 <= status < 300:
                attempts.append(Attempt(number, status, None, _ms(t0)))
                return Delivery(
                    status=status,
                    body=_json_or_none(response),
                    text=response.text,
                    attempts=tuple(attempts),
                    elapsed_ms=_ms(started),
                )
            last_error = f"HTTP {status}" + (
                f": {_short(response.text)}" if response.text.strip() else ""
            )
            if status != 429 and status < 500:
                # A 4xx other than 429 means the request itself is wrong: sending it again won't help.
                attempts.append(Attempt(number, status, last_error, _ms(t0)))
                raise DeliveryFailed(last_error, attempts=tuple(attempts), elapsed_ms=_ms(started))
            wait = _retry_after(response, policy)
        attempts.append(Attempt(number, status, last_error, _ms(t0), may_have_arrived))
        logger.warning("POST %s try %d/%d failed: %s", url, number, policy.tries, last_error)
        if number < policy.tries:
            backoff = min(policy.backoff_seconds * 2 ** (number - 1), policy.max_backoff_seconds)
            await sleep(backoff if wait is None else wait)
    raise DeliveryFailed(
        f"{last_error} (after {policy.tries} tries)",
        attempts=tuple(attempts),
        elapsed_ms=_ms(started),
    )


def _ms(since: float) -> int:
    return int((time.monotonic() - since) * 1000)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def sign(secret: str, body: bytes) -> str:
    """The signature header value: ``sha256=`` + hex HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
