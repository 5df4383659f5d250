"""What the metric alert's buttons and the trigger confirmation carry: ids only, parsed here."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.core.errors import BadInput

_SLUG = re.compile(r"^[a-z0-9-]{1,80}$")


class AlertValue(BaseModel):
    """Roll back / Hold / Acknowledge: the alert's id as a bare number."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alert_id: int

    def encode(self) -> str:
        return str(self.alert_id)

    @classmethod
    def decode(cls, raw: object) -> AlertValue:
        text = str(raw) if raw is not None else ""
        try:
            if not text.isascii() or not text.isdigit():
                raise ValueError(text)
            return cls(alert_id=int(text))
        except (ValueError, ValidationError) as exc:
            raise BadInput("That button is not one Launch Control made.") from exc


class TriggerValue(BaseModel):
    """The Report button of ``/launch trigger <slug>``: the trigger's slug."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    slug: str

    def encode(self) -> str:
        return self.slug

    @classmethod
    def decode(cls, raw: object) -> TriggerValue:
        text = str(raw) if raw is not None else ""
        if not _SLUG.match(text):
            raise BadInput("That button is not one Launch Control made.")
        return cls(slug=text)
