"""The kill switch's decisions (lmm/core/kill_switch.py): each limit trips at its exact value, the UTC day
rolls over, the peak is tracked, the fill window slides, equity is re-marked between venue updates."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lmm.core.kill_switch import (
    DAILY_LOSS,
    DRAWDOWN,
    FILLS_PER_MINUTE,
    POSITION,
    SEC,
    KillSwitch,
    RiskLimits,
    RiskSnapshot,
)

OFF = {"max_drawdown_usd": 0.0, "max_daily_loss_usd": 0.0, "max_position_usd": 0.0, "max_fills_per_minute": 0}


def limits(**on: float) -> RiskLimits:
    """Every limit off (0) but the ones given."""
    return RiskLimits(**{**OFF, **on})


DAY1_NOON = int(datetime(2026, 3, 2, 12, tzinfo=UTC).timestamp()) * SEC
DAY2_START = int(datetime(2026, 3, 3, tzinfo=UTC).timestamp()) * SEC


class Feed:
    """Drives a KillSwitch the way the daemon does: each venue equity is a new update (a new anchor)."""

    def __init__(self, limits: RiskLimits) -> None:
        self.switch = KillSwitch(limits)
        self.now_ns = 1_000 * SEC
        self.wall_ns = DAY1_NOON
        self.updated_ns = 0

    def equity(self, usd: float, *, position: float = 0.0, mid: float | None = 100.0, advance_s: float = 1.0):
        self.now_ns += int(advance_s * SEC)
        self.wall_ns += int(advance_s * SEC)
        self.updated_ns = self.now_ns
        return self.switch.evaluate(RiskSnapshot(self.now_ns, self.wall_ns, usd, self.updated_ns, position, mid))

    def tick(self, *, position: float = 0.0, mid: float | None = 100.0, advance_s: float = 0.1):
        """A book frame: the venue's equity unchanged since its last update."""
        self.now_ns += int(advance_s * SEC)
        self.wall_ns += int(advance_s * SEC)
        equity = self.switch._anchor[1] if self.switch._anchor else None
        return self.switch.evaluate(RiskSnapshot(self.now_ns, self.wall_ns, equity, self.updated_ns or None,
                                                 position, mid))


def test_drawdown_trips_strictly_above_the_limit_from_the_peak():
    feed = Feed(limits(max_drawdown_usd=50.0))
    assert feed.equity(1_000.0) is None
    assert feed.equity(1_080.0) is None  # the new peak
    assert feed.equity(1_030.0) is None  # exactly 50 below the peak: not above it
    assert feed.switch.peak_usd == 1_080.0
    trip = feed.equity(1_029.5)
    assert trip is not None and trip.which == DRAWDOWN
    assert trip.value == pytest.approx(50.5) and trip.limit == 50.0
    assert trip.line == "KILL SWITCH: drawdown_usd 50.50 > 50.00"


def test_the_peak_only_rises():
    feed = Feed(limits(max_drawdown_usd=100.0))
    for equity in (1_000.0, 1_050.0, 990.0, 1_040.0, 960.0):
        assert feed.equity(equity) is None
    assert feed.switch.peak_usd == 1_050.0
    assert feed.equity(949.0).value == pytest.approx(101.0)


def test_daily_loss_counts_from_the_run_start_on_the_first_day():
    feed = Feed(limits(max_daily_loss_usd=40.0))
    assert feed.equity(500.0) is None  # the run starts at noon: its equity is the day's baseline
    assert feed.equity(460.0) is None
    trip = feed.equity(459.99)
    assert trip is not None and trip.which == DAILY_LOSS
    assert trip.value == pytest.approx(40.01)
    assert trip.line == "KILL SWITCH: daily_loss_usd 40.01 > 40.00"


def test_daily_loss_baseline_rolls_over_at_utc_midnight():
    feed = Feed(limits(max_daily_loss_usd=40.0))
    assert feed.equity(500.0) is None
    assert feed.equity(470.0) is None  # down 30 on day one
    feed.wall_ns = DAY2_START - SEC // 2
    assert feed.equity(465.0, advance_s=0) is None  # 23:59:59.5: still day one, down 35
    assert feed.equity(465.0) is None  # 00:00:00.5: the new day's baseline is 465
    assert feed.switch.day_start_usd == 465.0
    assert feed.equity(430.0) is None  # down 35 today, 70 since the run started: no daily trip
    assert feed.equity(424.0).which == DAILY_LOSS


def test_daily_loss_never_exceeds_the_drawdown():
    feed = Feed(limits(max_drawdown_usd=1e9, max_daily_loss_usd=1e9))
    for equity in (500.0, 560.0, 520.0, 600.0, 450.0, 470.0):
        feed.equity(equity)
        assert feed.switch.day_start_usd - feed.switch.equity_usd <= feed.switch.peak_usd - feed.switch.equity_usd


def test_position_cap_uses_absolute_position_times_mid():
    feed = Feed(limits(max_position_usd=1_000.0))
    assert feed.tick(position=-10.0, mid=100.0) is None  # exactly 1000
    assert feed.tick(position=10.0, mid=None) is None  # no mid: not judged
    trip = feed.tick(position=-10.0, mid=100.01)
    assert trip is not None and trip.which == POSITION
    assert trip.value == pytest.approx(1_000.1)
    assert trip.line == "KILL SWITCH: position_usd 1000.10 > 1000.00"


def test_fills_per_minute_counts_a_sliding_60_s_window():
    switch = KillSwitch(limits(max_fills_per_minute=3))
    t0 = 5_000 * SEC
    assert switch.on_fills(t0, 2, DAY1_NOON) is None
    assert switch.on_fills(t0 + 30 * SEC, 1, DAY1_NOON) is None  # 3 in the window: at the limit
    assert switch.on_fills(t0 + 60 * SEC, 1, DAY1_NOON) is None  # the first two left the window: 2
    assert switch.fills_in_window(t0 + 60 * SEC) == 2
    trip = switch.on_fills(t0 + 61 * SEC, 2, DAY1_NOON)  # 4 within (t0+1 s, t0+61 s]
    assert trip is not None and trip.which == FILLS_PER_MINUTE
    assert (trip.value, trip.limit) == (4.0, 3.0)
    assert trip.line == "KILL SWITCH: fills_per_minute 4 > 3"


def test_equity_is_re_marked_to_the_mid_between_venue_updates():
    feed = Feed(limits(max_drawdown_usd=25.0))
    assert feed.equity(1_000.0, position=2.0, mid=100.0) is None
    assert feed.tick(position=2.0, mid=95.0) is None  # 1000 + 2 x (95 - 100) = 990
    assert feed.switch.equity_usd == pytest.approx(990.0)
    trip = feed.tick(position=2.0, mid=87.0)  # 974: 26 below the peak, no venue update needed
    assert trip is not None and trip.which == DRAWDOWN and trip.value == pytest.approx(26.0)


def test_a_new_venue_value_replaces_the_marked_estimate():
    feed = Feed(limits(max_drawdown_usd=1e9))
    feed.equity(1_000.0, position=1.0, mid=100.0)
    feed.tick(position=1.0, mid=110.0)
    assert feed.switch.equity_usd == pytest.approx(1_010.0)
    feed.equity(1_007.0, position=1.0, mid=110.0)  # the venue's figure (fees, its own mark) wins
    assert feed.switch.equity_usd == pytest.approx(1_007.0)
    feed.tick(position=1.0, mid=111.0)  # re-marked from the new anchor
    assert feed.switch.equity_usd == pytest.approx(1_008.0)


def test_unknown_equity_judges_only_position_and_fills():
    switch = KillSwitch(limits(max_drawdown_usd=1.0, max_daily_loss_usd=1.0, max_position_usd=50.0))
    assert switch.evaluate(RiskSnapshot(SEC, DAY1_NOON, None, None, 0.4, 100.0)) is None
    assert switch.peak_usd is None
    assert switch.evaluate(RiskSnapshot(2 * SEC, DAY1_NOON, None, None, 0.6, 100.0)).which == POSITION


def test_zero_turns_a_limit_off():
    feed = Feed(limits())
    assert not feed.switch.limits.any_on
    feed.equity(1_000_000.0)
    assert feed.equity(1.0, position=1e6, mid=1e6) is None
    assert feed.switch.on_fills(feed.now_ns, 10_000, feed.wall_ns) is None


def test_the_first_trip_is_final():
    feed = Feed(limits(max_drawdown_usd=10.0, max_fills_per_minute=1))
    feed.equity(100.0)
    first = feed.equity(80.0)
    assert first is not None and first.which == DRAWDOWN
    assert feed.equity(200.0) is first  # recovering does not untrip it
    assert feed.switch.on_fills(feed.now_ns, 5, feed.wall_ns) is first
    assert feed.switch.tripped is first


def test_limits_come_from_the_risk_section(tmp_path):
    from lmm.config.config import load_config
    from lmm.core.params import build_params

    path = tmp_path / "config.json"
    path.write_text('{"risk": {"max_drawdown_usd": 12.5, "max_fills_per_minute": 7}}')
    config = load_config(path, env={"LMM_RISK_MAX_POSITION_USD": "300"})
    assert build_params(config).risk == RiskLimits(12.5, 100.0, 300.0, 7)
    assert config.risk.flatten_on_kill is False


@pytest.mark.parametrize(("key", "value"), [("max_drawdown_usd", "-1"), ("max_fills_per_minute", "2.5"),
                                            ("max_daily_loss_usd", "nan"), ("flatten_on_kill", "maybe")])
def test_bad_risk_values_are_config_errors(key, value):
    from lmm.config.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=f"risk.{key}"):
        load_config(None, env={f"LMM_RISK_{key.upper()}": value})
