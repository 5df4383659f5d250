"""Fixtures: database per test (SQLite file, and PostgreSQL when a server is configured), settings built
explicitly (no environment reads), the Slack stand-in, and a running bot wired to both."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

import bot.core.models  # noqa: F401  (registers tables)
from bot.checklist.parser import load_template
from bot.checklist.template import ChecklistTemplate
from bot.core.config import AppConfig, RoleConfig, Settings
from bot.core.db import Base, Database, open_database
from bot.runtime import RunningBot, running_bot
from bot.standin import SlackStandIn
from bot.standin.outside import FakeKillSwitch, FakePagerDuty
from tests.warroom import (
    BOT_TOKEN,
    ROOT,
    SIGNING_SECRET,
    BotProcess,
    WarRoom,
    free_port,
    served_env,
)

PG_URL = os.environ.get("LAUNCHBOT_TEST_PG_URL")

BACKENDS = ["sqlite", "postgresql"]
# The parameters that choose a database: per test (database_url) or for a module's shared setup
# (backend).
DATABASE_PARAMS = ("database_url", "backend")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # CI must really test PostgreSQL; a developer without a server skips those variants.
    if PG_URL:
        return
    if os.environ.get("CI"):
        raise pytest.UsageError(
            "CI=true but LAUNCHBOT_TEST_PG_URL is not set (.ci/run starts PostgreSQL)"
        )
    skip = pytest.mark.skip(reason="no PostgreSQL: set LAUNCHBOT_TEST_PG_URL (see .ci/postgres.sh)")
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and any(
            callspec.params.get(p) == "postgresql" for p in DATABASE_PARAMS
        ):
            item.add_marker(skip)


async def create_pg_database(*, copy_of: str | None = None) -> str:
    """A new database on the test server: empty, or a copy of the database at ``copy_of`` (which
    nothing may be connected to); tests never see each other's rows."""
    assert PG_URL
    name = f"t_{uuid.uuid4().hex[:12]}"
    source = f' TEMPLATE "{copy_of.rsplit("/", 1)[1]}"' if copy_of else ""
    admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"{source}'))
    await admin.dispose()
    return PG_URL.rsplit("/", 1)[0] + "/" + name


async def drop_pg_database(url: str) -> None:
    assert PG_URL
    name = url.rsplit("/", 1)[1]
    admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database URL (no tables)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'launchbot.db'}"
        return
    url = await create_pg_database()
    try:
        yield url
    finally:
        await drop_pg_database(url)


async def create_schema(database_url: str) -> None:
    """Every table, from the models (test_migrations checks they agree with the migrations)."""
    engine = create_async_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    await engine.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The kind of database for setup that a module builds once and its tests copy."""
    return str(request.param)


@pytest.fixture
async def schema_url(database_url: str) -> str:
    """A database URL with every table created."""
    await create_schema(database_url)
    return database_url


@pytest.fixture
async def db(schema_url: str) -> AsyncIterator[Database]:
    database = open_database(schema_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture(scope="session")
def template() -> ChecklistTemplate:
    return load_template()


def base_config() -> AppConfig:
    """The five roles every test's launch has (the ``config`` fixture)."""
    return AppConfig(
        roles={
            "cto": RoleConfig(title="CTO", users=["U0CTO00001"]),
            "head_of_trading": RoleConfig(title="Head of Trading", users=["U0TRADE001"]),
            "security_officer": RoleConfig(title="Security Officer", users=["U0SEC00001"]),
            "devops_lead": RoleConfig(title="DevOps Lead", users=["U0OPS00001"]),
            "product_owner": RoleConfig(title="Product Owner", users=["U0PO000001"]),
        }
    )


@pytest.fixture
def config() -> AppConfig:
    return base_config()


def make_settings(*, database_url: str, api_url: str) -> Settings:
    return Settings.model_validate(
        {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": api_url,
            "DATABASE_URL": database_url,
        }
    )


class FakeClock:
    """deps.clock for the tests: real time until moved forward, so soak times, reminders and
    escalation waits pass without sleeping."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


USERS = {
    "U0ALICE001": ("alice", "Alice Chen"),
    "U0BOB00001": ("bob", "Bob Okafor"),
    "U0CTO00001": ("carol", "Carol CTO"),
    "U0OUTSIDE1": ("mallory", "Mallory Outsider"),
}


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    standin = SlackStandIn(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET)
    for user_id, (name, real_name) in USERS.items():
        standin.add_user(user_id, name, real_name)
    await standin.start()
    try:
        yield standin
    finally:
        await standin.stop()


@pytest.fixture
async def running(
    schema_url: str, slack: SlackStandIn, config: AppConfig, template: ChecklistTemplate
) -> AsyncIterator[RunningBot]:
    settings = make_settings(database_url=schema_url, api_url=slack.base_url)
    async with running_bot(settings, config=config, template=template) as bot_:
        yield bot_


@pytest.fixture
def room(slack: SlackStandIn, running: RunningBot) -> WarRoom:
    return WarRoom(slack=slack, bot=running)


@pytest.fixture
async def served(database_url: str) -> AsyncIterator[tuple[SlackStandIn, BotProcess]]:
    port = free_port()
    slack = SlackStandIn(
        bot_token=BOT_TOKEN,
        signing_secret=SIGNING_SECRET,
        app_url=f"http://127.0.0.1:{port}/slack/events",
    )
    for user_id, (name, real_name) in USERS.items():
        slack.add_user(user_id, name, real_name)
    await slack.start()
    env = served_env(
        api_url=slack.base_url,
        database_url=database_url,
        config=ROOT / "launchbot.example.toml",
    )
    bot = BotProcess(env, port, slack)
    await bot.start()
    try:
        yield slack, bot
    finally:
        if bot.proc and bot.proc.poll() is None:
            bot.stop()
        await slack.stop()


# --- the outside systems' fakes (bot/standin/outside.py), shared by every feature's tests ----------

ROUTING_KEY = "R0UTINGKEY0000000000000000000000"
KILL_SECRET = "kill-switch-test-secret-5f0c"


@pytest.fixture
async def pagerduty() -> AsyncIterator[FakePagerDuty]:
    fake = FakePagerDuty(routing_key=ROUTING_KEY)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def killswitch() -> AsyncIterator[FakeKillSwitch]:
    fake = FakeKillSwitch(secret=KILL_SECRET)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
