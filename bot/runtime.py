"""Assembles a running bot (database, clients, publisher, bolt app) and serves it over HTTP or Socket Mode."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import aiohttp
import httpx
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot import migrate
from bot.app import build_app
from bot.calendar.flows import calendar_job
from bot.checklist.applier import NAME_LOOKUP_SECONDS, ClickApplier
from bot.checklist.parser import load_template
from bot.checklist.template import ChecklistTemplate
from bot.core.clock import BotClock
from bot.core.config import AppConfig, Settings, load_config
from bot.core.db import open_database
from bot.core.identity import Identity
from bot.core.metrics import Metrics
from bot.core.outbox import Publisher
from bot.core.scheduler import Scheduler
from bot.core.slack_client import is_transient, make_slack_client, slack_error
from bot.core.tasks import BackgroundTasks, RequestGauge
from bot.deps import Deps
from bot.golive.timer_flows import golive_job
from bot.incidents.escalation_flows import escalation_job
from bot.incidents.killswitch_flows import killswitch_job
from bot.server import Activity, make_web_app
from bot.watch.flows import watch_job

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
    if clock is None:
        clock = BotClock(scale=settings.time_scale, start=settings.clock_start)
    template = template if template is not None else load_template(config.template)
    deps = _build_deps(settings, config, template, clock)
    app = build_app(deps, process_before_response=process_before_response)
    scheduler = _build_scheduler(deps)
    try:
        await deps.publisher.recover()
        deps.clicks.kick()  # clicks stored but not applied before a stop
        scheduler.start()
        yield RunningBot(deps=deps, app=app)
    finally:
        await _shut_down(deps, scheduler)


def _build_deps(
    settings: Settings,
    config: AppConfig,
    template: ChecklistTemplate,
    clock: Callable[[], datetime],
) -> Deps:
    """The database, the outside clients, the publisher and the click applier, wired together."""
    metrics = Metrics()
    db = open_database(settings.database_url)
    # Explicit timeouts: an outside system that hangs must not hold a war-room command forever.
    http = httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=3.0))
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    slack = make_slack_client(token=token, base_url=settings.slack_api_url, metrics=metrics)
    tasks = BackgroundTasks()
    gauge = RequestGauge()
    publisher = Publisher(db=db, slack=slack, tasks=tasks, gauge=gauge, clock=clock)
    # /metrics shows the outbox's backlog as of the scrape.
    metrics.on_scrape(functools.partial(publisher.report_backlog, metrics))
    identity = Identity(
        slack,
        name_ttl=config.signoff.name_cache_seconds,
        group_ttl=config.signoff.usergroup_cache_seconds,
    )
    clicks = ClickApplier(db=db, tasks=tasks, publisher=publisher, clock=clock, gauge=gauge)
    # Counted when a tick takes effect: a click refused later (a closed launch) ticked nothing.
    clicks.on_ticked = functools.partial(metrics.inc, "launchbot_items_checked_total")
    # The click applier names clickers through the same cached users.info lookups as sign-offs.
    clicks.names = functools.partial(identity.display_name, within=NAME_LOOKUP_SECONDS)
    return Deps(
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
        identity=identity,
        gauge=gauge,
        clock=clock,
    )


def _build_scheduler(deps: Deps) -> Scheduler:
    """Timed work from the database (the timers survive restarts): due escalation levels, kill-switch
    and go-live follow-ups, and the outbox's sweep of messages left behind."""
    return Scheduler(
        clock=deps.clock,
        # The poll interval is in bot seconds: a faster clock polls as often in bot time.
        poll_seconds=max(
            0.05,
            min(deps.config.escalation.poll_seconds, deps.config.prometheus.interval_seconds)
            / deps.settings.time_scale,
        ),
        jobs=(
            escalation_job(deps),
            killswitch_job(deps),
            golive_job(deps),
            calendar_job(deps),
            watch_job(deps),
            deps.publisher.sweep_job(),
        ),
    )


async def _shut_down(deps: Deps, scheduler: Scheduler) -> None:
    await scheduler.stop()
    deps.publisher.close()  # pauses between tries end; renders under way finish in the drain
    await deps.tasks.drain(SHUTDOWN_GRACE_SECONDS)
    deps.clicks.close()
    await deps.http.aclose()
    await deps.db.dispose()


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


class SocketModeRefused(Exception):
    """Slack refused the app token for good (invalid_auth and the like): retrying cannot help."""


_RETRY_MAX_SECONDS = 30.0


async def _connect_socket_mode(handler: AsyncSocketModeHandler) -> None:
    """Get a WebSocket URL from apps.connections.open (retrying outages with backoff; raising
    SocketModeRefused on a refused token), then let the client connect to it."""
    delay = 1.0
    while True:
        try:
            handler.client.wss_uri = await handler.client.issue_new_wss_url()
            break
        except SlackApiError as exc:
            # Any error but a "not now" means the token or the app's settings are wrong, and
            # retrying forever would only hide that.
            error = slack_error(exc)
            if not is_transient(exc):
                raise SocketModeRefused(error) from exc
            logger.warning("apps.connections.open failed (%s); retrying in %.0f s", error, delay)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            logger.warning(
                "cannot reach Slack for Socket Mode (%s); retrying in %.0f s",
                type(exc).__name__,
                delay,
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, _RETRY_MAX_SECONDS)
    await handler.connect_async()  # type: ignore[no-untyped-call]


async def _until_stopped(stop: asyncio.Event, work: Awaitable[None]) -> bool:
    """Run ``work`` until it finishes (True) or ``stop`` is set first (False; ``work`` is cancelled)."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, stopped):
            pending.cancel()
        await asyncio.gather(task, stopped, return_exceptions=True)
    if task.cancelled():
        return False
    task.result()  # re-raises what connecting raised
    return True


LULL_SECONDS = 0.5
COLLECT_EVERY_SECONDS = 5.0


async def _collect_in_lulls(activity: Activity) -> None:
    """Python's full garbage collection stops this process for ~30-40 ms; left to itself it lands
    in the middle of a burst of clicks (the bench's slowest bursts). Run it in a lull instead, so the
    collector's own thresholds are rarely reached while requests are arriving."""
    collected = time.monotonic()
    while True:
        await asyncio.sleep(LULL_SECONDS)
        now = time.monotonic()
        if now - collected >= COLLECT_EVERY_SECONDS and now - activity.last_request >= LULL_SECONDS:
            gc.collect()
            collected = now


async def serve(settings: Settings, *, host: str, port: int, socket_mode: bool) -> None:
    """Migrate, then serve until SIGTERM/SIGINT; in-flight work is drained before exit.

    In Socket Mode the health endpoints come up first and the stop signal is honoured while
    connecting; a refused app token ends the process (exit code 1) with a one-line message."""
    await migrate.upgrade(settings.database_url)
    stop = _stop_event()
    async with running_bot(settings) as bot:
        handler = _socket_mode_handler(settings, bot) if socket_mode else None
        activity = Activity()
        runner = await _start_site(bot, host=host, port=port, handler=handler, activity=activity)
        # Lulls are seen on /slack/events only; over Socket Mode the collector keeps its own timing.
        collector = (
            asyncio.create_task(_collect_in_lulls(activity), name="gc-in-lulls")
            if handler is None
            else None
        )
        try:
            refused = await _serve_until_stopped(stop, handler)
        finally:
            print("launchbot: stopping", flush=True)  # noqa: T201
            if collector is not None:
                collector.cancel()
            if handler is not None:
                await handler.close_async()  # type: ignore[no-untyped-call]
            await runner.cleanup()
    if refused is not None:
        print(  # noqa: T201
            f"launchbot: Slack refused SLACK_APP_TOKEN for Socket Mode ({refused}); "
            "check the app-level token (xapp-, scope connections:write)",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(1)


def _socket_mode_handler(settings: Settings, bot: RunningBot) -> AsyncSocketModeHandler:
    assert settings.slack_app_token is not None
    return AsyncSocketModeHandler(bot.app, settings.slack_app_token.get_secret_value())


async def _start_site(
    bot: RunningBot,
    *,
    host: str,
    port: int,
    handler: AsyncSocketModeHandler | None,
    activity: Activity,
) -> web.AppRunner:
    """Serve /slack/events and the health endpoints (ready once Socket Mode is connected, if used)."""
    readiness: Callable[[], Awaitable[bool]] | None = None
    if handler is not None:
        client = handler.client

        async def socket_alive() -> bool:
            return bool(await client.is_connected())

        readiness = socket_alive
    runner = web.AppRunner(
        make_web_app(bot.app, bot.deps, readiness=readiness, activity=activity),
        access_log=None,
    )
    # What startup built lives as long as the process: keep it out of every later collection.
    gc.collect()
    gc.freeze()
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    mode = "Socket Mode" if handler is not None else f"HTTP on http://{host}:{port}/slack/events"
    logger.info("launchbot serving (%s)", mode)
    print(f"launchbot: serving ({mode}); health on http://{host}:{port}/healthz", flush=True)  # noqa: T201
    return runner


async def _serve_until_stopped(
    stop: asyncio.Event, handler: AsyncSocketModeHandler | None
) -> str | None:
    """Wait for the stop signal (connecting Socket Mode first, if used); Slack's error when it
    refused the app token."""
    if handler is None:
        await stop.wait()
        return None
    try:
        if await _until_stopped(stop, _connect_socket_mode(handler)):
            logger.info("Socket Mode connected")
            await stop.wait()
    except SocketModeRefused as exc:
        return str(exc)
    return None
