"""Settings from the environment (Slack tokens as SecretStr, DATABASE_URL, ...) and the TOML config file."""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_API_URL = "https://slack.com/api/"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./launchbot.db"
_PLACEHOLDERS = {"", "changeme", "xoxb-your-token", "xapp-your-token", "your-signing-secret", "..."}


class ConfigError(Exception):
    """The environment or config file is unusable; the message names what to fix."""


class Settings(BaseSettings):
    """Process settings, read once in ``bot.__main__`` and passed in everywhere else."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    slack_bot_token: SecretStr | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default=DEFAULT_API_URL, alias="SLACK_API_URL")
    # The workspace the bot is installed in; unset, it is learnt from Slack's auth.test (see
    # bot.core.binding). Requests from any other team are refused.
    slack_team_id: str | None = Field(default=None, alias="SLACK_TEAM_ID")
    database_url: str = Field(default=DEFAULT_DATABASE_URL, alias="DATABASE_URL")
    launchbot_config: Path | None = Field(default=None, alias="LAUNCHBOT_CONFIG")
    # The bot's clock (bot.core.clock): bot seconds per real second, and where it starts.
    time_scale: float = Field(default=1.0, gt=0, alias="LAUNCHBOT_TIME_SCALE")
    clock_start: datetime | None = Field(default=None, alias="LAUNCHBOT_CLOCK_START")

    @field_validator("clock_start", mode="after")
    @classmethod
    def _aware_start(cls, value: datetime | None) -> datetime | None:
        # An instant without a zone is read as UTC, as every recorded time is.
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @field_validator("slack_bot_token", "slack_signing_secret", "slack_app_token", mode="after")
    @classmethod
    def _blank_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value().strip() in _PLACEHOLDERS:
            return None
        return value

    @field_validator("slack_api_url", mode="after")
    @classmethod
    def _api_url_ends_with_slash(cls, value: str) -> str:
        # slack_sdk joins base_url + method name, so a missing slash would call ".../apichat.postMessage".
        return value if value.endswith("/") else value + "/"

    def require(self, *, socket_mode: bool) -> None:
        """Raise ConfigError naming the first missing variable ``serve`` needs in this mode."""
        if self.slack_bot_token is None:
            raise ConfigError("SLACK_BOT_TOKEN is not set (the bot token, xoxb-…)")
        if not self.slack_bot_token.get_secret_value().startswith("xoxb-"):
            raise ConfigError("SLACK_BOT_TOKEN must be a bot token starting with xoxb-")
        if socket_mode:
            if self.slack_app_token is None:
                raise ConfigError("SLACK_APP_TOKEN is not set (the app-level token, xapp-…)")
        elif self.slack_signing_secret is None:
            raise ConfigError("SLACK_SIGNING_SECRET is not set (needed to verify Slack's requests)")


class RoleConfig(BaseModel):
    title: str
    users: list[str] = []
    usergroups: list[str] = []
    required: int = Field(default=1, ge=1)


class RetryConfig(BaseModel):
    """How an outbound call is retried: ``tries`` in all, waiting ``backoff_seconds`` × 2ⁿ between
    them (or the server's Retry-After, capped at ``max_backoff_seconds``)."""

    timeout_seconds: float = Field(default=5.0, gt=0)
    tries: int = Field(default=3, ge=1, le=10)
    backoff_seconds: float = Field(default=0.5, ge=0)
    max_backoff_seconds: float = Field(default=10.0, ge=0)


class KillSwitchConfig(RetryConfig):
    url: str | None = None
    allowed_roles: list[str] = []
    # HMAC-SHA256 key for the X-Launchbot-Signature header; the bot refuses to fire without one.
    secret: SecretStr | None = None
    # Internal contact names to show ("call now") when firing fails; empty = every internal contact.
    call_on_failure: list[str] = []


class GoLiveConfig(RetryConfig):
    """``[golive]``: who may move the rollout, and the traffic webhook called before each change."""

    # Role ids whose holders (users and user groups, as for the kill switch) may advance, hold,
    # resume, roll back and force.
    allowed_roles: list[str] = []
    traffic_url: str | None = None
    # HMAC-SHA256 key for X-Launchbot-Signature; with a traffic_url the bot refuses to call unsigned.
    traffic_secret: SecretStr | None = None
    # Internal contact names to show when moving traffic fails; empty = every internal contact.
    call_on_failure: list[str] = []


class PagerDutyConfig(RetryConfig):
    url: str = "https://events.pagerduty.com/v2/enqueue"
    routing_key: SecretStr | None = None
    source: str = "launchbot"


class InternalContact(BaseModel):
    """A person on the internal side of ``[contacts.internal."<role>"]``."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    user: str | None = None  # Slack user id, shown as a mention
    phone: str | None = None


class ExternalContact(BaseModel):
    """A vendor in ``[contacts.external."<vendor>"]``: who to reach and where to open a case."""

    model_config = ConfigDict(extra="forbid")

    contact: str | None = None  # phone number, e-mail or name
    url: str | None = None  # support portal or case URL


class ContactsConfig(BaseModel):
    """Emergency contacts, keyed by the role/vendor names of the template's "Emergency Contacts"
    (matched case-insensitively); names the template lacks are listed after the template's."""

    model_config = ConfigDict(extra="forbid")

    internal: dict[str, InternalContact] = {}
    external: dict[str, ExternalContact] = {}


class EscalationLevel(BaseModel):
    name: str
    users: list[str] = []  # Slack user ids
    usergroups: list[str] = []  # Slack user group ids (S…), mentioned as <!subteam^S…>
    wait_minutes: float = Field(default=15.0, gt=0)


class EscalationConfig(BaseModel):
    levels: list[EscalationLevel] = []
    # How often the scheduler looks for escalation levels that are due (every job polls at this pace,
    # the outbox sweep too).
    poll_seconds: float = Field(default=15.0, gt=0)
    # Internal contact names to phone when PagerDuty cannot be reached; empty = the whole internal list.
    call_on_failure: list[str] = []


class SignOffConfig(BaseModel):
    """``[signoff]``: the four-eyes rule (one person signs for one role per launch unless lifted) and
    how long Slack names and user-group memberships are cached."""

    allow_multiple_roles: bool = False
    name_cache_seconds: float = Field(default=600.0, ge=0)
    usergroup_cache_seconds: float = Field(default=60.0, ge=0)


_HH_MM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class ScheduleConfig(BaseModel):
    """``[schedule]``: the launch calendar. Launch days and posting times are local to ``timezone``;
    the rule that finds the dated phases and the first week's repeating groups in the template is
    documented in ``bot/checklist/schedule.py`` and overridable here."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = "UTC"
    # Local time at which a dated phase, a day's checks and the weekly review are posted.
    post_at: str = "09:00"
    # Local time, the evening before launch day, of the summary of what is still open.
    evening_at: str = "18:00"
    # The group posted afresh each day from ``daily_from`` to ``daily_to`` (days after T-0).
    daily_group: str = "Daily Checks"
    daily_from: int = Field(default=2, ge=1, le=60)
    daily_to: int = Field(default=7, ge=1, le=60)
    # The group posted once, on ``weekly_day``.
    weekly_group: str = "Weekly Review"
    weekly_day: int = Field(default=7, ge=1, le=60)
    # Optional: section title → Slack user ids owning it; the evening-before summary names the
    # owners of a section with open items who have ticked nothing in it yet.
    owners: dict[str, list[str]] = {}

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name, e.g. Europe/London)"
            ) from exc
        return value

    @field_validator("post_at", "evening_at")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        if not _HH_MM.match(value):
            raise ValueError(f"{value!r} is not a 24-hour HH:MM time")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @staticmethod
    def clock_time(value: str) -> time:
        hours, minutes = value.split(":")
        return time(int(hours), int(minutes))


_COMPARISON = re.compile(r"^\s*(<=|>=|<|>)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
_DURATION = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_DURATION_SECONDS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)


def parse_comparison(text: str) -> tuple[str, float]:
    """``"< 0.001"`` → ``("<", 0.001)``; ValueError names what a comparison looks like."""
    found = _COMPARISON.match(text)
    if found is None:
        raise ValueError(
            f'{text!r} is not a comparison: write "<", "<=", ">" or ">=" and a number, '
            'e.g. "< 0.001"'
        )
    return found.group(1), float(found.group(2))


def parse_duration(text: str) -> float:
    """A Prometheus duration (``30s``, ``5m``, ``1h30m``, ``0s``) in seconds."""
    found = _DURATION.match(text.strip()) if text.strip() else None
    if found is None or not any(found.groups()):
        raise ValueError(
            f"{text!r} is not a Prometheus duration: a number and a unit (ms, s, m, h, d, w, y), "
            'e.g. "5m" or "1h30m"'
        )
    return sum(
        int(n) * unit for n, unit in zip(found.groups(), _DURATION_SECONDS, strict=True) if n
    )


class PrometheusRule(BaseModel):
    """``[[prometheus.rules]]``: one watched threshold or rollback trigger (README, "Metric watch")."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=200)
    query: str = Field(min_length=1)
    healthy: str
    for_: str = Field(default="0s", alias="for")
    action: Literal["gate", "rollback"] = "gate"
    # The second level of a rollback rule: an open alert is posted again (new message, @here) once
    # the value is past it. Default: twice the threshold for "<"/"<=" rules, none for ">"/">=".
    realert: str | None = None

    @field_validator("healthy", "realert", mode="after")
    @classmethod
    def _comparison(cls, value: str | None) -> str | None:
        if value is not None:
            parse_comparison(value)
        return value

    @field_validator("for_", mode="after")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @model_validator(mode="after")
    def _realert_is_worse(self) -> PrometheusRule:
        # The second level is further from healthy than the threshold: for "< 0.01" it is a
        # ">=" level of at least 0.01. A level on the healthy side would re-post @here at once.
        if self.realert is None:
            return self
        op, threshold = parse_comparison(self.healthy)
        level_op, level = parse_comparison(self.realert)
        upper = op in ("<", "<=")
        if upper != (level_op in (">", ">=")) or (
            level < threshold if upper else level > threshold
        ):
            side = (
                f'">" or ">=" a value of at least {threshold:g}'
                if upper
                else (f'"<" or "<=" a value of at most {threshold:g}')
            )
            raise ValueError(
                f'realert "{self.realert}" is not past healthy "{self.healthy}": the second level '
                f"must be {side}"
            )
        return self

    @property
    def for_seconds(self) -> float:
        return parse_duration(self.for_)


class PrometheusConfig(BaseModel):
    """``[prometheus]``: where to query and what to watch during the go-live sequence."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    # How often rules are evaluated while a launch's go-live sequence runs (bot clock).
    interval_seconds: float = Field(default=15.0, gt=0)
    # One query's budget; a slower answer is "unknown: query timed out".
    timeout_seconds: float = Field(default=5.0, gt=0)
    # Hold-down before an alert counts as recovered: healthy at every evaluation this long.
    recover_after: str = "1m"
    rules: list[PrometheusRule] = []

    @field_validator("recover_after", mode="after")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("rules", mode="after")
    @classmethod
    def _unique_names(cls, rules: list[PrometheusRule]) -> list[PrometheusRule]:
        # A rule's stored state, its alerts and its counters are keyed by its name: two rules with
        # one name would share one state and silently overwrite each other's verdicts.
        seen: dict[str, int] = {}
        for number, rule in enumerate(rules, start=1):
            key = " ".join(rule.name.split()).casefold()
            if key in seen:
                raise ValueError(
                    f'rules {seen[key]} and {number} are both named "{rule.name}": '
                    "each [[prometheus.rules]] needs its own name"
                )
            seen[key] = number
        return rules

    @property
    def recover_seconds(self) -> float:
        return parse_duration(self.recover_after)


class AppConfig(BaseModel):
    """The TOML config file. Unknown tables are kept for features that read them later."""

    model_config = {"extra": "allow"}

    template: Path | None = None
    roles: dict[str, RoleConfig] = {}
    contacts: ContactsConfig = ContactsConfig()
    escalation: EscalationConfig = EscalationConfig()
    killswitch: KillSwitchConfig = KillSwitchConfig()
    golive: GoLiveConfig = GoLiveConfig()
    pagerduty: PagerDutyConfig = PagerDutyConfig()
    prometheus: PrometheusConfig = PrometheusConfig()
    signoff: SignOffConfig = SignOffConfig()
    schedule: ScheduleConfig = ScheduleConfig()


def load_config(path: Path | None) -> AppConfig:
    """Read the TOML config: an explicit path must exist; otherwise ./launchbot.toml if present."""
    if path is None:
        default = Path("launchbot.toml")
        if not default.exists():
            return AppConfig()
        path = default
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    try:
        config = AppConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"config file {path}: {where}{_rule_named(data, first['loc'])}: {first['msg']}"
        ) from exc
    if config.template is not None and not config.template.is_absolute():
        config.template = path.parent / config.template
    return config


def _rule_named(data: dict[str, Any], loc: tuple[int | str, ...]) -> str:
    """`` (rule "Error rate < 0.1%")`` when the error is inside a ``[[prometheus.rules]]`` table."""
    if len(loc) < 3 or loc[:2] != ("prometheus", "rules") or not isinstance(loc[2], int):
        return ""
    rules = (data.get("prometheus") or {}).get("rules") or []
    rule = rules[loc[2]] if loc[2] < len(rules) else None
    name = rule.get("name") if isinstance(rule, dict) else None
    return f' (rule "{name}")' if name else ""
