"""/launch signoff: the sign-off table (only for you), or ``approve <role> [--anyway] [comment]`` /
``revoke <role> <reason>``.

The buttons on the card are the usual way; the command adds what a button cannot carry: a comment
with an approval, or a revocation when the form cannot be opened. Authorization is by the verified
``user_id`` of the command, exactly as for the buttons, and a refused attempt is recorded. While the
current phase has open items, an approval asks first, as the Approve button's confirm dialog does:
nothing is recorded until it is typed again with ``--anyway`` (or Approve is pressed).
"""

from __future__ import annotations

from bot.core.errors import BadInput, NotFound
from bot.core.events import Actor
from bot.core.launches import active_launch
from bot.core.mrkdwn import escape
from bot.core.refusal import warning
from bot.core.schemas import CommandReply, LaunchCommand, is_option
from bot.deps import Deps
from bot.launch.blocks import state_alarm
from bot.launch.state import load_state
from bot.signoffs.blocks import approve_anyway, signoff_view
from bot.signoffs.flows import SignOffAttempt, after_signoff, approve_signoff, revoke_signoff
from bot.signoffs.log import EMPTY_LOG, find_role
from bot.signoffs.rules import SignOffOutcome

USAGE = "`/launch signoff` · `/launch signoff approve &lt;role&gt; [--anyway] [comment]` · `/launch signoff revoke &lt;role&gt; &lt;reason&gt;`"


async def run(cmd: LaunchCommand, deps: Deps) -> CommandReply:
    action = cmd.args[0].lower() if cmd.args else "show"
    async with deps.db.read_sessions() as session:
        launch = await active_launch(session=session, channel_id=cmd.channel_id)
        if launch is None:
            raise NotFound(
                "There is no active launch in this channel. Start one with `/launch start &lt;name&gt;`."
            )
        state = await load_state(session=session, launch_id=launch.id)
    if action in ("show", "list", "status"):
        alarm = state_alarm(state)
        return CommandReply.of(signoff_view(state, deps.config.roles, alarm=alarm))
    if action not in ("approve", "revoke"):
        raise BadInput(f"`{escape(action)}` is not a sign-off action. Use {USAGE}.")
    if len(cmd.args) < 2:
        raise BadInput(f"Name the role, e.g. `/launch signoff {action} cto`.")
    role = find_role(state.sign_offs or EMPTY_LOG, cmd.args[1])
    words = cmd.args[2:]
    anyway = action == "approve" and any(is_option(w, "anyway") for w in words)
    text = " ".join(w for w in words if not (anyway and is_option(w, "anyway")))
    identity = deps.identity
    actor = identity.actor(cmd.user_id, cmd.user_name)
    # trigger_id is unique per invocation: the same request delivered twice is recorded once.
    dedup_key = f"slash:{cmd.trigger_id}:{action}" if cmd.trigger_id else None
    attempt = SignOffAttempt(
        launch_id=state.id,
        role_id=role.role_id,
        actor=actor,
        channel_id=cmd.channel_id,
        source=f"slash:{cmd.trigger_id}",
        dedup_key=dedup_key,
    )
    if action == "approve":
        outcome = await approve_signoff(deps, attempt, comment=text or None, open_items_ok=anyway)
        if outcome.status == "unconfirmed":
            return CommandReply.of(
                approve_anyway(
                    state,
                    deps.config.roles,
                    role_id=role.role_id,
                    question=outcome.message,
                    comment=text or None,
                )
            )
    else:
        if not text.strip():
            raise BadInput(
                f"Give a reason, e.g. `/launch signoff revoke {role.role_id} &lt;reason&gt;`."
            )
        outcome = await revoke_signoff(deps, attempt, reason=text)
    return _reply(deps, outcome, actor)


def _reply(deps: Deps, outcome: SignOffOutcome, actor: Actor) -> CommandReply:
    if outcome.status == "duplicate":
        return CommandReply(text=warning(outcome.message))

    async def after_the_ack() -> CommandReply | None:
        after_signoff(deps, outcome, actor=actor)
        return None

    icon = ":white_check_mark:" if outcome.status == "approved" else ":leftwards_arrow_with_hook:"
    return CommandReply(text=f"{icon} {outcome.message}", follow_up=after_the_ack)
