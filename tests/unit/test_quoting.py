# quoting.py: levels, sizes on the lot grid, the dynamic position limit and adding-side suppression.
# BTC-like market throughout: tick $0.1 (price_decimals 1), lot 0.00001 BTC (size_decimals 5),
# min_base_amount 0.0002 (20 lots), min_quote_amount $10; book 1_000_000 / 1_000_002 -> mid $100_000.1.
from __future__ import annotations

import dataclasses
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from params_support import default_params

from lmm.core.quoting import (
    CapitalSnapshot,
    MarketRules,
    QuoteLevel,
    QuotingParams,
    base_size_lots,
    build_target_quotes,
    max_position_usd,
)

BTC = MarketRules(price_decimals=1, size_decimals=5, min_base_lots=20, min_quote_amount_usd=10.0)
NOW = 10_000 * 10**9
CAPITAL = CapitalSnapshot(available_usd=1000.0, equity_usd=1000.0, refreshed_ns=NOW - 10**9)
MID = 1_000_001
DEFAULT = default_params().quoting


def quoting(**changes) -> QuotingParams:
    return dataclasses.replace(DEFAULT, **changes)


def quotes(params: QuotingParams = DEFAULT, **overrides):
    inputs = dict(
        level0_bid_tick=999_000,
        level0_ask_tick=1_001_002,
        best_bid_tick=1_000_000,
        best_ask_tick=1_000_002,
        floor_ref_tick=MID,
        position_lots=0,
        capital=CAPITAL,
        now_ns=NOW,
    )
    inputs.update(overrides)
    return build_target_quotes(params, BTC, **inputs)


def test_size_from_capital_is_floored_to_the_lot_grid():
    # $1000 * 0.12 * 2 = $240 / $100_000.1 = 0.0023999976 BTC -> 239 lots (never rounded up past the budget)
    assert base_size_lots(DEFAULT, BTC, CAPITAL, NOW, MID) == 239


def test_size_falls_back_to_base_amount_when_capital_unknown_or_stale():
    assert base_size_lots(DEFAULT, BTC, None, NOW, MID) == 20
    stale = dataclasses.replace(CAPITAL, refreshed_ns=NOW - 3601 * 10**9)
    assert base_size_lots(DEFAULT, BTC, stale, NOW, MID) == 20
    fresh_enough = dataclasses.replace(CAPITAL, refreshed_ns=NOW - 3599 * 10**9)
    assert base_size_lots(DEFAULT, BTC, fresh_enough, NOW, MID) == 239


def test_size_raised_to_exchange_minimums():
    tiny = CapitalSnapshot(available_usd=10.0, equity_usd=10.0, refreshed_ns=NOW)
    # $2.4 budget -> 2 lots; min_base 20 lots wins over $14.5 / $100k = 15 lots
    assert base_size_lots(DEFAULT, BTC, tiny, NOW, MID) == 20
    # with a $30 minimum order value: 30 / 100_000.1 = 29.9997 -> 30 lots
    assert base_size_lots(quoting(min_order_value_usd=30.0), BTC, tiny, NOW, MID) == 30


def test_min_order_value_checked_at_each_orders_own_price():
    # $20 minimum: 20 lots at mid, but a bid at $90_000 needs 20/90_000 -> 22.2 -> 23 lots
    params = quoting(min_order_value_usd=20.0)
    small = CapitalSnapshot(available_usd=10.0, equity_usd=1000.0, refreshed_ns=NOW)  # budget 2 lots
    result = quotes(params, level0_bid_tick=900_000, level0_ask_tick=1_100_000, capital=small)
    assert result is not None
    assert result.bids == (QuoteLevel(900_000, 23),)
    assert result.asks == (QuoteLevel(1_100_000, 20),)


def test_max_position_reserves_every_level_of_both_sides():
    # 0.9 * (1000 * 2 - 2 * 1 * 239 lots * $100_000.1) = 0.9 * (2000 - 478.000478)
    assert max_position_usd(DEFAULT, BTC, CAPITAL, NOW, 239, MID) == pytest.approx(1369.7995698)
    # two levels per side reserve twice as much
    two = quoting(levels_per_side=2)
    assert max_position_usd(two, BTC, CAPITAL, NOW, 239, MID) == pytest.approx(0.9 * (2000 - 956.000956))
    # never negative, and unknown without capital
    poor = CapitalSnapshot(available_usd=1000.0, equity_usd=100.0, refreshed_ns=NOW)
    assert max_position_usd(DEFAULT, BTC, poor, NOW, 239, MID) == 0.0
    assert max_position_usd(DEFAULT, BTC, None, NOW, 239, MID) is None


def test_level_ladder_scales_distance_by_spread_factor():
    result = quotes(quoting(levels_per_side=3))
    assert result is not None
    # D = 1001 ticks; level k at m -/+ D * 2^k, outside the scaled floors (16 bp, 32 bp)
    assert [lv.price_tick for lv in result.bids] == [999_000, 997_999, 995_997]
    assert [lv.price_tick for lv in result.asks] == [1_001_002, 1_002_003, 1_004_005]


def test_level_floor_scales_with_the_level():
    # level 0 only 11 ticks from mid: deeper levels sit on the b * f^k floor around the reference
    result = quotes(quoting(levels_per_side=3), level0_bid_tick=999_990, level0_ask_tick=1_000_012)
    assert result is not None
    # 1_000_001 * (1 - 16e-4) = 998_400.998 -> 998_400; * (1 - 32e-4) = 996_800.997 -> 996_800
    assert [lv.price_tick for lv in result.bids] == [999_990, 998_400, 996_800]
    # 1_000_001 * (1 + 16e-4) = 1_001_601.0016 -> up to 1_001_602; 1_003_201.0032 -> 1_003_202
    assert [lv.price_tick for lv in result.asks] == [1_000_012, 1_001_602, 1_003_202]


def test_levels_strictly_monotone_by_at_least_one_tick():
    params = quoting(levels_per_side=3, spread_factor_level1=1.0, min_half_spread_bps=0.0)
    result = quotes(params, level0_bid_tick=999_990, level0_ask_tick=1_000_012)
    assert result is not None
    assert [lv.price_tick for lv in result.bids] == [999_990, 999_989, 999_988]
    assert [lv.price_tick for lv in result.asks] == [1_000_012, 1_000_013, 1_000_014]


def test_level_pushed_below_one_tick_is_dropped_with_deeper_levels():
    params = quoting(levels_per_side=3, min_half_spread_bps=0.0, min_order_value_usd=0.0001)
    rules = MarketRules(price_decimals=1, size_decimals=5, min_base_lots=1, min_quote_amount_usd=0.0)
    result = build_target_quotes(
        params,
        rules,
        level0_bid_tick=2,
        level0_ask_tick=6,
        best_bid_tick=3,
        best_ask_tick=5,
        floor_ref_tick=4,
        position_lots=0,
        capital=None,
        now_ns=NOW,
    )
    # capital unknown and flat: no adding side at all
    assert result is None
    with_capital = build_target_quotes(
        params,
        rules,
        level0_bid_tick=2,
        level0_ask_tick=6,
        best_bid_tick=3,
        best_ask_tick=5,
        floor_ref_tick=4,
        position_lots=0,
        capital=CAPITAL,
        now_ns=NOW,
    )
    assert with_capital is not None
    assert [lv.price_tick for lv in with_capital.bids] == [2]  # level 1 would be at 0 ticks
    assert [lv.price_tick for lv in with_capital.asks] == [6, 8, 12]  # m + 2 * 2^k


def test_suppressed_level0_side_has_no_levels():
    result = quotes(quoting(levels_per_side=2), level0_bid_tick=0)
    assert result is not None
    assert result.bids == ()
    assert len(result.asks) == 2


def test_crossed_or_empty_book_quotes_nothing():
    assert quotes(level0_bid_tick=1_001_002, level0_ask_tick=1_001_002) is None
    assert quotes(best_bid_tick=0) is None
    assert quotes(best_bid_tick=1_000_002, best_ask_tick=1_000_002) is None


def test_within_limit_both_sides_quoted():
    result = quotes(position_lots=1000)  # $1000 < M = $1369.8
    assert result is not None
    assert result.bids and result.asks
    assert not result.reduce_only_bids and not result.reduce_only_asks
    assert result.max_position_usd == pytest.approx(1369.7995698)


def test_long_at_limit_suppresses_every_bid_level():
    result = quotes(quoting(levels_per_side=2), position_lots=2000)  # $2000 >= M
    assert result is not None
    assert result.bids == ()
    assert [lv.price_tick for lv in result.asks] == [1_001_002, 1_002_003]
    assert result.reduce_only_asks


def test_short_at_limit_suppresses_every_ask_level():
    result = quotes(quoting(levels_per_side=2), position_lots=-2000)
    assert result is not None
    assert result.asks == ()
    assert len(result.bids) == 2
    assert result.reduce_only_bids


def test_zero_limit_means_no_adding_side_never_no_limit():
    # M = 0.9 * max(0, 10 * 2 - 2 * 15 lots * $100_000.1) = 0: the reserve (raised to the $14.5 minimum,
    # from equity) exceeds what the equity carries
    poor = CapitalSnapshot(available_usd=1000.0, equity_usd=10.0, refreshed_ns=NOW)
    assert quotes(capital=poor) is None  # flat: both sides would add exposure
    long = quotes(capital=poor, position_lots=500)
    assert long is not None
    assert long.bids == ()
    assert long.asks and long.reduce_only_asks


def test_unknown_capital_means_no_adding_side():
    assert quotes(capital=None) is None
    short = quotes(capital=None, position_lots=-2000)
    assert short is not None
    assert short.asks == ()
    assert short.bids == (QuoteLevel(999_000, 20),)  # base_amount
    assert short.max_position_usd is None


def test_reducing_side_never_larger_than_the_position_above_exchange_minimum():
    poor = CapitalSnapshot(available_usd=1000.0, equity_usd=100.0, refreshed_ns=NOW)
    long = quotes(capital=poor, position_lots=150)  # $150 long, M = 0; size would be 239
    assert long is not None
    assert long.asks == (QuoteLevel(1_001_002, 150),)


def test_position_below_threshold_counts_as_flat():
    # 10 lots = $10 < $11: flat, so with M = 0 nothing is quoted, not even a "reducing" side
    poor = CapitalSnapshot(available_usd=1000.0, equity_usd=10.0, refreshed_ns=NOW)
    assert quotes(capital=poor, position_lots=10) is None
    assert quotes(capital=poor, position_lots=-10) is None
    # 12 lots = $12 >= $11: long, the ask may reduce it
    long = quotes(capital=poor, position_lots=12)
    assert long is not None and long.bids == () and long.asks


def test_stale_capital_treated_as_unknown_for_the_limit():
    stale = dataclasses.replace(CAPITAL, refreshed_ns=NOW - 7200 * 10**9)
    assert quotes(capital=stale) is None


def test_lot_conversion_is_exact_on_the_grid():
    # $100 at $97_000.7 (tick 970_007): 100 / 97_000.7 = 0.0010309 BTC -> 103 lots down, 104 up
    assert BTC.lots_for_usd(100.0, 970_007, round_up=False) == 103
    assert BTC.lots_for_usd(100.0, 970_007, round_up=True) == 104
    # exactly on the grid: $10 at $100_000 is 10 lots either way
    assert BTC.lots_for_usd(10.0, 1_000_000, round_up=True) == 10
    assert BTC.lots_for_usd(10.0, 1_000_000, round_up=False) == 10


def test_invalid_params_rejected():
    with pytest.raises(ValueError, match="levels_per_side"):
        quoting(levels_per_side=0)
    with pytest.raises(ValueError, match="spread_factor_level1"):
        quoting(spread_factor_level1=0.5)


@settings(max_examples=300, derandomize=True, database=None, deadline=None)  # repeatable
@given(
    spread=st.integers(min_value=1, max_value=50),
    bid_depth=st.integers(min_value=0, max_value=20_000),
    ask_depth=st.integers(min_value=0, max_value=20_000),
    levels=st.integers(min_value=1, max_value=5),
    factor=st.floats(min_value=1.0, max_value=4.0),
    position=st.integers(min_value=-5_000, max_value=5_000),
    equity=st.sampled_from([None, 0.0, 50.0, 1000.0, 100_000.0]),
)
def test_quote_invariants(spread, bid_depth, ask_depth, levels, factor, position, equity):
    params = quoting(levels_per_side=levels, spread_factor_level1=factor)
    best_bid, best_ask = 1_000_000, 1_000_000 + spread
    capital = None if equity is None else CapitalSnapshot(equity, equity, NOW)
    result = build_target_quotes(
        params,
        BTC,
        level0_bid_tick=best_bid - bid_depth,
        level0_ask_tick=best_ask + ask_depth,
        best_bid_tick=best_bid,
        best_ask_tick=best_ask,
        floor_ref_tick=(best_bid + best_ask) / 2,
        position_lots=position,
        capital=capital,
        now_ns=NOW,
    )
    if result is None:
        return
    bids = [lv.price_tick for lv in result.bids]
    asks = [lv.price_tick for lv in result.asks]
    assert all(a - b >= 1 for a, b in itertools.pairwise(bids))  # strictly down
    assert all(b - a >= 1 for a, b in itertools.pairwise(asks))  # strictly up
    if bids and asks:
        assert bids[0] < asks[0]  # never crossed
    assert len(bids) <= levels and len(asks) <= levels
    for level in (*result.bids, *result.asks):
        assert level.size_lots >= BTC.min_base_lots
        assert BTC.notional_usd(level.size_lots, level.price_tick) >= BTC.min_quote_amount_usd
    mid = (best_bid + best_ask) / 2
    value = BTC.notional_usd(abs(position), mid)
    limit = result.max_position_usd
    if value >= params.position_value_threshold_usd and (limit is None or limit <= 0 or value >= limit):
        adding = result.bids if position > 0 else result.asks
        assert adding == ()  # at or beyond the limit, the adding side is empty at every level
    if value < params.position_value_threshold_usd and (limit is None or limit <= 0):
        pytest.fail("flat with no limit room must quote nothing")
