"""The bot's clock: LAUNCHBOT_TIME_SCALE and LAUNCHBOT_CLOCK_START drive every timer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.__main__ import main
from bot.core.clock import BotClock
from bot.core.config import Settings


class FakeMonotonic:
    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


def test_clock_starts_where_told_and_runs_at_its_scale() -> None:
    real = FakeMonotonic()
    start = datetime(2026, 12, 9, 8, 0, tzinfo=UTC)
    clock = BotClock(scale=60, start=start, monotonic=real)
    assert clock() == start
    real.value += 60  # one real minute
    assert clock() == start + timedelta(hours=1)
    assert clock.real_seconds(3600) == 60


def test_clock_at_scale_one_follows_real_time() -> None:
    real = FakeMonotonic()
    clock = BotClock(monotonic=real)
    before = clock()
    real.value += 2.5
    assert clock() - before == timedelta(seconds=2.5)


def test_settings_read_the_clock_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAUNCHBOT_TIME_SCALE", "120")
    monkeypatch.setenv("LAUNCHBOT_CLOCK_START", "2026-12-09T08:00:00")
    settings = Settings()
    assert settings.time_scale == 120
    assert settings.clock_start == datetime(2026, 12, 9, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("scale", ["0", "-5", "fast"])
def test_a_scale_that_is_not_a_positive_number_is_refused(
    monkeypatch: pytest.MonkeyPatch, scale: str
) -> None:
    monkeypatch.setenv("LAUNCHBOT_TIME_SCALE", scale)
    with pytest.raises(ValueError, match="LAUNCHBOT_TIME_SCALE"):
        Settings()


def test_serve_with_a_bad_scale_names_the_variable_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LAUNCHBOT_TIME_SCALE", "0")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("launchbot: LAUNCHBOT_TIME_SCALE:") and "\n" not in err
