"""The PagerDuty Events API v2 client: trigger, acknowledge and resolve, over the core's retried POST."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any, Literal

import httpx

from bot.core.config import PagerDutyConfig
from bot.core.http import Delivery, Sleep, post_with_retries
from bot.incidents.escalation_state import EscalationView

logger = logging.getLogger(__name__)

PAGERDUTY_SEVERITY = {"sev1": "critical", "sev2": "error", "sev3": "warning"}


# ---------------------------------------------------------------------------------------------------
# Clients


class EscalationClient:
    """PagerDuty Events API v2 (``POST [pagerduty].url``; 202 means accepted)."""

    def __init__(
        self, http: httpx.AsyncClient, config: PagerDutyConfig, *, sleep: Sleep = asyncio.sleep
    ) -> None:
        self._http = http
        self._config = config
        self._sleep = sleep

    @property
    def configured(self) -> bool:
        return self._config.routing_key is not None and bool(self._config.url)

    def event(
        self,
        action: Literal["trigger", "acknowledge", "resolve"],
        *,
        dedup_key: str,
        escalation: EscalationView | None = None,
    ) -> dict[str, Any]:
        assert self._config.routing_key is not None
        body: dict[str, Any] = {
            "routing_key": self._config.routing_key.get_secret_value(),
            "event_action": action,
            "dedup_key": dedup_key,
        }
        if action == "trigger" and escalation is not None:
            body["payload"] = {
                # PagerDuty caps summary at 1024 characters.
                "summary": f"[{escalation.severity.upper()}] {escalation.launch_name}: {escalation.summary}"[
                    :1024
                ],
                "severity": PAGERDUTY_SEVERITY[escalation.severity],
                "source": self._config.source,
                "component": escalation.launch_name[:200],
                "group": "launch",
                "class": "launch escalation",
                "custom_details": {
                    "launch": escalation.launch_name,
                    "launch_id": escalation.launch_id,
                    "escalation_id": escalation.id,
                    "severity": escalation.severity,
                    "reported_by": f"{escalation.reporter_name} ({escalation.reporter_id})",
                    "slack_channel": escalation.channel_id,
                    "slack_message": escalation.permalink,
                },
            }
            body["client"] = "Launch Control"
            if escalation.permalink:
                body["client_url"] = escalation.permalink
                body["links"] = [{"href": escalation.permalink, "text": "Escalation in Slack"}]
        return body

    def test_event(
        self, *, dedup_key: str, launch_id: int, launch_name: str, requested_by: str
    ) -> dict[str, Any]:
        """``/launch escalate test``: a trigger marked as a test everywhere PagerDuty shows it
        (summary "TEST: …", severity info, its own ``dedup_key``), so the on-call's phone rings
        through the real path without anyone mistaking it for an incident."""
        assert self._config.routing_key is not None
        return {
            "routing_key": self._config.routing_key.get_secret_value(),
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "payload": {
                "summary": (
                    f"TEST: Launch Control escalation test for {launch_name}, "
                    f"requested by {requested_by}. Nothing is wrong: acknowledge and resolve it."
                )[:1024],
                "severity": "info",
                "source": self._config.source,
                "component": launch_name[:200],
                "group": "launch",
                "class": "launch escalation test",
                "custom_details": {
                    "test": True,
                    "launch": launch_name,
                    "launch_id": launch_id,
                    "requested_by": requested_by,
                },
            },
            "client": "Launch Control",
        }

    async def send(self, event: Mapping[str, Any]) -> Delivery:
        content = json.dumps(event, separators=(",", ":")).encode()
        return await post_with_retries(
            self._http,
            self._config.url,
            content=content,
            headers={"Content-Type": "application/json"},
            policy=self._config,
            sleep=self._sleep,
        )
