"""The sign-off read model: roles, approvals, revocations and GO declarations of one launch."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.config import RoleConfig
from bot.core.errors import NotFound
from bot.core.events import EventKind
from bot.core.models import Event, Launch, SignOff
from bot.core.mrkdwn import escape

# ---------------------------------------------------------------------------------------------------
# Read model (part of checklist.LaunchState as ``sign_offs``).


@dataclass(frozen=True)
class LaunchRole:
    """A role the launch's template asks to sign off."""

    role_id: str
    title: str


@dataclass(frozen=True)
class SignOffRecord:
    id: int
    role_id: str
    role_title: str
    required: int
    user_id: str
    user_name: str
    at: datetime
    comment: str | None
    progress: Mapping[str, Any]
    event_seq: int
    revoked_at: datetime | None
    revoked_by_id: str | None
    revoked_by_name: str | None
    revoke_reason: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class GoRecord:
    """One GO: declared when the last required approval came in, withdrawn if one is revoked."""

    number: int
    at: datetime
    actor_id: str
    event_seq: int
    event_hash: str
    withdrawn_at: datetime | None = None
    withdrawn_by_id: str | None = None
    withdrawn_role: str | None = None
    withdrawn_reason: str | None = None
    # What GO was given on (``go.readiness``): the current phase, per-phase progress, the current
    # phase's open and waived items; empty for a GO declared before it was recorded.
    readiness: Mapping[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.withdrawn_at is None


@dataclass(frozen=True)
class SignOffLog:
    roles: tuple[LaunchRole, ...] = ()
    records: tuple[SignOffRecord, ...] = ()
    go: tuple[GoRecord, ...] = ()

    @property
    def current_go(self) -> GoRecord | None:
        return next((g for g in reversed(self.go) if g.active), None)

    def go_number(self, number: int) -> GoRecord | None:
        return next((g for g in self.go if g.number == number), None)

    def role(self, role_id: str) -> LaunchRole | None:
        return next((r for r in self.roles if r.role_id == role_id), None)


EMPTY_LOG = SignOffLog()


@dataclass(frozen=True)
class RoleStatus:
    """One row of the sign-off table: the role, who may approve it, and what stands."""

    role: LaunchRole
    required: int
    users: tuple[str, ...]
    usergroups: tuple[str, ...]
    approvals: tuple[SignOffRecord, ...]
    last_revocation: SignOffRecord | None

    @property
    def configured(self) -> bool:
        return bool(self.users or self.usergroups)

    @property
    def approved(self) -> bool:
        return len(self.approvals) >= self.required

    def approved_by(self, user_id: str) -> SignOffRecord | None:
        return next((a for a in self.approvals if a.user_id == user_id), None)


def launch_roles(template_extra: Mapping[str, Any]) -> tuple[LaunchRole, ...]:
    return tuple(
        LaunchRole(role_id=str(r["role_id"]), title=str(r["title"]))
        for r in template_extra.get("sign_off_roles") or []
    )


def board(log: SignOffLog, roles: Mapping[str, RoleConfig]) -> tuple[RoleStatus, ...]:
    """The sign-off table: every role of the launch with its holders (from the config) and approvals."""
    rows: list[RoleStatus] = []
    for role in log.roles:
        config = roles.get(role.role_id)
        mine = [r for r in log.records if r.role_id == role.role_id]
        revoked = [r for r in mine if not r.active]
        rows.append(
            RoleStatus(
                role=role,
                required=config.required if config else 1,
                users=tuple(config.users) if config else (),
                usergroups=tuple(config.usergroups) if config else (),
                approvals=tuple(r for r in mine if r.active),
                last_revocation=max(revoked, key=_revoked_at) if revoked else None,
            )
        )
    return tuple(rows)


def _revoked_at(record: SignOffRecord) -> datetime:
    assert record.revoked_at is not None
    return record.revoked_at


def all_approved(rows: Iterable[RoleStatus]) -> bool:
    rows = list(rows)
    return bool(rows) and all(r.approved for r in rows)


def holders_text(role: RoleConfig | None) -> str:
    """``<@U…>, <!subteam^S…>``: Slack renders each as the current name of the person or group."""
    if role is None:
        return "nobody"
    names = [f"<@{u}>" for u in role.users] + [f"<!subteam^{g}>" for g in role.usergroups]
    return ", ".join(names) if names else "nobody"


def groups_to_check(role: RoleConfig | None, user_id: str) -> tuple[str, ...]:
    """The user groups whose membership decides whether ``user_id`` holds ``role`` (none when the
    user is listed directly, so the common case needs no Slack call)."""
    if role is None or user_id in role.users:
        return ()
    return tuple(role.usergroups)


def find_role(log: SignOffLog, ref: str) -> LaunchRole:
    """A role of the launch by id (``head_of_trading``) or title (``Head of Trading``), any case."""
    wanted = " ".join(ref.split()).lower()
    for role in log.roles:
        if wanted in (role.role_id.lower(), role.title.lower(), role.role_id.replace("_", " ")):
            return role
    known = ", ".join(f"`{r.role_id}`" for r in log.roles) or "none"
    raise NotFound(f"This launch has no sign-off role {escape(ref)!r}. Its roles: {known}.")


# ---------------------------------------------------------------------------------------------------
# Loading


async def load_sign_offs(*, session: AsyncSession, launch: Launch) -> SignOffLog:
    """Roles, approvals (revoked ones included) and GO declarations of one launch."""
    rows = (
        await session.scalars(
            select(SignOff).where(SignOff.launch_id == launch.id).order_by(SignOff.id)
        )
    ).all()
    events = (
        await session.scalars(
            select(Event)
            .where(
                Event.launch_id == launch.id,
                Event.kind.in_([EventKind.LAUNCH_GO, EventKind.GO_WITHDRAWN]),
            )
            .order_by(Event.seq)
        )
    ).all()
    return SignOffLog(
        roles=launch_roles(launch.template_extra),
        records=tuple(_record(r) for r in rows),
        go=_go_records(events),
    )


def _record(row: SignOff) -> SignOffRecord:
    return SignOffRecord(
        id=row.id,
        role_id=row.role_id,
        role_title=row.role_title,
        required=row.required,
        user_id=row.user_id,
        user_name=row.user_name,
        at=row.at,
        comment=row.comment,
        progress=row.progress,
        event_seq=row.event_seq,
        revoked_at=row.revoked_at,
        revoked_by_id=row.revoked_by_id,
        revoked_by_name=row.revoked_by_name,
        revoke_reason=row.revoke_reason,
    )


def _go_records(events: Iterable[Event]) -> tuple[GoRecord, ...]:
    by_number: dict[int, GoRecord] = {}
    for e in events:
        number = int(e.detail.get("number", 0))
        if e.kind == EventKind.LAUNCH_GO:
            by_number[number] = GoRecord(
                number=number,
                at=e.at,
                actor_id=e.actor_id,
                event_seq=e.seq,
                event_hash=e.hash,
                readiness=dict(e.detail.get("readiness") or {}),
            )
        elif number in by_number:
            go = by_number[number]
            by_number[number] = GoRecord(
                number=go.number,
                at=go.at,
                actor_id=go.actor_id,
                event_seq=go.event_seq,
                event_hash=go.event_hash,
                withdrawn_at=e.at,
                withdrawn_by_id=e.actor_id,
                withdrawn_role=str(e.detail.get("role_title") or ""),
                withdrawn_reason=str(e.detail.get("reason") or ""),
                readiness=go.readiness,
            )
    return tuple(by_number[n] for n in sorted(by_number))


class LaunchSignOffs(Protocol):
    """What the sign-off builders read of a launch (``bot.launch.state.LaunchState`` has it)."""

    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...

    @property
    def is_active(self) -> bool: ...

    @property
    def sign_offs(self) -> SignOffLog | None: ...

    @property
    def current_open(self) -> tuple[str, int] | None: ...

    @property
    def close_outcome(self) -> str | None: ...

    @property
    def close_note(self) -> str | None: ...


def log_of(state: LaunchSignOffs) -> SignOffLog:
    """The launch's sign-off log (empty if it was not loaded)."""
    return state.sign_offs or EMPTY_LOG
