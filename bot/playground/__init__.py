"""The local playground: a Slack-like #war-room in the browser, driving the unchanged bot through the stand-in."""

from __future__ import annotations

from bot.playground.server import PLAYGROUND_USERS, Playground, PlaygroundUser, run

__all__ = ["PLAYGROUND_USERS", "Playground", "PlaygroundUser", "run"]
