"""``/launch verify`` in the log: who asked Slack to verify the launch's audit trail, and what it
found (``audit_verified`` or ``audit_verify_failed``). Takes an AsyncSession; the caller owns the
transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit.chain import ChainReport
from bot.core.events import Actor, EventKind, append_event, seen
from bot.core.launches import lock_launch


async def record_verification(
    *,
    session: AsyncSession,
    launch_id: int,
    actor: Actor,
    at: datetime,
    report: ChainReport,
    request_key: str,
) -> bool:
    """Log the verification's result; False when this request was logged already (a replay)."""
    await lock_launch(session, launch_id)
    marker = f"audit-verify:{request_key}"
    if await seen(session, marker):
        return False
    detail: dict[str, object] = {
        "events": report.events,
        "head_hash": report.head_hash,
        "unchecked": len(report.unchecked),
    }
    if report.first_bad is not None:
        detail["first_bad"] = report.first_bad.describe()
    if report.mismatches:
        detail["mismatches"] = len(report.mismatches)
    await append_event(
        session=session,
        launch_id=launch_id,
        actor=actor,
        kind=EventKind.AUDIT_VERIFIED if report.ok else EventKind.AUDIT_VERIFY_FAILED,
        at=at,
        detail=detail,
        source=request_key,
        dedup_key=marker,
    )
    return True
