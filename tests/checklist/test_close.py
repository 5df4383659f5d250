"""/launch close is a deliberate act of someone responsible: the person who started the launch or a
holder of a configured role (listed in ``users`` or a member of one of its ``usergroups``). Anyone
else is refused, told who may close, and the attempt is kept in the launch's hash-chained log."""

from __future__ import annotations

from sqlalchemy import select

from bot.core.config import AppConfig, RoleConfig
from bot.core.events import GENESIS_HASH, event_hash
from bot.core.models import Event, Launch
from bot.signoffs.close import close_groups_to_check, may_close, who_may_close_text
from tests.warroom import WarRoom

ALICE, BOB, CTO, OUTSIDER = "U0ALICE001", "U0BOB00001", "U0CTO00001", "U0OUTSIDE1"
TRADERS = "S0TRADERS1"


async def events(room: WarRoom) -> list[Event]:
    async with room.bot.deps.db.read_sessions() as session:
        return list((await session.scalars(select(Event).order_by(Event.seq))).all())


async def the_launch(room: WarRoom) -> Launch:
    async with room.bot.deps.db.read_sessions() as session:
        launch = await session.scalar(select(Launch).order_by(Launch.id.desc()).limit(1))
    assert launch is not None
    return launch


def assert_chain_valid(chain: list[Event]) -> None:
    prev = GENESIS_HASH
    for e in chain:
        assert e.prev_hash == prev and e.hash == event_hash(prev, e), e.seq
        prev = e.hash


async def test_outsider_cannot_close_and_the_refused_attempt_is_logged(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.close(OUTSIDER)
    refusal = room.ephemerals_for(OUTSIDER)[-1]
    assert refusal.startswith(":warning: Only ")
    assert f"<@{ALICE}>" in refusal  # the starter is named
    assert "CTO" in refusal and f"<@{CTO}>" in refusal  # and the role holders
    assert "attempt was logged" in refusal
    assert "Usage: `/launch close`" in refusal
    launch = await the_launch(room)
    assert launch.closed_at is None and launch.active_channel == room.channel
    chain = await events(room)
    refused = [e for e in chain if e.kind == "launch_close_refused"]
    assert [(e.actor_id, e.detail["reason"], e.source[:6]) for e in refused] == [
        (OUTSIDER, "not_starter_or_role_holder", "slash:")
    ]
    assert "launch_closed" not in [e.kind for e in chain]
    assert_chain_valid(chain)
    # Nothing was announced in the channel and the checklist still takes clicks.
    assert not any("Closed *" in (m.text or "") for m in room.top_level())
    await room.click(ALICE, "Failover tested")
    assert room.is_checked("Failover tested")


async def test_outsider_cannot_close_a_launch_that_is_go(room: WarRoom) -> None:
    from tests.signoffs.test_signoffs import approve_all

    await room.command(ALICE, "start Trading v2")
    await approve_all(room)
    assert any(e.kind == "launch_go" for e in await events(room))
    await room.close(BOB)
    assert room.ephemerals_for(BOB)[-1].startswith(":warning: Only ")
    assert (await the_launch(room)).closed_at is None


async def test_the_starter_may_close(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.close(ALICE)
    launch = await the_launch(room)
    assert launch.closed_at is not None and launch.closed_by_id == ALICE
    assert any("Closed *Trading v2*" in (m.text or "") for m in room.top_level())


async def test_a_role_holder_who_did_not_start_it_may_close(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.close(CTO)
    launch = await the_launch(room)
    assert launch.closed_at is not None and launch.closed_by_id == CTO
    closed = [e for e in await events(room) if e.kind == "launch_closed"]
    assert [e.actor_id for e in closed] == [CTO]
    assert_chain_valid(await events(room))


async def test_a_member_of_a_roles_user_group_may_close_and_the_lookup_is_cached(
    room: WarRoom, config: AppConfig
) -> None:
    config.roles["head_of_trading"] = RoleConfig(
        title="Head of Trading", users=["U0TRADE001"], usergroups=[TRADERS]
    )
    room.slack.add_usergroup(TRADERS, [BOB])
    await room.command(ALICE, "start Trading v2")
    await room.close(OUTSIDER)  # asks Slack for the group: OUTSIDER is not in it
    assert room.ephemerals_for(OUTSIDER)[-1].startswith(":warning: Only ")
    assert f"<!subteam^{TRADERS}>" in room.ephemerals_for(OUTSIDER)[-1]
    await room.close(BOB)  # the cached answer says BOB is
    launch = await the_launch(room)
    assert launch.closed_at is not None and launch.closed_by_id == BOB
    lookups = room.slack.calls_to("usergroups.users.list")
    assert [c.args.get("usergroup") for c in lookups] == [TRADERS]


async def test_the_starter_and_listed_holders_need_no_group_lookup(
    room: WarRoom, config: AppConfig
) -> None:
    config.roles["head_of_trading"] = RoleConfig(title="Head of Trading", usergroups=[TRADERS])
    room.slack.add_usergroup(TRADERS, [BOB])
    await room.command(ALICE, "start Trading v2")
    await room.close(ALICE)
    assert (await the_launch(room)).closed_by_id == ALICE
    assert room.slack.calls_to("usergroups.users.list") == []


async def test_a_group_slack_does_not_answer_for_is_refused_and_logged_not_guessed(
    room: WarRoom, config: AppConfig
) -> None:
    config.roles["head_of_trading"] = RoleConfig(title="Head of Trading", usergroups=[TRADERS])
    room.slack.add_usergroup(TRADERS, [BOB])
    await room.command(ALICE, "start Trading v2")
    room.slack.fail_next("usergroups.users.list", error="fatal_error", times=1)
    await room.close(BOB)
    refusal = room.ephemerals_for(BOB)[-1]
    assert "could not check the members of" in refusal and "try again" in refusal
    assert (await the_launch(room)).closed_at is None
    refused = [e for e in await events(room) if e.kind == "launch_close_refused"]
    assert [(e.actor_id, e.detail["reason"], e.detail["usergroups"]) for e in refused] == [
        (BOB, "usergroup_unchecked", [TRADERS])
    ]
    await room.close(BOB)  # Slack answers now
    assert (await the_launch(room)).closed_by_id == BOB


async def test_close_with_extra_words_is_refused_with_usage_and_closes_nothing(
    room: WarRoom,
) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.command(ALICE, "close now <!here>")
    reply = room.ephemerals_for(ALICE)[-1]
    assert reply.startswith(":warning: `/launch close` takes no arguments")
    assert "“now &lt;!here&gt;”" in reply and "<!here>" not in reply
    assert "Usage: `/launch close`" in reply
    launch = await the_launch(room)
    assert launch.closed_at is None
    assert [e.kind for e in await events(room) if "close" in e.kind] == []


async def test_close_without_a_launch_says_so(room: WarRoom) -> None:
    await room.close(OUTSIDER)
    reply = room.ephemerals_for(OUTSIDER)[-1]
    assert "no active launch in this channel to close" in reply
    assert "Usage: `/launch close`" in reply


def test_the_close_rule_is_plain_domain_code() -> None:

    roles = {
        "cto": RoleConfig(title="CTO", users=[CTO]),
        "head_of_trading": RoleConfig(title="Head of Trading", usergroups=[TRADERS, "S0X"]),
        "po": RoleConfig(title="Product Owner", usergroups=[TRADERS]),
    }
    check = close_groups_to_check
    assert check(roles, ALICE, started_by_id=ALICE) == ()
    assert check(roles, CTO, started_by_id=ALICE) == ()
    assert check(roles, BOB, started_by_id=ALICE) == (TRADERS, "S0X")  # each group asked once
    may = may_close
    assert may(roles, ALICE, started_by_id=ALICE, usergroup_members={})
    assert may(roles, CTO, started_by_id=ALICE, usergroup_members={})
    assert may(roles, BOB, started_by_id=ALICE, usergroup_members={"S0X": frozenset({BOB})})
    assert not may(roles, BOB, started_by_id=ALICE, usergroup_members={TRADERS: frozenset()})
    assert not may({}, BOB, started_by_id=ALICE, usergroup_members={})
    assert who_may_close_text({}, ALICE, "<!here>") == (
        f"<@{ALICE}> (who started it) may close *&lt;!here&gt;*"
    )
