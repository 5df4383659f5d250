"""Sign-offs (bot/signoffs): each approval of a sign-off role."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.db import Base, UTCDateTime


class SignOff(Base):
    """One approval of a sign-off role, kept after a revocation (``revoked_*`` set) so the history shows.

    ``active_slot`` is 1..required while the approval stands and NULL once revoked: the UNIQUE
    constraint then lets a role hold at most its required number of approvals on every backend (NULLs
    never collide), a backstop behind the launch lock that serializes approvers."""

    __tablename__ = "sign_off"
    __table_args__ = (UniqueConstraint("launch_id", "role_id", "active_slot"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"), index=True)
    role_id: Mapped[str] = mapped_column(String(64))
    role_title: Mapped[str] = mapped_column(String(200))
    required: Mapped[int] = mapped_column(Integer, default=1)
    active_slot: Mapped[int | None] = mapped_column(Integer)
    user_id: Mapped[str] = mapped_column(String(32))
    # The name known when approving (the payload's handle), replaced by the Slack display name once
    # users.info answers. The user id is the identity; the name is for people reading the record.
    user_name: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    comment: Mapped[str | None] = mapped_column(Text)
    # What was approved: per-phase progress and the event-chain head at that moment.
    progress: Mapped[dict[str, Any]] = mapped_column(JSON)
    event_seq: Mapped[int] = mapped_column(Integer)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by_id: Mapped[str | None] = mapped_column(String(32))
    revoked_by_name: Mapped[str | None] = mapped_column(String(200))
    revoke_reason: Mapped[str | None] = mapped_column(Text)
