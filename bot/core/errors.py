"""Exception hierarchy for domain rules; the error handler maps each to a friendly ephemeral answer.

LaunchError                      a rule said no; the message is safe to show the user
├── BadInput                     unparseable command text or payload
├── NotFound                     no such launch / item / message
├── NotAllowed                   the user may not do this (role, closed launch, ...)
├── Conflict                     the state does not allow it (launch already active, ...)
│   ├── AlreadySignedOff
│   └── PhaseIncomplete
└── EscalationFailed             an outside system (PagerDuty, kill switch) did not confirm
"""

from __future__ import annotations


class LaunchError(Exception):
    """Base of every error whose message is meant for the person who acted."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class BadInput(LaunchError):
    pass


class NotFound(LaunchError):
    pass


class NotAllowed(LaunchError):
    pass


class Conflict(LaunchError):
    pass


class AlreadySignedOff(Conflict):
    pass


class PhaseIncomplete(Conflict):
    pass


class EscalationFailed(LaunchError):
    pass
