"""Metric watch (bot/watch): each Prometheus rule's state per launch, and the alerts it posted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.db import Base, UTCDateTime


class MetricRuleState(Base):
    """One ``[[prometheus.rules]]`` rule as last evaluated for a launch. ``breached_since`` is when
    the current breach began (Prometheus' pending ``activeAt``: unknown evaluations reset nothing);
    ``healthy_since`` is when an open alert's hold-down began; ``alert_id`` the open alert."""

    __tablename__ = "metric_rule_state"
    __table_args__ = (UniqueConstraint("launch_id", "rule"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"), index=True)
    rule: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(16))  # gate, rollback
    status: Mapped[str] = mapped_column(String(16))  # healthy, breached, unknown
    value: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(Text)
    breached_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    healthy_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    alert_id: Mapped[int | None] = mapped_column(Integer)


class MetricAlert(Base):
    """One alert episode: a rollback rule's held breach (``source`` "rule") or an immediate rollback
    trigger reported by hand (``source`` "trigger"). Its Slack message is a ``SlackMessage`` of kind
    "metric_alert" with ``subject_id`` = this id; a re-alert is a second message of the same alert."""

    __tablename__ = "metric_alert"

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    query: Mapped[str | None] = mapped_column(Text)
    threshold: Mapped[str | None] = mapped_column(String(64))
    value: Mapped[float | None] = mapped_column(Float)
    worst: Mapped[float | None] = mapped_column(Float)
    breached_since: Mapped[datetime] = mapped_column(UTCDateTime())
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))  # firing, recovered, reported
    realerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recovered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by_id: Mapped[str | None] = mapped_column(String(32))
    acknowledged_by_name: Mapped[str | None] = mapped_column(String(200))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reported_by_id: Mapped[str | None] = mapped_column(String(32))
    reported_by_name: Mapped[str | None] = mapped_column(String(200))
    # What the buttons did last ("rollback requested by …", "held by …"), shown on the alert.
    last_action: Mapped[str | None] = mapped_column(Text)
    page_dedup_key: Mapped[str | None] = mapped_column(String(64))
    page_status: Mapped[str | None] = mapped_column(String(16))
