"""build_app(deps) -> AsyncApp: the composition root; installs the deps middleware, the error handler,
every feature's listeners and every message kind's renderer."""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp
from sqlalchemy.ext.asyncio import AsyncSession

import commands
from bot.checklist import listeners as checklist_listeners
from bot.checklist.blocks import section_message
from bot.checklist.proofs import PROOF_ANNOUNCEMENT, PROOF_NOTICE, proof_message_posted
from bot.contacts.rules import people_to_call
from bot.core.kit import MessageView
from bot.core.outbox import (
    ANNOUNCEMENT,
    NOTICE,
    MessageRef,
    OnPosted,
    Placement,
    Publisher,
    render_body,
)
from bot.deps import Deps, deps_middleware, team_middleware
from bot.error_handler import handle_error
from bot.golive.hold_flows import register_reactions
from bot.incidents import listeners as incidents_listeners
from bot.incidents.escalation_blocks import escalation_message, level_ping
from bot.incidents.escalation_flows import follow_up_posted, ping_posted
from bot.incidents.escalation_state import (
    ESCALATION_ALERT,
    ESCALATION_MESSAGE,
    ESCALATION_NOTE,
    ESCALATION_PING,
)
from bot.incidents.escalations import record_escalation_message
from bot.incidents.killswitch_flows import announcement_posted
from bot.incidents.killswitch_state import KILLSWITCH_MESSAGE, KILLSWITCH_REPORT
from bot.launch import listeners as launch_listeners
from bot.launch.blocks import launch_card, state_alarm
from bot.launch.state import LaunchState, load_state
from bot.signoffs import listeners as signoffs_listeners
from bot.signoffs.go_blocks import go_message
from bot.watch import listeners as watch_listeners
from bot.watch.blocks import render_alert
from bot.watch.state import ALERT_MESSAGE


class _SameTokenWarning(logging.Filter):
    """bolt reads SLACK_BOT_TOKEN from the environment on its own, then warns that the injected
    client's token wins over it: they are the same token, and the warning only confuses operators."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


BOLT_LOGGER = logging.getLogger("launchbot.bolt")
BOLT_LOGGER.addFilter(_SameTokenWarning())


def build_app(deps: Deps, *, process_before_response: bool = True) -> AsyncApp:
    """``process_before_response=True`` runs each listener inline: bolt's default mode polls for the
    ack every 10 ms (slack_bolt/listener/asyncio_runner.py: ≥10 ms a request), and inline lets a listener store the action before acking."""
    secret = deps.settings.slack_signing_secret
    app = AsyncApp(
        client=deps.slack,  # carries the bot token and SLACK_API_URL to every listener's client
        signing_secret=secret.get_secret_value() if secret else None,
        process_before_response=process_before_response,
        logger=BOLT_LOGGER,
    )
    app.use(deps_middleware(deps))
    app.use(team_middleware(deps))
    app.error(handle_error)
    commands.register(app)
    checklist_listeners.register(app)
    incidents_listeners.register(app)
    signoffs_listeners.register(app)
    watch_listeners.register(app)
    launch_listeners.register(app)
    register_renderers(deps.publisher, deps)
    register_reactions(deps)
    return app


def register_renderers(publisher: Publisher, deps: Deps) -> None:
    """Every message kind the bot posts, and the builder that renders it from the launch's state."""
    roles = deps.config.roles  # the card's sign-off table shows who holds each role

    async def load(session: AsyncSession, launch_id: int) -> LaunchState:
        return await load_state(session=session, launch_id=launch_id, now=deps.clock())

    def card(state: LaunchState, message: MessageRef) -> MessageView:
        return launch_card(
            state,
            roles=roles,
            time_scale=deps.settings.time_scale,
            watched=[r.name for r in deps.config.prometheus.rules],
        )

    def go(state: LaunchState, message: MessageRef) -> MessageView:
        return go_message(state, message, alarm=state_alarm(state))

    def escalation(state: LaunchState, message: MessageRef) -> MessageView:
        assert message.subject_id is not None
        return escalation_message(state.escalations[message.subject_id], version=message.version)

    async def escalation_posted(
        session: AsyncSession, message: MessageRef, ts: str | None, error: str | None
    ) -> None:
        assert message.subject_id is not None
        await record_escalation_message(
            session=session,
            escalation_id=message.subject_id,
            ts=ts,
            permalink=message.permalink,
            error=error,
            at=deps.clock(),
        )

    publisher.set_loader(load)
    publisher.register("card", card, placement=Placement.CHANNEL, permalink=True)
    publisher.register("section", section_message)
    publisher.register("go", go, placement=Placement.CHANNEL)
    publisher.register(
        ESCALATION_MESSAGE,
        escalation,
        placement=Placement.CHANNEL,
        permalink=True,  # PagerDuty's page links to it
        once=True,
        on_posted=escalation_posted,
    )
    # A metric alert renders the snapshot its row stored; updated in place for the whole episode.
    publisher.register(
        ALERT_MESSAGE,
        lambda state, message: render_alert(message, launch_closed_at=state.closed_at),
        placement=Placement.CHANNEL,
    )
    publisher.register(
        ANNOUNCEMENT, lambda state, message: render_body(message.body), placement=Placement.CHANNEL
    )
    publisher.register(NOTICE, lambda state, message: render_body(message.body))
    register_incident_renderers(publisher, deps)
    register_proof_renderers(publisher, deps)


def proof_posted(deps: Deps, then: OnPosted | None = None) -> OnPosted:
    """``on_posted`` of a message that may record a proof: once it is posted (with its permalink),
    the items it proves are re-rendered to link to it; ``then`` is the kind's own hook."""

    async def record(
        session: AsyncSession, message: MessageRef, ts: str | None, error: str | None
    ) -> None:
        if then is not None:
            await then(session, message, ts, error)
        if ts is None:
            return
        launch_id = await proof_message_posted(session=session, message_id=message.id)
        if launch_id is not None:
            deps.publisher.kick(launch_id)

    return record


def register_proof_renderers(publisher: Publisher, deps: Deps) -> None:
    """The bot's messages recording a proof (``bot.checklist.proofs``): fixed, posted once, with a
    permalink the proven item links to; a report in the card's thread or an announcement."""

    def fixed(state: LaunchState, message: MessageRef) -> MessageView:
        return render_body(message.body)

    linked = proof_posted(deps)
    publisher.register(PROOF_NOTICE, fixed, permalink=True, once=True, on_posted=linked)
    publisher.register(
        PROOF_ANNOUNCEMENT,
        fixed,
        placement=Placement.CHANNEL,
        permalink=True,
        once=True,
        on_posted=linked,
    )


def register_incident_renderers(publisher: Publisher, deps: Deps) -> None:
    """Escalation pings and follow-ups go under the escalation message (in the channel if Slack
    refused that one); kill-switch announcements in the channel, a dry run's report in the card's
    thread. Each is posted once (a refused first post is recorded, not retried out of order), and
    the log says whether Slack took it."""

    def fixed(state: LaunchState, message: MessageRef) -> MessageView:
        return render_body(message.body)

    def ping(state: LaunchState, message: MessageRef) -> MessageView:
        assert message.subject_id is not None
        people = people_to_call(deps.config, deps.config.escalation.call_on_failure)
        return level_ping(state.escalations[message.subject_id], message.part, people)

    under = Placement.PARENT_THREAD
    notes = follow_up_posted(deps)
    publisher.register(
        ESCALATION_PING,
        ping,
        placement=under,
        broadcast=True,
        once=True,
        on_posted=ping_posted(deps),
    )
    publisher.register(
        ESCALATION_ALERT, fixed, placement=under, broadcast=True, once=True, on_posted=notes
    )
    publisher.register(ESCALATION_NOTE, fixed, placement=under, once=True, on_posted=notes)
    announced = announcement_posted(deps)
    publisher.register(
        KILLSWITCH_MESSAGE, fixed, placement=Placement.CHANNEL, once=True, on_posted=announced
    )
    # A dry run's report is the proof of "Kill switch tested": the item links to it.
    publisher.register(
        KILLSWITCH_REPORT,
        fixed,
        permalink=True,
        once=True,
        on_posted=proof_posted(deps, announced),
    )
