"""The shapes every section of the record writes values in: times as ISO 8601, people as id and name."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def iso_time(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def person(user_id: str | None, name: str | None) -> dict[str, Any] | None:
    if user_id is None:
        return None
    return {"id": user_id, "name": name}
