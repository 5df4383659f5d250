"""Pure Block Kit builders for sign-offs: the sign-off table (card and /launch signoff), its buttons'
confirm dialogs and the revoke modal. The GO message is ``go_blocks``.

Button values carry only IDs (``SignOffValue``): the listener re-reads the launch from the database
and authorizes the clicking user from Slack's verified payload, never from anything in the value.
Approve and Revoke carry Slack's ``confirm`` dialog, so a mis-tap on a phone cannot sign a launch off.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.core.config import RoleConfig
from bot.core.errors import BadInput
from bot.core.ids import ActionId, BlockPrefix, CallbackId, SignOffBlock
from bot.core.kit import (
    Block,
    MessageView,
    StateAlarm,
    mention,
    mrkdwn_text,
    plain_text,
    slack_date,
)
from bot.core.mrkdwn import escape
from bot.signoffs.log import LaunchSignOffs, RoleStatus, SignOffRecord, board, log_of
from bot.signoffs.rules import REASON_MAX, open_items_question

# Slack's published Block Kit limits: confirm title 100, text 300, buttons 30; view title/submit 24.
CONFIRM_TITLE_MAX = 100
CONFIRM_TEXT_MAX = 300
CONFIRM_BUTTON_MAX = 30
VIEW_TITLE_MAX = 24
SECTION_TEXT_MAX = 3000
# The card has its own blocks too and a message holds at most 50: beyond this many roles the rest is
# summarised (each role takes at most two blocks).
MAX_ROLE_ROWS = 18


class SignOffValue(BaseModel):
    """What a sign-off button or the revoke modal carries: which launch and which role. IDs only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    launch_id: int
    role_id: str

    def encode(self) -> str:
        return self.model_dump_json()

    @classmethod
    def decode(cls, raw: str | None) -> SignOffValue:
        try:
            return cls.model_validate_json(raw or "")
        except ValidationError as exc:
            raise BadInput("That sign-off button is not one the bot made.") from exc


class RevokeFormMeta(BaseModel):
    """The revoke modal's ``private_metadata``: the button's launch and role, and the channel the
    button was pressed in (a modal's submission carries no channel of its own)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    launch_id: int
    role_id: str
    channel_id: str

    def encode(self) -> str:
        return self.model_dump_json()

    @classmethod
    def decode(cls, raw: str | None) -> RevokeFormMeta:
        try:
            return cls.model_validate_json(raw or "")
        except ValidationError as exc:
            raise BadInput("That revoke form is not one the bot opened.") from exc


def when(at: datetime) -> str:
    """The time in the reader's own zone, as every time shown in Slack (``kit.slack_date``)."""
    return slack_date(at)


def person_mention(record_user_id: str, name: str | None) -> str:
    """``<@U…>``: the mention Slack renders as the person's current display name (the name stored
    with the record beside it only repeated it, "@carol (carol)"); the stored name if no user id."""
    return mention(record_user_id, name)


def _holders(row: RoleStatus) -> str:
    names = [f"<@{u}>" for u in row.users] + [f"<!subteam^{g}>" for g in row.usergroups]
    return ", ".join(names)


def _approval_line(record: SignOffRecord) -> str:
    line = f"Approved by {person_mention(record.user_id, record.user_name)} · {when(record.at)}"
    if record.comment:
        line += f"\n> {escape(record.comment)}"
    return line


def _revocation_line(record: SignOffRecord, *, earlier: bool = False) -> str:
    assert record.revoked_at is not None
    who = person_mention(record.revoked_by_id or record.user_id, record.revoked_by_name)
    reason = f" — “{escape(record.revoke_reason)}”" if record.revoke_reason else ""
    # Under a newer approval it is history, and must not read as if the approval were revoked.
    label = "Earlier approval revoked" if earlier else "Revoked"
    return f"↩️ {label} by {who} · {when(record.revoked_at)}{reason}"


def role_text(row: RoleStatus) -> str:
    """One row of the table as mrkdwn: the role, its state, who approved or may approve it."""
    title = f"*{escape(row.role.title)}*"
    if row.required > 1:
        title += f" ({len(row.approvals)} of {row.required})"
    lines: list[str] = []
    if row.approved:
        lines.append(f"✅ {title} — " + "\n".join(_approval_line(a) for a in row.approvals))
    elif not row.configured:
        lines.append(
            f"⚠️ {title} — no holder configured, so it cannot be approved "
            f"(add Slack user IDs to `[roles.{escape(row.role.role_id)}]`)"
        )
    else:
        lines.append(f"⏳ {title} — awaiting approval · held by {_holders(row)}")
        lines.extend(_approval_line(a) for a in row.approvals)
    if row.last_revocation is not None:
        lines.append(_revocation_line(row.last_revocation, earlier=row.approved))
    return "\n".join(lines)


def _confirm(title: str, text: str, confirm: str, deny: str, style: str) -> dict[str, Any]:
    return {
        "title": plain_text(title, CONFIRM_TITLE_MAX),
        "text": plain_text(text, CONFIRM_TEXT_MAX),
        "confirm": plain_text(confirm, CONFIRM_BUTTON_MAX),
        "deny": plain_text(deny, CONFIRM_BUTTON_MAX),
        "style": style,
    }


def approve_button(state: LaunchSignOffs, row: RoleStatus) -> dict[str, Any]:
    """Approve, behind a confirm dialog that says what is still open in the current phase: an
    approval is not blocked by open items (the go-live gate is), but nobody approves unaware."""
    signing = (
        f"You are signing off launch #{state.id} “{state.name}” as {row.role.title}. Your name, "
        "the time and the checklist's progress right now are recorded in the audit trail."
    )
    current = state.current_open
    if current is not None and current[1] > 0:
        signing = f"{open_items_question(*current)} {signing}"
    return {
        "type": "button",
        "action_id": ActionId.SIGNOFF_APPROVE,
        "text": plain_text("Approve", 75),
        "style": "primary",
        "value": SignOffValue(launch_id=state.id, role_id=row.role.role_id).encode(),
        "confirm": _confirm(
            # The role in the title, whole: a long launch name must never hide what you sign as.
            f"Approve as {row.role.title}?",
            signing,
            "Approve",
            "Cancel",
            "primary",
        ),
    }


def revoke_button(state: LaunchSignOffs, row: RoleStatus) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": ActionId.SIGNOFF_REVOKE,
        "text": plain_text("Revoke", 75),
        "style": "danger",
        "value": SignOffValue(launch_id=state.id, role_id=row.role.role_id).encode(),
        "confirm": _confirm(
            f"Revoke your {row.role.title} sign-off?",
            "Only the person who approved can revoke, with a reason. The revocation is recorded, "
            "and if the launch is GO it stops being GO.",
            "Continue",
            "Keep it",
            "danger",
        ),
    }


def _role_blocks(state: LaunchSignOffs, row: RoleStatus) -> list[Block]:
    block: Block = {
        "type": "section",
        "block_id": f"{BlockPrefix.SIGNOFF}:{row.role.role_id}"[:255],
        "text": mrkdwn_text(role_text(row)),
    }
    extra: list[Block] = []
    if state.is_active and row.configured:
        if not row.approved:
            block["accessory"] = approve_button(state, row)
            if row.approvals:  # N of M, partly approved: those who approved may still revoke
                extra.append(
                    {
                        "type": "actions",
                        "block_id": f"{BlockPrefix.SIGNOFF}-revoke:{row.role.role_id}"[:255],
                        "elements": [revoke_button(state, row)],
                    }
                )
        else:
            block["accessory"] = revoke_button(state, row)
    return [block, *extra]


def go_text(
    state: LaunchSignOffs, rows: tuple[RoleStatus, ...], *, alarm: StateAlarm | None = None
) -> str:
    """The GO state of the sign-offs; ``alarm``: the kill switch halted the launch, is firing or did
    not confirm, so the table never reads GO (the sign-offs still stand)."""
    log = log_of(state)
    go = log.current_go
    if go is not None and alarm is not None:
        return (
            f"✅ *Every sign-off is in* (GO #{go.number} · {when(go.at)})"
            f" — {alarm.mark} {alarm.short}"
        )
    if go is not None:
        return f"🟢 *GO* — every sign-off is in · {when(go.at)}"
    last = log.go[-1] if log.go else None
    done = sum(1 for r in rows if r.approved)
    status = f"{done}/{len(rows)} roles approved"
    if last is not None and last.withdrawn_at is not None:
        who = mention(last.withdrawn_by_id)
        return (
            f"⛔ *GO withdrawn* — {who} revoked the {escape(last.withdrawn_role or '')} sign-off"
            f" · {when(last.withdrawn_at)} · {status}"
        )
    if not state.is_active:
        return f"Not GO · {status}"
    return f"⏳ *Not GO yet* · {status}"


def signoff_table(
    state: LaunchSignOffs, roles: Mapping[str, RoleConfig], *, alarm: StateAlarm | None = None
) -> list[Block]:
    """The sign-off blocks of the launch card: a summary line with the GO state (``alarm``: see
    ``go_text``), then one row per role (at most ``MAX_ROLE_ROWS``; the rest
    are counted and listed by ``/launch signoff``)."""
    rows = board(log_of(state), roles)
    if not rows:
        return []
    blocks: list[Block] = [
        {"type": "divider"},
        {
            "type": "section",
            "block_id": SignOffBlock.GO,
            "text": mrkdwn_text(f"*Sign-offs* · {go_text(state, rows, alarm=alarm)}"),
        },
    ]
    for row in rows[:MAX_ROLE_ROWS]:
        blocks.extend(_role_blocks(state, row))
    if len(rows) > MAX_ROLE_ROWS:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    mrkdwn_text(
                        f"…and {len(rows) - MAX_ROLE_ROWS} more role(s): `/launch signoff` lists them all."
                    )
                ],
            }
        )
    return blocks


def signoff_view(
    state: LaunchSignOffs, roles: Mapping[str, RoleConfig], *, alarm: StateAlarm | None = None
) -> MessageView:
    """The answer to ``/launch signoff``: the same table, with buttons, only for the asker
    (``alarm``: the kill switch halted the launch or did not confirm, so it never reads GO, as on
    the card)."""
    rows = board(log_of(state), roles)
    if not rows:
        return MessageView(
            text="No sign-offs",
            blocks=[
                {
                    "type": "section",
                    "text": mrkdwn_text(
                        f"*{escape(state.name)}* has no sign-off roles: its checklist template has no "
                        "`## Sign-offs` table."
                    ),
                }
            ],
        )
    blocks: list[Block] = [
        {"type": "header", "text": plain_text(f"Sign-offs · {state.name}", 150)},
        {"type": "section", "text": mrkdwn_text(go_text(state, rows, alarm=alarm))},
    ]
    # An ephemeral message has the same 50-block limit; two header blocks, two per role at most.
    for row in rows[:24]:
        blocks.extend(_role_blocks(state, row))
    return MessageView(text=f"Sign-offs of {escape(state.name)}", blocks=blocks[:50])


def approve_anyway(
    state: LaunchSignOffs,
    roles: Mapping[str, RoleConfig],
    *,
    role_id: str,
    question: str,
    comment: str | None,
) -> MessageView:
    """The answer to ``/launch signoff approve`` while the current phase has open items, as the
    Approve button's confirm dialog asks: nothing is recorded yet; ``--anyway`` approves, and
    without a comment (a button cannot carry one) the card's own Approve button is offered too.
    ``question`` is safe mrkdwn."""
    row = next((r for r in board(log_of(state), roles) if r.role.role_id == role_id), None)
    title = escape(row.role.title if row is not None else role_id)
    how = f"`/launch signoff approve {escape(role_id)} --anyway"
    text = (
        f":warning: *{question}* Nothing was recorded. To approve as {title} with them open, type "
        + (
            f"{how} &lt;comment&gt;` (your comment was “{escape(comment)}”)."
            if comment
            else f"{how}`, or press Approve."
        )
    )
    blocks: list[Block] = [{"type": "section", "text": mrkdwn_text(text)}]
    if row is not None and not comment:
        blocks[0]["accessory"] = approve_button(state, row)
    return MessageView(text=text, blocks=blocks)


def revoke_modal(*, state: LaunchSignOffs, role_title: str, meta: RevokeFormMeta) -> dict[str, Any]:
    """The form that asks an approver why they revoke; ``private_metadata`` carries IDs only."""
    return {
        "type": "modal",
        "callback_id": CallbackId.SIGNOFF_REVOKE,
        "private_metadata": meta.encode(),
        "title": plain_text("Revoke sign-off", VIEW_TITLE_MAX),
        "submit": plain_text("Revoke", VIEW_TITLE_MAX),
        "close": plain_text("Cancel", VIEW_TITLE_MAX),
        "blocks": [
            {
                "type": "section",
                "text": mrkdwn_text(
                    f"You are revoking your *{escape(role_title)}* sign-off of "
                    f"*{escape(state.name)}* (launch #{state.id}). The reason is recorded and shown "
                    "on the launch card; if the launch is GO, it stops being GO."
                ),
            },
            {
                "type": "input",
                "block_id": SignOffBlock.REVOKE_REASON,
                "label": plain_text("Why are you revoking?", 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": ActionId.SIGNOFF_REVOKE_REASON,
                    "multiline": True,
                    "max_length": REASON_MAX,
                    "placeholder": plain_text(
                        "e.g. the rollback test failed on the green stack", 150
                    ),
                },
            },
        ],
    }


def revoke_reason(view: Mapping[str, Any]) -> str:
    """The reason typed into the revoke modal (from a view_submission's ``view.state``)."""
    values = (view.get("state") or {}).get("values") or {}
    field = (values.get(SignOffBlock.REVOKE_REASON) or {}).get(ActionId.SIGNOFF_REVOKE_REASON) or {}
    return str(field.get("value") or "")
