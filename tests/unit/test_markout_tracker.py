"""The rolling markouts of our own fills (1/5/30 s, per side) and the markout guard that widens the side being
picked off (issue 14, item 3): exact figures from literal fills and mids, and the guard inside
``MarketMaker.targets`` (off by default: the very same targets)."""
from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from params_support import default_params

from lmm.config.config import load_config
from lmm.core import markout_tracker
from lmm.core.account import Fill
from lmm.core.market import MarketInfo
from lmm.core.market_maker import MarketMaker
from lmm.core.markout_tracker import (
    MarkoutFigure,
    MarkoutTracker,
    guard_widening_bps,
    widen_level0,
)
from lmm.core.markouts import FillPoint, markout
from lmm.core.order_state import Side
from lmm.core.quoting import MAX_PRICE_TICK

SEC = 1_000_000_000
MS = 1_000_000
BTC = MarketInfo(1, "BTC", 1, 5, 20, 10_000_000)


def guard(**changes: object):
    return replace(default_params().markout_guard, enabled=True, **changes)


# ---- the tracker ------------------------------------------------------------------------------------------


def test_a_markout_is_the_mid_at_fill_plus_horizon_against_the_fill_price_signed_for_us():
    t = MarkoutTracker(window_fills=20, window_ns=300 * SEC)
    t.on_mid(0, 100.0)
    t.on_fill(500 * MS, True, 100.0)  # a buy at 100.0 at 0.5 s
    t.on_fill(500 * MS, False, 100.0)  # a sell at the same instant and price
    t.on_mid(1_000 * MS, 100.1)
    t.on_mid(1_600 * MS, 100.05)  # the first mid after 1.5 s: the 1 s markout takes the one before (100.1)
    assert t.rolling(1, True, 1_600 * MS) == MarkoutFigure(pytest.approx(10.0), 1)
    assert t.rolling(1, False, 1_600 * MS) == MarkoutFigure(pytest.approx(-10.0), 1)
    assert t.rolling(1, None, 1_600 * MS) == MarkoutFigure(pytest.approx(0.0), 2)
    assert t.rolling(5, True, 1_600 * MS) == MarkoutFigure(None, 0)  # not yet due
    t.on_mid(5_500 * MS, 99.9)  # exactly at 5.5 s: this mid
    assert t.rolling(5, True, 5_500 * MS) == MarkoutFigure(pytest.approx(-10.0), 1)
    assert t.rolling(5, False, 5_500 * MS) == MarkoutFigure(pytest.approx(10.0), 1)
    assert t.rolling(30, None, 5_500 * MS).count == 0
    t.on_mid(31 * SEC, 100.2)  # the first mid after 30.5 s: the 30 s markout takes the last before (99.9)
    assert t.run_total(30, True) == MarkoutFigure(pytest.approx(-10.0), 1)
    assert t.run_total(30, False) == MarkoutFigure(pytest.approx(10.0), 1)


def test_the_tracker_agrees_with_the_offline_markouts_of_the_backtest_report():
    fills = [FillPoint(1_200 * MS, True, 100.0), FillPoint(2_700 * MS, False, 100.3), FillPoint(4_100 * MS, True,
                                                                                                 99.8)]
    times = [0, 1_000 * MS, 2_000 * MS, 3_300 * MS, 4_200 * MS, 6_000 * MS, 7_800 * MS, 9_100 * MS, 40 * SEC]
    mids = [100.0, 100.1, 100.4, 100.2, 99.9, 99.7, 100.0, 100.5, 100.6]
    t = MarkoutTracker(window_fills=20, window_ns=300 * SEC)
    events = sorted([(f.time_ns, 1, f) for f in fills] + [(ts, 0, m) for ts, m in zip(times, mids, strict=True)],
                    key=lambda e: (e[0], e[1]))
    for time_ns, kind, item in events:
        if kind:
            t.on_fill(time_ns, item.is_buy, item.price)
        else:
            t.on_mid(time_ns, item)
    for horizon in (1, 5, 30):
        for side in (None, True, False):
            offline = markout(fills, times, mids, horizon, side)
            assert t.run_total(horizon, side) == MarkoutFigure(pytest.approx(offline.mean_bps), offline.count)


def test_the_rolling_window_keeps_the_last_fills_of_a_side_no_older_than_its_age():
    t = MarkoutTracker(window_fills=2, window_ns=10 * SEC)
    t.on_mid(0, 100.0)
    for i, mid_after in enumerate((100.1, 100.2, 99.7)):  # buys at 100.0, marked out at +10, +20, -30 bp
        t.on_fill(i * 2 * SEC, True, 100.0)
        t.on_mid(i * 2 * SEC + SEC, mid_after)
        t.on_mid(i * 2 * SEC + SEC + 1, 100.0)
    assert t.rolling(1, True, 5 * SEC + 1) == MarkoutFigure(pytest.approx(-5.0), 2)  # the last two: +20, -30
    assert t.run_total(1, True) == MarkoutFigure(pytest.approx(0.0), 3)  # the run keeps every fill
    assert t.rolling(1, False, 5 * SEC) == MarkoutFigure(None, 0)
    assert t.rolling(1, True, 12 * SEC) == MarkoutFigure(pytest.approx(-5.0), 2)  # 10 s old: still in
    assert t.rolling(1, True, 12 * SEC + 1) == MarkoutFigure(pytest.approx(-30.0), 1)  # the fill at 2 s aged out
    assert t.rolling(1, True, 14 * SEC + 1) == MarkoutFigure(None, 0)


def test_a_fill_before_any_mid_has_no_markout_and_bad_prices_are_ignored():
    t = MarkoutTracker(window_fills=5, window_ns=300 * SEC)
    t.on_fill(0, True, 100.0)
    t.on_fill(0, True, 0.0)
    t.on_fill(0, True, float("nan"))
    t.on_mid(2 * SEC, 101.0)  # due at 1 s, and no mid at or before then
    t.on_mid(3 * SEC, float("nan"))
    assert t.run_total(1, None) == MarkoutFigure(None, 0)


def test_pending_fills_are_bounded(monkeypatch):
    monkeypatch.setattr(markout_tracker, "MAX_PENDING", 3)
    t = MarkoutTracker(window_fills=10, window_ns=300 * SEC, horizons_s=(1,))
    t.on_mid(0, 100.0)
    for i in range(5):
        t.on_fill(i, True, 100.0)
    assert t.dropped == 2
    t.on_mid(2 * SEC, 100.0)
    assert t.run_total(1, True).count == 3


# ---- the guard rule ---------------------------------------------------------------------------------------


def adverse_buys(count: int, markout_bps: float, *, sells: int = 0) -> MarkoutTracker:
    """``count`` buys at 100.0 marked out at ``markout_bps`` at 1 s and 5 s; ``sells`` sells marked out at 0."""
    t = MarkoutTracker(window_fills=20, window_ns=300 * SEC)
    t.on_mid(0, 100.0)
    for _ in range(count):
        t.on_fill(SEC, True, 100.0)
    for _ in range(sells):
        t.on_fill(SEC, False, 100.0 * (1 + markout_bps / 1e4))
    t.on_mid(2 * SEC, 100.0 * (1 + markout_bps / 1e4))
    t.on_mid(6 * SEC, 100.0 * (1 + markout_bps / 1e4))
    return t


def test_the_guard_is_off_by_default():
    assert default_params().markout_guard.enabled is False
    assert guard_widening_bps(default_params().markout_guard, adverse_buys(10, -50.0), 6 * SEC) == (0.0, 0.0)


def test_the_picked_off_side_widens_by_a_step_plus_the_excess_and_the_other_does_not():
    # threshold 1 bp, step 2 bp: a -4 bp markout widens by 2 + (4 - 1) = 5 bp; the sells marked out at 0
    bid, ask = guard_widening_bps(guard(), adverse_buys(5, -4.0, sells=5), 6 * SEC)
    assert bid == pytest.approx(5.0)
    assert ask == 0.0


def test_the_widening_is_capped():
    assert guard_widening_bps(guard(), adverse_buys(5, -40.0), 6 * SEC) == (pytest.approx(10.0), 0.0)
    assert guard_widening_bps(guard(max_widen_bps=3.0), adverse_buys(5, -4.0), 6 * SEC) == (pytest.approx(3.0),
                                                                                          0.0)


def test_below_min_fills_or_above_the_threshold_nothing_widens():
    assert guard_widening_bps(guard(), adverse_buys(4, -40.0), 6 * SEC) == (0.0, 0.0)  # min_fills 5
    assert guard_widening_bps(guard(), adverse_buys(5, -0.9), 6 * SEC) == (0.0, 0.0)  # threshold 1 bp
    assert guard_widening_bps(guard(), adverse_buys(5, 30.0), 6 * SEC) == (0.0, 0.0)


def test_the_guard_reads_its_horizon_and_lifts_when_the_fills_age_out():
    t = MarkoutTracker(window_fills=20, window_ns=300 * SEC)
    t.on_mid(0, 100.0)
    for _ in range(5):
        t.on_fill(SEC, True, 100.0)
    t.on_mid(2 * SEC, 99.96)  # -4 bp at 1 s
    t.on_mid(6 * SEC, 100.0)  # 0 at 5 s
    assert guard_widening_bps(guard(horizon="1s"), t, 6 * SEC) == (pytest.approx(5.0), 0.0)
    assert guard_widening_bps(guard(horizon="5s"), t, 6 * SEC) == (0.0, 0.0)
    assert guard_widening_bps(guard(horizon="1s"), t, 301 * SEC + 1) == (0.0, 0.0)


def test_widening_moves_each_side_away_from_the_mid_in_whole_ticks():
    mid = 1_000_000.0  # 1 bp = 100 ticks
    assert widen_level0(999_900, 1_000_100, 5.0, 0.0, mid, MAX_PRICE_TICK) == (999_400, 1_000_100)
    assert widen_level0(999_900, 1_000_100, 0.0, 2.501, mid, MAX_PRICE_TICK) == (999_900, 1_000_351)  # rounded up
    assert widen_level0(0, 1_000_100, 5.0, 0.0, mid, MAX_PRICE_TICK) == (0, 1_000_100)  # suppressed stays so
    assert widen_level0(300, 1_000_100, 5.0, 0.0, mid, MAX_PRICE_TICK) == (0, 1_000_100)  # below one tick
    assert widen_level0(999_900, MAX_PRICE_TICK - 10, 0.0, 1.0, mid, MAX_PRICE_TICK) == (999_900, 0)
    assert widen_level0(999_900, 1_000_100, 0.0, 0.0, mid, MAX_PRICE_TICK) == (999_900, 1_000_100)


# ---- the guard in MarketMaker.targets --------------------------------------------------------------------


@dataclass
class Book:
    best_bid_tick: int
    best_ask_tick: int
    valid: bool = True

    @property
    def mid_ticks2(self) -> int:
        return self.best_bid_tick + self.best_ask_tick


class Feed:
    def __init__(self, book: Book) -> None:
        self.book = book


class Model:
    """The level-0 quote 100 ticks (1 bp) either side of the book's mid."""

    def __init__(self, book: Book) -> None:
        self._book = book

    def quote(self, now_ns: int, position: float, limit: float, best_bid: int, best_ask: int) -> tuple[int, int]:
        mid = (best_bid + best_ask) // 2
        return mid - 100, mid + 100

    def floor_reference_price(self, now_ns: int) -> float:
        return (self._book.best_bid_tick + self._book.best_ask_tick) / 2 * BTC.tick_size


def market_maker(env: dict[str, str], fills: int, fill_markout_bps: float) -> tuple[MarketMaker, int]:
    """A market maker whose ``fills`` buys at mid 1,000,000 ticks saw the mid move ``fill_markout_bps`` 1 s
    later (the book moves there and stays); returns it and the instant to plan at."""
    clock = [0]
    book = Book(999_990, 1_000_010)
    config = load_config(env={"LMM_VOL_OBI_MIN_HALF_SPREAD_BPS": "0", **env})
    mm = MarketMaker(config, BTC, 7, Model(book), clock_ns=lambda: clock[0], wall_ms=lambda: 1_780_000_000_000)
    mm.feed = Feed(book)
    mm.account.position_known = True
    mm.account.collateral = mm.account.available_balance = 10_000.0
    mm.account.capital_updated_ns = 0
    mm.on_book_tick(0)
    clock[0] = SEC
    mm.on_fills([Fill(i, Side.BID, 1_000_000, 20, True, 0) for i in range(fills)])
    move = round(1_000_000 * fill_markout_bps / 1e4)
    book.best_bid_tick, book.best_ask_tick = 999_990 + move, 1_000_010 + move
    clock[0] = 2 * SEC
    mm.on_book_tick(2 * SEC)
    return mm, 2 * SEC


GUARD_ON = {"LMM_MARKOUT_GUARD_ENABLED": "true"}


def test_off_by_default_the_targets_are_exactly_those_without_fills():
    adverse, now = market_maker({}, fills=10, fill_markout_bps=-4.0)
    untouched, _ = market_maker({}, fills=0, fill_markout_bps=-4.0)
    assert adverse.markouts.rolling(1, True, now) == MarkoutFigure(pytest.approx(-4.0), 10)
    targets = adverse.targets(now)
    assert targets is not None and targets == untouched.targets(now)
    assert targets.bids[0].price_tick == 999_600 - 100 and targets.asks[0].price_tick == 999_600 + 100
    assert adverse.guard_widening_bps == (0.0, 0.0)


def test_on_the_picked_off_bid_widens_by_the_formula_and_the_ask_stays():
    mm, now = market_maker(GUARD_ON, fills=5, fill_markout_bps=-4.0)
    targets = mm.targets(now)
    assert mm.guard_widening_bps == (pytest.approx(5.0), 0.0)  # 2 + (4 - 1) bp
    # 5 bp of the mid (999,600 ticks) = 499.8 ticks, rounded up to 500, below the model's bid
    assert targets is not None
    assert targets.bids[0].price_tick == 999_500 - 500
    assert targets.asks[0].price_tick == 999_700


def test_on_below_min_fills_nothing_widens():
    mm, now = market_maker(GUARD_ON, fills=4, fill_markout_bps=-4.0)
    off, _ = market_maker({}, fills=4, fill_markout_bps=-4.0)
    assert mm.targets(now) == off.targets(now)
    assert mm.guard_widening_bps == (0.0, 0.0)
