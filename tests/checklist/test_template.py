"""The Markdown checklist template parser: the bundled default, and broken files reported line by line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.checklist.line_grammar import role_id, split_duration
from bot.checklist.parser import load_template, parse_template, validate_template_file
from bot.checklist.template import (
    DEFAULT_ITEM_KEYS,
    DEFAULT_TEMPLATE_PATH,
    ChecklistTemplate,
    TemplateParseError,
)

# A small valid template; the error tests break it one line at a time.
MINIMAL = """\
# Launch
## Prep (T-1 days)
### Infra
- [ ] **Database**
  - [ ] Provisioned
- [ ] Flat item
"""


def errors_of(text: str) -> list[tuple[int, str]]:
    with pytest.raises(TemplateParseError) as info:
        parse_template(text)
    return info.value.errors


def error_lines(text: str) -> list[int]:
    return [line for line, _ in errors_of(text)]


def message_at(text: str, line: int) -> str:
    messages = [message for n, message in errors_of(text) if n == line]
    assert messages, f"no error on line {line}: {errors_of(text)}"
    return messages[0]


@pytest.fixture(scope="module")
def default() -> ChecklistTemplate:
    return load_template()


# --- the bundled default ---------------------------------------------------------------------------


def test_default_title_and_phases(default: ChecklistTemplate) -> None:
    assert default.title == "Production Launch Checklist"
    assert [(p.title, p.timing, p.kind) for p in default.phases] == [
        ("Pre-Launch Phase", "T-7 days", "checklist"),
        ("Launch Day", "T-0", "checklist"),
        ("Post-Launch", "T+1", "checklist"),
        ("Rollback Criteria", None, "criteria"),
    ]
    assert [p.line for p in default.phases] == [3, 71, 136, 175]


def test_default_sections(default: ChecklistTemplate) -> None:
    pre, launch, post, rollback = default.phases
    assert [s.title for s in pre.sections] == ["Infrastructure", "Security", "Trading System"]
    assert [s.title for s in launch.sections] == [
        "Morning Checks (Pre-Market)",
        "Go-Live Sequence",
        "Monitoring During Launch",
    ]
    assert [s.title for s in post.sections] == ["Morning After Review", "First Week Monitoring"]
    assert [s.title for s in rollback.sections] == [
        "Immediate Rollback Triggers",
        "Gradual Rollback Triggers",
    ]


def test_default_groups_and_items(default: ChecklistTemplate) -> None:
    infrastructure = default.phases[0].sections[0]
    assert [g.title for g in infrastructure.groups] == [
        "Blue/Green Environments",
        "Database",
        "Secrets Management",
    ]
    database = infrastructure.groups[1]
    assert database.line == 13
    assert database.stage is None and database.duration_minutes is None
    assert [i.text for i in database.items] == [
        "Production database provisioned",
        "Read replicas configured",
        "Backup strategy implemented (daily snapshots)",
        "Connection pooling optimized",
        "Failover tested",
    ]
    assert [i.line for i in database.items] == [14, 15, 16, 17, 18]
    assert all(i.duration_minutes is None for i in database.items)


def test_default_parentheses_that_are_not_durations_stay(default: ChecklistTemplate) -> None:
    texts = {i.text for p in default.phases for s in p.sections for g in s.groups for i in g.items}
    assert "Order routing tested (shadow mode)" in texts
    assert "API latency < 100ms (p95)" in texts
    assert "Latency > 500ms (p95) for 10 minutes" in texts
    assert "Error rate > 1% for 5 minutes" in texts


def test_default_go_live_stages(default: ChecklistTemplate) -> None:
    go_live = default.phases[1].sections[1]
    assert go_live.title == "Go-Live Sequence"
    assert [(g.stage, g.title, g.duration_minutes) for g in go_live.groups] == [
        (1, "Shadow Mode", 60),
        (2, "Canary Deployment", 120),
        (3, "Progressive Rollout", None),
    ]
    assert [i.text for i in go_live.groups[0].items] == [
        "Enable shadow trading",
        "Monitor order simulation",
        "Verify risk calculations",
        "Check reconciliation",
    ]
    rollout = go_live.groups[2]
    assert [(i.text, i.duration_minutes) for i in rollout.items] == [
        ("25% traffic", 30),
        ("50% traffic", 60),
        ("75% traffic", 60),
        ("100% traffic", None),
    ]


def test_default_criteria_are_flat_lists(default: ChecklistTemplate) -> None:
    immediate, gradual = default.phases[3].sections
    assert [g.title for g in immediate.groups] == [None]
    assert immediate.groups[0].items[0].text == "Data corruption detected"
    assert len(immediate.groups[0].items) == 5
    assert len(gradual.groups[0].items) == 5


def test_default_counts(default: ChecklistTemplate) -> None:
    # 9 groups of 5 + (3x5 + 3x4 + 3x5) + 5 groups of 5 + 2x5 criteria
    assert default.counts() == (4, 10, 122)


def test_default_contacts(default: ChecklistTemplate) -> None:
    assert len(default.contacts) == 10
    assert [(c.category, c.role) for c in default.contacts] == [
        ("Internal Team", "Trading Lead"),
        ("Internal Team", "DevOps Lead"),
        ("Internal Team", "Security Lead"),
        ("Internal Team", "Product Owner"),
        ("Internal Team", "CTO"),
        ("External Vendors", "AWS Support"),
        ("External Vendors", "Exchange Support"),
        ("External Vendors", "Database Vendor"),
        ("External Vendors", "Security Vendor"),
        ("External Vendors", "Legal Counsel"),
    ]
    first = default.contacts[0]
    assert (first.value, first.line) == ("[Name] - [Phone]", 194)
    assert default.contacts[5].value == "[Case URL]"


def test_default_sign_off_roles(default: ChecklistTemplate) -> None:
    assert [(r.role_id, r.title) for r in default.sign_off_roles] == [
        ("cto", "CTO"),
        ("head_of_trading", "Head of Trading"),
        ("security_officer", "Security Officer"),
        ("devops_lead", "DevOps Lead"),
        ("product_owner", "Product Owner"),
    ]
    assert default.sign_off_roles[0].line == 211


def test_default_with_crlf_tabs_and_trailing_spaces_parses_the_same(
    default: ChecklistTemplate,
) -> None:
    text = DEFAULT_TEMPLATE_PATH.read_text(encoding="utf-8")
    mangled = "\r\n".join(line.replace("  - [ ]", "\t- [ ]") + "   " for line in text.split("\n"))
    assert "\t- [ ] Read replicas configured" in mangled
    assert parse_template(mangled, keys=DEFAULT_ITEM_KEYS) == default


# --- small pieces ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("25% traffic (30 min)", ("25% traffic", 30)),
        ("Soak (45 mins)", ("Soak", 45)),
        ("Soak (90 minutes)", ("Soak", 90)),
        ("Shadow Mode (1 hour)", ("Shadow Mode", 60)),
        ("Canary (2 hours)", ("Canary", 120)),
        ("Canary (2 h)", ("Canary", 120)),
        ("Bake (3 days)", ("Bake", 3 * 1440)),
        ("Order routing tested (shadow mode)", ("Order routing tested (shadow mode)", None)),
        ("API latency < 100ms (p95)", ("API latency < 100ms (p95)", None)),
        ("Wait (30 min) then check", ("Wait (30 min) then check", None)),
    ],
)
def test_split_duration(text: str, expected: tuple[str, int | None]) -> None:
    assert split_duration(text) == expected


# --- item keys: the bundled table, and a custom template's {#key} markers ----------------------------


def test_the_bundled_template_keys_the_four_items_the_bot_can_prove(
    default: ChecklistTemplate,
) -> None:
    keyed = {
        i.text: (i.key, i.line)
        for p in default.phases
        for s in p.sections
        for g in s.groups
        for i in g.items
        if i.key
    }
    assert keyed == {
        "Kill switch tested": ("killswitch.tested", 60),
        "Kill switch armed": ("killswitch.armed", 86),
        "Escalation working": ("escalation.tested", 133),
        "Audit trail complete": ("audit.verified", 151),
    }


def test_a_copy_of_the_bundled_template_elsewhere_has_no_keys(tmp_path: Path) -> None:
    copy = tmp_path / "mine.md"
    copy.write_bytes(DEFAULT_TEMPLATE_PATH.read_bytes())
    items = [
        i for p in load_template(copy).phases for s in p.sections for g in s.groups for i in g.items
    ]
    assert not any(i.key for i in items)


def test_a_key_marker_keys_the_item_and_is_not_part_of_its_text() -> None:
    text = (
        MINIMAL
        + "- [ ] Switch armed {#killswitch.armed}\n- [ ] Warm up (30 min)  {#audit.verified}\n"
    )
    items = parse_template(text).phases[0].sections[0].groups[1].items
    assert [(i.text, i.duration_minutes, i.key) for i in items] == [
        ("Flat item", None, None),
        ("Switch armed", None, "killswitch.armed"),
        ("Warm up", 30, "audit.verified"),
    ]


def test_an_unknown_or_repeated_key_is_an_error_on_its_line() -> None:
    text = (
        MINIMAL
        + "- [ ] A {#killswitch.armd}\n- [ ] B {#audit.verified}\n- [ ] C {#audit.verified}\n"
    )
    assert 'unknown item key "{#killswitch.armd}"' in message_at(text, 7)
    assert "{#killswitch.armed}" in message_at(text, 7)
    assert 'key "audit.verified" is already on the item of line 8' in message_at(text, 9)


def test_a_key_on_a_group_heading_is_an_error_not_part_of_its_title() -> None:
    text = (
        MINIMAL + "- [ ] **Risk** {#killswitch.armed}\n  - [ ] A\n1. **Canary {#audit.verified}**\n"
    )
    assert "marks an item the bot can prove, not a group" in message_at(text, 7)
    assert "marks an item the bot can prove, not a group" in message_at(text, 9)


def test_role_id() -> None:
    assert role_id("Head of Trading") == "head_of_trading"
    assert role_id("CTO") == "cto"
    assert role_id("  QA / Release-Manager ") == "qa_release_manager"


def test_minimal_template() -> None:
    template = parse_template(MINIMAL)
    (section,) = template.phases[0].sections
    assert [(g.title, [i.text for i in g.items]) for g in section.groups] == [
        ("Database", ["Provisioned"]),
        (None, ["Flat item"]),
    ]
    assert template.contacts == [] and template.sign_off_roles == []


def test_bold_inside_an_item_is_kept_and_checked_boxes_count() -> None:
    text = MINIMAL + "- [x] **Kill switch** armed\n"
    flat = parse_template(text).phases[0].sections[0].groups[1]
    assert [i.text for i in flat.items] == ["Flat item", "**Kill switch** armed"]


def test_consecutive_flat_items_share_one_group_and_a_bold_line_starts_a_new_one() -> None:
    text = "# T\n## P (T-1)\n### S\n- [ ] a\n- [ ] b\n- [ ] **G**\n  - [ ] c\n- [ ] d\n"
    groups = parse_template(text).phases[0].sections[0].groups
    assert [(g.title, [i.text for i in g.items]) for g in groups] == [
        (None, ["a", "b"]),
        ("G", ["c"]),
        (None, ["d"]),
    ]


def test_decorations_timings_and_unbolded_stage() -> None:
    text = (
        "# T\n## Launch (T-0) ✓\n### Go ✓\n1. Warm up (15 min)\n   - [ ] a\n"
        "## Prep (Tuesday)\n### Notes\n- [ ] b\n"
    )
    template = parse_template(text)
    launch, prep = template.phases
    assert (launch.title, launch.timing, launch.kind) == ("Launch", "T-0", "checklist")
    assert launch.sections[0].title == "Go"
    stage = launch.sections[0].groups[0]
    assert (stage.stage, stage.title, stage.duration_minutes) == (1, "Warm up", 15)
    # "(Tuesday)" is no timing: the phase is a criteria list with its parenthesis kept.
    assert (prep.title, prep.timing, prep.kind) == ("Prep (Tuesday)", None, "criteria")


def test_intro_text_under_the_title_and_separators_between_phases_are_allowed() -> None:
    text = (
        "# T\nRun this in the war room.\n\n## A (T-1)\n### S\n- [ ] a\n\n---\n\n"
        "## B (T-0)\n### S\n- [ ] b\n\n---\n**Document Version**: 1.0  \n- not parsed\n"
    )
    template = parse_template(text)
    assert [p.title for p in template.phases] == ["A", "B"]


def test_sign_off_table_variants() -> None:
    text = (
        MINIMAL + "## Signoff\n| Approver | Date |\n|:--|--:|\n| **CTO** | |\n| Head of QA |  |\n"
    )
    roles = parse_template(text).sign_off_roles
    assert [(r.role_id, r.title, r.line) for r in roles] == [
        ("cto", "CTO", 10),
        ("head_of_qa", "Head of QA", 11),
    ]


# --- broken templates: every problem, with its line ----------------------------------------------


def test_missing_title() -> None:
    text = "## Prep (T-1)\n### S\n- [ ] a\n"
    assert 'no "# Title"' in message_at(text, 1)


def test_item_outside_any_section() -> None:
    text = "# T\n## Prep (T-1)\n- [ ] foo\n### S\n- [ ] a\n"
    assert message_at(text, 3) == 'item "- [ ] foo" is not inside a "### Section" heading'


def test_item_before_any_phase() -> None:
    text = "# T\n- [ ] foo\n## Prep (T-1)\n### S\n- [ ] a\n"
    assert error_lines(text) == [2]
    assert '"### Section"' in message_at(text, 2) and '"## Phase"' in message_at(text, 2)


def test_section_outside_any_phase_is_reported_once() -> None:
    text = "# T\n### Orphan\n- [ ] a\n- [ ] b\n## Prep (T-1)\n### S\n- [ ] c\n"
    assert error_lines(text) == [2]
    assert 'section "### Orphan" is not inside a "## Phase' in message_at(text, 2)


def test_indented_item_without_a_group() -> None:
    text = "# T\n## Prep (T-1)\n### S\n  - [ ] nested\n- [ ] flat\n  - [ ] under flat\n"
    assert error_lines(text) == [4, 6]
    assert 'has no "- [ ] **Group**" or numbered stage above it' in message_at(text, 4)
    assert '"- [ ] under flat"' in message_at(text, 6)


def test_list_item_without_checkbox() -> None:
    text = MINIMAL + "- foo\n  - bar\n"
    assert error_lines(text) == [7, 8]
    assert message_at(text, 7) == '"- foo" is a list item without a checkbox; write "- [ ] …"'


def test_phase_without_sections_and_section_without_items() -> None:
    text = MINIMAL + "## Empty (T+1)\n## Hollow (T+2)\n### Nothing here\n"
    assert error_lines(text) == [7, 9]
    assert 'phase "Empty" has no "### Section"' in message_at(text, 7)
    assert 'section "Nothing here" has no items' in message_at(text, 9)


def test_group_and_stage_without_items() -> None:
    text = "# T\n## P (T-1)\n### S\n- [ ] **Lonely**\n- [ ] a\n1. **Shadow (1 hour)**\n"
    assert error_lines(text) == [4, 6]
    assert 'group "Lonely" has no indented' in message_at(text, 4)
    assert 'stage 1 "Shadow" has no indented' in message_at(text, 6)


def test_empty_item_text() -> None:
    text = MINIMAL + "- [ ]\n  - [ ]   \n- [ ] (30 min)\n"
    assert error_lines(text) == [7, 8, 9]
    assert "empty checklist item" in message_at(text, 7)


def test_no_checklist_phase() -> None:
    text = "# T\n## Rollback Criteria\n### S\n- [ ] a\n"
    assert error_lines(text) == [2]
    assert "no checklist phase" in message_at(text, 2)
    assert "no checklist phase" in message_at("# Only a title\n", 1)


def test_unknown_content() -> None:
    text = MINIMAL + "Some prose in a section\n> a quote\n"
    assert error_lines(text) == [7, 8]
    assert message_at(text, 7).startswith('unexpected line "Some prose in a section"')


def test_too_deep_heading_and_second_title() -> None:
    text = MINIMAL + "#### Deep\n# Another\n"
    assert error_lines(text) == [7, 8]
    assert "too deep" in message_at(text, 7)
    assert "second" in message_at(text, 8)


def test_item_too_long_for_slack() -> None:
    long_item = "x" * 93
    text = MINIMAL + f"- [ ] {long_item}\n- [ ] {'y' * 75}\n"
    assert error_lines(text) == [7]
    assert message_at(text, 7) == "item text is 93 characters; Slack shows at most 75"


def test_titles_too_long() -> None:
    long = "T" * 151
    text = (
        f"# T\n## {long} (T-1)\n### {long}\n- [ ] **{long}**\n  - [ ] a\n"
        f"1. **{long} (1 hour)**\n   - [ ] b\n### {'s' * 150}\n- [ ] c\n"
    )
    assert error_lines(text) == [2, 3, 4, 6]
    assert "phase title is 151 characters" in message_at(text, 2)
    assert "section title is 151 characters" in message_at(text, 3)
    assert "group title is 151 characters" in message_at(text, 4)


def test_duplicate_sign_off_role() -> None:
    text = (
        MINIMAL
        + "## Sign-offs\n| Role | Name |\n|---|---|\n| Head of Trading | |\n| head-of trading | |\n"
    )
    assert error_lines(text) == [11]
    assert 'appears twice (role id "head_of_trading")' in message_at(text, 11)


def test_sign_off_table_problems() -> None:
    text = MINIMAL + "## Sign off\nPlease sign.\n| Role |\n| CTO |\n|  |\n"
    assert error_lines(text) == [8, 10, 11]
    assert "Markdown table" in message_at(text, 8)
    assert "|------|" in message_at(text, 10)
    assert "no role name" in message_at(text, 11)


def test_contact_problems() -> None:
    text = (
        MINIMAL + "## Emergency Contacts\n### Internal Team\n- Trading Lead 555-0100\nCall them.\n"
    )
    assert error_lines(text) == [9, 10]
    assert '"- **Role**: name - phone"' in message_at(text, 9)


def test_checkbox_in_the_footer_is_not_silently_dropped() -> None:
    text = MINIMAL + "\n---\n**Document Version**: 1.0  \n- [ ] forgotten\n"
    assert error_lines(text) == [10]
    assert "after the closing" in message_at(text, 10)


def test_several_errors_are_all_reported_in_line_order() -> None:
    text = (
        "## Prep (T-1)\n"  # 1: no title (reported on line 1)
        "- [ ] outside\n"  # 2: no section
        "### S\n"
        "- foo\n"  # 4: no checkbox
        "  - [ ] orphan\n"  # 5: indented without group
        "- [ ] **Empty group**\n"  # 6: no items
        f"- [ ] {'z' * 80}\n"  # 7: too long
        "Random words\n"  # 8: unknown
        "## Nothing (T+1)\n"  # 9: no sections
    )
    errors = errors_of(text)
    assert [line for line, _ in errors] == [1, 2, 4, 5, 6, 7, 8, 9]
    assert str(TemplateParseError(errors)).startswith('line 1: the template has no "# Title"')


def test_crlf_and_tabs_keep_line_numbers() -> None:
    text = "# T\r\n## P (T-1)\r\n### S\r\n- [ ] **G**\r\n\t- [ ] tabbed  \r\n\t- bad\r\n"
    assert error_lines(text) == [6]
    text = text.replace("\t- bad\r\n", "")
    assert parse_template(text).phases[0].sections[0].groups[0].items[0].text == "tabbed"


# --- load_template and validate_template_file ----------------------------------------------------


def test_load_template_default_and_missing_file(tmp_path: Path) -> None:
    assert load_template(None) == load_template(DEFAULT_TEMPLATE_PATH)
    missing = tmp_path / "nope.md"
    with pytest.raises(TemplateParseError) as info:
        load_template(missing)
    ((line, message),) = info.value.errors
    assert line == 0 and message.startswith(f"cannot read {missing}")


def test_load_template_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.md"
    path.write_bytes("# Caf\xe9\n".encode("latin-1"))
    with pytest.raises(TemplateParseError) as info:
        load_template(path)
    assert info.value.errors[0][0] == 0
    assert "not UTF-8" in info.value.errors[0][1]


def test_validate_good_file(default: ChecklistTemplate) -> None:
    ok, report = validate_template_file(DEFAULT_TEMPLATE_PATH)
    assert ok
    assert report == (
        "OK: Production Launch Checklist — 4 phases, 10 sections, 122 items, "
        "10 contacts, 5 sign-off roles"
    )


def test_validate_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.md"
    path.write_text("# T\n## P (T-1)\n- [ ] foo\n### S\n- bar\n", encoding="utf-8")
    ok, report = validate_template_file(path)
    assert not ok
    assert report.splitlines() == [
        f'{path}:3: item "- [ ] foo" is not inside a "### Section" heading',
        f'{path}:4: section "S" has no items',
        f'{path}:5: "- bar" is a list item without a checkbox; write "- [ ] …"',
    ]


def test_validate_missing_file(tmp_path: Path) -> None:
    ok, report = validate_template_file(tmp_path / "missing.md")
    assert not ok
    assert report.startswith(f"{tmp_path / 'missing.md'}:0: cannot read")


def test_the_readme_card_example_counts_what_the_bundled_template_holds() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    shown = dict(re.findall(r"[▶️◻️]+ ([A-Za-z-]+(?: [A-Za-z]+)*) \([^)]*\) — \d+/(\d+)", readme))
    template = load_template()
    real = {
        p.title: sum(len(g.items) for s in p.sections for g in s.groups)
        for p in template.phases
        if p.kind == "checklist"
    }
    assert real == {"Pre-Launch Phase": 45, "Launch Day": 42, "Post-Launch": 25}
    assert {title: int(n) for title, n in shown.items()} == real
