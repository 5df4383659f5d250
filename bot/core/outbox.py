"""Posts and updates the bot's Slack messages from committed state: single-flight and coalescing per launch.

Listeners never call chat.update themselves. They commit the change (which bumps the version of the
affected ``SlackMessage`` rows) and ``kick`` the publisher. One task per launch renders the *latest
committed* state and loops while more changes arrived, so 30 clicks in a burst cost a handful of
chat.update calls instead of 30, and an older render can never overwrite a newer one. Unpublished
versions survive a restart: ``recover`` picks them up at start.

Slack saying "not now" (a 5xx, ratelimited, no answer) is tried again with growing pauses (``Backoff``,
at most a minute) for as long as the message is behind: an outage of any length ends with the war
room seeing the committed state, without waiting for the next click. A periodic ``sweep`` (a
scheduler job) kicks every launch with a message behind that no task is bringing up to date (a row
written while no publisher ran, a task lost with its process). Slack saying "never"
(channel_not_found, invalid_blocks, …) is recorded on the row (``last_error``, ``refused_version``)
and not tried again until the message changes.

Beside this module: ``outbox_rows`` (queueing and bumping messages, ``mark_rendered``, the backlog),
``outbox_kinds`` (what a feature registers) and ``outbox_sender`` (one message to Slack and its
outcome recorded). This module re-exports what features use: ``bot.core.outbox`` is their import.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from datetime import datetime

from slack_sdk.web.async_client import AsyncWebClient

from bot.core.clock import Clock, utc_now
from bot.core.db import Database
from bot.core.metrics import OUTBOX_BEHIND, OUTBOX_OLDEST_SECONDS, OUTBOX_REFUSED, Metrics
from bot.core.outbox_kinds import (
    MessageKind,
    OnPosted,
    OutboxState,
    Placement,
    Renderer,
    StateLoader,
)
from bot.core.outbox_rows import (
    ANNOUNCEMENT,
    NOTICE,
    MessageRef,
    behind_rows,
    bump_messages,
    bump_subject,
    is_refused,
    launches_with_pending_messages,
    mark_rendered,
    message_tag,
    queue_message,
    queue_notice,
    render_body,
    replace_body,
    stamp_behind_since,
    touch_message,
)
from bot.core.outbox_sender import MessageSender, TryAgain
from bot.core.scheduler import Job
from bot.core.tasks import BackgroundTasks, RequestGauge

__all__ = [
    "ANNOUNCEMENT",
    "NOTICE",
    "Backoff",
    "MessageKind",
    "MessageRef",
    "OnPosted",
    "OutboxState",
    "Placement",
    "Publisher",
    "Renderer",
    "StateLoader",
    "bump_messages",
    "bump_subject",
    "launches_with_pending_messages",
    "mark_rendered",
    "message_tag",
    "queue_message",
    "queue_notice",
    "render_body",
    "replace_body",
    "touch_message",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """The pause before rendering again after the ``failures``-th "not now" in a row: ``first``
    seconds, doubling, never over ``cap``; ``jitter`` takes up to that fraction off each pause, so
    that launches failing together do not all come back in the same instant."""

    first: float = 1.0
    cap: float = 60.0
    jitter: float = 0.2

    def pause(self, failures: int) -> float:
        full = min(self.cap, self.first * 2.0 ** min(max(failures, 1) - 1, 62))
        return full * (1.0 - self.jitter * random.random())


# After a "not now" from Slack (slack_client.is_transient) the latest state is rendered again after
# these pauses (1, 2, 4, … 60, 60, … s), for as long as the messages are behind.
RETRY_BACKOFF = Backoff()


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
        backoff: Backoff | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._gauge = gauge or RequestGauge()
        # Waiting a moment before rendering lets a burst of clicks land in one chat.update; Slack
        # allows chat.update only ~50/min per workspace (Tier 3), so per-click updates would 429.
        self._debounce = debounce
        self._backoff = RETRY_BACKOFF if backoff is None else backoff
        self._clock = clock
        # Set at shutdown: a task pausing between tries stops there (its rows stay behind, for
        # ``recover`` at the next start) instead of holding the drain.
        self._closing = asyncio.Event()
        self._db = db
        self._sender = MessageSender(db=db, slack=slack, clock=clock)
        self._tasks = tasks
        self._load = load
        self._kinds: dict[str, MessageKind] = {}
        self._running: dict[int, asyncio.Task[None]] = {}
        self._dirty: set[int] = set()
        # One flush per launch at a time: the background loop and ``publish_now`` must never both
        # see a message unposted and post it twice.
        self._locks: dict[int, asyncio.Lock] = {}

    def register(
        self,
        kind: str,
        renderer: Renderer,
        *,
        placement: Placement = Placement.CARD_THREAD,
        broadcast: bool = False,
        permalink: bool = False,
        once: bool = False,
        on_posted: OnPosted | None = None,
    ) -> None:
        """``renderer`` builds every message of ``kind`` (``SlackMessage.kind``); see ``MessageKind``."""
        self._kinds[kind] = MessageKind(
            renderer, placement, broadcast, permalink, once=once, on_posted=on_posted
        )

    async def publish_now(self, launch_id: int) -> None:
        """Bring the launch's messages up to date before returning (one attempt each; what Slack
        could not take now is left to the background loop). For a follow-up that needs a
        message's ts or link, e.g. the escalation's link in the PagerDuty page."""
        try:
            await self.flush(launch_id)
        except TryAgain:
            self.kick(launch_id)

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

    def close(self) -> None:
        """At shutdown: renders under way finish, pauses between tries end (see ``_closing``)."""
        self._closing.set()

    async def sweep(self, now: datetime) -> None:
        """Kick every launch with a message behind that Slack did not refuse for good, and stamp
        ``behind_since`` on rows seen behind for the first time (for the backlog's age)."""
        async with self._db.read_sessions() as session:
            rows = (await session.execute(behind_rows())).all()
        if any(row.behind_since is None for row in rows):
            async with self._db.sessions.begin() as session:
                await stamp_behind_since(session=session, now=now)
        for launch_id in sorted({row.launch_id for row in rows if not is_refused(row)}):
            if launch_id not in self._running:
                logger.debug("outbox sweep: launch %s has messages behind", launch_id)
            self.kick(launch_id)

    def sweep_job(self) -> Job:
        """The sweep as a scheduler job (registered by the runtime)."""
        return Job(name="outbox-sweep", run=self.sweep)

    async def report_backlog(self, metrics: Metrics) -> None:
        """Set the backlog gauges of ``/metrics``: messages behind, of which refused for good, and
        the oldest one's age in seconds (bot clock) since it fell behind."""
        async with self._db.read_sessions() as session:
            rows = (await session.execute(behind_rows())).all()
        now = self._clock()
        stamps = [row.behind_since for row in rows if row.behind_since is not None]
        oldest = max(0.0, (now - min(stamps)).total_seconds()) if stamps else 0.0
        metrics.set(OUTBOX_BEHIND, len(rows))
        metrics.set(OUTBOX_REFUSED, sum(1 for row in rows if is_refused(row)))
        metrics.set(OUTBOX_OLDEST_SECONDS, oldest)

    async def _run(self, launch_id: int) -> None:
        failures = 0
        try:
            while True:
                if failures == 0:  # after a failure, the pause before trying again was longer
                    await asyncio.sleep(self._debounce)
                await self._gauge.quiet()
                self._dirty.discard(launch_id)
                try:
                    await self.flush(launch_id)
                except TryAgain as exc:
                    failures += 1
                    if not await self._pause_after(launch_id, failures, exc):
                        return
                    continue
                failures = 0
                if launch_id not in self._dirty:
                    return
        finally:
            self._running.pop(launch_id, None)

    async def _pause_after(self, launch_id: int, failures: int, exc: TryAgain) -> bool:
        """Wait before the next try; False when the process is stopping (the rows stay behind)."""
        pause = self._backoff.pause(failures)
        logger.warning(
            "launch %s: Slack could not take its messages (%s, %d time(s) in a row); "
            "trying again in %.1f s",
            launch_id,
            exc,
            failures,
            pause,
        )
        if self._closing.is_set():
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), timeout=pause)
        return not self._closing.is_set()

    async def flush(self, launch_id: int) -> None:
        async with self._locks.setdefault(launch_id, asyncio.Lock()):
            await self._flush(launch_id)

    async def _flush(self, launch_id: int) -> None:
        if self._load is None:
            raise RuntimeError("the publisher has no state loader (build_app registers one)")
        async with self._db.read_sessions() as session:
            state = await self._load(session, launch_id)
        ordered = state.posting_order()
        posted = {m.id: m.ts for m in ordered}
        given_up = {m.id for m in ordered if self._given_up(m)}
        card = next((m for m in ordered if m.kind == "card"), None)
        not_now: TryAgain | None = None
        for message in ordered:
            if not _wanted(message) or message.id in given_up:
                continue
            kind = self._kinds[message.kind]
            thread_ts: str | None = None
            if kind.placement is Placement.CARD_THREAD:
                thread_ts = posted.get(card.id) if card is not None else None
                if thread_ts is None:
                    continue  # replies need the card's ts as their thread; retried once it exists
            elif kind.placement is Placement.PARENT_THREAD and message.parent_id is not None:
                thread_ts = posted.get(message.parent_id)
                if thread_ts is None and message.parent_id not in given_up:
                    continue  # posted once the parent is; in the channel if Slack refused it
            try:
                ts = await self._sender.publish(state, message, kind, thread_ts=thread_ts)
            except TryAgain as exc:
                # One message Slack could not take now must not hold back the others'.
                not_now = exc
                continue
            if ts is None:
                if kind.once and message.ts is None:
                    given_up.add(message.id)
            else:
                posted[message.id] = ts
        if not_now is not None:
            raise not_now

    def _given_up(self, message: MessageRef) -> bool:
        """A ``once`` message whose first post Slack refused: it settled a version without a ts."""
        kind = self._kinds.get(message.kind)
        return bool(kind and kind.once and message.ts is None and message.rendered_version > 0)


def _wanted(message: MessageRef) -> bool:
    """Behind, and not a version Slack refused for good."""
    refused = message.refused_version is not None and message.refused_version >= message.version
    return message.version > message.rendered_version and not refused
