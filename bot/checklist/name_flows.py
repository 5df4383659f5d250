"""Names on the checklist: what someone did while Slack's display name for them was not cached yet
(a tick, a waiver, a proof) is stored under their handle, and shows the display name once
``users.info`` answers (``ClickApplier.name_later``, one mechanism for all of them)."""

from __future__ import annotations

from bot.core.events import Actor
from bot.deps import Deps


def name_later(deps: Deps, actor: Actor, launch_id: int, *, what: str) -> None:
    """After the ack: rename ``actor``'s ticks and waivers in ``launch_id`` to their display name,
    in the background, unless the name they were stored under is that name already."""
    if deps.identity.cached_name(actor.user_id) == actor.name:
        return
    deps.tasks.spawn(
        deps.clicks.name_later(actor.user_id, {launch_id}), name=f"{what}-display-name"
    )
