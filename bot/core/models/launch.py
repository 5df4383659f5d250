"""The launch and its checklist (Launch, Phase, Section, ItemGroup, Item) and its append-only,
hash-chained log (Event)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.db import Base, UTCDateTime


class Launch(Base):
    __tablename__ = "launch"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32), index=True)
    # Equal to channel_id while the launch is active and NULL once closed: the UNIQUE constraint then
    # enforces "one active launch per channel" on every backend (NULLs never collide).
    active_channel: Mapped[str | None] = mapped_column(String(32), unique=True)
    started_by_id: Mapped[str] = mapped_column(String(32))
    started_by_name: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_by_id: Mapped[str | None] = mapped_column(String(32))
    closed_by_name: Mapped[str | None] = mapped_column(String(200))
    current_phase: Mapped[int] = mapped_column(Integer, default=0)
    template_title: Mapped[str] = mapped_column(String(200))
    # The parts of the template that are not checklist rows (contacts, sign-off roles), frozen at start.
    template_extra: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Launch day (T-0) in ``[schedule] timezone``, set by ``/launch start … --on`` and moved by
    # ``/launch date``; None for a launch whose phases are posted only by ``/launch phase next``.
    launch_date: Mapped[date | None] = mapped_column(Date)
    # How the launch ended, chosen in the close confirmation: "completed", "abandoned" or
    # "rolled_back", with the closer's note; None while open (and for launches closed before 0010).
    close_outcome: Mapped[str | None] = mapped_column(String(16))
    close_note: Mapped[str | None] = mapped_column(Text)


class Phase(Base):
    __tablename__ = "phase"
    __table_args__ = (UniqueConstraint("launch_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    timing: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Section(Base):
    __tablename__ = "section"

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"), index=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phase.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    # A section of its own day (T+n: one day's daily checks, the weekly review): posted on that day
    # by the calendar, never with its phase. None for every section of the template as written.
    day: Mapped[int | None] = mapped_column(Integer)


class ItemGroup(Base):
    __tablename__ = "item_group"

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"), index=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("section.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(String(200))
    stage: Mapped[int | None] = mapped_column(Integer)
    duration_minutes: Mapped[int | None] = mapped_column(Integer)


class Item(Base):
    __tablename__ = "item"

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("item_group.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(200))
    duration_minutes: Mapped[int | None] = mapped_column(Integer)
    checked: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_by_id: Mapped[str | None] = mapped_column(String(32))
    changed_by_name: Mapped[str | None] = mapped_column(String(200))
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when the bot, not a person, ticks this item (e.g. "golive": a go-live step that is its own
    # item); a hand click on it is refused with the owner's explanation.
    managed_by: Mapped[str | None] = mapped_column(String(32))
    # A sign-off role holder's waiver: "not_applicable" or "waived", by whom, when and why. A waived
    # item counts as done for phase completion and is listed apart from ticked ones.
    waived: Mapped[str | None] = mapped_column(String(16))
    waived_by_id: Mapped[str | None] = mapped_column(String(32))
    waived_by_name: Mapped[str | None] = mapped_column(String(200))
    waived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    waive_reason: Mapped[str | None] = mapped_column(Text)
    # The item's documented key (``bot.checklist.template.ItemKey``, e.g. "killswitch.armed"): from
    # the bundled template's key table or a custom template's ``{#key}`` marker. The bot ticks a
    # keyed item when it can prove it (``bot.checklist.proofs``).
    key: Mapped[str | None] = mapped_column(String(64))
    # Set when the bot ticked the item on a proof (e.g. "killswitch_test"), with the outbox message
    # that records it (its permalink is shown on the item); cleared when the item changes by hand.
    proof: Mapped[str | None] = mapped_column(String(32))
    proof_message_id: Mapped[int | None] = mapped_column(Integer)


class Event(Base):
    """Append-only log of everything that happened to a launch. ``dedup_key`` makes a replayed or
    double-delivered Slack action a no-op; ``prev_hash``/``hash`` chain the rows so an edit shows."""

    __tablename__ = "event"
    __table_args__ = (UniqueConstraint("launch_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_id: Mapped[str] = mapped_column(String(32))
    actor_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(300))
    dedup_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
