"""build_app(deps) -> AsyncApp: the composition root; installs the deps middleware, the error handler and
the listeners of commands/ and bot/actions."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp

import commands
from bot import actions, incident_actions, signoff_actions
from bot.deps import Deps, deps_middleware
from bot.error_handler import handle_error


class _SameTokenWarning(logging.Filter):
    """bolt reads SLACK_BOT_TOKEN from the environment on its own, then warns that the injected
    client's token wins over it: they are the same token, and the warning only confuses operators."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


BOLT_LOGGER = logging.getLogger("launchbot.bolt")
BOLT_LOGGER.addFilter(_SameTokenWarning())


def build_app(deps: Deps, *, process_before_response: bool = True) -> AsyncApp:
    """``process_before_response=True`` runs each listener inline: bolt's default mode polls for the
    ack every 10 ms (RELIABILITY.md B.1), and inline lets a listener store the action before acking."""
    secret = deps.settings.slack_signing_secret
    app = AsyncApp(
        client=deps.slack,  # carries the bot token and SLACK_API_URL to every listener's client
        signing_secret=secret.get_secret_value() if secret else None,
        process_before_response=process_before_response,
        logger=BOLT_LOGGER,
    )
    app.use(deps_middleware(deps))
    app.error(handle_error)
    commands.register(app)
    actions.register(app)
    incident_actions.register(app)
    signoff_actions.register(app)
    # The card's sign-off table shows who holds each role, from the running config.
    deps.publisher.roles = deps.config.roles
    return app
