"""The bot's Slack messages (SlackMessage, the outbox's rows), messages due at a time on the bot's
clock (ScheduledPost) and checkbox clicks as received (ClickInbox)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.db import Base, UTCDateTime


class SlackMessage(Base):
    """A Slack message the bot owns. Rows are written in the same transaction as the change they show
    (``version`` bumped), and a publisher posts/updates them afterwards until ``rendered_version``
    catches up: that way a crash between commit and chat.update only delays the message."""

    __tablename__ = "slack_message"
    __table_args__ = (UniqueConstraint("launch_id", "kind", "section_id", "part"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    section_id: Mapped[int | None] = mapped_column(ForeignKey("section.id", ondelete="CASCADE"))
    part: Mapped[int] = mapped_column(Integer, default=0)
    channel_id: Mapped[str] = mapped_column(String(32))
    ts: Mapped[str | None] = mapped_column(String(32), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    rendered_version: Mapped[int] = mapped_column(Integer, default=0)
    permalink: Mapped[str | None] = mapped_column(String(500))
    last_error: Mapped[str | None] = mapped_column(Text)
    # A notice's fixed content ({"text", "blocks"}), built when it was queued; None for messages
    # rendered from the launch's state at each version.
    body: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The feature row shown (escalation id, kill-switch request id) and the message replied under.
    subject_id: Mapped[int | None] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("slack_message.id", ondelete="SET NULL")
    )
    # Since when (bot clock) Slack has been showing an older version than ``version``: stamped when
    # a render fails or the outbox sweep first sees the row behind, cleared once it caught up.
    behind_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The version Slack refused for good (channel_not_found, invalid_blocks, …): not tried again, by
    # the retries or the sweep, until the message changes (``version`` moves past it).
    refused_version: Mapped[int | None] = mapped_column(Integer)


class ScheduledPost(Base):
    """A message due at a time on the bot's clock (a soak reminder, a dated phase, one day's checks,
    the evening-before summary): claimed by the scheduler loop once, sent once, late if the process
    was down when it came due."""

    __tablename__ = "scheduled_post"

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    # What it is about, unique per launch and kind (e.g. the step and when it started soaking).
    key: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Sent well after ``due_at`` (the process was down when it came due); its message says so.
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    # The message that announced it (its ts once posted), for the record.
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("slack_message.id", ondelete="SET NULL")
    )

    __table_args__ = (UniqueConstraint("launch_id", "kind", "key"),)


class ClickInbox(Base):
    """Checkbox clicks as received, written before the ack with one INSERT (``dedup_key`` from Slack's
    own identifiers makes a replayed request a no-op); the click applier turns each into item state
    and events right after. A row with ``applied_at`` NULL is a click still to apply, also after a
    restart."""

    __tablename__ = "click_inbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("slack_message.id", ondelete="CASCADE"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    user_id: Mapped[str] = mapped_column(String(32))
    user_name: Mapped[str] = mapped_column(String(200))
    desired: Mapped[dict[str, bool]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(300))
    dedup_key: Mapped[str] = mapped_column(String(300), unique=True)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    outcome: Mapped[str | None] = mapped_column(Text)
