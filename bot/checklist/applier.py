"""Applies received checkbox clicks (the click inbox) in receipt order, then has their messages re-rendered.

Why a separate step: SQLite has one writer, and applying a click (lock the launch, check it, update
the item, append hash-chained events, bump messages) takes ~10 statements. Doing that before the ack
made every click in a burst wait for all the clicks ahead of it. Now the ack waits for one INSERT of
the click as received; a single worker applies clicks one short transaction at a time, so a new
click's INSERT never waits behind more than one of them. Pending rows survive a restart.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.checklist import clicks as checklist_clicks
from bot.checklist.clicks import ReceivedClick, apply_click, pending_clicks, receive_clicks
from bot.checklist.inbox import SqliteInbox
from bot.checklist.rules import section_of_message, set_item_names
from bot.core.db import Database, is_sqlite
from bot.core.models import SlackMessage
from bot.core.outbox import Publisher
from bot.core.refusal import warning
from bot.core.tasks import BackgroundTasks, RequestGauge

logger = logging.getLogger(__name__)
# Applying never waits longer than this for acks, so a steady stream of clicks cannot starve it.
MAX_YIELD_SECONDS = 0.25
# How long applying waits for Slack to name the clickers (users.info) before it shows their handles.
NAME_LOOKUP_SECONDS = 2.0
NameLookup = Callable[[str], Awaitable[str | None]]


MAX_BATCHES_PER_HOLD = 16


class MessageIndex:
    """(channel, ts) -> (message id, launch id): a message never moves, so the mapping is cached."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._known: dict[tuple[str, str], tuple[int, int]] = {}

    async def lookup(self, channel_id: str, ts: str) -> tuple[int, int]:
        key = (channel_id, ts)
        if key not in self._known:
            async with self._db.read_sessions() as session:
                message: SlackMessage = await section_of_message(
                    session=session, channel_id=channel_id, ts=ts
                )
            self._known[key] = (message.id, message.launch_id)
        return self._known[key]


class ClickApplier:
    def __init__(
        self,
        *,
        db: Database,
        tasks: BackgroundTasks,
        publisher: Publisher,
        clock: Callable[[], datetime],
        gauge: RequestGauge | None = None,
        debounce: float = 0.05,
    ) -> None:
        self._gauge = gauge or RequestGauge()
        # A short wait lets the rest of a burst of clicks be stored (and acked) before applying
        # starts competing with them for the single SQLite writer and the CPU.
        self._debounce = debounce
        self._db = db
        self._tasks = tasks
        self._publisher = publisher
        self._clock = clock
        self._running: asyncio.Task[None] | None = None
        self._dirty = False
        # response_urls of clicks not applied yet, to tell the clicker if a rule refuses the click.
        # Kept in memory only: they are credentials, and after a restart the refusal still shows
        # as the re-rendered message.
        self._reply_to: dict[str, str] = {}
        self._inbox: list[tuple[ReceivedClick, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None
        # SQLite: the inbox write without waiting for the event loop (bot/inbox.py); else the ORM.
        self._sqlite = SqliteInbox(db.write_engine) if is_sqlite(str(db.write_engine.url)) else None
        self.index = MessageIndex(db)
        # Display names (bot.identity, cached users.info); set where the Slack client is at hand
        # (Deps). None: the checklist shows the payload's handle.
        self.names: NameLookup | None = None
        # Told how many items a click really ticked, once applied (Deps: the /metrics counter).
        self.on_ticked: Callable[[int], None] | None = None

    async def store(self, click: ReceivedClick) -> bool:
        """Store one click durably (True if new, False for a replay). Clicks arriving together are
        written in one transaction: with one SQLite writer, a commit per click made each click of a
        burst wait for every commit ahead of it."""
        if self._sqlite is not None and self._writer is None:
            # Nothing queued ahead of it: commit it right here, without waiting for the loop.
            fresh = self._sqlite.receive_now(click)
            if fresh is not None:
                return fresh
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._inbox.append((click, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_inbox())
        return await future

    async def _write_inbox(self) -> None:
        try:
            while self._inbox:
                try:
                    if self._sqlite is None:
                        await self._write_batches(self._receive_orm)
                    else:
                        # One writer connection for consecutive batches: handing it back costs a
                        # round trip to the driver's thread, which the next batch would wait for.
                        async with self._sqlite.connect() as conn:
                            await self._write_batches(functools.partial(self._sqlite.receive, conn))
                except Exception as exc:  # no connection: every waiting click must hear of it
                    batch, self._inbox = self._inbox, []
                    _fail(batch, exc)
        finally:
            self._writer = None

    async def _write_batches(
        self, receive: Callable[[list[ReceivedClick]], Awaitable[set[str]]]
    ) -> None:
        # Bounded, so that under a steady stream of clicks the one writer connection is handed
        # back now and then: the applier and the publisher need it too.
        for _ in range(MAX_BATCHES_PER_HOLD):
            if not self._inbox:
                return
            batch, self._inbox = self._inbox, []
            try:
                fresh = await receive([c for c, _ in batch])
            except Exception as exc:  # every waiting click must hear of the failure
                _fail(batch, exc)
                return  # and the next batch gets a fresh connection
            for click, future in batch:
                if not future.done():
                    future.set_result(click.dedup_key in fresh)
                    fresh.discard(click.dedup_key)

    async def _receive_orm(self, clicks: list[ReceivedClick]) -> set[str]:
        async with self._db.sessions.begin() as session:
            return await receive_clicks(session=session, clicks=clicks)

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()

    def expect_reply(self, dedup_key: str, response_url: str | None) -> None:
        if response_url:
            self._reply_to[dedup_key] = response_url

    def kick(self) -> None:
        if self._running is not None:
            self._dirty = True
            return
        self._running = self._tasks.spawn(self._run(), name="apply-clicks")

    async def _run(self) -> None:
        try:
            while True:
                await asyncio.sleep(self._debounce)
                self._dirty = False
                applied = await self.apply_pending()
                if not applied and not self._dirty:
                    return
        finally:
            self._running = None

    async def apply_pending(self) -> int:
        async with self._db.read_sessions() as session:
            pending = await pending_clicks(session=session)
            users = (
                await checklist_clicks.clickers(session=session, click_ids=pending)
                if pending
                else set()
            )
        names = await self._display_names(users)
        unnamed: dict[str, set[int]] = {}
        for click_id in pending:
            await self._gauge.quiet(MAX_YIELD_SECONDS)
            async with self._db.sessions.begin() as session:
                outcome = await apply_click(
                    session=session, click_id=click_id, at=self._clock(), names=names
                )
            if outcome is None:
                continue
            if outcome.user_id not in names and self.names is not None:
                unnamed.setdefault(outcome.user_id, set()).add(outcome.launch_id)
            if outcome.ticked and self.on_ticked is not None:
                self.on_ticked(outcome.ticked)
            self._publisher.kick(outcome.launch_id)
            url = self._reply_to.pop(outcome.dedup_key, None)
            if outcome.refusal and url:
                self._tasks.spawn(_tell(url, outcome.refusal), name="click-refusal")
        for user_id, launch_ids in unnamed.items():
            self._tasks.spawn(self.name_later(user_id, launch_ids), name="tick-display-name")
        return len(pending)

    async def name_later(self, user_id: str, launch_ids: set[int]) -> None:
        """A clicker (or a waiver's author) Slack did not name in time: ask again (a cached answer
        is free) and, once it answers, show their ticks and waivers under the display name instead
        of the handle."""
        if self.names is None:
            return
        try:
            name = await self.names(user_id)
        except Exception:  # a failed lookup keeps the handle, as before
            logger.warning("users.info for %s failed; the checklist keeps the handle", user_id)
            return
        if not name:
            return
        for launch_id in sorted(launch_ids):
            async with self._db.sessions.begin() as session:
                changed = await set_item_names(
                    session=session,
                    launch_id=launch_id,
                    user_id=user_id,
                    name=name,
                    at=self._clock(),
                )
            if changed:
                self._publisher.kick(launch_id)

    async def _display_names(self, users: set[str]) -> dict[str, str]:
        """Looked up after the ack, before the clicks are applied (one users.info per person, cached);
        a person Slack does not name in time keeps the handle from the payload."""
        if self.names is None or not users:
            return {}
        lookup = self.names

        async def bounded(user_id: str) -> str | None:
            # Each person on their own: one slow answer no longer costs everyone their name.
            async with asyncio.timeout(2 * NAME_LOOKUP_SECONDS):  # lookups time out first
                return await lookup(user_id)

        ordered = sorted(users)
        found = await asyncio.gather(*(bounded(u) for u in ordered), return_exceptions=True)
        if any(not isinstance(n, str) or not n for n in found):
            logger.warning("users.info did not name everyone in time; showing handles for now")
        return {u: n for u, n in zip(ordered, found, strict=True) if isinstance(n, str) and n}


def _fail(batch: list[tuple[ReceivedClick, asyncio.Future[bool]]], exc: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)


async def _tell(response_url: str, text: str) -> None:
    response = await AsyncWebhookClient(response_url).send(
        text=warning(text), response_type="ephemeral", replace_original=False
    )
    if response.status_code != 200:
        logger.warning(
            "could not tell the clicker why their click was refused (%s)", response.status_code
        )
