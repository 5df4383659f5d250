"""Assembles a running bot (database, clients, publisher, bolt app) and serves it over HTTP or Socket Mode."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import httpx
from aiohttp import web
from slack_bolt.async_app import AsyncApp

from bot import migrate
from bot.app import build_app
from bot.clicks import ClickApplier
from bot.config import AppConfig, Settings, load_config
from bot.db import open_database
from bot.deps import Deps, utc_now
from bot.metrics import Metrics
from bot.publisher import Publisher
from bot.scheduler import Scheduler
from bot.server import make_web_app
from bot.slack_client import make_slack_client
from bot.tasks import BackgroundTasks, RequestGauge
from bot.template import ChecklistTemplate, load_template

logger = logging.getLogger(__name__)
SHUTDOWN_GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class RunningBot:
    deps: Deps
    app: AsyncApp


@asynccontextmanager
async def running_bot(
    settings: Settings,
    *,
    config: AppConfig | None = None,
    template: ChecklistTemplate | None = None,
    process_before_response: bool = True,
    clock: Callable[[], datetime] | None = None,
) -> AsyncIterator[RunningBot]:
    config = config if config is not None else load_config(settings.launchbot_config)
    template = template if template is not None else load_template(config.template)
    metrics = Metrics()
    db = open_database(settings.database_url)
    # Explicit timeouts: an outside system that hangs must not hold a war-room command forever.
    http = httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=3.0))
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    slack = make_slack_client(token=token, base_url=settings.slack_api_url, metrics=metrics)
    tasks = BackgroundTasks()
    gauge = RequestGauge()
    publisher = Publisher(db=db, slack=slack, tasks=tasks, gauge=gauge)
    clicks = ClickApplier(
        db=db, tasks=tasks, publisher=publisher, clock=clock or utc_now, gauge=gauge
    )
    deps = Deps(
        settings=settings,
        config=config,
        template=template,
        db=db,
        slack=slack,
        http=http,
        tasks=tasks,
        publisher=publisher,
        metrics=metrics,
        clicks=clicks,
        gauge=gauge,
        **({"clock": clock} if clock is not None else {}),
    )
    app = build_app(deps, process_before_response=process_before_response)
    # Fires due escalation levels from the database (the timer survives restarts).
    scheduler = Scheduler(deps)
    try:
        await publisher.recover()
        clicks.kick()  # clicks stored but not applied before a stop
        scheduler.start()
        yield RunningBot(deps=deps, app=app)
    finally:
        await scheduler.stop()
        await tasks.drain(SHUTDOWN_GRACE_SECONDS)
        await http.aclose()
        await db.dispose()


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def serve(settings: Settings, *, host: str, port: int, socket_mode: bool) -> None:
    """Migrate, then serve until SIGTERM/SIGINT; in-flight work is drained before exit."""
    await migrate.upgrade(settings.database_url)
    stop = _stop_event()
    async with running_bot(settings) as bot:
        handler = None
        readiness = None
        if socket_mode:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            assert settings.slack_app_token is not None
            handler = AsyncSocketModeHandler(bot.app, settings.slack_app_token.get_secret_value())
            await handler.connect_async()  # type: ignore[no-untyped-call]

            async def socket_alive() -> bool:
                return bool(await handler.client.is_connected())

            readiness = socket_alive
        runner = web.AppRunner(
            make_web_app(bot.app, bot.deps, readiness=readiness), access_log=None
        )
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        mode = "Socket Mode" if socket_mode else f"HTTP on http://{host}:{port}/slack/events"
        logger.info("launchbot serving (%s)", mode)
        print(f"launchbot: serving ({mode}); health on http://{host}:{port}/healthz", flush=True)  # noqa: T201
        try:
            await stop.wait()
        finally:
            print("launchbot: stopping", flush=True)  # noqa: T201
            if handler is not None:
                await handler.close_async()  # type: ignore[no-untyped-call]
            await runner.cleanup()
