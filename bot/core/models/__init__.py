"""ORM tables, shared by every feature, one module per group: ``launch`` (Launch, Phase, Section,
ItemGroup, Item: the checklist; Event: append-only, hash-chained), ``messages`` (SlackMessage: the
outbox; ScheduledPost; ClickInbox: received clicks), ``incidents`` (Escalation, EscalationLevelPing,
KillSwitchRequest, KillSwitchState), ``signoffs`` (SignOff), ``golive`` (GoLive, TrafficRequest)
and ``watch`` (MetricRuleState, MetricAlert: metric watch).

Importing this package registers every table on ``Base.metadata`` (alembic's migrations/env.py
relies on that); ``from bot.core.models import X`` works for every table."""

from bot.core.models.golive import GoLive, TrafficRequest
from bot.core.models.incidents import (
    Escalation,
    EscalationLevelPing,
    KillSwitchRequest,
    KillSwitchState,
)
from bot.core.models.launch import Event, Item, ItemGroup, Launch, Phase, Section
from bot.core.models.messages import ClickInbox, ScheduledPost, SlackMessage
from bot.core.models.signoffs import SignOff
from bot.core.models.watch import MetricAlert, MetricRuleState

__all__ = [
    "ClickInbox",
    "Escalation",
    "EscalationLevelPing",
    "Event",
    "GoLive",
    "Item",
    "ItemGroup",
    "KillSwitchRequest",
    "KillSwitchState",
    "Launch",
    "MetricAlert",
    "MetricRuleState",
    "Phase",
    "ScheduledPost",
    "Section",
    "SignOff",
    "SlackMessage",
    "TrafficRequest",
]
