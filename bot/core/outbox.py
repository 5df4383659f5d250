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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.clock import Clock, utc_now
from bot.core.db import Database
from bot.core.kit import MessageView
from bot.core.launches import lock_launch
from bot.core.metrics import OUTBOX_BEHIND, OUTBOX_OLDEST_SECONDS, OUTBOX_REFUSED, Metrics
from bot.core.models import SlackMessage
from bot.core.scheduler import Job
from bot.core.slack_client import SlackAnswer, call_slack
from bot.core.tasks import BackgroundTasks, RequestGauge

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
# Called in the transaction that records a message's first post: its ts, or Slack's error.
OnPosted = Callable[[AsyncSession, "MessageRef", "str | None", "str | None"], Awaitable[None]]

# A fixed announcement: "announcement" goes to the channel itself, "notice" into the card's thread.
ANNOUNCEMENT = "announcement"
NOTICE = "notice"


class Placement(StrEnum):
    """Where a kind of message goes: the channel itself, the launch card's thread, or the thread of
    the message row ``parent_id`` (in the channel when that one could not be posted)."""

    CHANNEL = "channel"
    CARD_THREAD = "card_thread"
    PARENT_THREAD = "parent_thread"


@dataclass(frozen=True)
class MessageKind:
    """How the publisher handles one ``SlackMessage.kind``.

    ``once``: a first post Slack refuses (not_in_channel, …) is given up, recorded through
    ``on_posted``, and not posted later out of order (an announcement); otherwise the next change
    tries again (a card). ``permalink``: fetch the message's link once it is posted."""

    render: Renderer
    placement: Placement = Placement.CARD_THREAD
    broadcast: bool = False
    permalink: bool = False
    once: bool = False
    on_posted: OnPosted | None = None


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
        self._slack = slack
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
        except _TryAgain:
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
            rows = (await session.execute(_behind_rows())).all()
        if any(row.behind_since is None for row in rows):
            async with self._db.sessions.begin() as session:
                await session.execute(
                    update(SlackMessage)
                    .where(_is_behind(), SlackMessage.behind_since.is_(None))
                    .values(behind_since=now)
                )
        for launch_id in sorted({row.launch_id for row in rows if not _refused(row)}):
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
            rows = (await session.execute(_behind_rows())).all()
        now = self._clock()
        stamps = [row.behind_since for row in rows if row.behind_since is not None]
        oldest = max(0.0, (now - min(stamps)).total_seconds()) if stamps else 0.0
        metrics.set(OUTBOX_BEHIND, len(rows))
        metrics.set(OUTBOX_REFUSED, sum(1 for row in rows if _refused(row)))
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
                except _TryAgain as exc:
                    failures += 1
                    if not await self._pause_after(launch_id, failures, exc):
                        return
                    continue
                failures = 0
                if launch_id not in self._dirty:
                    return
        finally:
            self._running.pop(launch_id, None)

    async def _pause_after(self, launch_id: int, failures: int, exc: _TryAgain) -> bool:
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
        not_now: _TryAgain | None = None
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
                ts = await self._publish(state, message, kind, thread_ts=thread_ts)
            except _TryAgain as exc:
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

    async def _publish(
        self, state: OutboxState, message: MessageRef, kind: MessageKind, *, thread_ts: str | None
    ) -> str | None:
        view = kind.render(state, message)
        permalink: str | None = None
        first = message.ts is None
        if message.ts is None:
            extra: dict[str, Any] = (
                {"reply_broadcast": True} if kind.broadcast and thread_ts else {}
            )
            answer = await call_slack(
                self._slack.chat_postMessage(
                    channel=message.channel_id,
                    text=view.text,
                    blocks=view.blocks,
                    thread_ts=thread_ts,
                    unfurl_links=False,
                    unfurl_media=False,
                    **extra,
                ),
                what=f"posting message {message.id} of launch {state.id}",
            )
            ts = str(answer.get("ts")) if answer.ok else None
            if ts is not None and kind.permalink:
                permalink = await self._permalink(message.channel_id, ts)
        else:
            ts = message.ts
            answer = await call_slack(
                self._slack.chat_update(
                    channel=message.channel_id, ts=ts, text=view.text, blocks=view.blocks
                ),
                what=f"updating message {message.id} of launch {state.id}",
            )
            if answer.ok and kind.permalink and message.permalink is None:
                permalink = await self._permalink(message.channel_id, ts)
        if answer.error is not None:
            await self._record_failure(message, kind, answer, first=first)
            return None
        follow_up = first and kind.on_posted is not None
        async with self._db.sessions.begin() as session:
            if follow_up:
                # The follow-up writes under the launch's lock. Every domain write takes that lock
                # before it touches a message row; taking it after ``mark_rendered`` had locked
                # this row deadlocked with such a write on PostgreSQL.
                await lock_launch(session, state.id)
            await mark_rendered(
                session=session,
                message_id=message.id,
                version=message.version,
                ts=ts,
                permalink=permalink,
                now=self._clock(),
            )
            if follow_up and kind.on_posted is not None:
                await kind.on_posted(
                    session, replace(message, ts=ts, permalink=permalink), ts, None
                )
        return ts

    async def _record_failure(
        self, message: MessageRef, kind: MessageKind, answer: SlackAnswer, *, first: bool
    ) -> None:
        """Record Slack's error on the row; raise ``_TryAgain`` when it was a "not now"."""
        assert answer.error is not None
        # A post Slack made but never answered cannot be told from one it did not make; it is
        # posted again (Slack has no idempotency key for chat.postMessage).
        give_up = first and kind.once and not answer.transient
        async with self._db.sessions.begin() as session:
            await mark_rendered(
                session=session,
                message_id=message.id,
                version=message.version,
                ts=None,
                error=answer.error,
                settle=give_up,
                lasting=not answer.transient,
                now=self._clock(),
            )
            if first and kind.on_posted is not None and not answer.transient:
                await kind.on_posted(session, message, None, answer.error)
        if answer.transient:
            raise _TryAgain(answer.error)

    async def _permalink(self, channel: str, ts: str) -> str | None:
        """A posted message's link (the card's for /launch status). The message is posted by now: a
        failure here must not lose its ts (a retry would post it twice), so it only leaves the link
        for later."""
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
    body: Mapping[str, Any] | None = None
    # The feature row the message shows (an escalation, a kill-switch request), and the message
    # row it replies under (Placement.PARENT_THREAD).
    subject_id: int | None = None
    parent_id: int | None = None
    # The version Slack refused for good, if it did (not tried again until ``version`` moves on).
    refused_version: int | None = None


def _wanted(message: MessageRef) -> bool:
    """Behind, and not a version Slack refused for good."""
    refused = message.refused_version is not None and message.refused_version >= message.version
    return message.version > message.rendered_version and not refused


def _is_behind() -> Any:
    return SlackMessage.version > SlackMessage.rendered_version


def _behind_rows() -> Any:
    return select(
        SlackMessage.launch_id,
        SlackMessage.version,
        SlackMessage.refused_version,
        SlackMessage.behind_since,
    ).where(_is_behind())


def _refused(row: Any) -> bool:
    return row.refused_version is not None and row.refused_version >= row.version


async def bump_subject(*, session: AsyncSession, kind: str, subject_id: int) -> None:
    """Queue a re-render of the ``kind`` messages that show feature row ``subject_id``."""
    await session.execute(
        update(SlackMessage)
        .where(SlackMessage.kind == kind, SlackMessage.subject_id == subject_id)
        .values(version=SlackMessage.version + 1)
    )


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
    settle: bool = False,
    lasting: bool = False,
    now: datetime | None = None,
) -> None:
    """Record a successful post/update (never moving ``rendered_version`` backwards), or Slack's
    ``error`` (``lasting``: refused for good, so ``version`` is not tried again); ``settle`` counts
    a refused version as done too (a ``once`` message given up). ``now`` keeps ``behind_since``."""
    message = await session.get(SlackMessage, message_id, with_for_update=True)
    if message is None:
        return
    if ts is not None:
        message.ts = ts
    if permalink is not None:
        message.permalink = permalink
    message.last_error = error
    message.refused_version = version if error is not None and lasting else None
    if (error is None or settle) and version > message.rendered_version:
        message.rendered_version = version
    if message.rendered_version >= message.version:
        message.behind_since = None
    elif now is not None and (error is None or message.behind_since is None):
        # Failed: behind since the first failure (or sweep). Rendered, but changed again since:
        # behind since now at the latest.
        message.behind_since = now


async def queue_notice(
    *, session: AsyncSession, launch_id: int, channel_id: str, view: MessageView, loud: bool
) -> SlackMessage:
    """Queue a fixed message: ``loud`` posts it in the channel (state changes people must see),
    otherwise in the card's thread. The caller holds the launch lock (it numbers the notices)."""
    kind = ANNOUNCEMENT if loud else NOTICE
    last = await session.scalar(
        select(func.max(SlackMessage.part)).where(
            SlackMessage.launch_id == launch_id, SlackMessage.kind == kind
        )
    )
    message = SlackMessage(
        launch_id=launch_id,
        kind=kind,
        part=(last or 0) + 1,
        channel_id=channel_id,
        body={"text": view.text, "blocks": view.blocks},
    )
    session.add(message)
    await session.flush()
    return message


def render_body(body: Mapping[str, Any] | None) -> MessageView:
    """A notice as it was queued."""
    if not body:
        return MessageView(text=" ", blocks=[])
    return MessageView(text=str(body.get("text") or " "), blocks=list(body.get("blocks") or []))


async def queue_message(
    *,
    session: AsyncSession,
    launch_id: int,
    kind: str,
    channel_id: str,
    view: MessageView | None = None,
    tag: str | None = None,
    subject_id: int | None = None,
    parent_id: int | None = None,
    part: int | None = None,
) -> SlackMessage:
    """Queue one message of a registered ``kind`` about feature row ``subject_id``, replying under
    message row ``parent_id`` (``Placement.PARENT_THREAD``). ``view``: fixed content (shown by
    ``render_body``), else the kind's renderer builds it from the launch's state; ``tag`` says which
    message of the subject it is (kept in the body, for ``on_posted``). ``part`` numbers it, by
    default after the kind's last one in the launch. The caller holds the launch lock."""
    if part is None:
        last = await session.scalar(
            select(func.max(SlackMessage.part)).where(
                SlackMessage.launch_id == launch_id, SlackMessage.kind == kind
            )
        )
        part = (last or 0) + 1
    body: dict[str, Any] | None = None
    if view is not None or tag is not None:
        body = {"text": view.text, "blocks": view.blocks} if view is not None else {}
        if tag is not None:
            body["tag"] = tag
    message = SlackMessage(
        launch_id=launch_id,
        kind=kind,
        part=part,
        channel_id=channel_id,
        body=body,
        subject_id=subject_id,
        parent_id=parent_id,
        version=1,
        rendered_version=0,
    )
    session.add(message)
    await session.flush()
    return message


async def replace_body(*, session: AsyncSession, message_id: int, view: MessageView) -> None:
    """Give a fixed message new content (its tag kept) and queue the update."""
    message = await session.get(SlackMessage, message_id, with_for_update=True)
    if message is None:
        return
    tag = (message.body or {}).get("tag")
    message.body = {"text": view.text, "blocks": view.blocks, **({"tag": tag} if tag else {})}
    message.version = message.version + 1


def message_tag(message: MessageRef) -> str:
    """The ``tag`` a message was queued with (``queue_message``), or its kind."""
    return str((message.body or {}).get("tag") or message.kind)
