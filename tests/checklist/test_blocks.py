"""Block Kit builders are pure functions of state and stay inside Slack's limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.checklist.blocks import section_message
from bot.checklist.state import GroupState, ItemState, PhaseState, SectionState
from bot.core.ids import ActionId
from bot.core.kit import MessageView, mrkdwn_text, notice, truncate
from bot.core.outbox import MessageRef
from bot.launch.blocks import launch_card, status_view
from bot.launch.state import LaunchState
from bot.standin import validate_message_blocks

AT = datetime(2026, 12, 1, 14, 2, tzinfo=UTC)


def item(
    n: int, checked: bool = False, who: str | None = None, text: str | None = None
) -> ItemState:
    return ItemState(
        id=n,
        text=text or f"Item {n}",
        checked=checked,
        changed_by_id="U0ALICE001" if who else None,
        changed_by_name=who,
        changed_at=AT if who else None,
        duration_minutes=None,
    )


def launch(
    groups: list[GroupState],
    *,
    name: str = "Trading v2",
    closed: bool = False,
    section_title: str = "Infrastructure",
) -> LaunchState:
    section = SectionState(id=10, position=0, title=section_title, groups=tuple(groups))
    phase = PhaseState(
        id=1,
        position=0,
        title="Pre-Launch Phase",
        timing="T-7 days",
        kind="checklist",
        posted=True,
        completed_at=None,
        sections=(section,),
    )
    later = PhaseState(
        id=2,
        position=1,
        title="Launch Day",
        timing="T-0",
        kind="checklist",
        posted=False,
        completed_at=None,
        sections=(),
    )
    return LaunchState(
        id=7,
        name=name,
        channel_id="C0WARROOM1",
        started_by_id="U0ALICE001",
        started_by_name="alice",
        started_at=AT,
        closed_at=AT if closed else None,
        closed_by_id="U0BOB00001" if closed else None,
        current_phase=0,
        phases=(phase, later),
        messages=(
            MessageRef(
                id=1,
                kind="card",
                section_id=None,
                part=0,
                channel_id="C0WARROOM1",
                ts="1.1",
                version=1,
                rendered_version=1,
            ),
        ),
    )


def section_ref(part: int = 0, version: int = 3) -> MessageRef:
    return MessageRef(
        id=2,
        kind="section",
        section_id=10,
        part=part,
        channel_id="C0WARROOM1",
        ts=None,
        version=version,
        rendered_version=0,
    )


def checkboxes(view: MessageView) -> list[dict]:
    return [
        e
        for b in view.blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["type"] == "checkboxes"
    ]


def test_a_tick_by_a_long_name_keeps_the_date_whole_within_75_characters() -> None:
    long_name = "Al & Maximiliana O'Donnell-Featherstonehaugh"
    state = launch(
        [
            GroupState(
                id=5,
                title="Database",
                stage=None,
                duration_minutes=None,
                items=(item(1, True, long_name), item(2, False, long_name)),
            )
        ]
    )
    view = section_message(state, section_ref())
    [element] = checkboxes(view)
    for option in element["options"]:
        text = option["description"]["text"]
        assert len(text) <= 75 and text.endswith("|14:02 UTC>"), text
        assert "<!date^" in text and "&amp;" in text and "…" in text
    assert validate_message_blocks(view.blocks) == []


def test_checked_items_are_initial_options_with_who_and_when() -> None:
    state = launch(
        [
            GroupState(
                id=5,
                title="Database",
                stage=None,
                duration_minutes=None,
                items=(item(1, True, "alice"), item(2)),
            )
        ]
    )
    view = section_message(state, section_ref())
    [element] = checkboxes(view)
    assert element["action_id"] == ActionId.ITEM_TOGGLE
    assert [o["value"] for o in element["initial_options"]] == ["1"]
    # The reader's own time zone, with the pattern every time in Slack uses (kit.slack_date).
    at = int(datetime(2026, 12, 1, 14, 2, tzinfo=UTC).timestamp())
    assert element["options"][0]["description"] == {
        "type": "mrkdwn",
        "text": f"✓ alice · <!date^{at}^{{date_short_pretty}} {{time}}|14:02 UTC>",
        "verbatim": True,
    }
    assert "description" not in element["options"][1]
    assert validate_message_blocks(view.blocks) == []


def test_block_ids_change_with_the_message_version() -> None:
    state = launch(
        [GroupState(id=5, title="Database", stage=None, duration_minutes=None, items=(item(1),))]
    )
    ids_v3 = {b.get("block_id") for b in section_message(state, section_ref(version=3)).blocks}
    ids_v4 = {b.get("block_id") for b in section_message(state, section_ref(version=4)).blocks}
    assert "launch-items:5:0:v3" in ids_v3 and "launch-items:5:0:v4" in ids_v4


def test_group_of_more_than_ten_items_is_split_into_elements_of_ten() -> None:
    state = launch(
        [
            GroupState(
                id=5,
                title="Big",
                stage=None,
                duration_minutes=None,
                items=tuple(item(n) for n in range(1, 24)),
            )
        ]
    )
    view = section_message(state, section_ref())
    assert [len(e["options"]) for e in checkboxes(view)] == [10, 10, 3]
    assert validate_message_blocks(view.blocks) == []


def test_section_too_big_for_one_message_is_split_across_parts() -> None:
    groups = [
        GroupState(
            id=100 + g,
            title=f"G{g}",
            stage=None,
            duration_minutes=None,
            items=tuple(item(g * 10 + n) for n in range(3)),
        )
        for g in range(30)
    ]
    state = launch(groups)
    first = section_message(state, section_ref(part=0))
    second = section_message(state, section_ref(part=1))
    assert len(first.blocks) <= 50 and validate_message_blocks(first.blocks) == []
    assert validate_message_blocks(second.blocks) == []
    values = {o["value"] for v in (first, second) for e in checkboxes(v) for o in e["options"]}
    assert len(values) == 90
    assert "(1/2)" in first.blocks[0]["text"]["text"]


def mrkdwn_objects(value: object) -> list[dict]:
    """Every mrkdwn text object anywhere in a block list."""
    if isinstance(value, list):
        return [t for v in value for t in mrkdwn_objects(v)]
    if isinstance(value, dict):
        found = [value] if value.get("type") == "mrkdwn" else []
        return found + [t for v in value.values() for t in mrkdwn_objects(v)]
    return []


def test_user_text_is_escaped_in_mrkdwn() -> None:
    state = launch(
        [
            GroupState(
                id=5,
                title="<!channel> & co",
                stage=None,
                duration_minutes=None,
                items=(item(1, text="<!everyone> item"),),
            )
        ],
        name="<!here> <@U0EVIL> launch",
        section_title="<#C0EVIL> section",
    )
    views = [
        launch_card(state),
        section_message(state, section_ref()),
        status_view(state, card_link="https://example.slack.com/archives/C0WARROOM1/p1"),
    ]
    objects = mrkdwn_objects([v.blocks for v in views])
    joined = "\n".join(t["text"] for t in objects) + "".join(v.text for v in views)
    for raw in ("<!channel>", "<!here>", "<@U0EVIL>", "<!everyone>", "<#C0EVIL>"):
        assert raw not in joined
    assert "&lt;!channel&gt; &amp; co" in joined  # section message and status
    assert "&lt;!here&gt; &lt;@U0EVIL&gt; launch" in joined
    assert "&lt;!everyone&gt; item" in joined  # status: still open
    assert "&lt;#C0EVIL&gt; section" in joined  # status: per section


def test_mrkdwn_text_objects_are_verbatim() -> None:
    """Automatic parsing would turn a plain ``@everyone`` in user text into a real mention."""
    state = launch(
        [GroupState(id=5, title="@everyone", stage=None, duration_minutes=None, items=(item(1),))],
        name="@channel launch",
    )
    views = [
        launch_card(state),
        section_message(state, section_ref()),
        status_view(state, card_link=None),
        notice("Closed *@channel launch*"),
    ]
    objects = mrkdwn_objects([v.blocks for v in views])
    objects.append(mrkdwn_text("Approved by <@U0CTO00001>: LGTM @channel"))
    assert objects and all(t.get("verbatim") is True for t in objects)
    for view in views:
        assert validate_message_blocks(view.blocks) == []


def test_long_item_text_is_truncated_to_slack_option_limit() -> None:
    state = launch(
        [
            GroupState(
                id=5, title="G", stage=None, duration_minutes=None, items=(item(1, text="x" * 200),)
            )
        ]
    )
    view = section_message(state, section_ref())
    assert len(checkboxes(view)[0]["options"][0]["text"]["text"]) == 75
    assert validate_message_blocks(view.blocks) == []


@pytest.mark.parametrize(
    "tail",
    ["R&amp;D", "<@U0CTO00001>", "<!date^1796289816^{date_short_pretty}|Dec 03>", "a &lt;b&gt;"],
)
def test_a_cut_never_splits_markup_and_keeps_text_far_before_a_stray_bracket(tail: str) -> None:
    """Slack would show half an entity ("R&am…") or a broken control sequence ("<@U0C…")."""
    for limit in range(40, 40 + len(tail) + 2):
        cut = truncate("x" * 38 + " " + tail + " and more", limit)
        assert len(cut) <= limit and cut.endswith("…")
        shown = cut.removesuffix("…")
        assert shown.count("<") == shown.count(">"), cut
        assert all(
            shown[i:].startswith(("&amp;", "&lt;", "&gt;")) for i, c in enumerate(shown) if c == "&"
        ), cut
    plain = "p95 < 100 ms " + "y" * 400  # raw text: a "<" far before the cut is not markup
    assert len(truncate(plain, 300)) == 300


def test_card_shows_progress_and_next_step() -> None:
    state = launch(
        [
            GroupState(
                id=5,
                title="G",
                stage=None,
                duration_minutes=None,
                items=(item(1, True, "alice"), item(2)),
            )
        ]
    )
    text = "\n".join(b["text"]["text"] for b in launch_card(state).blocks if b["type"] == "section")
    assert "Pre-Launch Phase* (T-7 days) — 1/2" in text
    assert "1 item(s) open" in text


def test_closed_launch_renders_read_only() -> None:
    state = launch(
        [GroupState(id=5, title="G", stage=None, duration_minutes=None, items=(item(1),))],
        closed=True,
    )
    card = launch_card(state)
    assert any(
        "Closed by <@U0BOB00001>" in b["text"]["text"]
        for b in card.blocks
        if b["type"] == "section"
    )
    footer = section_message(state, section_ref()).blocks[-1]["elements"][0]["text"]
    assert "read-only" in footer


def test_status_lists_open_items_of_current_phase_and_links_card() -> None:
    state = launch(
        [
            GroupState(
                id=5,
                title="Database",
                stage=None,
                duration_minutes=None,
                items=(item(1, True, "alice"), item(2, text="Failover tested")),
            )
        ]
    )
    view = status_view(state, card_link="https://example.slack.com/archives/C0WARROOM1/p1")
    text = "\n".join(
        b["text"]["text"] if "text" in b else b["elements"][0]["text"] for b in view.blocks
    )
    assert "Failover tested" in text and "Item 1" not in text.split("Still open")[1]
    assert "<https://example.slack.com/archives/C0WARROOM1/p1|Open the launch card>" in text
    assert validate_message_blocks(view.blocks) == []
