"""The outside systems of a rehearsal: the shared fakes (bot.standin.outside) mounted on the
playground's own server under /sim, each exchange shown in the page's side panel. A rehearsal
halts no trading, pages nobody and moves no real traffic."""

from __future__ import annotations

from aiohttp import web

from bot.playground.config import PLAYGROUND_ROUTING_KEY
from bot.playground.state import PageState
from bot.standin.outside import Exchange, FakeKillSwitch, FakePagerDuty, FakeTrafficRouter

SIM_PREFIX = "/sim"


class Simulators:
    def __init__(self, page: PageState, *, killswitch_secret: str, traffic_secret: str) -> None:
        self.page = page
        self.killswitch = FakeKillSwitch(secret=killswitch_secret, watchers=[self._killswitch])
        self.traffic = FakeTrafficRouter(secret=traffic_secret, watchers=[self._traffic])
        self.pagerduty = FakePagerDuty(
            routing_key=PLAYGROUND_ROUTING_KEY, watchers=[self._pagerduty]
        )

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(f"{SIM_PREFIX}/killswitch", self.killswitch.handle)
        app.router.add_post(f"{SIM_PREFIX}/pagerduty", self.pagerduty.handle)
        app.router.add_post(f"{SIM_PREFIX}/traffic", self.traffic.handle)

    def _killswitch(self, exchange: Exchange) -> None:
        data = exchange.data if isinstance(exchange.data, dict) else {}
        if exchange.status == 401:
            text = "Kill switch request REJECTED: bad signature"
        elif exchange.status >= 300:
            text = f"Kill switch request REJECTED ({exchange.status})"
        elif data.get("dry_run"):
            text = f"Simulated trading system accepted a dry run for {data.get('launch')}"
        else:
            text = f"Simulated trading system HALTED trading for {data.get('launch')}"
        self.page.sim("killswitch", text)

    def _traffic(self, exchange: Exchange) -> None:
        data = exchange.data if isinstance(exchange.data, dict) else {}
        if exchange.status == 401:
            text = "Traffic change REJECTED: bad signature"
        elif exchange.status >= 300:
            text = f"Traffic change REJECTED ({exchange.status})"
        else:
            text = (
                f"Simulated router: {data.get('launch')} {data.get('previous_weight')}% → "
                f"{data.get('weight')}% live ({data.get('stage')})"
            )
        self.page.sim("traffic", text)

    def _pagerduty(self, exchange: Exchange) -> None:
        data = exchange.data if isinstance(exchange.data, dict) else {}
        action = str(data.get("event_action") or "event")
        summary = (data.get("payload") or {}).get("summary")
        if not summary:
            # acknowledge/resolve carry no payload: which incident is the dedup key, shortened.
            key = str(data.get("dedup_key") or "")
            summary = key if len(key) <= 18 else f"{key[:18]}…"
        text = f"Simulated PagerDuty: {action}" + (f" · {summary}" if summary else "")
        if exchange.status >= 300:
            text += f" REJECTED ({exchange.status})"
        self.page.sim("pagerduty", text)
