"""Names for the common refusal codes; every one of them *is* a ``Refused(code, message)``.

Refused (bot.core.refusal)       a rule said no; the message is safe to show the user
├── BadInput        bad_input    unparseable command text or payload
├── NotFound        not_found    no such launch / item / message
├── NotAllowed      not_allowed  the user may not do this (role, closed launch, ...)
├── Conflict        conflict     the state does not allow it (launch already active, ...)
│   └── PhaseIncomplete
└── EscalationFailed escalation_failed  an outside system (PagerDuty, kill switch) did not confirm

Raise ``Refused(code, message)`` directly for a more specific code; catch ``Refused`` to render
any of them.
"""

from __future__ import annotations

from bot.core.refusal import Refused


class BadInput(Refused):
    def __init__(self, message: str, *, code: str = "bad_input", recorded: bool = False) -> None:
        super().__init__(code, message, recorded=recorded)


class NotFound(Refused):
    def __init__(self, message: str, *, code: str = "not_found", recorded: bool = False) -> None:
        super().__init__(code, message, recorded=recorded)


class NotAllowed(Refused):
    def __init__(self, message: str, *, code: str = "not_allowed", recorded: bool = False) -> None:
        super().__init__(code, message, recorded=recorded)


class Conflict(Refused):
    def __init__(self, message: str, *, code: str = "conflict", recorded: bool = False) -> None:
        super().__init__(code, message, recorded=recorded)


class PhaseIncomplete(Conflict):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="phase_incomplete")


class EscalationFailed(Refused):
    def __init__(self, message: str, *, code: str = "escalation_failed") -> None:
        super().__init__(code, message)
