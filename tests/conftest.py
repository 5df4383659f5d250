"""Fixtures: database per test (SQLite file, and PostgreSQL when a server is configured), settings built
explicitly (no environment reads), the Slack stand-in, and a running bot wired to both."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator, Coroutine
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

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


# Every test that takes a database runs on SQLite and on PostgreSQL: locking, concurrency, migrations,
# storage, durability, the flows' transactions and what `audit verify` reads back can differ between
# them. These tests only check what the bot answers or refuses before it writes, how a message is
# rendered, or what an outside system (Slack, Prometheus) does, so they run on SQLite alone. A name
# listed here that its module does not define stops the run (a rename must not silently put a test
# back on both, or off PostgreSQL unnoticed).
SQLITE_ONLY: dict[str, tuple[str, ...]] = {
    "tests/audit/test_audit.py": (
        "test_export_of_an_unknown_launch_says_so",
        "test_user_html_in_the_markdown_report_is_escaped",
    ),
    "tests/calendar/test_calendar.py": (
        "test_bad_or_past_dates_get_the_usage_line_and_change_nothing",
        "test_on_before_the_name_works_too",
        "test_on_in_any_case_is_the_option",
        "test_on_is_an_option_never_part_of_the_name",
    ),
    "tests/checklist/test_actions.py": (
        "test_click_on_unknown_message_is_refused_politely",
        "test_display_name_falls_back_to_the_handle_when_users_info_fails",
    ),
    "tests/checklist/test_announcements.py": ("test_a_refused_phase_next_announces_nothing",),
    "tests/checklist/test_checklist.py": (
        "test_items_of_a_phase_not_started_cannot_be_ticked",
        "test_refusals_escape_launch_names_and_template_titles",
    ),
    "tests/checklist/test_close.py": (
        "test_a_group_slack_does_not_answer_for_is_refused_and_logged_not_guessed",
        "test_a_member_of_a_roles_user_group_may_close_and_the_lookup_is_cached",
        "test_close_with_extra_words_is_refused_with_usage_and_closes_nothing",
        "test_close_without_a_launch_says_so",
        "test_outsider_cannot_close_a_launch_that_is_go",
        "test_outsider_cannot_close_and_the_refused_attempt_is_logged",
        "test_the_starter_and_listed_holders_need_no_group_lookup",
    ),
    "tests/checklist/test_close_confirmation.py": (
        "test_an_outsider_is_refused_before_any_modal_opens",
        "test_close_opens_a_confirmation_that_says_what_is_open_and_closes_nothing",
        "test_missing_outcome_or_note_is_shown_in_the_modal",
    ),
    "tests/checklist/test_commands.py": (
        "test_bad_contacts_option_is_echoed_escaped",
        "test_contacts_with_extra_words_is_refused_and_posts_nothing",
        "test_help_lists_every_subcommand",
        "test_help_with_extra_words_says_they_were_ignored_then_shows_help",
        "test_refusals_escape_the_launch_name",
        "test_report_with_extra_words_is_refused_with_usage_and_uploads_nothing",
        "test_start_without_name_explains_and_changes_nothing",
        "test_status_without_launch_says_how_to_start",
        "test_unknown_subcommand_gets_usage_and_changes_nothing",
        "test_unknown_subcommand_is_echoed_escaped",
    ),
    "tests/core/test_escaping.py": (
        "test_a_name_typed_with_ampersand_and_brackets_is_stored_and_shown_once",
        "test_help_usage_lines_and_refusals_have_no_bare_placeholders",
        "test_status_echoes_the_name_escaped_once",
        "test_text_without_entities_is_unchanged",
        "test_an_unknown_trigger_name_is_echoed_escaped_once",
    ),
    "tests/golive/test_golive.py": (
        "test_first_advance_lists_every_open_condition_and_changes_nothing",
        "test_only_allowed_roles_move_the_rollout_and_refusals_are_logged",
        "test_status_says_where_the_rollout_stands_and_what_blocks_it",
        "test_the_card_says_the_launch_state_in_words",
    ),
    "tests/signoffs/test_signoff_blocks.py": (
        "test_a_revocation_under_a_newer_approval_reads_as_history",
        "test_approve_confirm_names_the_role_whole_with_a_long_launch_name",
    ),
    "tests/signoffs/test_signoffs.py": (
        "test_a_failed_name_lookup_is_not_cached_and_is_asked_again",
        "test_anyone_else_is_refused_privately_and_only_the_attempt_is_recorded",
        "test_card_lists_the_templates_roles_with_confirmed_approve_buttons",
        "test_only_the_approver_may_revoke",
        "test_report_upload_failure_is_told_truthfully",
        "test_revoke_form_insists_on_a_reason",
        "test_role_without_holders_is_shown_and_cannot_be_approved",
        "test_usergroup_members_hold_the_role",
        "test_whoever_started_the_launch_cannot_be_its_only_approver",
    ),
    "tests/watch/test_real_prometheus.py": (
        "test_a_breach_in_a_real_prometheus_alerts_once_and_recovers",
    ),
    "tests/watch/test_watch.py": (
        "test_metrics_shows_every_rule_and_the_lines_not_watched",
        "test_roll_back_and_hold_need_the_golive_roles_and_acknowledge_is_open_to_all",
    ),
}


def _module_key(path: Path) -> str:
    return path.resolve().relative_to(ROOT).as_posix()


def _parametrized(definition: pytest.Function, name: str) -> bool:
    for mark in definition.iter_markers("parametrize"):
        names = mark.args[0]
        if name in ([n.strip() for n in names.split(",")] if isinstance(names, str) else names):
            return True
    return False


@pytest.hookimpl(tryfirst=True)  # the mark must be there before pytest reads the marks
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test listed in SQLITE_ONLY gets the SQLite database only (the mark tests/core/test_storage.py
    writes by hand; a parametrize mark takes precedence over the fixture's params)."""
    definition = metafunc.definition
    if definition.originalname not in SQLITE_ONLY.get(_module_key(definition.path), ()):
        return
    if "database_url" in metafunc.fixturenames and not _parametrized(definition, "database_url"):
        definition.add_marker(pytest.mark.parametrize("database_url", ["sqlite"], indirect=True))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    modules = {item.module for item in items if isinstance(item, pytest.Function)}
    for module in modules:
        key = _module_key(Path(str(module.__file__)))
        missing = [name for name in SQLITE_ONLY.get(key, ()) if not hasattr(module, name)]
        if missing:
            raise pytest.UsageError(
                f"tests/conftest.py SQLITE_ONLY names no test {missing} in {key}"
            )
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


T = TypeVar("T")


def on_own_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to the end on a new event loop in its own thread: setup that a module
    builds once runs outside the tests' own loops."""
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(asyncio.run(coroutine))
        except BaseException as e:  # handed to the caller
            failure.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


async def new_database(backend: str, folder: Path) -> str:
    """An empty database of the ``backend`` kind: a SQLite file in ``folder``, or a new PostgreSQL
    database. drop_copy removes it."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{folder / 'launchbot.db'}"
    return await create_pg_database()


async def copy_database(source_url: str, folder: Path) -> str:
    """A copy of the database at ``source_url`` (nothing may be connected to it): a SQLite file in
    ``folder``, or a PostgreSQL database made from it as a template. drop_copy removes it."""
    if source_url.startswith("sqlite"):
        path = folder / "launchbot.db"
        source = source_url.split(":///", 1)[1]
        with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(path)) as dst:
            src.backup(dst)
        return f"sqlite+aiosqlite:///{path}"
    return await create_pg_database(copy_of=source_url)


async def drop_copy(url: str) -> None:
    if not url.startswith("sqlite"):  # a SQLite copy goes with its tmp folder
        await drop_pg_database(url)


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
