"""The outbox's rows: queueing a message (``queue_message``, ``queue_notice``), marking messages for
a re-render (``bump_*``, ``touch_message``), recording what Slack made of a render
(``mark_rendered``) and finding the backlog. Takes an AsyncSession; the caller owns the transaction.

A ``SlackMessage`` row is written in the transaction of the change it shows (``version`` bumped);
the ``Publisher`` (bot/core/outbox.py) brings Slack up to date afterwards. Features import these
through ``bot.core.outbox``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.kit import MessageView
from bot.core.models import SlackMessage

# A fixed announcement: "announcement" goes to the channel itself, "notice" into the card's thread.
ANNOUNCEMENT = "announcement"
NOTICE = "notice"


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


# ---------------------------------------------------------------------------------------------------
# The backlog: messages behind (Slack shows an older version than the row's)


def _is_behind() -> Any:
    return SlackMessage.version > SlackMessage.rendered_version


def behind_rows() -> Any:
    """The query of every message behind: its launch, version, refused version and since when."""
    return select(
        SlackMessage.launch_id,
        SlackMessage.version,
        SlackMessage.refused_version,
        SlackMessage.behind_since,
    ).where(_is_behind())


def is_refused(row: Any) -> bool:
    """A ``behind_rows`` row whose version Slack refused for good."""
    return row.refused_version is not None and row.refused_version >= row.version


async def stamp_behind_since(*, session: AsyncSession, now: datetime) -> None:
    """Stamp ``behind_since`` on the messages behind that have none yet (for the backlog's age)."""
    await session.execute(
        update(SlackMessage)
        .where(_is_behind(), SlackMessage.behind_since.is_(None))
        .values(behind_since=now)
    )


async def launches_with_pending_messages(*, session: AsyncSession) -> list[int]:
    rows = await session.scalars(select(SlackMessage.launch_id).where(_is_behind()).distinct())
    return list(rows.all())


# ---------------------------------------------------------------------------------------------------
# Re-rendering: a change bumps the versions of the messages that show it


async def bump_subject(*, session: AsyncSession, kind: str, subject_id: int) -> None:
    """Queue a re-render of the ``kind`` messages that show feature row ``subject_id``."""
    await session.execute(
        update(SlackMessage)
        .where(SlackMessage.kind == kind, SlackMessage.subject_id == subject_id)
        .values(version=SlackMessage.version + 1)
    )


async def bump_messages(
    session: AsyncSession,
    launch_id: int,
    section_ids: Iterable[int],
    *,
    also_kinds: Iterable[str] = (),
) -> None:
    """Mark the card, the given sections' messages and every message of ``also_kinds`` (e.g. the GO
    messages, which show a halt) as needing a re-render."""
    ids = list(section_ids)
    condition: ColumnElement[bool] = SlackMessage.kind.in_(["card", *also_kinds])
    if ids:
        condition = or_(condition, SlackMessage.section_id.in_(ids))
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


# ---------------------------------------------------------------------------------------------------
# Queueing messages


async def queue_notice(
    *, session: AsyncSession, launch_id: int, channel_id: str, view: MessageView, loud: bool
) -> SlackMessage:
    """Queue a fixed message: ``loud`` posts it in the channel (state changes people must see),
    otherwise in the card's thread. The caller holds the launch lock (it numbers the notices)."""
    return await queue_message(
        session=session,
        launch_id=launch_id,
        kind=ANNOUNCEMENT if loud else NOTICE,
        channel_id=channel_id,
        view=view,
    )


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


def render_body(body: Mapping[str, Any] | None) -> MessageView:
    """A notice as it was queued."""
    if not body:
        return MessageView(text=" ", blocks=[])
    return MessageView(text=str(body.get("text") or " "), blocks=list(body.get("blocks") or []))


def message_tag(message: MessageRef) -> str:
    """The ``tag`` a message was queued with (``queue_message``), or its kind."""
    return str((message.body or {}).get("tag") or message.kind)
