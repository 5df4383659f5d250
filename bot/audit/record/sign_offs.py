"""The record's ``sign_offs`` (each role's status and every approval with its revocation) and ``go``
(every GO declared, and its withdrawal); approvals as the log tells them; DB-free."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.audit.record.values import iso_time, person
from bot.audit.replay.expected import Expect, Expected
from bot.audit.replay.state import Replay
from bot.core.config import RoleConfig
from bot.signoffs.log import SignOffLog, SignOffRecord


def replayed_sign_offs(truth: Replay, log: SignOffLog) -> tuple[SignOffRecord, ...]:
    """Every approval in the log, as the log tells it (a row without an approval event is left out:
    verify names it); only a field the log cannot vouch for is taken from the row."""
    rows = {r.id: r for r in log.records}
    records = []
    for so_id, want in truth.sign_offs.items():
        row = rows.get(so_id)

        def pick(name: str, want: Expected = want, row: SignOffRecord | None = row) -> Any:
            logged = want.fields.get(name)
            if row is not None and (name in want.unknown or isinstance(logged, Expect)):
                return getattr(row, name)
            return logged

        records.append(
            SignOffRecord(
                id=so_id,
                role_id=str(pick("role_id")),
                role_title=str(pick("role_title")),
                required=int(pick("required") or 1),
                user_id=str(pick("user_id")),
                user_name=str(pick("user_name")),
                at=pick("at"),
                comment=pick("comment"),
                progress=pick("progress") or {},
                event_seq=int(pick("event_seq")),
                revoked_at=pick("revoked_at"),
                revoked_by_id=pick("revoked_by_id"),
                revoked_by_name=pick("revoked_by_name"),
                revoke_reason=pick("revoke_reason"),
            )
        )
    return tuple(records)


def sign_offs_section(log: SignOffLog, roles: Mapping[str, RoleConfig] | None) -> dict[str, Any]:
    role_rows = []
    for role in log.roles:
        records = [r for r in log.records if r.role_id == role.role_id]
        active = [r for r in records if r.active]
        config = (roles or {}).get(role.role_id)
        required = config.required if config else _recorded_required(records)
        role_rows.append(
            {
                "role_id": role.role_id,
                "title": role.title,
                "required": required,
                "status": "approved" if len(active) >= required else "pending",
                "approved_by": [r.user_id for r in active],
            }
        )
    return {
        "all_approved": bool(role_rows) and all(r["status"] == "approved" for r in role_rows),
        "roles": role_rows,
        "records": [_approval(r) for r in log.records],
    }


def _approval(r: SignOffRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "role_id": r.role_id,
        "role_title": r.role_title,
        "by": person(r.user_id, r.user_name),
        "at": iso_time(r.at),
        "comment": r.comment,
        "progress": dict(r.progress),
        "event_seq": r.event_seq,
        "revoked": None
        if r.revoked_at is None
        else {
            "at": iso_time(r.revoked_at),
            "by": person(r.revoked_by_id, r.revoked_by_name),
            "reason": r.revoke_reason,
        },
    }


def _recorded_required(records: Sequence[SignOffRecord]) -> int:
    return max([1, *(r.required for r in records)])


def go_section(log: SignOffLog) -> list[dict[str, Any]]:
    return [
        {
            "number": g.number,
            "at": iso_time(g.at),
            "declared_by": g.actor_id,
            "event_seq": g.event_seq,
            "event_hash": g.event_hash,
            "withdrawn": None
            if g.withdrawn_at is None
            else {
                "at": iso_time(g.withdrawn_at),
                "by": g.withdrawn_by_id,
                "role": g.withdrawn_role,
                "reason": g.withdrawn_reason,
            },
            "readiness": dict(g.readiness) or None,
        }
        for g in log.go
    ]
