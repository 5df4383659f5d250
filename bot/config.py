"""Settings from the environment (Slack tokens as SecretStr, DATABASE_URL, ...) and the TOML config file."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
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
    database_url: str = Field(default=DEFAULT_DATABASE_URL, alias="DATABASE_URL")
    launchbot_config: Path | None = Field(default=None, alias="LAUNCHBOT_CONFIG")

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


class KillSwitchConfig(BaseModel):
    url: str | None = None
    allowed_roles: list[str] = []
    secret: SecretStr | None = None
    timeout_seconds: float = 5.0


class PagerDutyConfig(BaseModel):
    url: str = "https://events.pagerduty.com/v2/enqueue"
    routing_key: SecretStr | None = None


class PrometheusConfig(BaseModel):
    url: str | None = None


class AppConfig(BaseModel):
    """The TOML config file. Unknown tables are kept for features that read them later."""

    model_config = {"extra": "allow"}

    template: Path | None = None
    roles: dict[str, RoleConfig] = {}
    contacts: dict[str, str] = {}
    killswitch: KillSwitchConfig = KillSwitchConfig()
    pagerduty: PagerDutyConfig = PagerDutyConfig()
    prometheus: PrometheusConfig = PrometheusConfig()

    def roles_of(self, user_id: str) -> list[str]:
        return [role_id for role_id, role in self.roles.items() if user_id in role.users]


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
        raise ConfigError(f"config file {path}: {where}: {first['msg']}") from exc
    if config.template is not None and not config.template.is_absolute():
        config.template = path.parent / config.template
    return config
