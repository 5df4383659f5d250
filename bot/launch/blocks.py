"""Pure Block Kit builders for the launch as a whole: the launch card and the /launch status view."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.calendar import blocks as calendar_blocks
from bot.checklist.blocks import WAIVE_MARKS, outcome_text, phase_label, phase_line
from bot.checklist.lifecycle import CLOSE_OUTCOMES
from bot.checklist.state import GroupState, ItemState, SectionState
from bot.core.config import RoleConfig
from bot.core.kit import (
    Block,
    MessageView,
    StateAlarm,
    context_block,
    header_block,
    line_sections,
    mention,
    mrkdwn_text,
    section_block,
    slack_date,
)
from bot.core.mrkdwn import escape as escape
from bot.golive import blocks as golive_blocks
from bot.golive.gate import advance_blockers
from bot.incidents.killswitch_blocks import UNRESOLVED_HINT, fire_alarm
from bot.launch.state import LaunchState
from bot.signoffs.blocks import signoff_table
from bot.signoffs.log import board
from bot.watch.blocks import card_line
from bot.watch.state import unhealthy_gate_rules


def _next_step(state: LaunchState) -> str:
    if not state.is_active:
        closed = f"🔒 Closed by {mention(state.closed_by_id)}"
        closed += f" · {slack_date(state.closed_at)}" if state.closed_at else ""
        return closed + outcome_text(state.close_outcome, state.close_note)
    current = state.current
    waiting = (
        calendar_blocks.waiting_line(state.calendar, current)
        if state.calendar is not None
        else None
    )
    if waiting is not None:
        return waiting
    if current.completed_at is None:
        open_count = current.total - current.done
        if open_count == 0:
            # Everything posted is done, but days of checks are still to come (a day section
            # counts once posted): the phase is not complete yet.
            return (
                f"*Now:* {phase_label(current)} — everything posted so far is done; its next "
                "checks are posted on their day."
            )
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
    watched: Sequence[str] = (),
) -> MessageView:
    """The launch's parent message: who/when, progress per phase, the current step, the sign-offs
    (holders and required counts from ``roles``, the config's ``[roles.*]``); ``watched``: the
    metric rules the config names (one not evaluated yet reads unknown)."""

    intro = (
        f"*Launch #{state.id}* · started by {mention(state.started_by_id, state.started_by_name)}"
        f" · {slack_date(state.started_at)}"
    )
    progress = "\n".join(phase_line(state, p) for p in state.checklist_phases)
    blocks: list[Block] = [
        header_block(f"🚀 {state.name}"),
        {"type": "section", "text": mrkdwn_text(state_line(state, roles or {}))},
        {"type": "section", "text": mrkdwn_text(intro)},
        {"type": "section", "text": mrkdwn_text(progress)},
        *_calendar_lines(state),
        {"type": "section", "text": mrkdwn_text(_next_step(state))},
        *_golive_lines(state, watched),
        *signoff_table(state, roles or {}, alarm=state_alarm(state)),
        *_killswitch_line(state),
        context_block(
            (
                "The checklist is in this message's thread · `/launch status` for what is open"
                if state.is_active
                else "The checklist in this message's thread is read-only"
            )
            + (f" · ⏱️ rehearsal clock: {time_scale:g}× real time" if time_scale != 1 else "")
        ),
    ]
    return MessageView(text=f"Launch: {escape(state.name)}", blocks=blocks)


def _calendar_lines(state: LaunchState, *, today: bool = False) -> list[Block]:
    """Launch day, what is due next and the current phase's progress; in /launch status also
    today's daily checks."""
    view = state.calendar
    if view is None or not state.is_active:
        return []
    now = state.as_of or state.started_at
    lines = [calendar_blocks.calendar_line(view, state.current, now=now)]
    if today:
        line = calendar_blocks.today_line(view, state.phases, now=now)
        if line:
            lines.append(line)
    return [{"type": "section", "text": mrkdwn_text("\n".join(lines))}]


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
            "pending": "🛑 firing, no answer yet",
            "sending": "🛑 firing, no answer yet",
            "confirmed": "✅ fired, confirmed",
            "failed": "❌ last fire FAILED",
            "not_sent": "⚠️ last fire never sent",
        }
        text += f" · {outcome.get(last.status, '⚠️ last fire unconfirmed')}"
        text += f" {slack_date(last.completed_at)}" if last.completed_at else ""
        if last.completed_at is not None and shown.unresolved_fire is not None:
            text += f" · {UNRESOLVED_HINT}"
    return [context_block(text)]


def status_view(
    state: LaunchState,
    *,
    card_link: str | None,
    roles: Mapping[str, RoleConfig] | None = None,
    all_items: bool = False,
    gate_rules: Sequence[str] = (),
    watched: Sequence[str] = (),
) -> MessageView:
    """The answer to ``/launch status``: where the launch stands in a few lines (state, phases, the
    first open items, go-live step and what blocks it, sign-offs, kill switch, open escalations).
    ``all_items`` (``/launch status items``) lists every open item of the current phase instead."""
    roles = roles or {}
    current = state.current
    blocks: list[Block] = [
        header_block(f"Status · {state.name}"),
        {"type": "section", "text": mrkdwn_text(state_line(state, roles))},
        {
            "type": "section",
            "text": mrkdwn_text("\n".join(phase_line(state, p) for p in state.checklist_phases)),
        },
    ]
    blocks.extend(_calendar_lines(state, today=True))
    # Sections of a later day (the first week's checks) count from the day they are posted.
    shown = current.counted_sections
    per_section = " · ".join(f"{escape(x.title)} — {x.done}/{x.total}" for x in shown)
    blocks.append(
        {
            "type": "section",
            "text": mrkdwn_text(f"{phase_label(current)} by section: {per_section}"),
        }
    )
    still_open = [
        (section, group, item)
        for section in shown
        for group in section.groups
        for item in group.items
        if not item.done
    ]
    if still_open and state.is_active:
        blocks.extend(_open_items(current.title, still_open, all_items))
    waived = [item for section in shown for item in section.items if item.waived is not None]
    if waived:
        blocks.extend(waived_sections(current.title, waived))
    blocks.append({"type": "section", "text": mrkdwn_text(_next_step(state))})
    blocks.extend(_golive_status(state, roles, gate_rules, watched))
    blocks.append({"type": "section", "text": mrkdwn_text(_glance(state, roles))})
    link = f"<{card_link}|Open the launch card>" if card_link else "The card is being posted."
    blocks.append(context_block(f"Launch #{state.id} · {link}"))
    return MessageView(text=f"Status of {escape(state.name)}", blocks=blocks)


# Open items named in /launch status before "and N more".
STATUS_OPEN_ITEMS = 5
# Section blocks /launch status items may use for the open items (Slack: 50 blocks a message, the
# rest of the status view takes at most 15), each up to 3,000 characters: hundreds of items.
STATUS_ITEM_BLOCKS = 20


def _open_items(
    phase_title: str, still_open: list[tuple[SectionState, GroupState, ItemState]], all_items: bool
) -> list[Block]:
    head = f"*Still open in {escape(phase_title)}* ({len(still_open)}):"
    if all_items:
        lines = [head]
        for section, group, item in still_open:
            where = escape(section.title) + (f" › {escape(group.title)}" if group.title else "")
            lines.append(f"• _{where}_: {escape(item.text)}")
        return line_sections(
            lines,
            max_blocks=STATUS_ITEM_BLOCKS,
            more=lambda n: f"… and {n} more, not shown: `/launch report` lists every item",
        )
    shown = ", ".join(escape(item.text) for _, _, item in still_open[:STATUS_OPEN_ITEMS])
    more = len(still_open) - STATUS_OPEN_ITEMS
    tail = f" and {more} more — `/launch status items` lists them all" if more > 0 else ""
    return [section_block(f"{head} {shown}{tail}")]


def waived_sections(phase_title: str, waived: list[ItemState]) -> list[Block]:
    """The current phase's waived items, apart from ticked ones: struck through, who and why (a
    long reason takes its own section rather than being cut)."""
    lines = [
        f"• ~{escape(i.text)}~ — {WAIVE_MARKS.get(i.waived or '', 'waived')} by "
        f"{mention(i.waived_by_id, i.waived_by_name)}: {escape(i.waive_reason or '')}"
        for i in waived[:STATUS_OPEN_ITEMS]
    ]
    more = len(waived) - STATUS_OPEN_ITEMS
    if more > 0:
        lines.append(f"… and {more} more (the report lists them all)")
    head = f"*Waived in {escape(phase_title)}* ({len(waived)}):"
    return line_sections([head, *lines], max_blocks=STATUS_OPEN_ITEMS + 2)


def _glance(state: LaunchState, roles: Mapping[str, RoleConfig]) -> str:
    """Sign-offs, the kill switch and open escalations, one line each."""
    log = state.sign_offs
    rows = board(log, roles) if log is not None else ()
    current_go = log.current_go if log is not None else None
    alarm = state_alarm(state)
    if current_go is None:
        go = "not GO"
    elif alarm is not None:
        go = f"GO #{current_go.number} given, then {alarm.mark} {alarm.short}"
    else:
        go = "GO"
    lines = [f"*Sign-offs:* {sum(1 for r in rows if r.approved)}/{len(rows)} · {go}"]
    lines.append(_killswitch_glance(state))
    open_escalations = [e for e in state.escalations.values() if e.status != "resolved"]
    if open_escalations:
        listed = ", ".join(
            f"#{e.id} {e.severity.upper()} {escape(e.summary)} ({e.status})"
            for e in open_escalations[:3]
        )
        lines.append(f"*Open escalations:* {len(open_escalations)} — {listed}")
    return "\n".join(lines)


def _killswitch_glance(state: LaunchState) -> str:
    """Armed or not (by whom, when) and the last fire (when, by whom, how it ended). A launch whose
    kill switch was never armed reads "not armed": unknown is never shown as safe."""
    summary = state.killswitch
    if summary is None:
        return "*Kill switch:* not armed"
    by = mention(summary.changed_by_id) if summary.changed_by_id else None
    at = f" {slack_date(summary.changed_at)}" if summary.changed_at else ""
    if summary.armed:
        text = "*Kill switch:* armed" + (f" by {by}{at}" if by else "")
    else:
        text = "*Kill switch:* not armed" + (f" (disarmed by {by}{at})" if by else "")
    fire = summary.last_fire
    if fire is not None:
        status = "firing, no answer yet" if fire.status in ("pending", "sending") else fire.status
        text += (
            f" · last fired {slack_date(fire.completed_at or fire.created_at)} by "
            f"{mention(fire.requested_by_id, fire.requested_by_name)}: {escape(status)}"
        )
    return text


def _golive_lines(state: LaunchState, watched: Sequence[str] = ()) -> list[Block]:
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
    metrics = card_line(state.metrics, configured=watched, on_card=True)
    if metrics:
        lines.append(metrics)
    return [{"type": "section", "text": mrkdwn_text("\n".join(lines))}]


def _golive_status(
    state: LaunchState,
    roles: Mapping[str, RoleConfig],
    gate_rules: Sequence[str] = (),
    watched: Sequence[str] = (),
) -> list[Block]:
    """Where the rollout stands and everything that blocks its next step, as of ``state.as_of``."""
    view = state.golive
    if view is None or not state.is_active:
        return []
    now = state.as_of or state.started_at
    lines = [golive_blocks.status_line(view, now)]
    hold = golive_blocks.hold_line(view)
    if hold:
        lines.append(hold)
    metrics = card_line(state.metrics, configured=watched)
    if metrics:
        lines.append(metrics)
    if view.next is not None:
        blockers = advance_blockers(
            view,
            phases=state.phases,
            sign_offs=state.sign_offs,
            roles=roles,
            now=now,
            # As last evaluated; /launch advance queries them again.
            unhealthy_metrics=[
                escape(m) for m in unhealthy_gate_rules(state.metrics, configured=gate_rules)
            ],
        )
        target = golive_blocks.step_label(view, view.next.number)
        if blockers.clear:
            lines.append(f"Next: *{target}* — nothing blocks it: `/launch advance`")
        else:
            lines.append(f"Next: *{target}* — blocked by:\n{golive_blocks.blockers_text(blockers)}")
    return [{"type": "section", "text": mrkdwn_text("\n".join(lines))}]


def state_line(state: LaunchState, roles: Mapping[str, RoleConfig]) -> str:
    """The launch's state in words, first thing on the card: a halted or held launch never reads GO,
    nor does one whose kill switch is firing or did not confirm (``state_alarm``)."""
    if not state.is_active:
        label = CLOSE_OUTCOMES.get(state.close_outcome or "", "")
        return (
            "✅ *CLOSED*"
            + (f" · {escape(label)}" if label else "")
            + (f" · {slack_date(state.closed_at)}" if state.closed_at else "")
        )
    alarm = state_alarm(state)
    if alarm is not None:
        return alarm.line
    view = state.golive
    if view is not None and view.on_hold:
        return f"⏸️ *ON HOLD* ({escape(view.hold_reason or 'no reason given')})"
    log = state.sign_offs
    withdrawn = log is not None and log.current_go is None and bool(log.go)
    if withdrawn:
        return "⛔ *GO WITHDRAWN*"
    if view is not None and view.current is not None and view.completed_at is None:
        step = view.current
        line = f"⏩ *STEP {view.step}/{view.total} {escape(step.title.upper())} · {step.weight}%*"
        unknown = view.unknown_move
        if unknown is not None:
            maybe = (
                f" ({step.weight}% or {unknown.weight}%)" if unknown.weight != step.weight else ""
            )
            line += f" · ❓ *live traffic UNKNOWN*{maybe}"
        return line
    if log is not None and log.current_go is not None:
        return "🟢 *GO*"
    rows = board(log, roles) if log is not None else ()
    done = sum(1 for r in rows if r.approved)
    return f"🟡 *NOT YET GO* ({done}/{len(rows)})"


def state_alarm(state: LaunchState) -> StateAlarm | None:
    """What outranks GO (and NOT YET GO, ON HOLD) wherever the launch's state is shown: HALTED (a
    confirmed fire, not resumed since), else the latest fire while it is not resolved (FIRING…,
    UNKNOWN, FAILED, NOT SENT: ``KillSwitchSummary.unresolved_fire``)."""
    halted = halted_line(state)
    if halted is not None:
        return StateAlarm("🔴", "HALTED", halted, "halted by the kill switch")
    fire = state.killswitch.unresolved_fire if state.killswitch is not None else None
    return fire_alarm(fire) if fire is not None else None


def halted_line(state: LaunchState) -> str | None:
    """The kill switch fired (confirmed) and the rollout has not been resumed since."""
    summary = state.killswitch
    fire = summary.last_fire if summary is not None else None
    if fire is None or fire.status != "confirmed":
        return None
    view = state.golive
    at = fire.completed_at or fire.created_at
    if view is not None and view.started and not view.on_hold:
        # A rollout under way and not on hold: the team resumed after the halt (the fire held it).
        # A rollout completed before the fire was not held (nothing to hold): still halted.
        if view.completed_at is None or view.completed_at > at:
            return None
    return (
        f"🔴 *HALTED* (kill switch fired at {slack_date(at)}, by "
        f"{mention(fire.requested_by_id, fire.requested_by_name)})"
    )
