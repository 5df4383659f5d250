"""Sign-offs (approvals, revocations, approvers' names) and GO declarations and withdrawals:
replayed from their events, and compared with the ``sign_off`` rows and the GO messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit.replay.expected import Expected, NotNone
from bot.audit.replay.findings import (
    OLD_LOG,
    ROW,
    Mismatch,
    Unchecked,
    compare_rows,
)
from bot.audit.replay.state import Replay, as_int
from bot.core.events import EventKind
from bot.core.models import Event, SignOff, SlackMessage

# ---------------------------------------------------------------------------------------------------
# Replay


def replay_sign_offs(r: Replay, e: Event, d: Mapping[str, Any], before: Event | None) -> bool:
    """Apply a sign-off or GO event (``before``: the event just before it); False for another."""
    kind = e.kind
    if kind == EventKind.SIGN_OFF_APPROVED:
        _approved(r, e, before)
    elif kind == EventKind.SIGN_OFF_REVOKED:
        _revoked(r, e, d)
    elif kind == EventKind.DISPLAY_NAME_RESOLVED and not d.get("items"):
        for so in r.sign_offs.values():
            if so.fields.get("user_id") == d.get("user_id"):
                so.fields["user_name"] = d.get("name")
            if so.fields.get("revoked_by_id") == d.get("user_id"):
                so.fields["revoked_by_name"] = d.get("name")
    elif kind == EventKind.LAUNCH_GO:
        _go(r, d)
    elif kind == EventKind.GO_WITHDRAWN:
        number = as_int(d.get("number"))
        if number is None or number != r.go_current:
            r.problems.append(
                Mismatch(
                    "go", f"#{number}", "withdrawn", f"GO #{r.go_current}", number, in_log=True
                )
            )
        r.go_current = None
    else:
        return False
    return True


def _approved(r: Replay, e: Event, before: Event | None) -> None:
    d = e.detail or {}
    sign_off_id = as_int(d.get("sign_off_id")) or 0
    raw = d.get("progress")
    progress: dict[str, Any] = raw if isinstance(raw, dict) else {}
    so = Expected(
        {
            "role_id": d.get("role_id"),
            "role_title": d.get("role_title"),
            "required": d.get("required"),
            "user_id": e.actor_id,
            "user_name": e.actor_name,
            "at": e.at,
            "comment": d.get("comment"),
            "progress": progress,
            "event_seq": e.seq,
            "active_slot": NotNone("a slot (the approval stands)"),
            "revoked_at": None,
            "revoked_by_id": None,
            "revoked_by_name": None,
            "revoke_reason": None,
        },
        seq=e.seq,
    )
    if r.log_version < 2:
        so.unknown["user_name"] = OLD_LOG
    r.sign_offs[sign_off_id] = so
    # What the approver signed names the head of the chain just before the approval: the log's own
    # record of it must be that event's hash (a rewritten tail would recompute hashes, not this).
    head = before.hash if before is not None else None
    after = before.seq if before is not None else 0
    if progress.get("chain_head") != head or progress.get("after_event") != after:
        r.problems.append(
            Mismatch(
                "event",
                f"#{e.seq}",
                "progress.chain_head",
                f"{head} (event #{after})",
                f"{progress.get('chain_head')} (event #{progress.get('after_event')})",
                in_log=True,
            )
        )


def _revoked(r: Replay, e: Event, d: Mapping[str, Any]) -> None:
    so = r.sign_offs.get(as_int(d.get("sign_off_id")) or 0)
    if so is None:
        r.problems.append(
            Mismatch(
                "event",
                f"#{e.seq}",
                "sign_off_id",
                "an approved sign-off",
                d.get("sign_off_id"),
                in_log=True,
            )
        )
        return
    so.fields.update(
        revoked_at=e.at,
        revoked_by_id=e.actor_id,
        revoked_by_name=e.actor_name,
        revoke_reason=d.get("reason"),
        active_slot=None,
    )
    if r.log_version < 2:
        so.unknown["revoked_by_name"] = OLD_LOG


def _go(r: Replay, d: Mapping[str, Any]) -> None:
    """A GO declared: it must name exactly the approvals standing then."""
    r.go_current = as_int(d.get("number"))
    r.go_numbers.append(r.go_current or 0)
    declared = sorted(
        as_int(a.get("sign_off_id")) or 0 for a in d.get("approvals") or [] if isinstance(a, dict)
    )
    standing = sorted(i for i, so in r.sign_offs.items() if so.fields.get("revoked_at") is None)
    if declared != standing:
        r.problems.append(
            Mismatch(
                "go",
                f"#{r.go_current}",
                "approvals (sign-off ids)",
                standing,
                declared,
                in_log=True,
            )
        )


# ---------------------------------------------------------------------------------------------------
# Compare


async def compare_sign_offs(
    session: AsyncSession, lid: int, r: Replay
) -> tuple[list[Mismatch], list[Unchecked]]:
    """The launch's sign-off rows, then its GO messages, against the replay."""
    rows = {
        s.id: s
        for s in (await session.scalars(select(SignOff).where(SignOff.launch_id == lid))).all()
    }
    bad, unchecked = compare_rows("sign_off", r.sign_offs, rows, unexplained="no approval event")
    return bad + await _compare_go_messages(session, lid, r), unchecked


async def _compare_go_messages(session: AsyncSession, lid: int, r: Replay) -> list[Mismatch]:
    bad: list[Mismatch] = []
    go_parts = set(
        (
            await session.scalars(
                select(SlackMessage.part).where(
                    SlackMessage.launch_id == lid, SlackMessage.kind == "go"
                )
            )
        ).all()
    )
    for number in r.go_numbers:
        if number not in go_parts:
            bad.append(Mismatch("slack_message", f"go #{number}", ROW, "the GO message", "no row"))
    for number in sorted(go_parts - set(r.go_numbers)):
        bad.append(
            Mismatch("slack_message", f"go #{number}", ROW, "no GO (no launch_go event)", "a row")
        )
    return bad
