"""Rendering one outbox message to Slack and recording the outcome on its row: the first post (with
its link, if the kind wants one), or an update; Slack's "never" recorded for good, its "not now"
raised as ``TryAgain`` for the publisher's retries. The kind's ``on_posted`` follow-up runs in the
transaction that records the first post."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.core.clock import Clock
from bot.core.db import Database
from bot.core.kit import MessageView
from bot.core.launches import lock_launch
from bot.core.outbox_kinds import MessageKind, OutboxState
from bot.core.outbox_rows import MessageRef, mark_rendered
from bot.core.slack_client import SlackAnswer, call_slack


class TryAgain(Exception):
    """Slack could not take the message just now."""


class MessageSender:
    """Posts or updates one message of a launch and records what Slack answered."""

    def __init__(self, *, db: Database, slack: AsyncWebClient, clock: Clock) -> None:
        self._db = db
        self._slack = slack
        self._clock = clock

    async def publish(
        self, state: OutboxState, message: MessageRef, kind: MessageKind, *, thread_ts: str | None
    ) -> str | None:
        """Post or update one message and record the outcome; its ts, or None if Slack refused."""
        view = kind.render(state, message)
        first = message.ts is None
        if message.ts is None:
            answer, ts, permalink = await self._post(state, message, kind, view, thread_ts)
        else:
            ts = message.ts
            answer, permalink = await self._update(state, message, kind, view)
        if answer.error is not None:
            await self._record_failure(message, kind, answer, first=first)
            return None
        await self._record_success(state, message, kind, ts=ts, permalink=permalink, first=first)
        return ts

    async def _post(
        self,
        state: OutboxState,
        message: MessageRef,
        kind: MessageKind,
        view: MessageView,
        thread_ts: str | None,
    ) -> tuple[SlackAnswer, str | None, str | None]:
        """The first post: Slack's answer, the message's ts and (if the kind wants it) its link."""
        extra: dict[str, Any] = {"reply_broadcast": True} if kind.broadcast and thread_ts else {}
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
        permalink: str | None = None
        if ts is not None and kind.permalink:
            permalink = await self._permalink(message.channel_id, ts)
        return answer, ts, permalink

    async def _update(
        self, state: OutboxState, message: MessageRef, kind: MessageKind, view: MessageView
    ) -> tuple[SlackAnswer, str | None]:
        """An update of a posted message: Slack's answer and its link, if still missing."""
        assert message.ts is not None
        answer = await call_slack(
            self._slack.chat_update(
                channel=message.channel_id, ts=message.ts, text=view.text, blocks=view.blocks
            ),
            what=f"updating message {message.id} of launch {state.id}",
        )
        permalink: str | None = None
        if answer.ok and kind.permalink and message.permalink is None:
            permalink = await self._permalink(message.channel_id, message.ts)
        return answer, permalink

    async def _record_success(
        self,
        state: OutboxState,
        message: MessageRef,
        kind: MessageKind,
        *,
        ts: str | None,
        permalink: str | None,
        first: bool,
    ) -> None:
        """Record the rendered version (and a first post's ts), running the kind's ``on_posted``."""
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

    async def _record_failure(
        self, message: MessageRef, kind: MessageKind, answer: SlackAnswer, *, first: bool
    ) -> None:
        """Record Slack's error on the row; raise ``TryAgain`` when it was a "not now"."""
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
            raise TryAgain(answer.error)

    async def _permalink(self, channel: str, ts: str) -> str | None:
        """A posted message's link (the card's for /launch status). The message is posted by now: a
        failure here must not lose its ts (a retry would post it twice), so it only leaves the link
        for later."""
        answer = await call_slack(
            self._slack.chat_getPermalink(channel=channel, message_ts=ts),
            what=f"chat.getPermalink of the card {ts}",
        )
        return str(answer.get("permalink")) if answer.ok else None
