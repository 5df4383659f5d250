"""Go-live steps come from the template's numbered stage groups, not from code."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.__main__ import main
from bot.checklist.parser import load_template, parse_template
from bot.golive.steps import derive_steps, golive_section_index, weight_in

CUSTOM = """# Payments cut-over

## Cut-over day (T-0)

### Before
- [ ] Freeze merges

### Rollout
1. **Dark launch (15 min)**
   - [ ] Mirror writes
2. **Pilot at 5% (45 min)**
   - [ ] Watch refunds
3. **Ramp**
   - [ ] Half of merchants 50% (2 hours)
   - [ ] Sanity check dashboards
   - [ ] Everyone 100%
"""


def _steps(text: str):
    template = parse_template(text)
    for phase in template.phases:
        index = golive_section_index(phase.sections)
        if index is not None:
            return derive_steps(phase.sections[index])
    raise AssertionError("no go-live section")


def test_the_seed_has_six_steps_with_their_weights_and_soak_times() -> None:
    template = load_template()
    launch_day = next(p for p in template.phases if p.timing == "T-0")
    index = golive_section_index(launch_day.sections)
    assert index is not None
    steps = derive_steps(launch_day.sections[index])
    assert [(s.title, s.weight, s.soak_minutes) for s in steps] == [
        ("Shadow Mode", 0, 60),
        ("Canary Deployment", 10, 120),
        ("25% traffic", 25, 30),
        ("50% traffic", 50, 60),
        ("75% traffic", 75, 60),
        ("100% traffic", 100, 0),
    ]
    # A timed stage's items are ticked by hand; a rollout item is its own step (ticked by the bot).
    assert steps[0].items == (0, 1, 2, 3) and steps[0].self_item is None
    assert steps[2].items == () and steps[2].self_item == 0
    assert steps[5].self_item == 3


def test_a_custom_template_gets_its_own_steps() -> None:
    steps = _steps(CUSTOM)
    assert [(s.title, s.weight, s.soak_minutes) for s in steps] == [
        ("Dark launch", 0, 15),  # no percentage and not "shadow": keeps the previous weight, 0
        ("Pilot at 5%", 5, 45),
        ("Half of merchants 50%", 50, 120),
        ("Everyone 100%", 100, 0),
    ]
    # "Sanity check dashboards" is neither timed nor a share: not a step.
    assert all("Sanity" not in s.title for s in steps)


def test_a_step_without_a_share_keeps_the_previous_weight() -> None:
    text = CUSTOM.replace("Dark launch (15 min)", "Shadow (15 min)").replace(
        "Pilot at 5% (45 min)", "Pilot (45 min)"
    )
    text = text.replace("   - [ ] Mirror writes\n", "   - [ ] Mirror 20% of writes\n")
    steps = _steps(text)
    assert [s.weight for s in steps[:2]] == [20, 20]


@pytest.mark.parametrize(
    ("texts", "expected"),
    [(("Deploy to 10% traffic",), 10), (("no share",), None), (("250% growth", "7 %"), 7)],
)
def test_weight_is_the_first_share_of_at_most_100(texts: tuple[str, ...], expected: int) -> None:
    assert weight_in(*texts) == expected


def test_validate_prints_the_steps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "custom.md"
    path.write_text(CUSTOM)
    assert main(["checklist", "validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert 'go-live: 4 steps in "Rollout"' in out
    assert "2. Pilot at 5% · 5% live · soak 45 min" in out
    assert "4. Everyone 100% · 100% live · no soak" in out
