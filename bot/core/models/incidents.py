"""Incidents (bot/incidents): escalations (PagerDuty + the Slack escalation path), their level
pings, and kill-switch requests and state."""

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


class Escalation(Base):
    """One ``/launch escalate``. Stored before anything is sent; ``next_level_at`` is the escalation
    timer the scheduler polls, so it survives a restart. Its Slack message is a ``SlackMessage``
    (kind "escalation", ``subject_id`` = this id), bumped on every change; ``message_ts`` and
    ``permalink`` record where it landed, for the pings' thread and the PagerDuty page."""

    __tablename__ = "escalation"

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(8))
    summary: Mapped[str] = mapped_column(Text)
    reporter_id: Mapped[str] = mapped_column(String(32))
    reporter_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Slack's identifier of the request (trigger_id): the same request twice is one escalation.
    request_key: Mapped[str] = mapped_column(String(300), unique=True)
    # PagerDuty's dedup_key: every send for this escalation reuses it, so nobody is paged twice.
    dedup_key: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    # The escalation path as configured when this was opened (levels of users/groups with waits):
    # a config change or restart mid-incident does not change who is next.
    path: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    level: Mapped[int] = mapped_column(Integer, default=0)
    next_level_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    message_ts: Mapped[str | None] = mapped_column(String(32))
    permalink: Mapped[str | None] = mapped_column(String(500))
    page_status: Mapped[str] = mapped_column(String(16))
    page_tries: Mapped[int] = mapped_column(Integer, default=0)
    page_error: Mapped[str | None] = mapped_column(Text)
    paged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by_id: Mapped[str | None] = mapped_column(String(32))
    acknowledged_by_name: Mapped[str | None] = mapped_column(String(200))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by_id: Mapped[str | None] = mapped_column(String(32))
    resolved_by_name: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolve_status: Mapped[str | None] = mapped_column(String(16))


class EscalationLevelPing(Base):
    """One escalation level that came due: claimed (``claimed_at``) in the same transaction that
    moves the timer on and queues its ping in the outbox, which posts it (a transient Slack failure
    is retried; a lasting refusal is given up and recorded on the outbox row). ``posted_at``/``ts``
    record where it landed, for the audit's replay of the path."""

    __tablename__ = "escalation_level_ping"
    __table_args__ = (UniqueConstraint("escalation_id", "level"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalation.id", ondelete="CASCADE"))
    level: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ts: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class KillSwitchRequest(Base):
    """One request to fire (or, ``dry_run``, to test) the trading system's kill switch, stored before
    it is sent. ``request_id`` is the Idempotency-Key every try carries. ``status``: pending (stored)
    → sending (claimed, the POST may leave) → confirmed | failed; a stop leaves ``not_sent`` (was
    pending) or ``unknown`` (was sending). Its messages are ``SlackMessage`` rows (kind "killswitch"
    or "killswitch_test", ``subject_id`` = this id)."""

    __tablename__ = "kill_switch_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str] = mapped_column(String(64), unique=True)
    # Slack's identifier of the submission (view id or trigger_id): a double submit is one request.
    request_key: Mapped[str] = mapped_column(String(300), unique=True)
    requested_by_id: Mapped[str] = mapped_column(String(32))
    requested_by_name: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    tries: Mapped[int] = mapped_column(Integer, default=0)
    http_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    response_body: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class KillSwitchState(Base):
    """Whether the launch's kill switch is armed (a recorded declaration shown on the card)."""

    __tablename__ = "kill_switch_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"), unique=True)
    armed: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_by_id: Mapped[str] = mapped_column(String(32))
    changed_by_name: Mapped[str] = mapped_column(String(200))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
