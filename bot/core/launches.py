"""The launch row every feature shares: find it by channel or reference, and lock it for a write."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.errors import NotFound
from bot.core.models import Launch, SlackMessage
from bot.core.mrkdwn import escape

# ---------------------------------------------------------------------------------------------------
# Lookups


async def lock_launch(session: AsyncSession, launch_id: int) -> Launch:
    launch = await session.scalar(select(Launch).where(Launch.id == launch_id).with_for_update())
    if launch is None:
        raise NotFound(f"There is no launch #{launch_id}.")
    return launch


async def active_launch(*, session: AsyncSession, channel_id: str) -> Launch | None:
    return await session.scalar(select(Launch).where(Launch.active_channel == channel_id))


async def latest_launch(*, session: AsyncSession, channel_id: str) -> Launch | None:
    """The channel's most recently started launch, closed or not."""
    return await session.scalar(
        select(Launch)
        .where(Launch.channel_id == channel_id)
        .order_by(Launch.started_at.desc(), Launch.id.desc())
        .limit(1)
    )


# The largest id a launch can have (Launch.id is a 32-bit integer on PostgreSQL).
MAX_ID = 2**31 - 1


async def find_launch(*, session: AsyncSession, ref: str, channel_id: str | None = None) -> Launch:
    """A launch by id (``12`` or ``#12``) or by exact name (the newest of that name). Not found,
    the message echoes the reference as given (``#99`` stays ``#99``). ``channel_id``: only that
    channel's launches (asked from Slack, a private war room's launch is not shown elsewhere; the
    command line, run by the operator, sees every launch)."""
    typed = ref.strip()
    wanted = typed.lstrip("#")
    query = select(Launch)
    if channel_id is not None:
        query = query.where(Launch.channel_id == channel_id)
    if wanted.isascii() and wanted.isdigit():
        # ASCII only ("²".isdigit() is true, int("²") fails); an id past the column's range
        # (a 32-bit integer on PostgreSQL) names no launch rather than failing the query.
        number = int(wanted)
        query = query.where(Launch.id == (number if number <= MAX_ID else -1))
    else:
        query = query.where(Launch.name == wanted).order_by(Launch.id.desc()).limit(1)
    launch = await session.scalar(query)
    if launch is None:
        where = " in this channel" if channel_id is not None else ""
        raise NotFound(f"There is no launch called “{escape(typed)}”{where}.")
    return launch


async def incident_launch(*, session: AsyncSession, channel_id: str) -> Launch:
    """The channel's active launch, else its most recent one: an incident the night after a launch
    closed still belongs to it."""
    launch = await active_launch(session=session, channel_id=channel_id)
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


async def card_ts(*, session: AsyncSession, launch_id: int) -> str | None:
    """The launch card's ts, to thread replies under it (None until the card is posted)."""
    return await session.scalar(
        select(SlackMessage.ts).where(
            SlackMessage.launch_id == launch_id, SlackMessage.kind == "card"
        )
    )
