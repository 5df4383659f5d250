"""Values bound to where they were clicked: the payload's team must be the installation's, and a
button value or ``private_metadata`` naming a launch must come from that launch's channel.

A button value and a modal's ``private_metadata`` are written by the bot, but Slack hands them
back inside a request the clicker's client builds, and Slack does not tie them to the message they
were on. So a value is only trusted together with where the click came from: a value naming launch
B pressed in channel A is refused (``wrong_channel``), and so is a payload from a team other than
the installation's (``wrong_team``). A mismatch changes nothing, is logged as a warning, and the
person is told privately.

The installation's team is ``SLACK_TEAM_ID`` when set, else what Slack's ``auth.test`` answered
for the bot token (bolt asks once, on the first request, and caches it). When neither is known (an
org-wide Enterprise Grid install answers no single team), the team is not checked, as before; the
channel check still applies.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.errors import NotFound
from bot.core.models import Launch
from bot.core.refusal import Refused

logger = logging.getLogger(__name__)

WRONG_CHANNEL = (
    "That button belongs to a launch in another channel, so it was not used here. Nothing changed."
)
WRONG_LAUNCH = (
    "That button belongs to another launch than this channel's current one, so it was not used. "
    "Nothing changed."
)
WRONG_TEAM = "That request came from another Slack workspace than this bot's. Nothing changed."


class Origin(BaseModel):
    """Where a payload says it comes from: team, channel (none for a modal) and user."""

    model_config = ConfigDict(frozen=True)

    team_id: str | None
    channel_id: str | None
    user_id: str | None

    @classmethod
    def of(cls, body: dict[str, Any]) -> Origin:
        team = body.get("team")
        team_id = team.get("id") if isinstance(team, dict) else body.get("team_id")
        view = body.get("view")
        if team_id is None and isinstance(view, dict):
            team_id = view.get("team_id")
        container = body.get("container") if isinstance(body.get("container"), dict) else {}
        channel = body.get("channel") if isinstance(body.get("channel"), dict) else {}
        channel_id = (container or {}).get("channel_id") or (channel or {}).get("id")
        channel_id = channel_id or body.get("channel_id")
        user = body.get("user") if isinstance(body.get("user"), dict) else {}
        user_id = (user or {}).get("id") or body.get("user_id")
        return cls(
            team_id=str(team_id) if team_id else None,
            channel_id=str(channel_id) if channel_id else None,
            user_id=str(user_id) if user_id else None,
        )


def check_team(origin: Origin, installation_team: str | None) -> None:
    """Refuse a payload from a team other than the installation's (unchecked while unknown)."""
    if installation_team is None or origin.team_id == installation_team:
        return
    logger.warning(
        "refused a request from team %s (installed in %s), user %s, channel %s",
        origin.team_id,
        installation_team,
        origin.user_id,
        origin.channel_id,
    )
    raise Refused("wrong_team", WRONG_TEAM)


def refuse_unbound(
    what: str,
    *,
    named: str,
    of: str,
    here: str,
    user_id: str | None,
    code: str = "wrong_channel",
    message: str = WRONG_CHANNEL,
) -> Refused:
    """The one refusal of a value naming something that does not belong where it was used: logged
    (what, the thing named, where it belongs, where it was used, by whom) and returned to raise."""
    logger.warning("refused %s naming %s (of %s) from %s by %s", what, named, of, here, user_id)
    return Refused(code, message)


async def launch_in_channel(
    session: AsyncSession, launch_id: int, channel_id: str | None, *, what: str, user_id: str
) -> Launch:
    """The launch a value names, if it lives in ``channel_id`` (the payload's channel, or the one
    a modal was opened from); else a logged ``wrong_channel`` refusal."""
    launch = await session.get(Launch, launch_id)
    if launch is None:
        raise NotFound(f"There is no launch #{launch_id}.")
    if launch.channel_id != channel_id:
        raise refuse_unbound(
            what,
            named=f"launch {launch_id}",
            of=f"channel {launch.channel_id}",
            here=f"channel {channel_id}",
            user_id=user_id,
        )
    return launch
