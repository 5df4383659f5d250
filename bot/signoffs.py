"""Sign-off rules: who may approve which role, four eyes, N of M, approve/revoke, GO, who may close; takes an AsyncSession.

The roles a launch needs are the template's sign-off table, frozen into the launch when it started;
who holds a role (``users``, ``usergroups``) and how many of them must approve (``required``) come from
the config. Every write function expects the caller to own the transaction and starts by locking the
launch row (``checklist.lock_launch``), so approvers are serialized: a double click or two holders
clicking at once leave exactly the approvals the rules allow, and the event chain never forks.

A refusal is not an exception here: it is recorded (a ``sign_off_refused`` event and nothing else) in
the caller's transaction and returned, so the caller can commit it and then tell the person why.
No Slack or HTTP imports: listeners call these and render the result.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.blocks import escape
from bot.checklist import Actor, append_event, lock_launch, seen
from bot.config import RoleConfig, SignOffConfig
from bot.errors import BadInput, Conflict, NotFound
from bot.models import Event, Item, ItemGroup, Launch, Phase, Section, SignOff, SlackMessage

COMMENT_MAX = 500
REASON_MAX = 500

APPROVED = "sign_off_approved"
REVOKED = "sign_off_revoked"
REFUSED = "sign_off_refused"
GO = "launch_go"
GO_WITHDRAWN = "go_withdrawn"


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


def holds(role: RoleConfig, user_id: str, members: Mapping[str, frozenset[str]]) -> bool:
    return user_id in role.users or any(
        user_id in members.get(g, frozenset()) for g in role.usergroups
    )


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
            .where(Event.launch_id == launch.id, Event.kind.in_([GO, GO_WITHDRAWN]))
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
        if e.kind == GO:
            by_number[number] = GoRecord(
                number=number, at=e.at, actor_id=e.actor_id, event_seq=e.seq, event_hash=e.hash
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
            )
    return tuple(by_number[n] for n in sorted(by_number))


# ---------------------------------------------------------------------------------------------------
# Writes


Status = Literal["approved", "revoked", "allowed", "duplicate", "refused"]


@dataclass(frozen=True)
class SignOffOutcome:
    """What a sign-off action did. ``message`` is safe mrkdwn for the person who acted."""

    launch_id: int
    status: Status
    message: str
    role: LaunchRole | None = None
    sign_off_id: int | None = None
    go_declared: bool = False
    go_withdrawn: bool = False

    @property
    def refused(self) -> bool:
        return self.status == "refused"


async def approve(
    *,
    session: AsyncSession,
    launch_id: int,
    role_id: str,
    actor: Actor,
    at: datetime,
    roles: Mapping[str, RoleConfig],
    policy: SignOffConfig,
    usergroup_members: Mapping[str, frozenset[str]] | None = None,
    comment: str | None = None,
    source: str = "",
    dedup_key: str | None = None,
) -> SignOffOutcome:
    """Approve ``role_id`` as ``actor`` if the rules allow it, else record the refused attempt.

    ``actor.user_id`` must come from Slack's verified payload. Rules, in order: the launch is open;
    the role has holders; the actor holds it (listed in ``users`` or a member of one of its
    ``usergroups``, whose members the caller looked up); an approval by the same person is a no-op
    (double click); the role still needs approvals; the person has not signed another role of this
    launch (unless ``policy.allow_multiple_roles``); and the person who started the launch is not
    about to be its only approver. The approval that completes every role declares GO and queues
    the GO message."""
    launch = await lock_launch(session, launch_id)
    if dedup_key is not None and await seen(session, dedup_key):
        return SignOffOutcome(launch_id, "duplicate", "Already recorded.")
    log = await load_sign_offs(session=session, launch=launch)
    role = _role_of(log, role_id)
    comment = _clean(comment, COMMENT_MAX, "comment") if comment else None
    config = roles.get(role.role_id)
    rows = board(log, roles)
    row = next(r for r in rows if r.role.role_id == role.role_id)

    refusal: _Refusal | None = None
    if launch.closed_at is not None:
        refusal = _Refusal(
            "closed",
            f"Launch *{escape(launch.name)}* is closed; its sign-offs can no longer change.",
        )
    elif config is None or not row.configured:
        refusal = _Refusal(
            "no_holder",
            f"Nobody holds the {escape(role.title)} role yet, so it cannot be approved: add Slack "
            f"user IDs to `[roles.{role.role_id}]` in the bot's config.",
        )
    elif not holds(config, actor.user_id, usergroup_members or {}):
        refusal = _Refusal(
            "not_holder",
            f"Only the {escape(role.title)} can approve this (held by {holders_text(config)}).",
        )
    elif (mine := row.approved_by(actor.user_id)) is not None:
        return SignOffOutcome(
            launch.id,
            "duplicate",
            f"You already approved as {escape(role.title)} ({_when(mine.at)}).",
            role=role,
            sign_off_id=mine.id,
        )
    elif row.approved:
        by = ", ".join(f"<@{a.user_id}>" for a in row.approvals)
        refusal = _Refusal("already_approved", f"{escape(role.title)} is already approved by {by}.")
    elif not policy.allow_multiple_roles and (
        other := next(
            (a for r in rows for a in r.approvals if a.user_id == actor.user_id),
            None,
        )
    ):
        refusal = _Refusal(
            "four_eyes",
            f"You already signed off as {escape(other.role_title)} on this launch. One person signs "
            "for one role (four-eyes rule), so someone else must approve "
            f"{escape(role.title)}.",
        )
    elif actor.user_id == launch.started_by_id and _would_be_sole_approver(rows, role, actor):
        refusal = _Refusal(
            "starter_only_approver",
            "You started this launch, so you cannot also be its only approver: someone else must "
            "approve at least one of its roles.",
        )
    if refusal is not None:
        await _record_refusal(
            session, launch, role, actor, at, "approve", refusal, source=source, dedup_key=dedup_key
        )
        return refusal.outcome(launch, role)

    assert config is not None
    progress = await _progress(session, launch)
    slots_taken = set(
        (
            await session.scalars(
                select(SignOff.active_slot).where(
                    SignOff.launch_id == launch.id,
                    SignOff.role_id == role.role_id,
                    SignOff.active_slot.is_not(None),
                )
            )
        ).all()
    )
    slot = next(n for n in itertools.count(1) if n not in slots_taken)
    sign_off = SignOff(
        launch_id=launch.id,
        role_id=role.role_id,
        role_title=role.title,
        required=config.required,
        active_slot=slot,
        user_id=actor.user_id,
        user_name=actor.name,
        at=at,
        comment=comment,
        progress=progress,
        event_seq=0,
    )
    session.add(sign_off)
    await session.flush()
    event = await append_event(
        session=session,
        launch_id=launch.id,
        actor=actor,
        kind=APPROVED,
        at=at,
        detail={
            "role_id": role.role_id,
            "role_title": role.title,
            "required": config.required,
            "sign_off_id": sign_off.id,
            "comment": comment,
            "progress": progress,
        },
        source=source,
        dedup_key=dedup_key,
    )
    sign_off.event_seq = event.seq
    go_declared = False
    after = board(await load_sign_offs(session=session, launch=launch), roles)
    if all_approved(after) and log.current_go is None:
        await _declare_go(session, launch, after, actor, at, log)
        go_declared = True
    await _bump_card(session, launch.id)
    message = f"Approved as {escape(role.title)}."
    if go_declared:
        message += " That was the last sign-off: the launch is *GO*."
    return SignOffOutcome(
        launch.id, "approved", message, role=role, sign_off_id=sign_off.id, go_declared=go_declared
    )


def _would_be_sole_approver(rows: tuple[RoleStatus, ...], role: LaunchRole, actor: Actor) -> bool:
    """True if approving ``role`` completes the launch and every approval would be ``actor``'s."""
    for r in rows:
        missing = r.required - len(r.approvals) - (1 if r.role.role_id == role.role_id else 0)
        if missing > 0:
            return False
    return all(a.user_id == actor.user_id for r in rows for a in r.approvals)


async def check_revoke(
    *,
    session: AsyncSession,
    launch_id: int,
    role_id: str,
    actor: Actor,
    at: datetime,
    source: str = "",
    dedup_key: str | None = None,
) -> SignOffOutcome:
    """May ``actor`` revoke their ``role_id`` sign-off? ``allowed`` (nothing written) or a recorded
    refusal. The Revoke button calls this before opening the reason form."""
    launch = await lock_launch(session, launch_id)
    if dedup_key is not None and await seen(session, dedup_key):
        return SignOffOutcome(launch_id, "duplicate", "Already recorded.")
    log = await load_sign_offs(session=session, launch=launch)
    role = _role_of(log, role_id)
    refusal = _revoke_refusal(launch, log, role, actor)
    if refusal is not None:
        await _record_refusal(
            session, launch, role, actor, at, "revoke", refusal, source=source, dedup_key=dedup_key
        )
        return refusal.outcome(launch, role)
    return SignOffOutcome(launch.id, "allowed", "", role=role)


async def revoke(
    *,
    session: AsyncSession,
    launch_id: int,
    role_id: str,
    actor: Actor,
    at: datetime,
    reason: str,
    source: str = "",
    dedup_key: str | None = None,
) -> SignOffOutcome:
    """Withdraw ``actor``'s own approval of ``role_id`` with a reason (kept, shown on the card). If the
    launch was GO, the GO is withdrawn too and its message says so."""
    reason = _clean(reason, REASON_MAX, "reason")
    if not reason:
        raise BadInput("Give a reason for revoking your sign-off.")
    launch = await lock_launch(session, launch_id)
    if dedup_key is not None and await seen(session, dedup_key):
        return SignOffOutcome(launch_id, "duplicate", "Already recorded.")
    log = await load_sign_offs(session=session, launch=launch)
    role = _role_of(log, role_id)
    refusal = _revoke_refusal(launch, log, role, actor)
    if refusal is not None:
        await _record_refusal(
            session, launch, role, actor, at, "revoke", refusal, source=source, dedup_key=dedup_key
        )
        return refusal.outcome(launch, role)
    mine = next(
        r
        for r in log.records
        if r.active and r.role_id == role.role_id and r.user_id == actor.user_id
    )
    row = await session.get(SignOff, mine.id)
    assert row is not None
    row.revoked_at = at
    row.revoked_by_id = actor.user_id
    row.revoked_by_name = actor.name
    row.revoke_reason = reason
    row.active_slot = None
    await append_event(
        session=session,
        launch_id=launch.id,
        actor=actor,
        kind=REVOKED,
        at=at,
        detail={
            "role_id": role.role_id,
            "role_title": role.title,
            "sign_off_id": mine.id,
            "reason": reason,
        },
        source=source,
        dedup_key=dedup_key,
    )
    go = log.current_go
    if go is not None:
        await append_event(
            session=session,
            launch_id=launch.id,
            actor=actor,
            kind=GO_WITHDRAWN,
            at=at,
            detail={
                "number": go.number,
                "role_id": role.role_id,
                "role_title": role.title,
                "reason": reason,
            },
            source=source,
        )
        await session.execute(
            update(SlackMessage)
            .where(
                SlackMessage.launch_id == launch.id,
                SlackMessage.kind == "go",
                SlackMessage.part == go.number,
            )
            .values(version=SlackMessage.version + 1)
        )
    await _bump_card(session, launch.id)
    message = f"Your {escape(role.title)} sign-off is revoked."
    if go is not None:
        message += " The launch is no longer GO."
    return SignOffOutcome(
        launch.id, "revoked", message, role=role, sign_off_id=mine.id, go_withdrawn=go is not None
    )


async def set_display_name(
    *, session: AsyncSession, launch_id: int, user_id: str, name: str
) -> bool:
    """Replace the name stored with ``user_id``'s approvals and revocations by their Slack display
    name (resolved after the ack). Returns whether anything changed; the card re-renders if so."""
    name = name.strip()[:200]
    if not name:
        return False
    await lock_launch(session, launch_id)
    rows = (
        await session.scalars(
            select(SignOff).where(
                SignOff.launch_id == launch_id,
                or_(SignOff.user_id == user_id, SignOff.revoked_by_id == user_id),
            )
        )
    ).all()
    changed = False
    for row in rows:
        if row.user_id == user_id and row.user_name != name:
            row.user_name = name
            changed = True
        if row.revoked_by_id == user_id and row.revoked_by_name != name:
            row.revoked_by_name = name
            changed = True
    if changed:
        await _bump_card(session, launch_id)
    return changed


# ---------------------------------------------------------------------------------------------------
# Who may close a launch: the person who started it, or a holder of any configured role.

CLOSE_REFUSED = "launch_close_refused"


def close_groups_to_check(
    roles: Mapping[str, RoleConfig], user_id: str, *, started_by_id: str
) -> tuple[str, ...]:
    """The user groups whose membership decides whether ``user_id`` may close a launch started by
    ``started_by_id``: those of every configured role, none when the user started it or is listed
    directly in a role (the common case needs no Slack call)."""
    if user_id == started_by_id or any(user_id in role.users for role in roles.values()):
        return ()
    return tuple(dict.fromkeys(g for role in roles.values() for g in role.usergroups))


def may_close(
    roles: Mapping[str, RoleConfig],
    user_id: str,
    *,
    started_by_id: str,
    usergroup_members: Mapping[str, frozenset[str]],
) -> bool:
    """The starter, or whoever holds a configured role (listed in its ``users`` or a member of one
    of its ``usergroups``, whose members the caller looked up; a group not looked up counts as
    empty). ``user_id`` must come from Slack's verified payload."""
    return user_id == started_by_id or any(
        holds(role, user_id, usergroup_members) for role in roles.values()
    )


def who_may_close_text(
    roles: Mapping[str, RoleConfig], started_by_id: str, launch_name: str
) -> str:
    """``<@starter> (who started it) or a holder of a sign-off role may close *Name*: CTO (<@U…>); …``
    (mrkdwn; roles nobody holds are left out)."""
    held = [
        f"{escape(role.title)} ({holders_text(role)})"
        for role in roles.values()
        if role.users or role.usergroups
    ]
    who = f"<@{started_by_id}> (who started it)"
    if not held:
        return f"{who} may close *{escape(launch_name)}*"
    return (
        f"{who} or a holder of a sign-off role may close *{escape(launch_name)}*: {'; '.join(held)}"
    )


async def authorize_close(
    *,
    session: AsyncSession,
    launch_id: int,
    actor: Actor,
    at: datetime,
    roles: Mapping[str, RoleConfig],
    usergroup_members: Mapping[str, frozenset[str]],
    unchecked_groups: Sequence[str] = (),
    source: str = "",
) -> str | None:
    """None when ``actor`` may close the launch (see ``may_close``); otherwise the refused attempt
    is appended to the log (a ``launch_close_refused`` event) and the reason returned as mrkdwn.
    ``unchecked_groups`` are groups Slack did not answer for in time: then nobody knows whether the
    person holds a role, and the attempt is refused, never guessed. Locks the launch; the caller
    owns the transaction and commits the record before refusing (raising would roll it back)."""
    launch = await lock_launch(session, launch_id)
    if launch.closed_at is not None:
        raise Conflict(f"Launch *{escape(launch.name)}* is already closed.")
    if may_close(
        roles,
        actor.user_id,
        started_by_id=launch.started_by_id,
        usergroup_members=usergroup_members,
    ):
        return None
    who = who_may_close_text(roles, launch.started_by_id, launch.name)
    detail: dict[str, Any] = {"action": "close", "reason": "not_starter_or_role_holder"}
    message = f"Only {who}. Your attempt was logged."
    if unchecked_groups:
        detail = {
            "action": "close",
            "reason": "usergroup_unchecked",
            "usergroups": list(unchecked_groups),
        }
        groups = ", ".join(f"<!subteam^{g}>" for g in unchecked_groups)
        message = (
            f"I could not check the members of {groups} just now (Slack did not answer in time), "
            f"so I cannot tell whether you hold a sign-off role. Only {who}. Your attempt was "
            "logged; please try again."
        )
    await append_event(
        session=session,
        launch_id=launch.id,
        actor=actor,
        kind=CLOSE_REFUSED,
        at=at,
        detail=detail,
        source=source,
    )
    return message


# ---------------------------------------------------------------------------------------------------
# Helpers


@dataclass(frozen=True)
class _Refusal:
    code: str
    message: str

    def outcome(self, launch: Launch, role: LaunchRole) -> SignOffOutcome:
        return SignOffOutcome(launch.id, "refused", self.message, role=role)


def _role_of(log: SignOffLog, role_id: str) -> LaunchRole:
    role = log.role(role_id)
    if role is None:
        raise NotFound(f"This launch has no sign-off role `{escape(role_id)}`.")
    return role


def _revoke_refusal(
    launch: Launch, log: SignOffLog, role: LaunchRole, actor: Actor
) -> _Refusal | None:
    if launch.closed_at is not None:
        return _Refusal(
            "closed",
            f"Launch *{escape(launch.name)}* is closed; its sign-offs can no longer change.",
        )
    active = [r for r in log.records if r.active and r.role_id == role.role_id]
    if any(r.user_id == actor.user_id for r in active):
        return None
    if not active:
        return _Refusal("nothing_to_revoke", f"{escape(role.title)} has no approval to revoke.")
    by = ", ".join(f"<@{r.user_id}>" for r in active)
    return _Refusal(
        "not_signer",
        f"Only the person who approved {escape(role.title)} can revoke it (approved by {by}).",
    )


async def _record_refusal(
    session: AsyncSession,
    launch: Launch,
    role: LaunchRole,
    actor: Actor,
    at: datetime,
    action: str,
    refusal: _Refusal,
    *,
    source: str,
    dedup_key: str | None,
) -> None:
    await append_event(
        session=session,
        launch_id=launch.id,
        actor=actor,
        kind=REFUSED,
        at=at,
        detail={
            "action": action,
            "role_id": role.role_id,
            "role_title": role.title,
            "reason": refusal.code,
        },
        source=source,
        dedup_key=dedup_key,
    )


def _clean(text: str | None, limit: int, what: str) -> str:
    cleaned = " ".join((text or "").split())
    if len(cleaned) > limit:
        raise BadInput(f"The {what} is at most {limit} characters (yours has {len(cleaned)}).")
    return cleaned


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


async def _progress(session: AsyncSession, launch: Launch) -> dict[str, Any]:
    """What an approver signs: per-phase progress and the event chain's head at that moment."""
    rows = (
        await session.execute(
            select(
                Phase.position,
                Phase.title,
                Phase.completed_at,
                func.count(Item.id),
                func.sum(case((Item.checked.is_(True), 1), else_=0)),
            )
            .join(Section, Section.phase_id == Phase.id)
            .join(ItemGroup, ItemGroup.section_id == Section.id)
            .join(Item, Item.group_id == ItemGroup.id)
            .where(Phase.launch_id == launch.id, Phase.kind == "checklist")
            .group_by(Phase.id, Phase.position, Phase.title, Phase.completed_at)
            .order_by(Phase.position)
        )
    ).all()
    phases = [
        {
            "title": title,
            "done": int(done or 0),
            "total": int(total),
            "complete": completed_at is not None,
        }
        for _pos, title, completed_at, total, done in rows
    ]
    current = next(
        (p for r, p in zip(rows, phases, strict=True) if r[0] == launch.current_phase), None
    )
    head = (
        await session.execute(
            select(Event.seq, Event.hash)
            .where(Event.launch_id == launch.id)
            .order_by(Event.seq.desc())
            .limit(1)
        )
    ).first()
    return {
        "current_phase": current["title"] if current else None,
        "phases": phases,
        "done": sum(int(p["done"]) for p in phases),
        "total": sum(int(p["total"]) for p in phases),
        "after_event": int(head[0]) if head else 0,
        "chain_head": str(head[1]) if head else None,
    }


async def _declare_go(
    session: AsyncSession,
    launch: Launch,
    rows: tuple[RoleStatus, ...],
    actor: Actor,
    at: datetime,
    log: SignOffLog,
) -> None:
    number = max((g.number for g in log.go), default=0) + 1
    await append_event(
        session=session,
        launch_id=launch.id,
        actor=actor,
        kind=GO,
        at=at,
        detail={
            "number": number,
            "approvals": [
                {"role_id": r.role.role_id, "user_id": a.user_id, "sign_off_id": a.id}
                for r in rows
                for a in r.approvals
            ],
        },
    )
    # One outbox row per GO: the publisher posts it exactly once, across restarts too.
    session.add(
        SlackMessage(launch_id=launch.id, kind="go", part=number, channel_id=launch.channel_id)
    )
    await session.flush()


async def _bump_card(session: AsyncSession, launch_id: int) -> None:
    await session.execute(
        update(SlackMessage)
        .where(SlackMessage.launch_id == launch_id, SlackMessage.kind == "card")
        .values(version=SlackMessage.version + 1)
    )
