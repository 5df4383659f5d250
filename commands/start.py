"""/launch start <name> [--on YYYY-MM-DD]: create the launch from the template and queue its card and first phase (on its date, if that is still ahead).

``--on`` is an option wherever it stands, never part of the name: ``/launch start Trading v2 --on
2026-12-09`` starts "Trading v2" with launch day (T-0) on Dec 9 in ``[schedule] timezone``, and the
calendar posts its dated phases and first-week checks on their days. A bad or past date is refused
with the usage line before anything is written, and so is any date for a template without dated
phases (it would schedule nothing).
"""

from __future__ import annotations

import re
from datetime import date

from bot.calendar.blocks import started_text
from bot.calendar.rules import check_dated, parse_launch_date, schedule_posts
from bot.checklist.lifecycle import start_launch, validate_name
from bot.checklist.schedule import local_today
from bot.core.errors import BadInput, Conflict
from bot.core.kit import notice
from bot.core.launches import active_launch
from bot.core.mrkdwn import escape
from bot.core.schemas import CommandReply, LaunchCommand
from bot.deps import Deps
from bot.golive.rules import mark_step_items
from bot.launch.state import load_state

# ``--on``, or ``—on`` / ``–on``: Slack clients with smart punctuation turn a typed ``--`` into an
# em or en dash, and the option must never end up in the launch's name.
_ON = re.compile(r"(?:^|\s)(?:--|[—–])on(?:=|\s+|$)(\S*)", re.IGNORECASE)
# Any other word that looks like an option (``--forse``, ``-on``, ``——on``): a typo of ``--on`` or
# an option ``start`` does not have, refused rather than made part of the launch's name.
_OPTION_LIKE = re.compile(r"(?:^|\s)((?:--+|[—–]+)[^\W\d_]\S*|-on(?:=\S*)?)(?=\s|$)", re.IGNORECASE)


def split_on(rest: str, *, today: date) -> tuple[str, date | None]:
    """The launch name and the ``--on`` date, if any (one ``--on``; a value is required). Any
    other option-like word is refused, never kept as part of the name."""
    found = list(_ON.finditer(rest))
    if len(found) > 1:
        raise BadInput("Give `--on` once: `/launch start &lt;name&gt; --on YYYY-MM-DD`.")
    name = rest
    if found:
        match = found[0]
        if not match.group(1) or match.group(1).startswith(("-", "—", "–")):
            raise BadInput("`--on` needs launch day as YYYY-MM-DD, e.g. `--on 2026-12-09`.")
        name = (rest[: match.start()] + " " + rest[match.end() :]).strip()
    unknown = _OPTION_LIKE.search(name)
    if unknown is not None:
        raise BadInput(
            f"`{escape(unknown.group(1))}` is not an option of `/launch start`: its only option is "
            "`--on YYYY-MM-DD`. Nothing was started."
        )
    if not found:
        return name, None
    return name, parse_launch_date(found[0].group(1), today=today)


async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
    rule = deps.config.schedule
    now = deps.clock()
    raw_name, launch_date = split_on(cmd.rest, today=local_today(now, rule))
    name = validate_name(raw_name)
    if launch_date is not None:
        check_dated(deps.template)
    async with deps.db.read_sessions() as session:
        existing = await active_launch(session=session, channel_id=cmd.channel_id)
        if existing is not None:
            state = await load_state(session=session, launch_id=existing.id)
            card = state.card
            link = f" <{card.permalink}|Open its card>." if card and card.permalink else ""
            raise Conflict(
                f"This channel already has an active launch: *{escape(existing.name)}* (#{existing.id}).{link}"
                " Close it with `/launch close` before starting another."
            )
    async with deps.db.sessions.begin() as session:
        launch = await start_launch(
            session=session,
            template=deps.template,
            name=name,
            team_id=cmd.team_id,
            channel_id=cmd.channel_id,
            actor=deps.identity.actor(cmd.user_id, cmd.user_name),
            at=now,
            source=f"slash:{cmd.trigger_id}",
            launch_date=launch_date,
            schedule=rule,
        )
        posting, dated = "its card and checklist", ""
        if launch_date is not None:
            scheduled = await schedule_posts(
                session=session, launch_id=launch.id, rule=rule, at=now
            )
            dated = started_text(launch_date, rule.timezone, scheduled)
            if scheduled.first_phase is not None:
                posting = "its card"
        # Go-live steps that are items of their own are ticked by the bot, never by hand.
        await mark_step_items(session=session, launch_id=launch.id)
    deps.metrics.inc("launchbot_launches_started_total")
    return CommandReply.of(
        notice(
            f":rocket: Started *{escape(launch.name)}* (launch #{launch.id}). Posting {posting} here."
            + dated
        ),
        launch_id=launch.id,
    )
