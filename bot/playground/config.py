"""The playground's people and the bot's config for a rehearsal: the team's own launchbot.toml if
there is one, else a default, always with the outside systems pointed at the playground's fakes."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

# The PagerDuty routing key the rehearsal config carries, and the playground's fake expects.
PLAYGROUND_ROUTING_KEY = "PLAYGROUND0000000000000000000000"


@dataclass(frozen=True)
class PlaygroundUser:
    """A person in the user switcher; ``role`` is the ``[roles.<id>]`` they hold, if any."""

    id: str
    name: str
    real_name: str
    title: str
    role: str | None = None

    @property
    def label(self) -> str:
        return f"{self.real_name} ({self.title})"


PLAYGROUND_USERS: tuple[PlaygroundUser, ...] = (
    PlaygroundUser("U0ALICE001", "alice", "Alice Chen", "engineer"),
    PlaygroundUser("U0CAROL001", "carol", "Carol Diaz", "CTO", "cto"),
    PlaygroundUser("U0HANK0001", "hank", "Hank Ito", "Head of Trading", "head_of_trading"),
    PlaygroundUser("U0SAM00001", "sam", "Sam Reyes", "Security Officer", "security_officer"),
    PlaygroundUser("U0DEE00001", "dee", "Dee Park", "DevOps Lead", "devops_lead"),
    PlaygroundUser("U0PAT00001", "pat", "Pat Lee", "Product Owner", "product_owner"),
    PlaygroundUser("U0MALLORY1", "mallory", "Mallory", "outsider"),
)


def _contacts(by_role: dict[str, PlaygroundUser], phones: dict[str, str]) -> dict[str, Any]:
    def contact(role: str) -> dict[str, str]:
        user = by_role[role]
        return {"name": user.real_name, "user": user.id, "phone": phones[user.id]}

    return {
        "internal": {
            "Trading Lead": contact("head_of_trading"),
            "DevOps Lead": contact("devops_lead"),
            "Security Lead": contact("security_officer"),
            "Product Owner": contact("product_owner"),
            "CTO": contact("cto"),
        },
        "external": {
            "AWS Support": {"contact": "Rehearsal: no real vendor is called"},
            "Exchange Support": {"contact": "+44 20 7946 0000 (fictional)"},
        },
    }


def default_config(users: tuple[PlaygroundUser, ...] = PLAYGROUND_USERS) -> dict[str, Any]:
    """Roles, contacts and an escalation path for the playground's people (as launchbot.toml would)."""
    by_role = {u.role: u for u in users if u.role}
    phones = {u.id: f"+1 555 01{n:02d}" for n, u in enumerate(users)}
    levels = [
        ("On-call engineer", "devops_lead", 5),
        ("Head of Trading", "head_of_trading", 10),
        ("CTO", "cto", 15),
    ]
    return {
        "roles": {role: {"title": u.title, "users": [u.id]} for role, u in by_role.items()},
        "contacts": _contacts(by_role, phones),
        "escalation": {
            "poll_seconds": 5,
            "levels": [
                {"name": name, "users": [by_role[role].id], "wait_minutes": wait}
                for name, role, wait in levels
            ],
        },
        "killswitch": {"allowed_roles": ["cto", "head_of_trading"]},
        # The DevOps lead and the CTO move the rollout (advance, hold, resume, roll back, force).
        "golive": {"allowed_roles": ["devops_lead", "cto"]},
    }


def bot_config(
    base: dict[str, Any],
    *,
    sim_url: str,
    killswitch_secret: str,
    traffic_secret: str,
    source: Path | None,
) -> dict[str, Any]:
    """``base`` with the outside systems pointed at the playground's fakes: a rehearsal must never
    fire a real kill switch, page a real on-call or move real traffic, even with the team's own
    launchbot.toml."""
    config: dict[str, Any] = json.loads(json.dumps(base))
    template = config.get("template")
    if isinstance(template, str) and source is not None:
        # The generated file lives elsewhere: resolve the template as the original file would.
        config["template"] = str((source.parent / template).resolve())
    killswitch = config.setdefault("killswitch", {})
    killswitch.update(url=f"{sim_url}/killswitch", secret=killswitch_secret, tries=2)
    killswitch["backoff_seconds"] = 0.2
    pagerduty = config.setdefault("pagerduty", {})
    pagerduty.update(url=f"{sim_url}/pagerduty", routing_key=PLAYGROUND_ROUTING_KEY, tries=2)
    pagerduty["backoff_seconds"] = 0.2
    golive = config.setdefault("golive", {})
    golive.update(traffic_url=f"{sim_url}/traffic", traffic_secret=traffic_secret, tries=2)
    golive["backoff_seconds"] = 0.2
    return config


def render_config(config: dict[str, Any]) -> str:
    """The config as the TOML file the bot reads."""
    return tomli_w.dumps(config)


def team_config_path() -> Path | None:
    """The team's own config, if there is one (LAUNCHBOT_CONFIG, else ./launchbot.toml)."""
    configured = os.environ.get("LAUNCHBOT_CONFIG")
    if configured:
        return Path(configured)
    local = Path("launchbot.toml")
    return local if local.is_file() else None


def holders_of(config: dict[str, Any], known: set[str]) -> list[PlaygroundUser]:
    """Role holders named by a team config who are not playground people, so one can act as them."""
    extra: list[PlaygroundUser] = []
    for role_id, role in (config.get("roles") or {}).items():
        for user_id in role.get("users") or []:
            if user_id not in known:
                known.add(user_id)
                title = str(role.get("title") or role_id)
                extra.append(PlaygroundUser(user_id, user_id.lower(), user_id, title, role_id))
    return extra
