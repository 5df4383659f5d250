"""Pure Block Kit builders for the go-live sequence: the card and status lines, stage announcements,
holds, reminders, refusals and the rollback criteria reference."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.checklist.state import PhaseState
from bot.core.kit import MessageView, context_block, mention, mrkdwn_text, slack_date
from bot.core.mrkdwn import escape
from bot.golive.gate import Blockers
from bot.golive.state import GoLiveView, TrafficView
from bot.golive.steps import Step

ACTION_WORDS = {"advance": "Advanced", "rollback": "Rolled back", "rollback_all": "Rolled back all"}


def duration(minutes: float) -> str:
    minutes = int(round(minutes))
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h" + (f" {rest} min" if rest else "")


def step_label(view: GoLiveView, number: int) -> str:
    if number <= 0:
        return "not started · 0% live"
    step = view.steps[number - 1]
    return f"Step {number}/{view.total} · {escape(step.title)} · {step.weight}% live"


def _soak_text(step: Step) -> str:
    return f"soak {duration(step.soak_minutes)}" if step.soak_minutes else "no soak"


def status_line(view: GoLiveView, now: datetime) -> str:
    """One line for the card's top and /launch status: where the rollout stands."""
    step = view.current
    if step is None:
        first = view.steps[0] if view.steps else None
        nxt = f" · next: {escape(first.title)} ({_soak_text(first)})" if first else ""
        line = f"🛫 *Go-live not started* · 0% live{nxt}"
        unknown = traffic_unknown_line(view)
        return line if unknown is None else f"{line}\n{unknown}"
    soaked = view.soaked(now).total_seconds() / 60
    soak = (
        f"soaked {duration(soaked)} of {duration(step.soak_minutes)}"
        if step.soak_minutes
        else "no soak"
    )
    if view.completed_at is not None:
        line = f"✅ *Rollout complete* · {step.weight}% live since {slack_date(view.completed_at)}"
    else:
        line = f"⏩ *{step_label(view, view.step)}* · {soak}"
    unknown = traffic_unknown_line(view)
    return line if unknown is None else f"{line}\n{unknown}"


def traffic_unknown_line(view: GoLiveView) -> str | None:
    """Said wherever the stage is shown, until a later stage change is answered: the stage's
    weight is what was recorded, not what is known to be live."""
    request = view.unknown_move
    if request is None:
        return None
    return (
        f"❓ *Live traffic UNKNOWN*: the move to *{step_label(view, request.to_step)}* "
        f"({ACTION_WORDS[request.action].lower()} by {_by(request)}, "
        f"{slack_date(request.completed_at or request.created_at)}) got no answer — "
        + (
            f"live traffic may be at {request.weight}% or still at {request.previous_weight}%."
            if request.weight != request.previous_weight
            else f"{request.weight}% live either way, the router's stage is not known."
        )
        + " Check the deploy tooling; the next stage change asks the router again."
    )


def hold_line(view: GoLiveView) -> str | None:
    if view.held_since is None:
        return None
    who = f" by {mention(view.held_by_id)}" if view.held_by_id else ""
    return (
        f"⏸️ *ON HOLD* since {slack_date(view.held_since)}{who}: "
        f"{escape(view.hold_reason or 'no reason given')}"
    )


def blockers_text(blockers: Blockers) -> str:
    lines = [f"• {b}" for b in blockers.hard] + [f"• {b}" for b in blockers.soft]
    return "\n".join(lines)


def refusal(view: GoLiveView, blockers: Blockers, *, forced: bool) -> str:
    """The private answer to an ``advance`` the gate refuses: every unmet condition at once."""
    target = view.next
    what = step_label(view, target.number) if target else "the next step"
    head = f"Not advancing to *{what}* yet. What is missing:\n{blockers_text(blockers)}"
    if forced and blockers.hard:
        return head + "\n`--force` passes open items, soak time and metrics, never these."
    if blockers.soft and not blockers.hard:
        return head + (
            "\nAn allowed role can override open items, soak time and metrics with "
            "`/launch advance --force &lt;reason&gt;` (announced and recorded)."
        )
    return head


def _by(request: TrafficView) -> str:
    return mention(request.requested_by_id, request.requested_by_name)


def stage_changed(
    view: GoLiveView, request: TrafficView, *, launch_name: str, declared: bool
) -> MessageView:
    """The channel announcement of a stage change that happened (traffic moved or declared)."""
    rollback = request.action != "advance"
    loud = "<!here> " if rollback else ""
    icon = "⏪" if rollback else "✅" if request.to_step == view.total else "⏩"
    label = step_label(view, request.to_step)
    step = view.steps[request.to_step - 1] if request.to_step > 0 else None
    soak = f" · {_soak_text(step)}" if step is not None and not rollback else ""
    lines = [
        f"{loud}{icon} *{ACTION_WORDS[request.action]}:* *{label}*{soak} — "
        f"{escape(launch_name)}, by {_by(request)}"
        f" ({request.previous_weight}% → {request.weight}% live)"
    ]
    if request.reason:
        lines.append(f"Reason: {escape(request.reason)}")
    if request.forced:
        lines.append("⚠️ *Forced* past the gate (recorded).")
    if declared:
        lines.append(
            "No traffic webhook is configured: recorded as declared — traffic is moved by your "
            "deploy tooling."
        )
    elif request.http_status is not None:
        lines.append(f"Traffic webhook answered HTTP {request.http_status}.")
    text = "\n".join(lines)
    return MessageView(text=text, blocks=[{"type": "section", "text": mrkdwn_text(text)}])


def traffic_unconfirmed(
    view: GoLiveView,
    request: TrafficView,
    *,
    call: str,
    unknown: bool = False,
    never_sent: bool = False,
) -> MessageView:
    """Traffic did not move (or nobody knows whether it did): the stage stays as it was.

    Three cases read differently: ``never_sent`` (stored, then the bot stopped before calling the
    webhook: traffic certainly did not move), ``unknown`` (sent, and no answer came: a try timed
    out or the bot stopped before the answer, so traffic may have moved) and a webhook that said no
    (or could not be reached)."""
    target = step_label(view, request.to_step)
    stays = step_label(view, view.step)
    if unknown:
        head = (
            f"<!here> ❓ *UNKNOWN* whether traffic moved to *{target}*: "
            f"{_error_and_tries(request, 'no answer')}. "
            "Check the deploy tooling: traffic may or may not have moved."
        )
    elif never_sent:
        head = (
            f"<!here> ⚠️ *Traffic not moved* to *{target}*: not sent: the bot stopped before "
            "calling the traffic webhook, so nothing was asked of it."
        )
    else:
        status = f"HTTP {request.http_status}" if request.http_status else "no answer"
        head = (
            f"<!here> ⚠️ *Traffic not moved* to *{target}*: {status} — "
            f"{_error_and_tries(request, 'failed')}"
        )
    text = f"{head}\nThe stage stays *{stays}*. Call: {call}"
    return MessageView(text=text, blocks=[{"type": "section", "text": mrkdwn_text(text)}])


def _error_and_tries(request: TrafficView, default: str) -> str:
    """The webhook's error, escaped, and how many tries it took (said once: an error from the
    last of the retries already ends "(after 3 tries)")."""
    error = request.error or default
    tries = f" (after {request.tries} tries)" if request.tries > 1 else ""
    return escape(error if error.endswith(tries) else error + tries)


def held(view: GoLiveView, *, by: str, reason: str, launch_name: str) -> MessageView:
    text = (
        f"<!here> ⏸️ *ON HOLD* — {escape(launch_name)} at *{step_label(view, view.step)}*, by "
        f"{by}: {escape(reason)}\nThe soak clock is stopped; `/launch resume` goes on."
    )
    return MessageView(text=text, blocks=[{"type": "section", "text": mrkdwn_text(text)}])


def resumed(view: GoLiveView, *, by: str, held_minutes: float) -> MessageView:
    text = (
        f"▶️ *Resumed* at *{step_label(view, view.step)}* by {by} after "
        f"{duration(held_minutes)} on hold (not counted as soak)."
    )
    return MessageView(text=text, blocks=[{"type": "section", "text": mrkdwn_text(text)}])


def reminder(
    title: str, minutes: int, *, due_at: datetime, sent_at: datetime, late_after: float = 60.0
) -> MessageView:
    """``late_after``: bot seconds past due after which the reminder says it is late."""
    late = ""
    if (sent_at - due_at).total_seconds() > late_after:
        late = f" (posted {slack_date(sent_at)}, due {slack_date(due_at)}: the bot was down)"
    text = (
        f"⏰ *{escape(title)}* has soaked {duration(minutes)} — `/launch advance` when ready{late}"
    )
    return MessageView(text=text, blocks=[{"type": "section", "text": mrkdwn_text(text)}])


def rollback_criteria(criteria: Sequence[PhaseState]) -> MessageView:
    """The template's rollback criteria, as a reference (posted when the go-live sequence starts
    and with every rollback's answer)."""
    lines = ["📕 *Rollback criteria* (from the checklist)"]
    for phase in criteria:
        for section in phase.sections:
            lines.append(f"*{escape(section.title)}*")
            lines.extend(f"• {escape(item.text)}" for item in section.items)
    text = "\n".join(lines)
    return MessageView(
        text=text,
        blocks=[
            {"type": "section", "text": mrkdwn_text(text)},
            context_block(
                "`/launch rollback &lt;reason&gt;` goes back one step; "
                "`/launch rollback all &lt;reason&gt;` takes live traffic to 0."
            ),
        ],
    )
