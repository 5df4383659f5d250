"""Incident domain: contacts and escalation rules, stored escalations and kill-switch requests, the escalation timer.

Every write takes the caller's session (the caller owns the transaction), locks the launch row first
and records what happened with ``checklist.append_event``, so each step of an incident is in the
launch's hash-chained log. No Slack or HTTP imports here: ``bot.escalation`` does the talking and
calls these to record each step before and after it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import checklist
from bot.checklist import Actor
from bot.config import AppConfig, EscalationLevel, RoleConfig
from bot.errors import BadInput, NotAllowed, NotFound
from bot.models import (
    Escalation,
    EscalationLevelPing,
    Item,
    ItemGroup,
    KillSwitchRequest,
    KillSwitchState,
    Launch,
    Phase,
    Section,
    SlackMessage,
)
from bot.signoffs import holds

SYSTEM = Actor("launchbot", "Launch Control")
SEVERITIES = ("sev1", "sev2", "sev3")
DEFAULT_SEVERITY = "sev2"
MAX_SUMMARY = 1000
MAX_REASON = 1000
KILLSWITCH_TESTED_ITEM = "Kill switch tested"
# A second `/launch escalate` with the same words while the first is open is the same incident:
# paging again would wake the same people twice.
DUPLICATE_WINDOW = timedelta(minutes=10)
# Giving up on posting a due level after this many Slack errors (each is logged and recorded).
MAX_PING_ATTEMPTS = 5

EscalationStatus = Literal["open", "acknowledged", "resolved"]


# ---------------------------------------------------------------------------------------------------
# Contacts


_PLACEHOLDER_WORDS = {"tbd", "todo", "changeme", "...", "…", "?", "n/a", "none", "xxx"}
_BRACKETED = re.compile(r"\[[^\]]*\]")


def is_placeholder(value: str | None) -> bool:
    """True for what a template or an unfinished config leaves in place of a real value:
    nothing, ``[Phone]``-style brackets, or a word like TBD."""
    if value is None:
        return True
    text = value.strip()
    return not text or text.lower() in _PLACEHOLDER_WORDS or _BRACKETED.search(text) is not None


@dataclass(frozen=True)
class ContactRow:
    """One line of the emergency contacts. ``missing`` names what the config leaves unfilled, so the
    builder can flag it instead of showing a placeholder as if it were a number."""

    kind: Literal["internal", "external"]
    role: str
    name: str | None = None
    user_id: str | None = None
    phone: str | None = None
    contact: str | None = None
    url: str | None = None
    template_value: str | None = None
    missing: tuple[str, ...] = ()


def _kind_of(category: str) -> Literal["internal", "external"]:
    return "internal" if "internal" in category.lower() else "external"


def _key(name: str) -> str:
    return " ".join(name.lower().split())


def contact_rows(
    config: AppConfig, template_contacts: Sequence[Mapping[str, Any]]
) -> list[ContactRow]:
    """The template's contacts in template order, filled from ``[contacts]``, then config-only names.

    ``template_contacts`` are the template's ``{category, role, value}`` entries (a launch's frozen
    copy or the current template)."""
    internal = {_key(k): (k, v) for k, v in config.contacts.internal.items()}
    external = {_key(k): (k, v) for k, v in config.contacts.external.items()}
    rows: list[ContactRow] = []
    used: set[tuple[str, str]] = set()
    for entry in template_contacts:
        role = str(entry.get("role") or "").strip()
        if not role:
            continue
        kind = _kind_of(str(entry.get("category") or ""))
        value = str(entry.get("value") or "")
        template_value = None if is_placeholder(value) else value
        table = internal if kind == "internal" else external
        found = table.get(_key(role))
        if found is None:
            rows.append(
                ContactRow(
                    kind=kind,
                    role=role,
                    template_value=template_value,
                    missing=() if template_value else ("not configured",),
                )
            )
            continue
        used.add((kind, _key(role)))
        rows.append(_filled(kind, role, found[1], template_value))
    for key, (role, person) in internal.items():
        if ("internal", key) not in used:
            rows.append(_filled("internal", role, person, None))
    for key, (role, vendor) in external.items():
        if ("external", key) not in used:
            rows.append(_filled("external", role, vendor, None))
    return rows


def _clean(value: str | None) -> str | None:
    return None if is_placeholder(value) else (value or "").strip()


def _filled(
    kind: Literal["internal", "external"], role: str, entry: Any, template_value: str | None
) -> ContactRow:
    if kind == "internal":
        name, user, phone = _clean(entry.name), _clean(entry.user), _clean(entry.phone)
        missing = []
        if name is None and user is None:
            missing.append("person")
        if phone is None:
            missing.append("phone")
        return ContactRow(
            kind=kind,
            role=role,
            name=name,
            user_id=user,
            phone=phone,
            template_value=template_value,
            missing=tuple(missing),
        )
    contact, url = _clean(entry.contact), _clean(entry.url)
    return ContactRow(
        kind=kind,
        role=role,
        contact=contact,
        url=url,
        template_value=template_value,
        missing=() if contact or url else ("contact",),
    )


def people_to_call(config: AppConfig, names: Sequence[str]) -> list[ContactRow]:
    """Internal contacts to phone when an outside system failed: ``names`` (matched like the
    template's roles), or every internal contact when ``names`` is empty."""
    rows = [r for r in contact_rows(config, []) if r.kind == "internal"]
    if not names:
        return rows
    wanted = [_key(n) for n in names]
    by_key = {_key(r.role): r for r in rows}
    return [by_key[k] for k in wanted if k in by_key]


# ---------------------------------------------------------------------------------------------------
# Rules


def parse_escalation(args: Sequence[str], rest: str) -> tuple[str, str]:
    """``[sev1|sev2|sev3] <what's wrong>`` -> (severity, summary); severity defaults to sev2."""
    text = " ".join(rest.split())
    severity = DEFAULT_SEVERITY
    if args and args[0].lower() in SEVERITIES:
        severity = args[0].lower()
        text = text.split(None, 1)[1] if len(text.split(None, 1)) > 1 else ""
    elif args and re.fullmatch(r"sev\d+", args[0].lower()):
        raise BadInput(f"Severity is one of {', '.join(SEVERITIES)} (got `{args[0]}`).")
    if not text:
        raise BadInput(
            "Say what is wrong, e.g. `/launch escalate sev1 order gateway rejecting all orders`."
        )
    if len(text) > MAX_SUMMARY:
        raise BadInput(f"Keep it under {MAX_SUMMARY} characters; details go in the thread.")
    return severity, text


def _allowed_roles(config: AppConfig) -> list[RoleConfig]:
    return [config.roles[r] for r in config.killswitch.allowed_roles if r in config.roles]


def killswitch_groups_to_check(config: AppConfig, user_id: str) -> tuple[str, ...]:
    """The user groups whose membership decides whether ``user_id`` may use the kill switch: those
    of every allowed role, none when the user is listed directly in one of them."""
    roles = _allowed_roles(config)
    if any(user_id in role.users for role in roles):
        return ()
    return tuple(dict.fromkeys(g for role in roles for g in role.usergroups))


def may_fire_killswitch(
    config: AppConfig, user_id: str, usergroup_members: Mapping[str, frozenset[str]]
) -> bool:
    """Holders of ``[killswitch].allowed_roles`` only: listed in a role's ``users`` or a member of
    one of its ``usergroups`` (whose members the caller looked up, as for sign-offs; a group not
    looked up counts as empty). No roles configured means nobody (fail closed)."""
    return any(holds(role, user_id, usergroup_members) for role in _allowed_roles(config))


def allowed_killswitch_titles(config: AppConfig) -> list[str]:
    return [
        config.roles[r].title if r in config.roles else r for r in config.killswitch.allowed_roles
    ]


def path_snapshot(levels: Sequence[EscalationLevel]) -> list[dict[str, Any]]:
    return [level.model_dump() for level in levels]


def _wait(path: Sequence[Mapping[str, Any]], level: int) -> timedelta:
    return timedelta(minutes=float(path[level].get("wait_minutes") or 0))


# ---------------------------------------------------------------------------------------------------
# Read models


@dataclass(frozen=True)
class EscalationView:
    id: int
    launch_id: int
    launch_name: str
    channel_id: str
    severity: str
    summary: str
    reporter_id: str
    reporter_name: str
    created_at: datetime
    dedup_key: str
    status: str
    path: tuple[Mapping[str, Any], ...]
    level: int
    next_level_at: datetime | None
    message_ts: str | None
    permalink: str | None
    version: int
    page_status: str
    page_tries: int
    page_error: str | None
    paged_at: datetime | None
    acknowledged_by_id: str | None
    acknowledged_by_name: str | None
    acknowledged_at: datetime | None
    resolved_by_id: str | None
    resolved_by_name: str | None
    resolved_at: datetime | None
    resolve_status: str | None


@dataclass(frozen=True)
class PingView:
    id: int
    escalation_id: int
    level: int
    attempts: int


@dataclass(frozen=True)
class KillSwitchView:
    id: int
    launch_id: int
    launch_name: str
    channel_id: str
    request_id: str
    requested_by_id: str
    requested_by_name: str
    reason: str
    dry_run: bool
    created_at: datetime
    status: str
    tries: int
    http_status: int | None
    error: str | None
    response_body: str | None
    duration_ms: int | None
    completed_at: datetime | None
    message_ts: str | None


@dataclass(frozen=True)
class KillSwitchSummary:
    launch_id: int
    launch_name: str
    armed: bool
    changed_by_id: str | None
    changed_at: datetime | None
    last_fire: KillSwitchView | None
    last_test: KillSwitchView | None


def _escalation_view(row: Escalation, launch_name: str) -> EscalationView:
    return EscalationView(
        id=row.id,
        launch_id=row.launch_id,
        launch_name=launch_name,
        channel_id=row.channel_id,
        severity=row.severity,
        summary=row.summary,
        reporter_id=row.reporter_id,
        reporter_name=row.reporter_name,
        created_at=row.created_at,
        dedup_key=row.dedup_key,
        status=row.status,
        path=tuple(row.path),
        level=row.level,
        next_level_at=row.next_level_at,
        message_ts=row.message_ts,
        permalink=row.permalink,
        version=row.version,
        page_status=row.page_status,
        page_tries=row.page_tries,
        page_error=row.page_error,
        paged_at=row.paged_at,
        acknowledged_by_id=row.acknowledged_by_id,
        acknowledged_by_name=row.acknowledged_by_name,
        acknowledged_at=row.acknowledged_at,
        resolved_by_id=row.resolved_by_id,
        resolved_by_name=row.resolved_by_name,
        resolved_at=row.resolved_at,
        resolve_status=row.resolve_status,
    )


def _killswitch_view(row: KillSwitchRequest, launch_name: str) -> KillSwitchView:
    return KillSwitchView(
        id=row.id,
        launch_id=row.launch_id,
        launch_name=launch_name,
        channel_id=row.channel_id,
        request_id=row.request_id,
        requested_by_id=row.requested_by_id,
        requested_by_name=row.requested_by_name,
        reason=row.reason,
        dry_run=row.dry_run,
        created_at=row.created_at,
        status=row.status,
        tries=row.tries,
        http_status=row.http_status,
        error=row.error,
        response_body=row.response_body,
        duration_ms=row.duration_ms,
        completed_at=row.completed_at,
        message_ts=row.message_ts,
    )


async def incident_launch(*, session: AsyncSession, channel_id: str) -> Launch:
    """The channel's active launch, else its most recent one: an incident the night after a launch
    closed still belongs to it."""
    launch = await checklist.active_launch(session=session, channel_id=channel_id)
    if launch is None:
        launch = await session.scalar(
            select(Launch)
            .where(Launch.channel_id == channel_id)
            .order_by(Launch.id.desc())
            .limit(1)
        )
    if launch is None:
        raise NotFound(
            "There is no launch in this channel yet. Start one with `/launch start &lt;name&gt;`."
        )
    return launch


async def load_escalation(*, session: AsyncSession, escalation_id: int) -> EscalationView:
    row = (
        await session.execute(
            select(Escalation, Launch.name)
            .join(Launch, Launch.id == Escalation.launch_id)
            .where(Escalation.id == escalation_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"There is no escalation #{escalation_id}.")
    return _escalation_view(row[0], row[1])


async def load_killswitch(*, session: AsyncSession, request_pk: int) -> KillSwitchView:
    row = (
        await session.execute(
            select(KillSwitchRequest, Launch.name)
            .join(Launch, Launch.id == KillSwitchRequest.launch_id)
            .where(KillSwitchRequest.id == request_pk)
        )
    ).first()
    if row is None:
        raise NotFound(f"There is no kill-switch request #{request_pk}.")
    return _killswitch_view(row[0], row[1])


async def card_ts(*, session: AsyncSession, launch_id: int) -> str | None:
    """The launch card's ts, to thread replies under it (None until the card is posted)."""
    return await session.scalar(
        select(SlackMessage.ts).where(
            SlackMessage.launch_id == launch_id, SlackMessage.kind == "card"
        )
    )


# ---------------------------------------------------------------------------------------------------
# Escalations


async def _escalation_for_update(session: AsyncSession, escalation_id: int) -> Escalation:
    row = await session.get(Escalation, escalation_id)
    if row is None:
        raise NotFound(f"There is no escalation #{escalation_id}.")
    await checklist.lock_launch(session, row.launch_id)
    await session.refresh(row)  # re-read under the lock: another writer may have just committed
    return row


async def open_escalation(
    *,
    session: AsyncSession,
    launch_id: int,
    channel_id: str,
    severity: str,
    summary: str,
    reporter: Actor,
    path: list[dict[str, Any]],
    at: datetime,
    request_key: str,
) -> tuple[Escalation, bool]:
    """Store a new escalation and start its timer; returns (escalation, created).

    The same Slack request twice, or the same words again while that escalation is still open and
    recent, returns the existing one (created=False): nobody is paged twice for one incident."""
    await checklist.lock_launch(session, launch_id)
    existing = await session.scalar(select(Escalation).where(Escalation.request_key == request_key))
    if existing is None:
        recent = await session.scalars(
            select(Escalation).where(
                Escalation.launch_id == launch_id,
                Escalation.status != "resolved",
                Escalation.severity == severity,
                Escalation.created_at >= at - DUPLICATE_WINDOW,
            )
        )
        existing = next((e for e in recent if _key(e.summary) == _key(summary)), None)
    if existing is not None:
        return existing, False
    escalation = Escalation(
        launch_id=launch_id,
        channel_id=channel_id,
        severity=severity,
        summary=summary,
        reporter_id=reporter.user_id,
        reporter_name=reporter.name,
        created_at=at,
        request_key=request_key,
        dedup_key=f"launchbot-{uuid.uuid4().hex}",
        status="open",
        path=path,
        level=0,
        next_level_at=at + _wait(path, 0) if path else None,
        version=1,
        page_status="pending",
        page_tries=0,
    )
    session.add(escalation)
    await session.flush()
    if path:
        # Level 0 is notified by the escalation message itself.
        session.add(
            EscalationLevelPing(escalation_id=escalation.id, level=0, due_at=at, claimed_at=at)
        )
    await checklist.append_event(
        session=session,
        launch_id=launch_id,
        actor=reporter,
        kind="escalation_opened",
        at=at,
        detail={
            "escalation_id": escalation.id,
            "severity": severity,
            "summary": summary,
            "dedup_key": escalation.dedup_key,
            "path": [lvl.get("name") for lvl in path],
        },
        source=request_key,
    )
    return escalation, True


async def record_escalation_message(
    *,
    session: AsyncSession,
    escalation_id: int,
    ts: str | None,
    permalink: str | None,
    error: str | None,
    at: datetime,
) -> None:
    """The escalation message was posted (``ts``) or could not be (``error``)."""
    row = await _escalation_for_update(session, escalation_id)
    if ts is not None:
        row.message_ts = ts
        row.permalink = permalink
        await session.execute(
            update(EscalationLevelPing)
            .where(
                EscalationLevelPing.escalation_id == escalation_id,
                EscalationLevelPing.level == 0,
                EscalationLevelPing.posted_at.is_(None),
            )
            .values(posted_at=at, ts=ts, attempts=EscalationLevelPing.attempts + 1)
        )
    await checklist.append_event(
        session=session,
        launch_id=row.launch_id,
        actor=SYSTEM,
        kind="escalation_posted" if ts else "escalation_post_failed",
        at=at,
        detail={"escalation_id": escalation_id, "ts": ts, "error": error},
    )


async def record_escalation_notice(
    *,
    session: AsyncSession,
    escalation_id: int,
    message: str,
    ts: str | None,
    error: str | None,
    at: datetime,
) -> None:
    """A follow-up message about the escalation (``message``: page_failed, pagerduty_<action>_failed,
    resolved) was posted (``ts``) or could not be (``error``)."""
    row = await _escalation_for_update(session, escalation_id)
    await checklist.append_event(
        session=session,
        launch_id=row.launch_id,
        actor=SYSTEM,
        kind="escalation_notice_posted" if ts else "escalation_notice_failed",
        at=at,
        detail={"escalation_id": escalation_id, "message": message, "ts": ts, "error": error},
    )


async def record_page(
    *,
    session: AsyncSession,
    escalation_id: int,
    action: Literal["trigger", "acknowledge", "resolve"],
    ok: bool,
    tries: int,
    at: datetime,
    http_status: int | None = None,
    error: str | None = None,
    skipped: bool = False,
) -> None:
    """What PagerDuty answered to one event (after its retries), recorded on the escalation."""
    row = await _escalation_for_update(session, escalation_id)
    outcome = "skipped" if skipped else "sent" if ok else "failed"
    if action == "trigger":
        row.page_status = outcome
        row.page_tries += tries
        row.page_error = None if ok else error
        if ok:
            row.paged_at = at
    elif action == "resolve":
        row.resolve_status = outcome
    row.version += 1
    await checklist.append_event(
        session=session,
        launch_id=row.launch_id,
        actor=SYSTEM,
        kind=f"pagerduty_{action}_{outcome}",
        at=at,
        detail={
            "escalation_id": escalation_id,
            "dedup_key": row.dedup_key,
            "tries": tries,
            "http_status": http_status,
            "error": error,
        },
    )


async def retry_page(
    *, session: AsyncSession, escalation_id: int, actor: Actor, at: datetime, source: str
) -> bool:
    """Ask for the PagerDuty trigger to be sent again (same dedup_key); False if it needs no retry."""
    row = await _escalation_for_update(session, escalation_id)
    if row.page_status != "failed" or row.status == "resolved":
        return False
    row.page_status = "pending"
    row.version += 1
    await checklist.append_event(
        session=session,
        launch_id=row.launch_id,
        actor=actor,
        kind="pagerduty_retry_requested",
        at=at,
        detail={"escalation_id": escalation_id, "dedup_key": row.dedup_key},
        source=source,
    )
    return True


async def pagerduty_catch_up(
    *, session: AsyncSession, escalation_id: int
) -> Literal["acknowledge", "resolve"] | None:
    """After a trigger finally went through: the event PagerDuty still needs because the escalation
    was acknowledged or resolved in Slack while the trigger was being sent (then the click's own
    follow-up saw no page to update and skipped PagerDuty)."""
    row = await _escalation_for_update(session, escalation_id)
    if row.page_status != "sent":
        return None
    if row.status == "resolved" and row.resolve_status == "skipped":
        row.resolve_status = "pending"
        return "resolve"
    return "acknowledge" if row.status == "acknowledged" else None


async def acknowledge(
    *, session: AsyncSession, escalation_id: int, actor: Actor, at: datetime, source: str
) -> bool:
    """Record who took the escalation and stop its timer. Only the first acknowledgement counts; a
    later click (or one after resolution) changes nothing and returns False."""
    row = await _escalation_for_update(session, escalation_id)
    if row.status != "open":
        return False
    row.status = "acknowledged"
    row.acknowledged_by_id = actor.user_id
    row.acknowledged_by_name = actor.name
    row.acknowledged_at = at
    row.next_level_at = None
    row.version += 1
    await checklist.append_event(
        session=session,
        launch_id=row.launch_id,
        actor=actor,
        kind="escalation_acknowledged",
        at=at,
        detail={"escalation_id": escalation_id, "level": row.level},
        source=source,
    )
    return True


async def resolve(
    *, session: AsyncSession, escalation_id: int, actor: Actor, at: datetime, source: str
) -> bool:
    row = await _escalation_for_update(session, escalation_id)
    if row.status == "resolved":
        return False
    row.status = "resolved"
    row.resolved_by_id = actor.user_id
    row.resolved_by_name = actor.name
    row.resolved_at = at
    row.next_level_at = None
    # Only an incident PagerDuty knows about needs resolving there.
    row.resolve_status = "pending" if row.page_status == "sent" else "skipped"
    row.version += 1
    await checklist.append_event(
        session=session,
        launch_id=row.launch_id,
        actor=actor,
        kind="escalation_resolved",
        at=at,
        detail={"escalation_id": escalation_id},
        source=source,
    )
    return True


async def claim_due_levels(*, session: AsyncSession, now: datetime) -> list[int]:
    """Move every open escalation whose timer ran out to its next level and return the new ping ids.

    The timer lives in the database (``next_level_at``), so a restart only delays a due level until
    the next poll. After the last level's wait one more "nobody answered" ping (level ==
    len(path)) is claimed, and the timer stops."""
    due = (
        await session.scalars(
            select(Escalation.id).where(
                Escalation.status == "open",
                Escalation.next_level_at.is_not(None),
                Escalation.next_level_at <= now,
            )
        )
    ).all()
    claimed: list[int] = []
    for escalation_id in due:
        row = await _escalation_for_update(session, escalation_id)
        if row.status != "open" or row.next_level_at is None or row.next_level_at > now:
            continue  # acknowledged or moved on while we waited for the lock
        level = row.level + 1
        due_at = row.next_level_at
        row.level = level
        row.next_level_at = due_at + _wait(row.path, level) if level < len(row.path) else None
        row.version += 1
        ping = EscalationLevelPing(escalation_id=row.id, level=level, due_at=due_at, claimed_at=now)
        session.add(ping)
        await session.flush()
        claimed.append(ping.id)
        name = row.path[level]["name"] if level < len(row.path) else None
        await checklist.append_event(
            session=session,
            launch_id=row.launch_id,
            actor=SYSTEM,
            kind="escalation_level_due" if name else "escalation_path_exhausted",
            at=now,
            detail={"escalation_id": row.id, "level": level, "name": name},
        )
    return claimed


async def unposted_pings(*, session: AsyncSession) -> list[PingView]:
    """Due levels not yet in Slack (a failed post, or a crash between claim and post)."""
    rows = (
        await session.scalars(
            select(EscalationLevelPing)
            .join(Escalation, Escalation.id == EscalationLevelPing.escalation_id)
            .where(
                EscalationLevelPing.posted_at.is_(None),
                EscalationLevelPing.level > 0,
                EscalationLevelPing.attempts < MAX_PING_ATTEMPTS,
                Escalation.status == "open",
            )
            .order_by(EscalationLevelPing.id)
        )
    ).all()
    return [PingView(r.id, r.escalation_id, r.level, r.attempts) for r in rows]


async def record_ping(
    *, session: AsyncSession, ping_id: int, ts: str | None, error: str | None, at: datetime
) -> None:
    ping = await session.get(EscalationLevelPing, ping_id)
    if ping is None:
        return
    row = await _escalation_for_update(session, ping.escalation_id)
    await session.refresh(ping)
    ping.attempts += 1
    if ts is not None:
        ping.posted_at = at
        ping.ts = ts
        ping.last_error = None
    else:
        ping.last_error = error
    await checklist.append_event(
        session=session,
        launch_id=row.launch_id,
        actor=SYSTEM,
        kind="escalation_level_pinged" if ts else "escalation_level_ping_failed",
        at=at,
        detail={"escalation_id": row.id, "level": ping.level, "ts": ts, "error": error},
    )


async def any_due(*, session: AsyncSession, now: datetime) -> bool:
    found = await session.scalar(
        select(Escalation.id)
        .where(
            Escalation.status == "open",
            Escalation.next_level_at.is_not(None),
            Escalation.next_level_at <= now,
        )
        .limit(1)
    )
    if found is not None:
        return True
    return bool(await unposted_pings(session=session))


async def escalations_to_resume(*, session: AsyncSession, before: datetime) -> list[int]:
    """Escalations created before ``before`` whose message or page never went out (the process
    stopped in between)."""
    rows = await session.scalars(
        select(Escalation.id).where(
            Escalation.created_at < before,
            Escalation.status != "resolved",
            (Escalation.message_ts.is_(None)) | (Escalation.page_status == "pending"),
        )
    )
    return list(rows.all())


# ---------------------------------------------------------------------------------------------------
# Kill switch


async def record_killswitch_refused(
    *, session: AsyncSession, launch_id: int, actor: Actor, at: datetime, why: str, source: str
) -> None:
    """An attempt by someone not allowed (or with the wrong confirmation) is kept in the log."""
    await checklist.lock_launch(session, launch_id)
    await checklist.append_event(
        session=session,
        launch_id=launch_id,
        actor=actor,
        kind="killswitch_refused",
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
    launch = await checklist.lock_launch(session, launch_id)
    existing = await session.scalar(
        select(KillSwitchRequest).where(KillSwitchRequest.request_key == request_key)
    )
    if existing is not None:
        return existing, False
    if not may_fire_killswitch(config, actor.user_id, usergroup_members):
        raise NotAllowed(not_allowed_text(config))
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
    await checklist.append_event(
        session=session,
        launch_id=launch.id,
        actor=actor,
        kind="killswitch_test_requested" if dry_run else "killswitch_requested",
        at=at,
        detail={"request_id": request.request_id, "reason": request.reason, "dry_run": dry_run},
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
) -> bool:
    """Whether ``actor`` (the user id of Slack's verified payload) holds one of
    ``[killswitch].allowed_roles``, directly or through a user group (``usergroup_members``, looked
    up by the caller; ``unchecked_groups`` are those Slack did not answer for in time). A refusal
    is appended to the log here; the caller commits it and then refuses (raising inside the
    transaction would roll the record back)."""
    if may_fire_killswitch(config, actor.user_id, usergroup_members):
        return True
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
    return False


def not_allowed_text(config: AppConfig, unchecked_groups: Sequence[str] = ()) -> str:
    """Why a kill-switch action was refused (mrkdwn); ``unchecked_groups`` as for
    ``authorize_killswitch``: then nobody knows yet whether the person holds the role."""
    if unchecked_groups:
        groups = ", ".join(f"<!subteam^{g}>" for g in unchecked_groups)
        return (
            f"I could not check the members of {groups} just now (Slack did not answer in time), "
            "so I cannot tell whether you hold a role allowed to use the kill switch. Your attempt "
            "was logged; please try again."
        )
    titles = allowed_killswitch_titles(config)
    who = ", ".join(titles) if titles else "nobody yet (set `[killswitch].allowed_roles`)"
    return f"Only these roles may use the kill switch: {who}. Your attempt was logged."


async def _killswitch_for_update(session: AsyncSession, request_pk: int) -> KillSwitchRequest:
    row = await session.get(KillSwitchRequest, request_pk)
    if row is None:
        raise NotFound(f"There is no kill-switch request #{request_pk}.")
    await checklist.lock_launch(session, row.launch_id)
    await session.refresh(row)
    return row


async def record_killswitch_sending(
    *, session: AsyncSession, request_pk: int, at: datetime
) -> bool:
    """Claim the request for sending; False if it was already claimed (a duplicate follow-up)."""
    row = await _killswitch_for_update(session, request_pk)
    if row.status != "pending":
        return False
    row.status = "sending"
    await checklist.append_event(
        session=session,
        launch_id=row.launch_id,
        actor=SYSTEM,
        kind="killswitch_sending",
        at=at,
        detail={"request_id": row.request_id, "dry_run": row.dry_run},
    )
    return True


async def record_killswitch_result(
    *,
    session: AsyncSession,
    request_pk: int,
    ok: bool,
    tries: int,
    http_status: int | None,
    error: str | None,
    response_body: str | None,
    duration_ms: int,
    attempts: Sequence[Mapping[str, Any]],
    at: datetime,
) -> None:
    row = await _killswitch_for_update(session, request_pk)
    row.status = "confirmed" if ok else "failed"
    row.tries = tries
    row.http_status = http_status
    row.error = error
    row.response_body = (response_body or "")[:2000] or None
    row.duration_ms = duration_ms
    row.completed_at = at
    kind = "killswitch_test" if row.dry_run else "killswitch"
    await checklist.append_event(
        session=session,
        launch_id=row.launch_id,
        actor=SYSTEM,
        kind=f"{kind}_{'confirmed' if ok else 'failed'}",
        at=at,
        detail={
            "request_id": row.request_id,
            "tries": tries,
            "http_status": http_status,
            "error": error,
            "duration_ms": duration_ms,
            "attempts": list(attempts),
        },
    )
    if not row.dry_run:
        await _show_on_card(session, row.launch_id)


async def interrupted_killswitch_requests(*, session: AsyncSession, before: datetime) -> list[int]:
    rows = await session.scalars(
        select(KillSwitchRequest.id).where(
            KillSwitchRequest.created_at < before,
            KillSwitchRequest.status.in_(["pending", "sending"]),
        )
    )
    return list(rows.all())


async def record_killswitch_unknown(
    *, session: AsyncSession, request_pk: int, at: datetime
) -> bool:
    """The process stopped before the trading system answered: the outcome is unknown, and we say
    so instead of guessing (or silently firing again minutes later)."""
    row = await _killswitch_for_update(session, request_pk)
    if row.status not in ("pending", "sending"):
        return False
    row.status = "unknown"
    row.error = "Launch Control restarted before the trading system answered"
    row.completed_at = at
    await checklist.append_event(
        session=session,
        launch_id=row.launch_id,
        actor=SYSTEM,
        kind="killswitch_unknown",
        at=at,
        detail={"request_id": row.request_id, "dry_run": row.dry_run},
    )
    return True


async def set_killswitch_message(*, session: AsyncSession, request_pk: int, ts: str) -> None:
    """Where the "firing…" announcement is, so it can be found (and was said) later."""
    row = await session.get(KillSwitchRequest, request_pk)
    if row is not None and row.message_ts is None:
        row.message_ts = ts


async def record_killswitch_announcement(
    *,
    session: AsyncSession,
    request_pk: int,
    message: str,
    ts: str | None,
    error: str | None,
    at: datetime,
) -> None:
    """A kill-switch message to the channel (``message``: firing, outcome, test_report, unknown) was
    posted (``ts``) or could not be (``error``): what the channel was told is in the log too."""
    row = await _killswitch_for_update(session, request_pk)
    await checklist.append_event(
        session=session,
        launch_id=row.launch_id,
        actor=SYSTEM,
        kind="killswitch_announced" if ts else "killswitch_announce_failed",
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
    await checklist.lock_launch(session, launch_id)
    if not may_fire_killswitch(config, actor.user_id, usergroup_members):
        raise NotAllowed(not_allowed_text(config))
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
    await checklist.append_event(
        session=session,
        launch_id=launch_id,
        actor=actor,
        kind="killswitch_armed" if armed else "killswitch_disarmed",
        at=at,
        source=source,
    )
    await _show_on_card(session, launch_id)
    return True


async def _show_on_card(session: AsyncSession, launch_id: int) -> None:
    """Copy the kill-switch state into the launch's ``template_extra`` and queue a card re-render.

    The card is rendered by the publisher from ``checklist.load_state`` alone, whose only open-ended
    field is ``LaunchState.extra`` (= ``template_extra``); this copy is written only here, always
    from ``KillSwitchState`` and the last fire, in the same transaction."""
    launch = await checklist.lock_launch(session, launch_id)
    state = await session.scalar(
        select(KillSwitchState).where(KillSwitchState.launch_id == launch_id)
    )
    last = await session.scalar(
        select(KillSwitchRequest)
        .where(
            KillSwitchRequest.launch_id == launch_id,
            KillSwitchRequest.dry_run.is_(False),
            KillSwitchRequest.status.in_(["confirmed", "failed", "unknown"]),
        )
        .order_by(KillSwitchRequest.id.desc())
        .limit(1)
    )
    shown: dict[str, Any] = {
        "armed": bool(state and state.armed),
        "changed_by_id": state.changed_by_id if state else None,
        "changed_at": state.changed_at.isoformat() if state else None,
    }
    if last is not None and last.completed_at is not None:
        shown["last_fire"] = {
            "status": last.status,
            "by_id": last.requested_by_id,
            "at": last.completed_at.isoformat(),
        }
    # A new dict: SQLAlchemy does not see in-place changes to a JSON column.
    launch.template_extra = {**launch.template_extra, "killswitch": shown}
    await session.execute(
        update(SlackMessage)
        .where(SlackMessage.launch_id == launch_id, SlackMessage.kind == "card")
        .values(version=SlackMessage.version + 1)
    )


async def killswitch_summary(*, session: AsyncSession, launch_id: int) -> KillSwitchSummary:
    launch = await session.get(Launch, launch_id)
    if launch is None:
        raise NotFound(f"There is no launch #{launch_id}.")
    state = await session.scalar(
        select(KillSwitchState).where(KillSwitchState.launch_id == launch_id)
    )

    async def last(dry_run: bool) -> KillSwitchView | None:
        row = await session.scalar(
            select(KillSwitchRequest)
            .where(KillSwitchRequest.launch_id == launch_id, KillSwitchRequest.dry_run.is_(dry_run))
            .order_by(KillSwitchRequest.id.desc())
            .limit(1)
        )
        return _killswitch_view(row, launch.name) if row is not None else None

    return KillSwitchSummary(
        launch_id=launch_id,
        launch_name=launch.name,
        armed=bool(state and state.armed),
        changed_by_id=state.changed_by_id if state else None,
        changed_at=state.changed_at if state else None,
        last_fire=await last(False),
        last_test=await last(True),
    )


@dataclass(frozen=True)
class TestedTick:
    """What a confirmed dry run did to the "Kill switch tested" item: ``ticked`` only when this
    test changed it; ``already_by_*``/``already_at`` when it was ticked before (by anyone) and was
    left alone; ``why_not`` when it could not be ticked at all."""

    ticked: bool = False
    already_by_id: str | None = None
    already_by_name: str | None = None
    already_at: datetime | None = None
    why_not: str | None = None


async def tick_killswitch_tested(
    *, session: AsyncSession, launch_id: int, actor: Actor, at: datetime, request_id: str
) -> TestedTick:
    """Tick the template's "Kill switch tested" item for the tester after a confirmed dry run.

    ``ticked`` only if this call changed the item; an item already ticked (by someone else, or by
    a replay of this test) is left alone and reported with who ticked it and when. ``why_not`` when
    it cannot be ticked (no such item, its phase not posted yet, launch closed); then the test
    result is in the event log only, and the caller says so."""
    found = (
        await session.execute(
            select(Item.id, Phase.posted_at)
            .join(ItemGroup, ItemGroup.id == Item.group_id)
            .join(Section, Section.id == ItemGroup.section_id)
            .join(Phase, Phase.id == Section.phase_id)
            .where(Item.launch_id == launch_id, Item.text == KILLSWITCH_TESTED_ITEM)
            .limit(1)
        )
    ).first()
    why: str
    if found is None:
        why = f"this launch's checklist has no “{KILLSWITCH_TESTED_ITEM}” item"
    elif found[1] is None:
        why = f"the phase with “{KILLSWITCH_TESTED_ITEM}” is not posted yet"
    else:
        try:
            result = await checklist.set_items_checked(
                session=session,
                launch_id=launch_id,
                desired={found[0]: True},
                actor=actor,
                at=at,
                source=f"killswitch_test:{request_id}",
                dedup_key=f"killswitch-test:{request_id}",
            )
        except NotAllowed as exc:
            why = exc.message
        else:
            if found[0] in result.changed:
                return TestedTick(ticked=True)
            item = await session.get(Item, found[0])
            if item is not None and item.checked:
                return TestedTick(
                    already_by_id=item.changed_by_id,
                    already_by_name=item.changed_by_name,
                    already_at=item.changed_at,
                )
            # A replay of this test after someone unticked the item: nothing changed now.
            why = f"“{KILLSWITCH_TESTED_ITEM}” was unticked after this test was recorded"
    await checklist.lock_launch(session, launch_id)
    await checklist.append_event(
        session=session,
        launch_id=launch_id,
        actor=actor,
        kind="killswitch_test_not_ticked",
        at=at,
        detail={"request_id": request_id, "why": why},
    )
    return TestedTick(why_not=why)
