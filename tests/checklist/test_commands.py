"""/launch end to end through app.async_dispatch with signed, Slack-shaped requests and the Slack stand-in."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.checklist.template import ChecklistTemplate
from bot.core.models import Launch
from bot.core.mrkdwn import escape
from tests.warroom import WarRoom

ALICE, BOB, CTO = "U0ALICE001", "U0BOB00001", "U0CTO00001"


async def launch_count(room: WarRoom) -> int:
    async with room.bot.deps.db.read_sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Launch)) or 0)


async def test_start_posts_card_and_first_phase_sections_in_its_thread(room: WarRoom) -> None:
    sent = await room.command(ALICE, 'start "Trading v2"')
    assert sent.status == 200
    assert "Started *Trading v2*" in room.ephemerals_for(ALICE)[-1]
    card = room.card()
    assert card.blocks[0]["text"]["text"] == "🚀 Trading v2"
    card_text = "\n".join(b["text"]["text"] for b in card.blocks if b["type"] == "section")
    assert "<@U0ALICE001>" in card_text and "Pre-Launch Phase* (T-7 days) — 0/45" in card_text
    headers = [m.blocks[0]["text"]["text"] for m in room.thread()]
    assert headers == [
        "Pre-Launch Phase · Infrastructure",
        "Pre-Launch Phase · Security",
        "Pre-Launch Phase · Trading System",
    ]
    infra = room.thread()[0]
    group_titles = [b["text"]["text"] for b in infra.blocks if b["type"] == "section"]
    assert group_titles[0].startswith("*Blue/Green Environments*")
    assert room.slack.calls_to("chat.postMessage")[0].args["channel"] == room.channel


async def test_start_without_name_explains_and_changes_nothing(room: WarRoom) -> None:
    await room.command(ALICE, "start")
    reply = room.ephemerals_for(ALICE)[-1]
    assert (
        "Give the launch a name" in reply
        and "Usage: `/launch start &lt;name&gt; [--on YYYY-MM-DD]`" in reply
    )
    assert await launch_count(room) == 0
    assert room.slack.calls_to("chat.postMessage") == []


async def test_unknown_subcommand_gets_usage_and_changes_nothing(room: WarRoom) -> None:
    await room.command(ALICE, "launchnow <!channel>")
    reply = room.ephemerals_for(ALICE)[-1]
    assert "is not a /launch subcommand" in reply and "`/launch help`" in reply
    assert "<!channel>" not in reply  # only the subcommand word is echoed, never the rest
    assert reply.startswith(":warning: `launchnow` is not a /launch subcommand.")
    assert await launch_count(room) == 0


async def test_unknown_subcommand_is_echoed_escaped(room: WarRoom) -> None:
    await room.command(ALICE, "<!channel>&co")
    reply = room.ephemerals_for(ALICE)[-1]
    assert reply.startswith(":warning: `&lt;!channel&gt;&amp;co` is not a /launch subcommand.")
    assert "<!channel>" not in reply


async def test_bad_contacts_option_is_echoed_escaped(room: WarRoom) -> None:
    await room.command(ALICE, "contacts <!here>")
    reply = room.ephemerals_for(ALICE)[-1]
    assert "`&lt;!here&gt;` is not an option of contacts." in reply and "<!here>" not in reply


async def test_refusals_escape_the_launch_name(room: WarRoom) -> None:
    """The name is stored as typed (``should_escape`` is off) and escaped wherever it goes into mrkdwn,
    the refusals included: a launch called ``<!here> R&D`` must never ping the channel."""
    await room.command(ALICE, "start <!here> R&D")
    assert "Started *&lt;!here&gt; R&amp;D*" in room.ephemerals_for(ALICE)[-1]
    await room.command(BOB, "start Other")
    assert "already has an active launch: *&lt;!here&gt; R&amp;D*" in room.ephemerals_for(BOB)[-1]
    await room.command(ALICE, "status")
    status = room.slack.ephemerals[-1]
    assert status.blocks[0]["text"] == {
        "type": "plain_text",
        "text": "Status · <!here> R&D",
        "emoji": True,
    }
    assert "Status of &lt;!here&gt; R&amp;D" == status.text
    await room.close(ALICE)
    await room.click(ALICE, "Failover tested")
    refusal = room.ephemerals_for(ALICE)[-1]
    assert refusal.startswith(":warning: Launch *&lt;!here&gt; R&amp;D* is closed;")
    await room.command(ALICE, "status <!here> & nobody")
    assert (
        "There is no launch called “&lt;!here&gt; &amp; nobody” in this channel."
        in room.ephemerals_for(ALICE)[-1]
    )
    replies = [*room.ephemerals_for(ALICE), *room.ephemerals_for(BOB)]
    replies += [m.text for m in room.top_level()]
    assert replies and not any("<!here>" in r for r in replies)


async def test_second_start_in_channel_links_the_active_launch(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.command(BOB, "start Other")
    reply = room.ephemerals_for(BOB)[-1]
    assert "already has an active launch: *Trading v2*" in reply
    assert "Open its card" in reply
    assert await launch_count(room) == 1


async def test_launches_in_different_channels_are_independent(room: WarRoom) -> None:
    room.slack.add_channel("C0OTHER001", "war-room-2")
    await room.command(ALICE, "start Trading v2")
    await room.command(BOB, "start Risk engine", channel="C0OTHER001")
    assert await launch_count(room) == 2
    assert any("Risk engine" in (m.text or "") for m in room.slack.messages["C0OTHER001"])


async def test_status_shows_progress_open_items_and_card_link(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.click(BOB, "Read replicas configured")
    await room.command(ALICE, "status")
    status = room.slack.ephemerals[-1]
    text = "\n".join(
        b["text"]["text"] if "text" in b else b["elements"][0]["text"] for b in status.blocks
    )
    assert "Pre-Launch Phase* (T-7 days) — 1/45" in text
    assert "Infrastructure — 1/15" in text
    # At a glance: the first open items and a count, not a 44-line dump.
    assert "*Still open in Pre-Launch Phase* (44): Blue environment provisioned and tested" in text
    assert "and 39 more — `/launch status items` lists them all" in text
    assert "Failover tested" not in text
    assert "Open the launch card" in text
    await room.command(ALICE, "status items")
    status = room.slack.ephemerals[-1]
    every = "\n".join(b["text"]["text"] for b in status.blocks if "text" in b)
    assert "_Infrastructure › Database_: Failover tested" in every
    assert "Read replicas configured" not in every  # ticked


async def test_status_items_lists_every_open_item_in_sections_slack_accepts(
    room: WarRoom, template: ChecklistTemplate
) -> None:
    """All 45 of the seed's Pre-Launch items open run past one section's 3,000 characters: the list
    goes on in the next section, cut between lines, the last item included."""
    await room.command(ALICE, "start Trading v2")
    await room.command(ALICE, "status items")
    status = room.slack.ephemerals[-1]
    texts = [b["text"]["text"] for b in status.blocks if b["type"] == "section"]
    assert all(len(t) <= 3000 for t in texts)
    listed = [line for t in texts for line in t.split("\n") if line.startswith("• _")]
    pre_launch = template.phases[0]
    every = [i.text for s in pre_launch.sections for g in s.groups for i in g.items]
    assert len(every) == 45 and every[-1] == "Report generation working"
    assert [line.partition("_: ")[2] for line in listed] == [escape(t) for t in every]
    assert all(line.count("_") == 2 for line in listed)  # no line cut inside its italics
    assert len(status.blocks) <= 50


async def test_status_without_launch_says_how_to_start(room: WarRoom) -> None:
    await room.command(ALICE, "status")
    assert "no active launch" in room.ephemerals_for(ALICE)[-1]


async def test_help_lists_every_subcommand(room: WarRoom) -> None:
    from commands import SUBCOMMANDS

    await room.command(ALICE, "help")
    reply = room.slack.ephemerals[-1].blocks[0]["text"]["text"]
    for sub in SUBCOMMANDS.values():
        # Written for mrkdwn: a bare <name> would be read as a Slack control sequence.
        assert escape(sub.usage) in reply


async def test_close_makes_the_checklist_read_only_and_frees_the_channel(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.close(CTO)  # a role holder who did not start it
    card_text = "\n".join(b["text"]["text"] for b in room.card().blocks if b["type"] == "section")
    assert "Closed by <@U0CTO00001>" in card_text
    assert "read-only" in room.thread()[0].blocks[-1]["elements"][0]["text"]
    await room.click(ALICE, "Failover tested")
    assert "is closed" in room.ephemerals_for(ALICE)[-1]
    assert not room.is_checked("Failover tested")
    await room.command(ALICE, "start Trading v2 retry")
    assert await launch_count(room) == 2


async def test_phase_next_refused_until_complete(room: WarRoom) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.command(ALICE, "phase next")
    assert "45 open item(s)" in room.ephemerals_for(ALICE)[-1]
    await room.command(ALICE, "phase")
    assert "Usage: `/launch phase next`" in room.ephemerals_for(ALICE)[-1]


# --- extra words are refused, not silently dropped ----------------------------------------------


async def test_report_with_extra_words_is_refused_with_usage_and_uploads_nothing(
    room: WarRoom,
) -> None:
    await room.command(ALICE, "start Trading v2")
    for text, extra in (
        ("report md json", "json"),
        ("report md extra <!here>", "extra &lt;!here&gt;"),
    ):
        await room.command(ALICE, text)
        reply = room.ephemerals_for(ALICE)[-1]
        assert reply.startswith(":warning: `/launch report` takes at most one argument"), reply
        assert f"“{extra}”" in reply and "<!here>" not in reply
        assert "Usage: `/launch report [md|csv|json]`" in reply
    assert room.slack.calls_to("files.getUploadURLExternal") == []
    assert room.slack.calls_to("files.completeUploadExternal") == []


async def test_contacts_with_extra_words_is_refused_and_posts_nothing(room: WarRoom) -> None:
    await room.command(ALICE, "contacts public now")
    reply = room.ephemerals_for(ALICE)[-1]
    assert reply.startswith(":warning: `/launch contacts` takes at most one argument")
    assert "“now”" in reply and "Usage: `/launch contacts [public]`" in reply
    assert room.top_level() == []  # `public` was not taken: nothing went to the channel


async def test_help_with_extra_words_says_they_were_ignored_then_shows_help(
    room: WarRoom,
) -> None:
    await room.command(ALICE, "help me <!here>")
    reply = room.slack.ephemerals[-1].blocks[0]["text"]["text"]
    assert reply.startswith("`/launch help` takes no arguments; ignored “me &lt;!here&gt;”.")
    assert "<!here>" not in reply
    assert escape("/launch start <name>") in reply  # and the whole list follows


async def test_status_usage_shows_the_optional_launch_and_not_found_echoes_the_input(
    room: WarRoom,
) -> None:
    await room.command(ALICE, "start Trading v2")
    await room.command(ALICE, "status extra args")
    reply = room.ephemerals_for(ALICE)[-1]
    assert "There is no launch called “extra args” in this channel." in reply
    assert "Usage: `/launch status [items] [&lt;name or #id&gt;]`" in reply
    await room.command(ALICE, "status #99")
    assert "There is no launch called “#99” in this channel." in room.ephemerals_for(ALICE)[-1]
    await room.command(ALICE, "status #1")  # the # form still finds it
    assert room.slack.ephemerals[-1].text == "Status of Trading v2"


async def test_status_with_a_huge_or_non_ascii_number_says_no_such_launch(room: WarRoom) -> None:
    """``#99999999999999999999`` (past the id column) and ``#²`` (a digit to str.isdigit, not to
    int) are references that name no launch, not an internal error."""
    await room.command(ALICE, "start Trading v2")
    for ref in ("#99999999999999999999", "3000000000", "#²", "²"):
        await room.command(ALICE, f"status {ref}")
        reply = room.ephemerals_for(ALICE)[-1]
        assert f"There is no launch called “{ref}” in this channel." in reply, reply
    await room.command(ALICE, "status items #²")
    assert "There is no launch called “#²”" in room.ephemerals_for(ALICE)[-1]


async def test_status_of_a_named_launch_never_shows_another_channels_launch(room: WarRoom) -> None:
    """A private war room's launch is not readable from any other channel by its id or name."""
    other = "C0PRIVATE1"
    room.slack.add_channel(other, "secret-war-room")
    await room.command(ALICE, "start Project Falcon", channel=other)
    await room.command(ALICE, "start Trading v2")
    for ref in ("#1", "1", "Project Falcon"):
        await room.command(BOB, f"status {ref}")
        answer = room.ephemerals_for(BOB)[-1]
        assert f"There is no launch called “{ref}” in this channel." in answer
        assert room.slack.ephemerals[-1].text != "Status of Project Falcon"
    await room.command(BOB, "status #2")
    assert room.slack.ephemerals[-1].text == "Status of Trading v2"
