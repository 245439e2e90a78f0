"""The backtest report's performance figures as pure functions, each on a small case computed by hand."""
from __future__ import annotations

import math

import pytest

from lmm.core.quoting import MarketRules, QuotingParams
from lmm.daemon.backtest_metrics import (
    SECONDS_PER_YEAR,
    Fill,
    adverse_share,
    max_drawdown,
    seconds_at_limit,
    sharpe,
    spread_capture_usd,
)
from lmm.daemon.backtest_signal import MidPath, pearson

S = 1_000_000_000


def test_max_drawdown_is_the_largest_fall_from_a_running_peak():
    assert max_drawdown([]) == 0.0
    assert max_drawdown([1.0, 2.0, 3.0]) == 0.0
    # peaks 10 then 12: falls 10->7 (3) and 12->6 (6)
    assert max_drawdown([10.0, 8.0, 7.0, 12.0, 9.0, 6.0, 11.0]) == 6.0
    assert max_drawdown([5.0, 4.0]) == 1.0


def test_sharpe_is_the_mean_change_over_its_sample_deviation_per_second_and_annualised():
    # changes +1, -1, +2, +2: mean 1, sample variance ((0)^2+(-2)^2+1^2+1^2)/3 = 2
    figures = sharpe([100.0, 101.0, 100.0, 102.0, 104.0])
    assert figures.changes == 4
    assert figures.per_second == pytest.approx(1 / math.sqrt(2))
    assert figures.annualised == pytest.approx(1 / math.sqrt(2) * math.sqrt(365 * 86_400))
    assert SECONDS_PER_YEAR == 31_536_000
    assert sharpe([1.0, 2.0]).per_second is None  # one change: no deviation
    assert sharpe([3.0, 3.0, 3.0]).annualised is None  # flat equity: undefined, not infinite


def test_spread_capture_is_each_fills_edge_against_the_mid_at_its_time():
    path = MidPath([0, 10 * S, 20 * S], [100.0, 101.0, 101.0])
    fills = [Fill(5 * S, True, 99.5, 2.0),  # bought 0.5 under a mid of 100: +1.0
             Fill(10 * S, False, 101.25, 1.0),  # sold 0.25 over 101 (the mid at its own time): +0.25
             Fill(12 * S, True, 101.5, 1.0)]  # bought over the mid (a taker-like fill): -0.5
    assert spread_capture_usd(fills, path) == pytest.approx(0.75)
    assert spread_capture_usd([Fill(-1, True, 1.0, 1.0)], path) == 0.0  # before the first mid: nothing


def test_the_adverse_share_counts_fills_whose_1s_markout_is_negative():
    path = MidPath([0, 2 * S, 4 * S, 9 * S], [100.0, 99.0, 102.0, 102.0])
    fills = [Fill(1 * S, True, 99.9, 1.0),  # mid at 2 s: 99 < 99.9: adverse
             Fill(3 * S, True, 98.0, 1.0),  # mid at 4 s: 102: good
             Fill(3 * S, False, 101.0, 1.0),  # sold at 101, mid at 4 s 102: adverse
             Fill(int(8.5 * S), False, 103.0, 1.0)]  # no mid 1 s later (the path ends at 9 s): not counted
    assert adverse_share(fills, path) == {"share": 2 / 3, "adverse": 2, "count": 3}
    assert adverse_share(fills, path, side=True) == {"share": 0.5, "adverse": 1, "count": 2}
    assert adverse_share(fills, path, side=False)["count"] == 1
    assert adverse_share([], path)["share"] is None


def test_time_at_the_limit_uses_the_quoting_rules_limit():
    # M = 0.9 x (equity x leverage - 2 x levels x size x mid); size = 1000 x 0.1 x 2 / 100 = 2 base at mid 100
    # M = 0.9 x (2000 - 2 x 1 x 200) = 1440 USD, i.e. 14.4 base at mid 100
    params = QuotingParams(levels_per_side=1, spread_factor_level1=1.5, capital_usage_percent=0.1, leverage=2,
                           base_amount=0.01, min_order_value_usd=0.0, position_value_threshold_usd=11.0,
                           min_half_spread_bps=1.0)
    rules = MarketRules(price_decimals=2, size_decimals=3, min_base_lots=1, min_quote_amount_usd=0.0)
    positions = [0.0, 14.0, 14.4, -15.0, 0.05, 20.0]
    mids = [100.0, 100.0, 100.0, 100.0, 100.0, None]
    equity = [1000.0] * 6
    # 14.0 x 100 = 1400 < 1440: not at the limit; 1440 and 1500: at it; 5 USD counts as flat; no mid: not counted
    assert seconds_at_limit(params, rules, positions, mids, equity) == 2
    # less equity, a lower limit: 0.9 x (1980 - 2 x 198) = 1425.6, so 14.3 base (1430 USD) is at it only then
    assert seconds_at_limit(params, rules, [14.3, 14.3], [100.0, 100.0], [1000.0, 990.0]) == 1
    assert seconds_at_limit(params, rules, [0.0], [100.0], [0.0]) == 1  # no equity: no new exposure at all


def test_pearson_on_a_hand_computed_case():
    assert pearson([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]) == pytest.approx(1.0)
    assert pearson([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    # x = 1..4, y = 1, 3, 2, 4: sxy = 4, sxx = syy = 5: r = 0.8
    assert pearson([1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 4.0]) == pytest.approx(0.8)
    assert pearson([1.0, 2.0], [1.0, 2.0]) is None
    assert pearson([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) is None
    with pytest.raises(ValueError):
        pearson([1.0], [1.0, 2.0])
