"""Process metrics for ``GET /metrics``: requests, latencies, Slack API calls/errors, launches, items,
and the outbox's backlog (messages behind Slack, the oldest one's age).

A small face on ``prometheus-client``: each ``Metrics`` owns its own ``CollectorRegistry`` (two bots
in one test process never share counts), and the text exposition is the library's. Gauges read from
the database are brought up to date just before a scrape (``on_scrape``, ``refresh``)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

logger = logging.getLogger(__name__)

# The ``*_created`` timestamp series would double the page and nothing reads them; the bot is the
# only user of prometheus-client in its process.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Histogram buckets in seconds; the 3 s ack budget sits between the last two.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
REQUEST_SECONDS = "launchbot_request_seconds"

# name: (help, label names). Every counter the bot exposes, so each shows from the first scrape.
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "launchbot_requests_total": (
        "HTTP requests on /slack/events by kind and status",
        ("kind", "status"),
    ),
    "launchbot_slack_api_calls_total": ("Slack Web API calls by method", ("method",)),
    "launchbot_slack_api_errors_total": (
        "Slack Web API calls that failed, by method and error",
        ("method", "error"),
    ),
    "launchbot_launches_started_total": ("Launches started", ()),
    "launchbot_items_checked_total": ("Checklist items ticked (unticks not counted)", ()),
}

OUTBOX_BEHIND = "launchbot_outbox_messages_behind"
OUTBOX_REFUSED = "launchbot_outbox_messages_refused"
OUTBOX_OLDEST_SECONDS = "launchbot_outbox_oldest_behind_seconds"
# name: help. Every gauge the bot exposes (no labels), set at each scrape.
GAUGES: dict[str, str] = {
    OUTBOX_BEHIND: "Bot messages whose latest version Slack does not show yet",
    OUTBOX_REFUSED: "Of those, messages whose latest version Slack refused for good",
    OUTBOX_OLDEST_SECONDS: "Seconds since the oldest message behind fell behind (0: none)",
}


class Metrics:
    """``inc`` a counter, ``observe`` a request's latency, ``render`` the Prometheus text format."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._counters: dict[str, Counter] = {}
        for name, (doc, labels) in COUNTERS.items():
            self._counter(name, doc, labels)
        self._gauges = {
            name: Gauge(name, doc, registry=self.registry) for name, doc in GAUGES.items()
        }
        self._before_scrape: list[Callable[[], Awaitable[None]]] = []
        self._latency = Histogram(
            REQUEST_SECONDS,
            "Time to answer a request on /slack/events",
            ("kind",),
            buckets=BUCKETS,
            registry=self.registry,
        )

    def _counter(self, name: str, doc: str, labels: tuple[str, ...]) -> Counter:
        counter = Counter(name, doc, labels, registry=self.registry)
        self._counters[name] = counter
        return counter

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        counter = self._counters.get(name) or self._counter(name, name, tuple(sorted(labels)))
        (counter.labels(**labels) if labels else counter).inc(amount)

    def set(self, name: str, value: float) -> None:
        """Set one of ``GAUGES``."""
        self._gauges[name].set(value)

    def on_scrape(self, refresh: Callable[[], Awaitable[None]]) -> None:
        """Run ``refresh`` (which sets gauges) before each ``/metrics`` page."""
        self._before_scrape.append(refresh)

    async def refresh(self) -> None:
        """Bring the gauges up to date; one that cannot (the database is down) keeps its value."""
        for refresh in self._before_scrape:
            try:
                await refresh()
            except Exception as exc:  # the page is served anyway, with the last values
                logger.warning("refreshing metrics failed: %s", type(exc).__name__)

    def observe(self, seconds: float, **labels: str) -> None:
        self._latency.labels(**labels).observe(seconds)

    def value(self, name: str, **labels: str) -> float:
        """A counter's or gauge's current value (0 if it never counted)."""
        return self.registry.get_sample_value(name, labels) or 0.0

    def render(self) -> str:
        return generate_latest(self.registry).decode("utf-8")
