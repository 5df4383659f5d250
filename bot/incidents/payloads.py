"""What the incident buttons and the kill-switch modal carry, parsed with pydantic at the listener
boundary. IDs only: who acted comes from Slack's verified payload, and each value is checked
against where it was used (``bot.core.binding``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.core.errors import BadInput


class EscalationValue(BaseModel):
    """The value of an escalation message's Acknowledge / Page again / Resolve button: its id,
    written as a bare number (``"12"``), as the posted messages always had it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    escalation_id: int

    def encode(self) -> str:
        return str(self.escalation_id)

    @classmethod
    def decode(cls, raw: object) -> EscalationValue:
        text = str(raw) if raw is not None else ""
        try:
            if not text.isascii() or not text.isdigit():
                raise ValueError(text)
            return cls(escalation_id=int(text))
        except (ValueError, ValidationError) as exc:
            raise BadInput("That button is not one Launch Control made.") from exc


class KillSwitchAgainValue(BaseModel):
    """The value of "Fire again…" under a kill-switch request that was never sent: its id, a bare
    number. It only opens the confirmation; the new request is the submission's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_pk: int

    def encode(self) -> str:
        return str(self.request_pk)

    @classmethod
    def decode(cls, raw: object) -> KillSwitchAgainValue:
        text = str(raw) if raw is not None else ""
        try:
            if not text.isascii() or not text.isdigit():
                raise ValueError(text)
            return cls(request_pk=int(text))
        except (ValueError, ValidationError) as exc:
            raise BadInput("That button is not one Launch Control made.") from exc


class KillSwitchFormMeta(BaseModel):
    """The kill-switch confirmation's ``private_metadata``: the launch and the channel the command
    was typed in (the channel told of the outcome, once checked against the launch's own)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    launch_id: int
    channel_id: str

    def encode(self) -> str:
        return self.model_dump_json()

    @classmethod
    def decode(cls, raw: str | None) -> KillSwitchFormMeta:
        try:
            return cls.model_validate_json(raw or "")
        except ValidationError as exc:
            raise BadInput(
                "That kill-switch confirmation is not one Launch Control opened."
            ) from exc
