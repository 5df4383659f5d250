"""What the event log says one row must hold (``Expected``): an exact value per field, or an
``Expect`` (any of several values, any value but None), and the fields the log cannot vouch for; pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Expect:
    """An expected value that is not one exact value."""

    def matches(self, found: Any) -> bool:
        raise NotImplementedError

    def show(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class OneOf(Expect):
    """Any of these (a state the code may move through without an event, e.g. a catch-up)."""

    values: tuple[Any, ...]

    def matches(self, found: Any) -> bool:
        return found in self.values

    def show(self) -> str:
        return " or ".join(show(v) for v in self.values)


@dataclass(frozen=True)
class NotNone(Expect):
    what: str

    def matches(self, found: Any) -> bool:
        return found is not None

    def show(self) -> str:
        return self.what


def show(value: Any) -> str:
    """A value (expected or found) as a finding's text shows it."""
    if isinstance(value, Expect):
        return value.show()
    if isinstance(value, datetime):
        return value.isoformat()
    return repr(value)


def json_value(value: Any) -> Any:
    """A value (expected or found) as a finding's JSON holds it."""
    if isinstance(value, Expect):
        return value.show()
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def same(expected: Any, found: Any) -> bool:
    if isinstance(expected, Expect):
        return expected.matches(found)
    return bool(expected == found)


@dataclass
class Expected:
    """What one row must hold (``fields``) and the fields the log cannot check (``unknown``)."""

    fields: dict[str, Any] = field(default_factory=dict)
    unknown: dict[str, str] = field(default_factory=dict)
    seq: int = 0  # the event that created it

    def get(self, name: str, default: Any = None) -> Any:
        """The log's value, or ``default`` (the row's) where the log cannot say."""
        if name in self.unknown or name not in self.fields:
            return default
        value = self.fields[name]
        return default if isinstance(value, Expect) else value
