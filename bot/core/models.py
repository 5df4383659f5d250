"""ORM tables, shared by every feature: Launch, Phase, Section, ItemGroup, Item (the checklist),
Event (append-only, hash-chained), SlackMessage (the outbox), Escalation, EscalationLevelPing,
KillSwitchRequest, KillSwitchState (incidents), SignOff (sign-offs), ClickInbox (received clicks),
GoLive, TrafficRequest, ScheduledPost (go-live) and MetricRuleState, MetricAlert (metric watch)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.db import Base, UTCDateTime


class Launch(Base):
    __tablename__ = "launch"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32), index=True)
    # Equal to channel_id while the launch is active and NULL once closed: the UNIQUE constraint then
    # enforces "one active launch per channel" on every backend (NULLs never collide).
    active_channel: Mapped[str | None] = mapped_column(String(32), unique=True)
    started_by_id: Mapped[str] = mapped_column(String(32))
    started_by_name: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_by_id: Mapped[str | None] = mapped_column(String(32))
    closed_by_name: Mapped[str | None] = mapped_column(String(200))
    current_phase: Mapped[int] = mapped_column(Integer, default=0)
    template_title: Mapped[str] = mapped_column(String(200))
    # The parts of the template that are not checklist rows (contacts, sign-off roles), frozen at start.
    template_extra: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Launch day (T-0) in ``[schedule] timezone``, set by ``/launch start … --on`` and moved by
    # ``/launch date``; None for a launch whose phases are posted only by ``/launch phase next``.
    launch_date: Mapped[date | None] = mapped_column(Date)
    # How the launch ended, chosen in the close confirmation: "completed", "abandoned" or
    # "rolled_back", with the closer's note; None while open (and for launches closed before 0010).
    close_outcome: Mapped[str | None] = mapped_column(String(16))
    close_note: Mapped[str | None] = mapped_column(Text)


class Phase(Base):
    __tablename__ = "phase"
    __table_args__ = (UniqueConstraint("launch_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    timing: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Section(Base):
    __tablename__ = "section"

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"), index=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phase.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    # A section of its own day (T+n: one day's daily checks, the weekly review): posted on that day
    # by the calendar, never with its phase. None for every section of the template as written.
    day: Mapped[int | None] = mapped_column(Integer)


class ItemGroup(Base):
    __tablename__ = "item_group"

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"), index=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("section.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(String(200))
    stage: Mapped[int | None] = mapped_column(Integer)
    duration_minutes: Mapped[int | None] = mapped_column(Integer)


class Item(Base):
    __tablename__ = "item"

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("item_group.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(200))
    duration_minutes: Mapped[int | None] = mapped_column(Integer)
    checked: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_by_id: Mapped[str | None] = mapped_column(String(32))
    changed_by_name: Mapped[str | None] = mapped_column(String(200))
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when the bot, not a person, ticks this item (e.g. "golive": a go-live step that is its own
    # item); a hand click on it is refused with the owner's explanation.
    managed_by: Mapped[str | None] = mapped_column(String(32))
    # A sign-off role holder's waiver: "not_applicable" or "waived", by whom, when and why. A waived
    # item counts as done for phase completion and is listed apart from ticked ones.
    waived: Mapped[str | None] = mapped_column(String(16))
    waived_by_id: Mapped[str | None] = mapped_column(String(32))
    waived_by_name: Mapped[str | None] = mapped_column(String(200))
    waived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    waive_reason: Mapped[str | None] = mapped_column(Text)
    # The item's documented key (``bot.checklist.template.ItemKey``, e.g. "killswitch.armed"): from
    # the bundled template's key table or a custom template's ``{#key}`` marker. The bot ticks a
    # keyed item when it can prove it (``bot.checklist.proofs``).
    key: Mapped[str | None] = mapped_column(String(64))
    # Set when the bot ticked the item on a proof (e.g. "killswitch_test"), with the outbox message
    # that records it (its permalink is shown on the item); cleared when the item changes by hand.
    proof: Mapped[str | None] = mapped_column(String(32))
    proof_message_id: Mapped[int | None] = mapped_column(Integer)


class Event(Base):
    """Append-only log of everything that happened to a launch. ``dedup_key`` makes a replayed or
    double-delivered Slack action a no-op; ``prev_hash``/``hash`` chain the rows so an edit shows."""

    __tablename__ = "event"
    __table_args__ = (UniqueConstraint("launch_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_id: Mapped[str] = mapped_column(String(32))
    actor_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(300))
    dedup_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class SlackMessage(Base):
    """A Slack message the bot owns. Rows are written in the same transaction as the change they show
    (``version`` bumped), and a publisher posts/updates them afterwards until ``rendered_version``
    catches up: that way a crash between commit and chat.update only delays the message."""

    __tablename__ = "slack_message"
    __table_args__ = (UniqueConstraint("launch_id", "kind", "section_id", "part"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    section_id: Mapped[int | None] = mapped_column(ForeignKey("section.id", ondelete="CASCADE"))
    part: Mapped[int] = mapped_column(Integer, default=0)
    channel_id: Mapped[str] = mapped_column(String(32))
    ts: Mapped[str | None] = mapped_column(String(32), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    rendered_version: Mapped[int] = mapped_column(Integer, default=0)
    permalink: Mapped[str | None] = mapped_column(String(500))
    last_error: Mapped[str | None] = mapped_column(Text)
    # A notice's fixed content ({"text", "blocks"}), built when it was queued; None for messages
    # rendered from the launch's state at each version.
    body: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The feature row shown (escalation id, kill-switch request id) and the message replied under.
    subject_id: Mapped[int | None] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("slack_message.id", ondelete="SET NULL")
    )
    # Since when (bot clock) Slack has been showing an older version than ``version``: stamped when
    # a render fails or the outbox sweep first sees the row behind, cleared once it caught up.
    behind_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The version Slack refused for good (channel_not_found, invalid_blocks, …): not tried again, by
    # the retries or the sweep, until the message changes (``version`` moves past it).
    refused_version: Mapped[int | None] = mapped_column(Integer)


# ---------------------------------------------------------------------------------------------------
# Incidents: escalations (PagerDuty + Slack escalation path) and kill-switch requests (bot/incidents.py).


class Escalation(Base):
    """One ``/launch escalate``. Stored before anything is sent; ``next_level_at`` is the escalation
    timer the scheduler polls, so it survives a restart. Its Slack message is a ``SlackMessage``
    (kind "escalation", ``subject_id`` = this id), bumped on every change; ``message_ts`` and
    ``permalink`` record where it landed, for the pings' thread and the PagerDuty page."""

    __tablename__ = "escalation"

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(8))
    summary: Mapped[str] = mapped_column(Text)
    reporter_id: Mapped[str] = mapped_column(String(32))
    reporter_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Slack's identifier of the request (trigger_id): the same request twice is one escalation.
    request_key: Mapped[str] = mapped_column(String(300), unique=True)
    # PagerDuty's dedup_key: every send for this escalation reuses it, so nobody is paged twice.
    dedup_key: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    # The escalation path as configured when this was opened (levels of users/groups with waits):
    # a config change or restart mid-incident does not change who is next.
    path: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    level: Mapped[int] = mapped_column(Integer, default=0)
    next_level_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    message_ts: Mapped[str | None] = mapped_column(String(32))
    permalink: Mapped[str | None] = mapped_column(String(500))
    page_status: Mapped[str] = mapped_column(String(16))
    page_tries: Mapped[int] = mapped_column(Integer, default=0)
    page_error: Mapped[str | None] = mapped_column(Text)
    paged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by_id: Mapped[str | None] = mapped_column(String(32))
    acknowledged_by_name: Mapped[str | None] = mapped_column(String(200))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by_id: Mapped[str | None] = mapped_column(String(32))
    resolved_by_name: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolve_status: Mapped[str | None] = mapped_column(String(16))


class EscalationLevelPing(Base):
    """One escalation level that came due: claimed (``claimed_at``) in the same transaction that
    moves the timer on, then posted to Slack (``posted_at``); an unposted row is retried."""

    __tablename__ = "escalation_level_ping"
    __table_args__ = (UniqueConstraint("escalation_id", "level"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalation.id", ondelete="CASCADE"))
    level: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ts: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class KillSwitchRequest(Base):
    """One request to fire (or, ``dry_run``, to test) the trading system's kill switch, stored before
    it is sent. ``request_id`` is the Idempotency-Key every try carries. ``status``: pending (stored)
    → sending (claimed, the POST may leave) → confirmed | failed; a stop leaves ``not_sent`` (was
    pending) or ``unknown`` (was sending). Its messages are ``SlackMessage`` rows (kind "killswitch"
    or "killswitch_test", ``subject_id`` = this id)."""

    __tablename__ = "kill_switch_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str] = mapped_column(String(64), unique=True)
    # Slack's identifier of the submission (view id or trigger_id): a double submit is one request.
    request_key: Mapped[str] = mapped_column(String(300), unique=True)
    requested_by_id: Mapped[str] = mapped_column(String(32))
    requested_by_name: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    tries: Mapped[int] = mapped_column(Integer, default=0)
    http_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    response_body: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class KillSwitchState(Base):
    """Whether the launch's kill switch is armed (a recorded declaration shown on the card)."""

    __tablename__ = "kill_switch_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"), unique=True)
    armed: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_by_id: Mapped[str] = mapped_column(String(32))
    changed_by_name: Mapped[str] = mapped_column(String(200))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())


# ---------------------------------------------------------------------------------------------------
# Sign-offs (bot/signoffs.py).


class SignOff(Base):
    """One approval of a sign-off role, kept after a revocation (``revoked_*`` set) so the history shows.

    ``active_slot`` is 1..required while the approval stands and NULL once revoked: the UNIQUE
    constraint then lets a role hold at most its required number of approvals on every backend (NULLs
    never collide), a backstop behind the launch lock that serializes approvers."""

    __tablename__ = "sign_off"
    __table_args__ = (UniqueConstraint("launch_id", "role_id", "active_slot"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"), index=True)
    role_id: Mapped[str] = mapped_column(String(64))
    role_title: Mapped[str] = mapped_column(String(200))
    required: Mapped[int] = mapped_column(Integer, default=1)
    active_slot: Mapped[int | None] = mapped_column(Integer)
    user_id: Mapped[str] = mapped_column(String(32))
    # The name known when approving (the payload's handle), replaced by the Slack display name once
    # users.info answers. The user id is the identity; the name is for people reading the record.
    user_name: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    comment: Mapped[str | None] = mapped_column(Text)
    # What was approved: per-phase progress and the event-chain head at that moment.
    progress: Mapped[dict[str, Any]] = mapped_column(JSON)
    event_seq: Mapped[int] = mapped_column(Integer)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by_id: Mapped[str | None] = mapped_column(String(32))
    revoked_by_name: Mapped[str | None] = mapped_column(String(200))
    revoke_reason: Mapped[str | None] = mapped_column(Text)


class ClickInbox(Base):
    """Checkbox clicks as received, written before the ack with one INSERT (``dedup_key`` from Slack's
    own identifiers makes a replayed request a no-op); the click applier turns each into item state
    and events right after. A row with ``applied_at`` NULL is a click still to apply, also after a
    restart."""

    __tablename__ = "click_inbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("slack_message.id", ondelete="CASCADE"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    user_id: Mapped[str] = mapped_column(String(32))
    user_name: Mapped[str] = mapped_column(String(200))
    desired: Mapped[dict[str, bool]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(300))
    dedup_key: Mapped[str] = mapped_column(String(300), unique=True)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    outcome: Mapped[str | None] = mapped_column(Text)


# ---------------------------------------------------------------------------------------------------
# The go-live sequence (bot/golive).


class GoLive(Base):
    """Where a launch's go-live sequence stands: the step it is in (0: not started), since when, and
    whether it is on hold. Soak time = now - step_started_at - held_seconds (- the running hold)."""

    __tablename__ = "golive"

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"), unique=True)
    step: Mapped[int] = mapped_column(Integer, default=0)
    weight: Mapped[int] = mapped_column(Integer, default=0)
    step_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    held_seconds: Mapped[int] = mapped_column(Integer, default=0)
    held_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    hold_reason: Mapped[str | None] = mapped_column(Text)
    held_by_id: Mapped[str | None] = mapped_column(String(32))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TrafficRequest(Base):
    """One stage change, stored before the traffic webhook is called: the stage moves only once the
    webhook answered 2xx (or at once, as a declaration, without a webhook). ``request_id`` is the
    Idempotency-Key every try carries."""

    __tablename__ = "traffic_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"), index=True)
    request_id: Mapped[str] = mapped_column(String(64), unique=True)
    action: Mapped[str] = mapped_column(String(16))  # advance, rollback, rollback_all
    from_step: Mapped[int] = mapped_column(Integer)
    to_step: Mapped[int] = mapped_column(Integer)
    weight: Mapped[int] = mapped_column(Integer)
    previous_weight: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    requested_by_id: Mapped[str] = mapped_column(String(32))
    requested_by_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # pending → sending → confirmed | failed | unknown; "declared" when no webhook is configured.
    status: Mapped[str] = mapped_column(String(16))
    tries: Mapped[int] = mapped_column(Integer, default=0)
    http_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ScheduledPost(Base):
    """A message due at a time on the bot's clock (a soak reminder, a dated phase, one day's checks,
    the evening-before summary): claimed by the scheduler loop once, sent once, late if the process
    was down when it came due."""

    __tablename__ = "scheduled_post"

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    # What it is about, unique per launch and kind (e.g. the step and when it started soaking).
    key: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Sent well after ``due_at`` (the process was down when it came due); its message says so.
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    # The message that announced it (its ts once posted), for the record.
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("slack_message.id", ondelete="SET NULL")
    )

    __table_args__ = (UniqueConstraint("launch_id", "kind", "key"),)


# ---------------------------------------------------------------------------------------------------
# Metric watch (bot/watch): each Prometheus rule's state per launch, and the alerts it posted.


class MetricRuleState(Base):
    """One ``[[prometheus.rules]]`` rule as last evaluated for a launch. ``breached_since`` is when
    the current breach began (Prometheus' pending ``activeAt``: unknown evaluations reset nothing);
    ``healthy_since`` is when an open alert's hold-down began; ``alert_id`` the open alert."""

    __tablename__ = "metric_rule_state"
    __table_args__ = (UniqueConstraint("launch_id", "rule"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"), index=True)
    rule: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(16))  # gate, rollback
    status: Mapped[str] = mapped_column(String(16))  # healthy, breached, unknown
    value: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(Text)
    breached_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    healthy_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    alert_id: Mapped[int | None] = mapped_column(Integer)


class MetricAlert(Base):
    """One alert episode: a rollback rule's held breach (``source`` "rule") or an immediate rollback
    trigger reported by hand (``source`` "trigger"). Its Slack message is a ``SlackMessage`` of kind
    "metric_alert" with ``subject_id`` = this id; a re-alert is a second message of the same alert."""

    __tablename__ = "metric_alert"

    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launch.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    query: Mapped[str | None] = mapped_column(Text)
    threshold: Mapped[str | None] = mapped_column(String(64))
    value: Mapped[float | None] = mapped_column(Float)
    worst: Mapped[float | None] = mapped_column(Float)
    breached_since: Mapped[datetime] = mapped_column(UTCDateTime())
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))  # firing, recovered, reported
    realerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recovered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by_id: Mapped[str | None] = mapped_column(String(32))
    acknowledged_by_name: Mapped[str | None] = mapped_column(String(200))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reported_by_id: Mapped[str | None] = mapped_column(String(32))
    reported_by_name: Mapped[str | None] = mapped_column(String(200))
    # What the buttons did last ("rollback requested by …", "held by …"), shown on the alert.
    last_action: Mapped[str | None] = mapped_column(Text)
    page_dedup_key: Mapped[str | None] = mapped_column(String(64))
    page_status: Mapped[str | None] = mapped_column(String(16))
