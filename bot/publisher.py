"""Posts and updates the bot's Slack messages from committed state: single-flight and coalescing per launch.

Listeners never call chat.update themselves. They commit the change (which bumps the version of the
affected ``SlackMessage`` rows) and ``kick`` the publisher. One task per launch renders the *latest
committed* state and loops while more changes arrived, so 30 clicks in a burst cost a handful of
chat.update calls instead of 30, and an older render can never overwrite a newer one. Unpublished
versions survive a restart: ``recover`` picks them up at start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks, signoff_blocks
from bot.checklist import (
    LaunchState,
    MessageRef,
    launches_with_pending_messages,
    load_state,
    mark_rendered,
)
from bot.config import RoleConfig
from bot.db import Database
from bot.slack_client import SLACK_CALL_ERRORS, is_transient, slack_error
from bot.tasks import BackgroundTasks, RequestGauge

logger = logging.getLogger(__name__)

# After a "not now" from Slack (slack_client.is_transient) the same render is tried again. Pauses before re-rendering after a transient failure; after the last one the messages wait for
# the next change or the next start (``recover``): the rows stay marked unpublished either way.
RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)


class _TryAgain(Exception):
    """Slack could not take the message just now."""


class Publisher:
    def __init__(
        self,
        *,
        db: Database,
        slack: AsyncWebClient,
        tasks: BackgroundTasks,
        gauge: RequestGauge | None = None,
        debounce: float = 0.2,
        retry_delays: tuple[float, ...] | None = None,
    ) -> None:
        self._gauge = gauge or RequestGauge()
        # Waiting a moment before rendering lets a burst of clicks land in one chat.update; Slack
        # allows chat.update only ~50/min per workspace (Tier 3), so per-click updates would 429.
        self._debounce = debounce
        self._retry_delays = RETRY_DELAYS if retry_delays is None else retry_delays
        self._db = db
        self._slack = slack
        self._tasks = tasks
        # The config's sign-off roles (holders, required counts) for the card; build_app sets them.
        self.roles: Mapping[str, RoleConfig] = {}
        self._running: dict[int, asyncio.Task[None]] = {}
        self._dirty: set[int] = set()

    def kick(self, launch_id: int) -> None:
        """Make sure the launch's messages catch up with the database, soon."""
        if launch_id in self._running:
            self._dirty.add(launch_id)
            return
        self._running[launch_id] = self._tasks.spawn(
            self._run(launch_id), name=f"publish-{launch_id}"
        )

    async def recover(self) -> None:
        async with self._db.read_sessions() as session:
            pending = await launches_with_pending_messages(session=session)
        for launch_id in pending:
            self.kick(launch_id)

    async def _run(self, launch_id: int) -> None:
        failures = 0
        try:
            while True:
                await asyncio.sleep(self._debounce)
                await self._gauge.quiet()
                self._dirty.discard(launch_id)
                try:
                    await self.flush(launch_id)
                    failures = 0
                except _TryAgain as exc:
                    if failures >= len(self._retry_delays):
                        logger.warning(
                            "launch %s: Slack still failing (%s); waiting for the next change",
                            launch_id,
                            exc,
                        )
                        return
                    await asyncio.sleep(self._retry_delays[failures])
                    failures += 1
                    continue
                if launch_id not in self._dirty:
                    return
        finally:
            self._running.pop(launch_id, None)

    async def flush(self, launch_id: int) -> None:
        async with self._db.read_sessions() as session:
            state = await load_state(session=session, launch_id=launch_id)
        card = state.card
        card_ts = card.ts if card else None
        not_now: _TryAgain | None = None
        for message in _in_posting_order(state):
            if message.version <= message.rendered_version:
                continue
            if message.kind != "card" and card_ts is None:
                continue  # replies need the card's ts as their thread; retried once the card exists
            try:
                ts = await self._publish(
                    state, message, thread_ts=None if message.kind in _TOP_LEVEL else card_ts
                )
            except _TryAgain as exc:
                # One message Slack could not take now must not hold back the others'.
                not_now = exc
                continue
            if message.kind == "card" and ts is not None:
                card_ts = ts
        if not_now is not None:
            raise not_now

    async def _publish(
        self, state: LaunchState, message: MessageRef, *, thread_ts: str | None
    ) -> str | None:
        if message.kind == "card":
            view = blocks.launch_card(state, roles=self.roles)
        elif message.kind == "go":
            view = signoff_blocks.go_message(state, message)
        else:
            view = blocks.section_message(state, message)
        permalink: str | None = None
        try:
            if message.ts is None:
                response = await self._slack.chat_postMessage(
                    channel=message.channel_id,
                    text=view.text,
                    blocks=view.blocks,
                    thread_ts=thread_ts,
                    unfurl_links=False,
                    unfurl_media=False,
                )
                ts = str(response["ts"])
                if message.kind == "card":
                    permalink = await self._permalink(message.channel_id, ts)
            else:
                ts = message.ts
                await self._slack.chat_update(
                    channel=message.channel_id, ts=ts, text=view.text, blocks=view.blocks
                )
                if message.kind == "card" and message.permalink is None:
                    permalink = await self._permalink(message.channel_id, ts)
        except SLACK_CALL_ERRORS as exc:
            # A post Slack made but never answered cannot be told from one it did not make; it is
            # posted again (Slack has no idempotency key for chat.postMessage).
            transient = is_transient(exc)
            error = slack_error(exc) if isinstance(exc, SlackApiError) else type(exc).__name__
            logger.warning(
                "could not publish message %s of launch %s: %s", message.id, state.id, error
            )
            async with self._db.sessions.begin() as session:
                await mark_rendered(
                    session=session,
                    message_id=message.id,
                    version=message.version,
                    ts=None,
                    error=error,
                )
            if transient:
                raise _TryAgain(error) from exc
            return None
        async with self._db.sessions.begin() as session:
            await mark_rendered(
                session=session,
                message_id=message.id,
                version=message.version,
                ts=ts,
                permalink=permalink,
            )
        return ts

    async def _permalink(self, channel: str, ts: str) -> str | None:
        """The card's link for /launch status. The card is posted by now: a failure here must not
        lose its ts (a retry would post a second card), so it only leaves the link for later."""
        try:
            link = await self._slack.chat_getPermalink(channel=channel, message_ts=ts)
        except SLACK_CALL_ERRORS as exc:
            logger.warning("no permalink for the card %s yet: %s", ts, exc)
            return None
        return str(link["permalink"])


# Posted in the channel itself; every other message is a reply in the card's thread.
_TOP_LEVEL = frozenset({"card", "go"})


def _in_posting_order(state: LaunchState) -> list[MessageRef]:
    """Card first, then sections in template order, so the thread reads like the checklist."""
    section_rank: dict[int, tuple[int, int]] = {}
    for phase in state.phases:
        for section in phase.sections:
            section_rank[section.id] = (phase.position, section.position)
    return sorted(
        state.messages,
        key=lambda m: (
            (0, (0, 0), 0)
            if m.kind == "card"
            else (2, (0, 0), m.part)
            if m.kind == "go"
            else (1, section_rank.get(m.section_id or 0, (0, 0)), m.part)
        ),
    )
