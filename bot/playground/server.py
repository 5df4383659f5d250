"""The playground assembled: the Slack stand-in on ``host:port`` with the page's routes and the
rehearsal's outside fakes, the real bot (``launchbot serve``) as a child process wired to it, and
the channel saved beside the bot's database."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import sys
import tomllib
from pathlib import Path
from typing import Any

from bot.playground.config import (
    PLAYGROUND_USERS,
    PlaygroundUser,
    bot_config,
    default_config,
    holders_of,
    render_config,
    team_config_path,
)
from bot.playground.process import BotProcess, PlaygroundError
from bot.playground.routes import add_page_routes
from bot.playground.simulators import SIM_PREFIX, Simulators
from bot.playground.state import CHANNEL, PageState
from bot.playground.store import ChannelStore, restore, snapshot
from bot.standin import SlackStandIn

DEFAULT_DB = Path("playground.db")
# Saving the channel on every event would mean one SQLite write per checkbox render; a burst of
# clicks shares one write instead.
SNAPSHOT_DEBOUNCE_SECONDS = 0.3

__all__ = ["PLAYGROUND_USERS", "Playground", "PlaygroundError", "PlaygroundUser", "run"]


class Playground:
    """The stand-in on ``host:port`` with the page's routes, and ``launchbot serve`` wired to it."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        db_path: Path = DEFAULT_DB,
        fresh: bool = False,
        config_path: Path | None = None,
        users: tuple[PlaygroundUser, ...] = PLAYGROUND_USERS,
        speed: float = 1.0,
    ) -> None:
        if speed <= 0:
            raise ValueError("the speed must be positive")
        self.host, self.port = host, port
        self.speed = speed
        self.db_path = db_path.resolve()
        self.fresh = fresh
        self.config_path = config_path
        self.standin = SlackStandIn(
            bot_token="xoxb-playground-" + secrets.token_hex(16),
            signing_secret=secrets.token_hex(32),
        )
        self.page = PageState(self.standin, list(users), speed=speed)
        self.store = ChannelStore(self.db_path)
        self.killswitch_secret = secrets.token_hex(32)
        self.traffic_secret = secrets.token_hex(32)
        self.bot = BotProcess(on_port=self._bot_port)
        self._tasks: list[asyncio.Task[None]] = []
        app = self.standin.web_app()
        add_page_routes(app, self.page)
        self.simulators = Simulators(
            self.page, killswitch_secret=self.killswitch_secret, traffic_secret=self.traffic_secret
        )
        self.simulators.add_routes(app)

    @property
    def url(self) -> str:
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{shown}:{self.port}/"

    @property
    def local_base(self) -> str:
        """The stand-in as the bot reaches it: loopback, whatever address the page listens on."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def users(self) -> list[PlaygroundUser]:
        return self.page.users

    @property
    def ready(self) -> bool:
        return self.page.ready

    # --- lifecycle ------------------------------------------------------------------------------
    def _prepare(self) -> tuple[Path | None, dict[str, Any]]:
        """Files and people before anything listens: --fresh, the team config, the saved channel."""
        if self.fresh:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(str(self.db_path) + suffix).unlink(missing_ok=True)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        team = self.config_path if self.config_path is not None else team_config_path()
        base = self._base_config(team)
        for user in self.users:
            self.standin.add_user(user.id, user.name, user.real_name, user.name)
        restore(self.page, self.store.load())
        return team, base

    def _base_config(self, team: Path | None) -> dict[str, Any]:
        """The team's config if there is one (its role holders join the switcher), else the
        playground's own."""
        if team is None:
            return default_config(tuple(self.users))
        with team.open("rb") as f:
            base = tomllib.load(f)
        self.users.extend(holders_of(base, {u.id for u in self.users}))
        return base

    async def start(self) -> None:
        team, base = self._prepare()
        await self.standin.start(self.host, self.port)
        if self.port == 0:
            self.port = int(self.standin.url.rsplit(":", 1)[1])
        self._tasks.append(asyncio.create_task(self._pump()))
        self._tasks.append(asyncio.create_task(self._persist()))
        # The fakes' URLs carry the port, known only now that the stand-in listens.
        config = bot_config(
            base,
            sim_url=f"{self.local_base}{SIM_PREFIX}",
            killswitch_secret=self.killswitch_secret,
            traffic_secret=self.traffic_secret,
            source=team,
        )
        settings = {
            "SLACK_BOT_TOKEN": self.standin.bot_token,
            "SLACK_SIGNING_SECRET": self.standin.signing_secret,
            "SLACK_API_URL": f"{self.local_base}/api/",
            "DATABASE_URL": f"sqlite+aiosqlite:///{self.db_path}",
            # --speed: the bot's clock runs this many times real time (soak times pass in minutes).
            "LAUNCHBOT_TIME_SCALE": f"{self.speed:g}",
        }
        await self.bot.start(render_config(config), settings)
        self.page.ready = True
        self.page.publish({"kind": "ready"})

    def _bot_port(self, port: int) -> None:
        self.standin.app_url = f"http://127.0.0.1:{port}/slack/events"

    async def stop(self) -> None:
        await self.bot.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.standin.messages.get(CHANNEL) or self.page.local_messages:
            await asyncio.to_thread(self.store.save, snapshot(self.page))
        self.page.close_feeds()
        await self.standin.stop()

    async def wait_bot_exit(self) -> int:
        return await self.bot.wait()

    # --- change feed and persistence -------------------------------------------------------------
    async def _pump(self) -> None:
        feed = self.standin.subscribe()
        while True:
            self.page.publish(await feed.get())

    async def _persist(self) -> None:
        while True:
            await self.page.dirty.wait()
            await asyncio.sleep(SNAPSHOT_DEBOUNCE_SECONDS)
            self.page.dirty.clear()
            await asyncio.to_thread(self.store.save, snapshot(self.page))


async def _started(playground: Playground) -> int | None:
    """Start; None once serving, else the exit status (the reason printed)."""
    try:
        await playground.start()
    except OSError as exc:
        await playground.stop()
        print(  # noqa: T201
            f"launchbot: cannot listen on {playground.host}:{playground.port} ({exc.strerror}); "
            "try --port with another number",
            file=sys.stderr,
        )
        return 2
    except PlaygroundError as exc:
        await playground.stop()
        print(f"launchbot: the playground could not start: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    return None


async def _serve(playground: Playground) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    failed = await _started(playground)
    if failed is not None:
        return failed
    speed = f"; the bot's clock runs {playground.speed:g}× fast" if playground.speed != 1 else ""
    print(  # noqa: T201
        f"launchbot playground: #war-room is open at {playground.url}{speed}\n"
        f"  (no Slack needed; data in {playground.db_path.name}; Ctrl-C stops it)",
        flush=True,
    )
    stopped = asyncio.create_task(stop.wait())
    exited = asyncio.create_task(playground.wait_bot_exit())
    await asyncio.wait({stopped, exited}, return_when=asyncio.FIRST_COMPLETED)
    code = 0
    if exited.done() and not stop.is_set():
        print(f"launchbot: the bot exited ({exited.result()}); stopping", file=sys.stderr)  # noqa: T201
        code = 1
    for task in (stopped, exited):
        task.cancel()
    await playground.stop()
    print("launchbot playground: stopped", flush=True)  # noqa: T201
    return code


def run(
    *,
    host: str = "127.0.0.1",
    port: int = 3000,
    fresh: bool = False,
    db: Path | None = None,
    speed: float = 1.0,
) -> int:
    """``launchbot playground``: serve until SIGINT/SIGTERM; the exit status."""
    playground = Playground(
        host=host, port=port, db_path=db or DEFAULT_DB, fresh=fresh, speed=speed
    )
    return asyncio.run(_serve(playground))
