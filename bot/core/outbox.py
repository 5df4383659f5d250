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
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.db import Database
from bot.core.kit import MessageView
from bot.core.models import SlackMessage
from bot.core.slack_client import call_slack
from bot.core.tasks import BackgroundTasks, RequestGauge

logger = logging.getLogger(__name__)

# After a "not now" from Slack (slack_client.is_transient) the same render is tried again. Pauses before re-rendering after a transient failure; after the last one the messages wait for
# the next change or the next start (``recover``): the rows stay marked unpublished either way.
RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)


class _TryAgain(Exception):
    """Slack could not take the message just now."""


class OutboxState(Protocol):
    """What the publisher needs of a launch's committed state: its messages, in posting order."""

    @property
    def id(self) -> int: ...

    def posting_order(self) -> list[MessageRef]: ...


# A message kind's builder: the launch's state and the message in, the blocks out (no I/O).
Renderer = Callable[[Any, "MessageRef"], MessageView]
StateLoader = Callable[[AsyncSession, int], Awaitable[OutboxState]]

# Posted in the channel itself; every other message is a reply in the card's thread.
TOP_LEVEL_KINDS = frozenset({"card", "go"})


class Publisher:
    """Renders each message kind through the builder registered for it (``register``), so a feature
    adds a kind of message without touching the publisher."""

    def __init__(
        self,
        *,
        db: Database,
        slack: AsyncWebClient,
        tasks: BackgroundTasks,
        load: StateLoader | None = None,
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
        self._load = load
        self._renderers: dict[str, Renderer] = {}
        self._running: dict[int, asyncio.Task[None]] = {}
        self._dirty: set[int] = set()

    def register(self, kind: str, renderer: Renderer) -> None:
        """``renderer`` builds every message of ``kind`` (``SlackMessage.kind``)."""
        self._renderers[kind] = renderer

    def set_loader(self, load: StateLoader) -> None:
        self._load = load

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
        if self._load is None:
            raise RuntimeError("the publisher has no state loader (build_app registers one)")
        async with self._db.read_sessions() as session:
            state = await self._load(session, launch_id)
        ordered = state.posting_order()
        card = next((m for m in ordered if m.kind == "card"), None)
        card_ts = card.ts if card else None
        not_now: _TryAgain | None = None
        for message in ordered:
            if message.version <= message.rendered_version:
                continue
            if message.kind != "card" and card_ts is None:
                continue  # replies need the card's ts as their thread; retried once the card exists
            try:
                ts = await self._publish(
                    state, message, thread_ts=None if message.kind in TOP_LEVEL_KINDS else card_ts
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
        self, state: OutboxState, message: MessageRef, *, thread_ts: str | None
    ) -> str | None:
        view = self._renderers[message.kind](state, message)
        permalink: str | None = None
        if message.ts is None:
            answer = await call_slack(
                self._slack.chat_postMessage(
                    channel=message.channel_id,
                    text=view.text,
                    blocks=view.blocks,
                    thread_ts=thread_ts,
                    unfurl_links=False,
                    unfurl_media=False,
                ),
                what=f"posting message {message.id} of launch {state.id}",
            )
            ts = str(answer.get("ts")) if answer.ok else None
            if ts is not None and message.kind == "card":
                permalink = await self._permalink(message.channel_id, ts)
        else:
            ts = message.ts
            answer = await call_slack(
                self._slack.chat_update(
                    channel=message.channel_id, ts=ts, text=view.text, blocks=view.blocks
                ),
                what=f"updating message {message.id} of launch {state.id}",
            )
            if answer.ok and message.kind == "card" and message.permalink is None:
                permalink = await self._permalink(message.channel_id, ts)
        if answer.error is not None:
            # A post Slack made but never answered cannot be told from one it did not make; it is
            # posted again (Slack has no idempotency key for chat.postMessage).
            async with self._db.sessions.begin() as session:
                await mark_rendered(
                    session=session,
                    message_id=message.id,
                    version=message.version,
                    ts=None,
                    error=answer.error,
                )
            if answer.transient:
                raise _TryAgain(answer.error)
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
        answer = await call_slack(
            self._slack.chat_getPermalink(channel=channel, message_ts=ts),
            what=f"chat.getPermalink of the card {ts}",
        )
        return str(answer.get("permalink")) if answer.ok else None


@dataclass(frozen=True)
class MessageRef:
    id: int
    kind: str
    section_id: int | None
    part: int
    channel_id: str
    ts: str | None
    version: int
    rendered_version: int
    permalink: str | None = None
    last_error: str | None = None


async def bump_messages(session: AsyncSession, launch_id: int, section_ids: Iterable[int]) -> None:
    """Mark the card and the given sections' messages as needing a re-render."""
    ids = list(section_ids)
    condition = SlackMessage.kind == "card"
    if ids:
        condition = condition | SlackMessage.section_id.in_(ids)
    await session.execute(
        update(SlackMessage)
        .where(SlackMessage.launch_id == launch_id, condition)
        .values(version=SlackMessage.version + 1)
    )


async def touch_message(*, session: AsyncSession, message_id: int) -> None:
    """Queue a re-render of one message (e.g. to undo a rejected click in the clicker's view)."""
    await session.execute(
        update(SlackMessage)
        .where(SlackMessage.id == message_id)
        .values(version=SlackMessage.version + 1)
    )


async def launches_with_pending_messages(*, session: AsyncSession) -> list[int]:
    rows = await session.scalars(
        select(SlackMessage.launch_id)
        .where(SlackMessage.version > SlackMessage.rendered_version)
        .distinct()
    )
    return list(rows.all())


async def mark_rendered(
    *,
    session: AsyncSession,
    message_id: int,
    version: int,
    ts: str | None,
    error: str | None = None,
    permalink: str | None = None,
) -> None:
    """Record a successful post/update (never moving ``rendered_version`` backwards)."""
    message = await session.get(SlackMessage, message_id, with_for_update=True)
    if message is None:
        return
    if ts is not None:
        message.ts = ts
    if permalink is not None:
        message.permalink = permalink
    message.last_error = error
    if error is None and version > message.rendered_version:
        message.rendered_version = version
