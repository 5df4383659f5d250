"""Process metrics in Prometheus text format: requests, latencies, Slack API calls/errors, launches, items."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

# Histogram buckets in seconds; the 3 s ack budget sits between the last two.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in pairs
    )
    return "{" + inner + "}"


@dataclass
class Metrics:
    counters: dict[str, dict[tuple[tuple[str, str], ...], float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )
    histograms: dict[tuple[tuple[str, str], ...], list[float]] = field(default_factory=dict)
    help: dict[str, str] = field(
        default_factory=lambda: {
            "launchbot_requests_total": "HTTP requests on /slack/events by kind and status",
            "launchbot_slack_api_calls_total": "Slack Web API calls by method",
            "launchbot_slack_api_errors_total": "Slack Web API calls that failed, by method and error",
            "launchbot_launches_started_total": "Launches started",
            "launchbot_items_checked_total": "Checklist items ticked (unticks not counted)",
            "launchbot_request_seconds": "Time to answer a request on /slack/events",
        }
    )

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        self.counters[name][tuple(sorted(labels.items()))] += amount

    def observe(self, seconds: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        # [bucket counts..., sum, count]
        data = self.histograms.setdefault(key, [0.0] * (len(BUCKETS) + 2))
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                data[i] += 1
        data[-2] += seconds
        data[-1] += 1

    def value(self, name: str, **labels: str) -> float:
        return self.counters[name][tuple(sorted(labels.items()))]

    def render(self) -> str:
        lines: list[str] = []
        names = set(self.counters) | {
            "launchbot_requests_total",
            "launchbot_slack_api_calls_total",
            "launchbot_slack_api_errors_total",
            "launchbot_launches_started_total",
            "launchbot_items_checked_total",
        }
        for name in sorted(names):
            lines.append(f"# HELP {name} {self.help.get(name, name)}")
            lines.append(f"# TYPE {name} counter")
            series = self.counters.get(name) or {}
            if not series and name in (
                "launchbot_launches_started_total",
                "launchbot_items_checked_total",
            ):
                lines.append(f"{name} 0")
            for key, val in sorted(series.items()):
                lines.append(f"{name}{_labels(key)} {val:g}")
        hname = "launchbot_request_seconds"
        lines.append(f"# HELP {hname} {self.help[hname]}")
        lines.append(f"# TYPE {hname} histogram")
        for key, data in sorted(self.histograms.items()):
            for i, bound in enumerate(BUCKETS):
                lines.append(f"{hname}_bucket{_labels(key + (('le', f'{bound:g}'),))} {data[i]:g}")
            lines.append(f"{hname}_bucket{_labels(key + (('le', '+Inf'),))} {data[-1]:g}")
            lines.append(f"{hname}_sum{_labels(key)} {data[-2]:.6f}")
            lines.append(f"{hname}_count{_labels(key)} {data[-1]:g}")
        return "\n".join(lines) + "\n"
