"""Pure Block Kit builders for the launch as a whole: the launch card and the /launch status view."""

from __future__ import annotations

from collections.abc import Mapping

from bot.checklist.blocks import phase_label, phase_line
from bot.core.config import RoleConfig
from bot.core.kit import (
    Block,
    MessageView,
    context_block,
    header_block,
    mention,
    mrkdwn_text,
    slack_date,
)
from bot.core.mrkdwn import escape as escape
from bot.golive import blocks as golive_blocks
from bot.golive.gate import advance_blockers
from bot.launch.state import LaunchState
from bot.signoffs.blocks import signoff_table


def _next_step(state: LaunchState) -> str:
    if not state.is_active:
        closed = f"🔒 Closed by {mention(state.closed_by_id)}"
        return closed + (f" · {slack_date(state.closed_at)}" if state.closed_at else "")
    current = state.current
    if current.completed_at is None:
        open_count = current.total - current.done
        return (
            f"*Now:* {phase_label(current)} — {open_count} item(s) open. Tick them in the thread."
        )
    nxt = state.next_phase()
    if nxt is None:
        return "🎉 *Every phase is complete.*"
    return f"✅ {phase_label(current)} is complete. Type `/launch phase next` to post {phase_label(nxt)}."


def launch_card(
    state: LaunchState,
    *,
    roles: Mapping[str, RoleConfig] | None = None,
    time_scale: float = 1.0,
) -> MessageView:
    """The launch's parent message: who/when, progress per phase, the current step, the sign-offs
    (holders and required counts from ``roles``, the config's ``[roles.*]``)."""

    intro = (
        f"*Launch #{state.id}* · started by {mention(state.started_by_id, state.started_by_name)}"
        f" · {slack_date(state.started_at)}"
    )
    progress = "\n".join(phase_line(state, p) for p in state.checklist_phases)
    blocks: list[Block] = [
        header_block(f"🚀 {state.name}"),
        {"type": "section", "text": mrkdwn_text(intro)},
        {"type": "section", "text": mrkdwn_text(progress)},
        {"type": "section", "text": mrkdwn_text(_next_step(state))},
        *_golive_lines(state),
        *signoff_table(state, roles or {}),
        *_killswitch_line(state),
        context_block(
            "The checklist is in this message's thread · `/launch status` for what is open"
            + (f" · ⏱️ rehearsal clock: {time_scale:g}× real time" if time_scale != 1 else "")
        ),
    ]
    return MessageView(text=f"Launch: {escape(state.name)}", blocks=blocks)


def _killswitch_line(state: LaunchState) -> list[Block]:
    """The kill switch's recorded state, once it has one (armed, disarmed or fired)."""
    shown = state.killswitch
    if shown is None:
        return []
    by = mention(shown.changed_by_id) if shown.changed_by_id else None
    at = f" · {slack_date(shown.changed_at)}" if shown.changed_at else ""
    if shown.armed:
        text = "🔴 Kill switch *armed*" + (f" (by {by}{at})" if by else "")
    elif by:
        text = f"⚪ Kill switch *disarmed* by {by}{at}"
    else:
        text = "⚪ Kill switch *not armed*"
    last = shown.last_fire
    if last is not None:
        outcome = {
            "confirmed": "✅ fired, confirmed",
            "failed": "❌ last fire FAILED",
            "not_sent": "⚠️ last fire never sent",
        }
        text += f" · {outcome.get(last.status, '⚠️ last fire unconfirmed')}"
        text += f" {slack_date(last.completed_at)}" if last.completed_at else ""
    return [context_block(text)]


def status_view(
    state: LaunchState,
    *,
    card_link: str | None,
    roles: Mapping[str, RoleConfig] | None = None,
) -> MessageView:
    """The answer to ``/launch status``: progress per phase and section and what is still open."""
    current = state.current
    blocks: list[Block] = [
        header_block(f"Status · {state.name}"),
        {
            "type": "section",
            "text": mrkdwn_text("\n".join(phase_line(state, p) for p in state.checklist_phases)),
        },
    ]
    per_section = "\n".join(f"• {escape(s.title)} — {s.done}/{s.total}" for s in current.sections)
    blocks.append(
        {
            "type": "section",
            "text": mrkdwn_text(f"{phase_label(current)} by section:\n{per_section}"),
        }
    )
    open_lines: list[str] = []
    for section in current.sections:
        for group in section.groups:
            still_open = [i for i in group.items if not i.checked]
            if still_open:
                where = escape(section.title) + (f" › {escape(group.title)}" if group.title else "")
                names = ", ".join(escape(i.text) for i in still_open)
                open_lines.append(f"• _{where}_: {names}")
    if open_lines and state.is_active:
        text = f"*Still open in {escape(current.title)}* ({current.total - current.done}):\n"
        text += "\n".join(open_lines)
        blocks.append({"type": "section", "text": mrkdwn_text(text)})
    blocks.append({"type": "section", "text": mrkdwn_text(_next_step(state))})
    blocks.extend(_golive_status(state, roles or {}))
    link = f"<{card_link}|Open the launch card>" if card_link else "The card is being posted."
    blocks.append(context_block(f"Launch #{state.id} · {link}"))
    return MessageView(text=f"Status of {escape(state.name)}", blocks=blocks)


def _golive_lines(state: LaunchState) -> list[Block]:
    """The go-live step, its share of live traffic, the soak and any hold, once the launch has one."""
    view = state.golive
    if view is None:
        return []
    now = state.as_of or state.started_at
    lines = [golive_blocks.status_line(view, now)]
    step = view.current
    if step is not None and step.soak_minutes and view.completed_at is None and not view.on_hold:
        ends = now + view.soak_left(now)
        lines.append(f"Soak ends {slack_date(ends)}")
    hold = golive_blocks.hold_line(view)
    if hold:
        lines.append(hold)
    return [{"type": "section", "text": mrkdwn_text("\n".join(lines))}]


def _golive_status(state: LaunchState, roles: Mapping[str, RoleConfig]) -> list[Block]:
    """Where the rollout stands and everything that blocks its next step, as of ``state.as_of``."""
    view = state.golive
    if view is None or not state.is_active:
        return []
    now = state.as_of or state.started_at
    lines = [golive_blocks.status_line(view, now)]
    hold = golive_blocks.hold_line(view)
    if hold:
        lines.append(hold)
    if view.next is not None:
        blockers = advance_blockers(
            view, phases=state.phases, sign_offs=state.sign_offs, roles=roles, now=now
        )
        target = golive_blocks.step_label(view, view.next.number)
        if blockers.clear:
            lines.append(f"Next: *{target}* — nothing blocks it: `/launch advance`")
        else:
            lines.append(f"Next: *{target}* — blocked by:\n{golive_blocks.blockers_text(blockers)}")
    return [{"type": "section", "text": mrkdwn_text("\n".join(lines))}]
