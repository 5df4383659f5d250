"""Kill-switch rules and records: who may fire it, requests and their outcomes, armed state, dry runs."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.config import AppConfig, RoleConfig
from bot.core.errors import BadInput, NotAllowed, NotFound
from bot.core.events import SYSTEM, Actor, EventKind, append_event
from bot.core.identity import groups_deciding, holds_any, roles_named
from bot.core.launches import lock_launch
from bot.core.models import KillSwitchRequest, KillSwitchState
from bot.core.outbox import bump_messages
from bot.incidents.escalations import MAX_REASON

# What the channel is told of a request a stopped process left (``record_killswitch_interrupted``).
UNANSWERED = "Launch Control restarted before the trading system answered"
NEVER_SENT = "Launch Control stopped before sending it: nothing reached the trading system"


def _allowed_roles(config: AppConfig) -> list[RoleConfig]:
    return roles_named(config.roles, config.killswitch.allowed_roles)


def killswitch_groups_to_check(config: AppConfig, user_id: str) -> tuple[str, ...]:
    """The user groups whose membership decides whether ``user_id`` may use the kill switch: those
    of every allowed role, none when the user is listed directly in one of them."""
    return groups_deciding(_allowed_roles(config), user_id)


def may_fire_killswitch(
    config: AppConfig, user_id: str, usergroup_members: Mapping[str, frozenset[str]]
) -> bool:
    """Holders of ``[killswitch].allowed_roles`` only: listed in a role's ``users`` or a member of
    one of its ``usergroups`` (whose members the caller looked up, as for sign-offs; a group not
    looked up counts as empty). No roles configured means nobody (fail closed)."""
    return holds_any(_allowed_roles(config), user_id, usergroup_members)


def allowed_killswitch_titles(config: AppConfig) -> list[str]:
    return [
        config.roles[r].title if r in config.roles else r for r in config.killswitch.allowed_roles
    ]


# ---------------------------------------------------------------------------------------------------
# Kill switch


async def record_killswitch_refused(
    *, session: AsyncSession, launch_id: int, actor: Actor, at: datetime, why: str, source: str
) -> None:
    """An attempt by someone not allowed (or with the wrong confirmation) is kept in the log."""
    await lock_launch(session, launch_id)
    await append_event(
        session=session,
        launch_id=launch_id,
        actor=actor,
        kind=EventKind.KILLSWITCH_REFUSED,
        at=at,
        detail={"why": why},
        source=source,
    )


async def request_killswitch(
    *,
    session: AsyncSession,
    config: AppConfig,
    launch_id: int,
    channel_id: str,
    actor: Actor,
    reason: str,
    dry_run: bool,
    at: datetime,
    request_key: str,
    usergroup_members: Mapping[str, frozenset[str]],
) -> tuple[KillSwitchRequest, bool]:
    """Store a request to fire (or test) the kill switch; returns (request, created). The caller has
    checked ``authorize_killswitch`` first (in its own committed step, so a refusal stays logged)."""
    launch = await lock_launch(session, launch_id)
    existing = await session.scalar(
        select(KillSwitchRequest).where(KillSwitchRequest.request_key == request_key)
    )
    if existing is not None:
        return existing, False
    if not may_fire_killswitch(config, actor.user_id, usergroup_members):
        raise killswitch_refusal(config)
    reason = " ".join(reason.split())
    if not reason:
        raise BadInput("Give a reason: it is sent to the trading system and told to the channel.")
    request = KillSwitchRequest(
        launch_id=launch.id,
        channel_id=channel_id,
        request_id=uuid.uuid4().hex,
        request_key=request_key,
        requested_by_id=actor.user_id,
        requested_by_name=actor.name,
        reason=reason[:MAX_REASON],
        dry_run=dry_run,
        created_at=at,
        status="pending",
        tries=0,
    )
    session.add(request)
    await session.flush()
    await append_event(
        session=session,
        launch_id=launch.id,
        actor=actor,
        kind=EventKind.KILLSWITCH_TEST_REQUESTED if dry_run else EventKind.KILLSWITCH_REQUESTED,
        at=at,
        detail={
            "request_id": request.request_id,
            "channel_id": channel_id,
            "reason": request.reason,
            "dry_run": dry_run,
        },
        source=request_key,
    )
    return request, True


async def authorize_killswitch(
    *,
    session: AsyncSession,
    config: AppConfig,
    launch_id: int,
    actor: Actor,
    what: str,
    at: datetime,
    source: str,
    usergroup_members: Mapping[str, frozenset[str]],
    unchecked_groups: Sequence[str] = (),
) -> None:
    """Refuse unless ``actor`` (the user id of Slack's verified payload) holds one of
    ``[killswitch].allowed_roles``, directly or through a user group (``usergroup_members``, looked
    up by the caller; ``unchecked_groups`` are those Slack did not answer for in time). The refused
    attempt is appended to the log and ``Refused(recorded=True)`` raised: the caller's
    ``unit_of_work`` commits the record."""
    if may_fire_killswitch(config, actor.user_id, usergroup_members):
        return
    why = f"{what}: not in an allowed role"
    if unchecked_groups:
        why = f"{what}: could not check user group {', '.join(unchecked_groups)}"
    await record_killswitch_refused(
        session=session,
        launch_id=launch_id,
        actor=actor,
        at=at,
        why=why,
        source=source,
    )
    raise killswitch_refusal(config, unchecked_groups, recorded=True)


def killswitch_refusal(
    config: AppConfig, unchecked_groups: Sequence[str] = (), *, recorded: bool = False
) -> NotAllowed:
    """Why a kill-switch action was refused; ``unchecked_groups`` as for ``authorize_killswitch``:
    then nobody knows yet whether the person holds the role."""
    if unchecked_groups:
        groups = ", ".join(f"<!subteam^{g}>" for g in unchecked_groups)
        return NotAllowed(
            f"I could not check the members of {groups} just now (Slack did not answer in time), "
            "so I cannot tell whether you hold a role allowed to use the kill switch. Your attempt "
            "was logged; please try again.",
            code="usergroup_unchecked",
            recorded=recorded,
        )
    titles = allowed_killswitch_titles(config)
    who = ", ".join(titles) if titles else "nobody yet (set `[killswitch].allowed_roles`)"
    return NotAllowed(
        f"Only these roles may use the kill switch: {who}. Your attempt was logged.",
        recorded=recorded,
    )


async def killswitch_for_update(session: AsyncSession, request_pk: int) -> KillSwitchRequest:
    row = await session.get(KillSwitchRequest, request_pk)
    if row is None:
        raise NotFound(f"There is no kill-switch request #{request_pk}.")
    await lock_launch(session, row.launch_id)
    await session.refresh(row)
    return row


async def record_killswitch_sending(
    *, session: AsyncSession, request_pk: int, at: datetime
) -> bool:
    """Claim the request for sending; False if it was already claimed (a duplicate follow-up)."""
    row = await killswitch_for_update(session, request_pk)
    if row.status != "pending":
        return False
    row.status = "sending"
    await append_event(
        session=session,
        launch_id=row.launch_id,
        actor=SYSTEM,
        kind=EventKind.KILLSWITCH_SENDING,
        at=at,
        detail={"request_id": row.request_id, "dry_run": row.dry_run},
    )
    return True


async def record_killswitch_result(
    *,
    session: AsyncSession,
    request_pk: int,
    status: str,
    tries: int,
    http_status: int | None,
    error: str | None,
    response_body: str | None,
    duration_ms: int,
    attempts: Sequence[Mapping[str, Any]],
    at: datetime,
) -> None:
    """How the POST ended: ``confirmed`` (a 2xx), ``failed`` (every try was refused or never
    connected, or none was sent: no config) or ``unknown`` (some try went unanswered after it may
    have arrived: the trading system may have halted)."""
    row = await killswitch_for_update(session, request_pk)
    row.status = status
    row.tries = tries
    row.http_status = http_status
    row.error = error
    row.response_body = (response_body or "")[:2000] or None
    row.duration_ms = duration_ms
    row.completed_at = at
    await append_event(
        session=session,
        launch_id=row.launch_id,
        actor=SYSTEM,
        kind=RESULT_EVENTS[status, row.dry_run],
        at=at,
        detail={
            "request_id": row.request_id,
            "dry_run": row.dry_run,
            "tries": tries,
            "http_status": http_status,
            "error": error,
            "duration_ms": duration_ms,
            "response_body": row.response_body,
            "attempts": list(attempts),
        },
    )
    if not row.dry_run:
        # Confirmed, the launch is HALTED; failed, it reads KILL SWITCH FAILED (UNKNOWN): on the card
        # and the GO messages (``_show_on_card``).
        await _show_on_card(session, row.launch_id)


# The event that records how a POST ended; an unanswered one is UNKNOWN, dry run or not (the
# detail's ``dry_run`` tells them apart, as for a request a stop left unanswered).
RESULT_EVENTS = {
    ("confirmed", False): EventKind.KILLSWITCH_CONFIRMED,
    ("failed", False): EventKind.KILLSWITCH_FAILED,
    ("unknown", False): EventKind.KILLSWITCH_UNKNOWN,
    ("confirmed", True): EventKind.KILLSWITCH_TEST_CONFIRMED,
    ("failed", True): EventKind.KILLSWITCH_TEST_FAILED,
    ("unknown", True): EventKind.KILLSWITCH_UNKNOWN,
}


async def interrupted_killswitch_requests(*, session: AsyncSession, before: datetime) -> list[int]:
    rows = await session.scalars(
        select(KillSwitchRequest.id).where(
            KillSwitchRequest.created_at < before,
            KillSwitchRequest.status.in_(["pending", "sending"]),
        )
    )
    return list(rows.all())


async def record_killswitch_interrupted(
    *, session: AsyncSession, request_pk: int, at: datetime
) -> str | None:
    """A request a stopped process left. Still ``pending`` (stored, never claimed for sending):
    nothing reached the trading system, and it is ``not_sent``. ``sending``: the POST may have gone
    out and the outcome is ``unknown``. We say which instead of guessing (or silently firing again
    minutes later). Returns the new status, None if the request had finished."""
    row = await killswitch_for_update(session, request_pk)
    if row.status not in ("pending", "sending"):
        return None
    never_sent = row.status == "pending"
    row.status = "not_sent" if never_sent else "unknown"
    row.error = NEVER_SENT if never_sent else UNANSWERED
    row.completed_at = at
    await append_event(
        session=session,
        launch_id=row.launch_id,
        actor=SYSTEM,
        kind=EventKind.KILLSWITCH_NOT_SENT if never_sent else EventKind.KILLSWITCH_UNKNOWN,
        at=at,
        detail={"request_id": row.request_id, "dry_run": row.dry_run, "error": row.error},
    )
    if not row.dry_run:
        await _show_on_card(session, row.launch_id)
    return row.status


async def record_killswitch_announcement(
    *,
    session: AsyncSession,
    request_pk: int,
    message: str,
    ts: str | None,
    error: str | None,
    at: datetime,
) -> None:
    """A kill-switch message (``message``: firing, outcome, unknown, not_sent, test_report, …) was
    posted (``ts``) or could not be (``error``): what the channel was told is in the log too."""
    row = await killswitch_for_update(session, request_pk)
    await append_event(
        session=session,
        launch_id=row.launch_id,
        actor=SYSTEM,
        kind=EventKind.KILLSWITCH_ANNOUNCED if ts else EventKind.KILLSWITCH_ANNOUNCE_FAILED,
        at=at,
        detail={
            "request_id": row.request_id,
            "dry_run": row.dry_run,
            "message": message,
            "ts": ts,
            "error": error,
        },
    )


async def set_armed(
    *,
    session: AsyncSession,
    config: AppConfig,
    launch_id: int,
    armed: bool,
    actor: Actor,
    at: datetime,
    source: str,
    usergroup_members: Mapping[str, frozenset[str]],
) -> bool:
    """Arm or disarm the launch's kill switch; False if it already was. The caller has checked
    ``authorize_killswitch``."""
    await lock_launch(session, launch_id)
    if not may_fire_killswitch(config, actor.user_id, usergroup_members):
        raise killswitch_refusal(config)
    state = await session.scalar(
        select(KillSwitchState).where(KillSwitchState.launch_id == launch_id)
    )
    if state is not None and state.armed == armed:
        return False
    if state is None:
        state = KillSwitchState(launch_id=launch_id)
        session.add(state)
    state.armed = armed
    state.changed_by_id = actor.user_id
    state.changed_by_name = actor.name
    state.changed_at = at
    await session.flush()
    await append_event(
        session=session,
        launch_id=launch_id,
        actor=actor,
        kind=EventKind.KILLSWITCH_ARMED if armed else EventKind.KILLSWITCH_DISARMED,
        at=at,
        source=source,
    )
    await _show_on_card(session, launch_id)
    return True


async def show_killswitch_firing(*, session: AsyncSession, launch_id: int) -> None:
    """A fire is under way: the card and the GO messages read KILL SWITCH FIRING… until it ends
    (queued once the "Firing…" announcement is out, so that goes first)."""
    await lock_launch(session, launch_id)
    await _show_on_card(session, launch_id)


async def _show_on_card(session: AsyncSession, launch_id: int) -> None:
    """Queue re-renders of the card and the GO messages: their state line follows the kill switch
    (HALTED, FIRING…, FAILED, UNKNOWN, NOT SENT, or back to the launch's own state once armed or
    disarmed after a fire that did not confirm)."""
    await bump_messages(session, launch_id, (), also_kinds=("go",))
