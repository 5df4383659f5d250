"""The one AsyncWebClient the bot uses (pointed at SLACK_API_URL, retries 429s, counts calls for
/metrics) and the one way to call it: ``call_slack`` returns the answer or the error, never raises."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.core.metrics import Metrics
from bot.core.mrkdwn import escape

# Slack answers that say "not now" rather than "never": worth trying again after a pause. Anything
# else (invalid_auth, invalid_blocks, channel_not_found, …) would fail the same way every time.
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
# What a Web API call raises when Slack refused it or did not answer at all.
SLACK_CALL_ERRORS = (SlackClientError, aiohttp.ClientError, TimeoutError)


def is_transient(exc: BaseException) -> bool:
    """Whether a failed Web API call may succeed if tried again: a "not now" error, a 5xx, or no
    answer at all."""
    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", 0) or 0
        return slack_error(exc) in TRANSIENT_ERRORS or status >= 500
    return isinstance(exc, SLACK_CALL_ERRORS)


def slack_error(exc: SlackApiError) -> str:
    """The ``error`` Slack gave, or ``http_<status>`` when the answer was not Slack's JSON (a proxy's
    503 page, say): ``exc.response`` then holds text, not a dict."""
    response = exc.response
    data = getattr(response, "data", None)
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    status = getattr(response, "status_code", None)
    return f"http_{status}" if status else "unknown_error"


class CountingWebClient(AsyncWebClient):
    """Every Web API method of slack_sdk funnels through ``api_call``; counting there sees them all."""

    def __init__(self, *, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metrics = metrics

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        self.metrics.inc("launchbot_slack_api_calls_total", method=api_method)
        try:
            return await super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            self.metrics.inc(
                "launchbot_slack_api_errors_total", method=api_method, error=slack_error(exc)
            )
            raise


def make_slack_client(*, token: str, base_url: str, metrics: Metrics) -> CountingWebClient:
    client = CountingWebClient(token=token, base_url=base_url, timeout=10, metrics=metrics)
    # slack_sdk's async client only retries connection errors by default; a 429 would surface as an
    # error. Retrying sleeps Retry-After inside the call, which is fine: we only call Slack after acking.
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
    return client


logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlackAnswer:
    """What one Web API call came to: Slack's ``response``, or ``error`` (Slack's error code,
    ``http_<status>``, or the name of the network error / timeout) and whether it is ``transient``."""

    response: AsyncSlackResponse | None = None
    error: str | None = None
    transient: bool = False
    # False when no answer came at all (a timeout, a dropped connection): Slack may or may not
    # have done what was asked, so the caller must not say it did not happen.
    answered: bool = True

    @property
    def ok(self) -> bool:
        return self.error is None

    def get(self, key: str) -> Any:
        """A field of Slack's answer; None when the call failed or Slack left it out."""
        return self.response.get(key) if self.response is not None else None


async def call_slack(call: Awaitable[AsyncSlackResponse], *, what: str) -> SlackAnswer:
    """Await one Web API call (``slack.chat_update(...)``, not yet awaited) and return its answer or
    its error: Slack refusing, Slack unreachable and Slack too slow all come back as an error, so
    the caller's other work (PagerDuty, the database) still happens. ``what`` names it in the log."""
    try:
        response = await call
    except SLACK_CALL_ERRORS as exc:
        error = slack_error(exc) if isinstance(exc, SlackApiError) else type(exc).__name__
        logger.warning("%s failed: %s", what, error)
        return SlackAnswer(
            error=error,
            transient=is_transient(exc),
            answered=isinstance(exc, SlackApiError),
        )
    return SlackAnswer(response=response)


async def open_modal(
    slack: AsyncWebClient, trigger_id: str, view: Mapping[str, Any], *, what: str
) -> str | None:
    """``views.open`` (a trigger_id lives 3 s: call it right after the ack). None once Slack opened
    the modal; else what happened, as the end of a sentence about ``what`` ("did not open (Slack
    said `expired_trigger_id`)"). With no answer at all the modal may have opened: it says so
    rather than claiming it did not."""
    answer = await call_slack(
        slack.views_open(trigger_id=trigger_id, view=dict(view)), what=f"views.open for {what}"
    )
    if answer.ok:
        return None
    if not answer.answered:
        return "may not have opened (no answer from Slack)"
    return f"did not open (Slack said `{escape(answer.error or '')}`)"
