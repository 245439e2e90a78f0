"""book_freshness: the Lighter book's cadence (a bounded ring, its median), the hold and stale thresholds,
the held targets (no create, no move; cancels still go), and the bot's use of them (pure, fast)."""
from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmm.book.lighter_book import LighterBook
from lmm.config.config import load_config
from lmm.core.book_freshness import (
    BookCadence,
    BookFreshness,
    SilenceParams,
    SilenceThresholds,
    book_freshness,
    held_targets,
    silence_thresholds,
)
from lmm.core.ids import ClientOrderIndex, OrderIndex
from lmm.core.intents import CancelOrder, CreateOrder, ModifyOrder
from lmm.core.market import MarketInfo
from lmm.core.market_maker import MarketMaker, build_model
from lmm.core.order_diff import CancelOp, DiffParams, diff_orders
from lmm.core.order_state import Side, SlotState
from lmm.core.orders import OrderSlot, initial_slots
from lmm.core.quoting import QuoteLevel, TargetQuotes

MS = 1_000_000
SEC = 1_000_000_000
PARAMS = SilenceParams(floor_ns=SEC, stale_multiple=20.0, hold_multiple=4.0, max_silence_ns=10 * SEC)
BTC = MarketInfo(1, "BTC", 1, 5, 20, 10_000_000)
MID_TICK = 1_000_000  # $100,000


def cadence_of(intervals_ms: list[int], **kwargs: int) -> BookCadence:
    cadence = BookCadence(**kwargs)
    now = 1_000 * SEC
    cadence.on_update(now)
    for interval in intervals_ms:
        now += interval * MS
        cadence.on_update(now)
    return cadence


# ---- cadence -------------------------------------------------------------------------------------------


def test_median_is_unknown_until_enough_intervals():
    assert cadence_of([50] * 7, min_intervals=8).median_ns is None
    assert cadence_of([50] * 8, min_intervals=8).median_ns == 50 * MS
    assert BookCadence().median_ns is None


def test_median_of_the_recent_intervals_ignores_one_long_gap():
    cadence = cadence_of([40, 60, 50] * 10 + [15_000] + [50] * 3)  # a 15 s stall, then the feed resumes
    assert cadence.median_ns == 50 * MS


def test_ring_is_bounded_and_forgets_the_oldest():
    cadence = cadence_of([1_000] * 64 + [20] * 33, capacity=64)
    assert cadence.intervals == 64
    assert cadence.median_ns == 20 * MS  # 33 of the 64 kept intervals are the new cadence


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=5_000), min_size=1, max_size=200),
       st.integers(min_value=1, max_value=64))
def test_median_matches_the_last_capacity_intervals(intervals_ms: list[int], capacity: int):
    cadence = cadence_of(intervals_ms, capacity=capacity, min_intervals=1)
    kept = sorted(i * MS for i in intervals_ms[-capacity:])
    assert cadence.intervals == len(kept)
    assert cadence.median_ns == kept[len(kept) // 2]


def test_a_broken_chain_does_not_count_the_outage():
    cadence = cadence_of([50] * 10)
    cadence.break_chain()  # book invalid: resubscribing
    cadence.on_update(10**6 * SEC)  # the snapshot, long after
    assert cadence.intervals == 10
    assert cadence.median_ns == 50 * MS


def test_a_clock_going_backwards_is_no_interval():
    cadence = cadence_of([50] * 10)
    cadence.on_update(1 * SEC)  # before the last update
    cadence.on_update(1 * SEC + 50 * MS)
    assert cadence.intervals == 11 and cadence.median_ns == 50 * MS


def test_cadence_arguments_are_checked():
    with pytest.raises(ValueError):
        BookCadence(capacity=4, min_intervals=5)


# ---- thresholds and the decision -------------------------------------------------------------------------


def test_thresholds_follow_the_cadence_within_floor_and_bound():
    assert silence_thresholds(PARAMS, 100 * MS) == SilenceThresholds(400 * MS, 2 * SEC)  # 20 x 100 ms
    assert silence_thresholds(PARAMS, 20 * MS) == SilenceThresholds(80 * MS, SEC)  # the floor
    assert silence_thresholds(PARAMS, 2 * SEC) == SilenceThresholds(8 * SEC, 10 * SEC)  # the absolute bound
    assert silence_thresholds(PARAMS, 5 * SEC) == SilenceThresholds(10 * SEC, 10 * SEC)  # hold <= stale


def test_unknown_cadence_uses_the_absolute_bound():
    assert silence_thresholds(PARAMS, None) == SilenceThresholds(10 * SEC, 10 * SEC)


def test_freshness_fresh_held_stale():
    thresholds = SilenceThresholds(hold_ns=200 * MS, stale_ns=SEC)
    last = 50 * SEC
    assert book_freshness(last, last + 200 * MS, thresholds) is BookFreshness.FRESH
    assert book_freshness(last, last + 201 * MS, thresholds) is BookFreshness.HELD
    assert book_freshness(last, last + SEC, thresholds) is BookFreshness.HELD
    assert book_freshness(last, last + SEC + 1, thresholds) is BookFreshness.STALE
    assert book_freshness(None, last, thresholds) is BookFreshness.STALE


# ---- held targets ---------------------------------------------------------------------------------------


def live(side: Side, level: int, price: int, size: int = 30, n: int = 1) -> OrderSlot:
    return OrderSlot(side, level, SlotState.LIVE, ClientOrderIndex(n), OrderIndex(2**48 + n), price, size)


def fresh(bid: int = 999_500, ask: int = 1_000_500, size: int = 40) -> TargetQuotes:
    return TargetQuotes(bids=(QuoteLevel(bid, size),), asks=(QuoteLevel(ask, size),))


def test_held_orders_stay_where_they_rest_and_idle_sides_stay_empty():
    slots = initial_slots(1)
    slots[(Side.BID, 0)] = live(Side.BID, 0, 999_000)
    held = held_targets(fresh(), slots)
    assert held == TargetQuotes(bids=(QuoteLevel(999_000, 30),), asks=())


def test_a_side_the_fresh_targets_drop_is_cancelled():
    slots = initial_slots(1)
    slots[(Side.BID, 0)] = live(Side.BID, 0, 999_000, n=1)
    slots[(Side.ASK, 0)] = live(Side.ASK, 0, 1_001_000, n=2)
    held = held_targets(TargetQuotes(bids=(), asks=(QuoteLevel(1_000_500, 40),)), slots)
    ops = diff_orders(held, slots, fair_tick=MID_TICK, quota_remaining=None, params=DiffParams(0.1, 1.5, 4))
    assert ops == [CancelOp(Side.BID, 0, OrderIndex(2**48 + 1), ops[0].reason)]
    assert held_targets(None, slots) is None


def test_ladder_ends_at_a_level_without_an_order():
    slots = initial_slots(2)
    slots[(Side.BID, 1)] = live(Side.BID, 1, 998_000)  # level 0 empty: level 1 cannot be held alone
    slots[(Side.ASK, 0)] = OrderSlot(Side.ASK, 0, SlotState.MODIFYING, ClientOrderIndex(3), OrderIndex(2**48 + 3),
                                     1_001_000, 30, pending_price_tick=1_000_800, pending_size_lots=30)
    slots[(Side.ASK, 1)] = OrderSlot(Side.ASK, 1, SlotState.CANCELING, ClientOrderIndex(4), OrderIndex(2**48 + 4),
                                     1_002_000, 30)
    wanted = TargetQuotes(bids=(QuoteLevel(999_000, 30), QuoteLevel(998_500, 30)),
                          asks=(QuoteLevel(1_000_500, 30), QuoteLevel(1_001_500, 30)))
    held = held_targets(wanted, slots)
    assert held.bids == () and held.asks == (QuoteLevel(1_000_800, 30),)


def random_slot(rng: random.Random, side: Side, level: int, n: int) -> OrderSlot:
    state = rng.choice(list(SlotState))
    if state is SlotState.IDLE:
        return OrderSlot(side, level)
    sign = 1 if side is Side.ASK else -1
    price = MID_TICK + sign * rng.randint(1, 3_000)
    return OrderSlot(side, level, state, ClientOrderIndex(n), OrderIndex(2**48 + n), price, rng.randint(1, 50),
                     pending_price_tick=price + sign * rng.randint(0, 50), pending_size_lots=rng.randint(1, 50))


def test_a_held_book_never_creates_or_moves_an_order_whatever_the_targets():
    rng = random.Random(20261126)
    params = DiffParams(base_threshold_bps=0.1, min_half_spread_bps=1.5, max_live_orders=6)
    for _ in range(2_000):
        slots = {(side, level): random_slot(rng, side, level, 1 + 2 * level + (side is Side.ASK))
                 for side in Side for level in range(3)}
        wanted = TargetQuotes(
            bids=tuple(QuoteLevel(MID_TICK - rng.randint(1, 3_000), rng.randint(1, 50))
                       for _ in range(rng.randint(0, 3))),
            asks=tuple(QuoteLevel(MID_TICK + rng.randint(1, 3_000), rng.randint(1, 50))
                       for _ in range(rng.randint(0, 3))))
        fair = MID_TICK + rng.randint(-300, 300)
        ops = diff_orders(held_targets(wanted, slots), slots, fair_tick=fair, quota_remaining=None, params=params)
        assert all(isinstance(op, CancelOp) for op in ops), (slots, wanted, ops)


# ---- the bot: pause and hold decisions ------------------------------------------------------------------


class FakeFeed:
    """The parts of LighterFeed the bot reads: a valid book, the last update and the cadence."""

    def __init__(self, last_valid_ns: int, cadence: BookCadence) -> None:
        self.book = LighterBook(1, 1, 5)
        self.book.on_message({"type": "subscribed/order_book", "channel": "order_book:1",
                              "order_book": {"bids": [{"price": "99999.0", "size": "0.10000"}],
                                             "asks": [{"price": "100001.0", "size": "0.10000"}],
                                             "nonce": 5, "begin_nonce": 0}})
        self.stats = type("Stats", (), {"last_valid_ns": last_valid_ns})()
        self.cadence = cadence


def bot_with_book(intervals_ms: list[int], clock: list[int]) -> MarketMaker:
    config = load_config(env={})
    mm = MarketMaker(config, BTC, 7, build_model(config, BTC), clock_ns=lambda: clock[0], wall_ms=lambda: 1)
    mm.account.position_known = True
    cadence = cadence_of(intervals_ms)
    mm.feed = FakeFeed(1_000 * SEC + sum(intervals_ms) * MS, cadence)
    return mm


def test_stale_book_is_a_logged_pause_that_lifts_when_the_book_updates(caplog):
    clock = [0]
    mm = bot_with_book([100] * 20, clock)  # median 100 ms: hold after 0.4 s, stale after 2 s
    last = mm.feed.stats.last_valid_ns
    assert mm.book_silence_thresholds() == SilenceThresholds(400 * MS, 2 * SEC)
    assert mm._block_reason(last + 2 * SEC) != "book silent"
    with caplog.at_level("INFO", logger="lighter_mm.bot"):
        assert mm._block_reason(last + 2 * SEC + 1) == "book silent"
        assert "book silent" in mm.pauses
        mm.feed.stats.last_valid_ns = last + 3 * SEC  # the feed resumes
        assert mm._block_reason(last + 3 * SEC) != "book silent"
    assert "book silent" not in mm.pauses
    assert "quoting paused: book silent no update for 2.00s (threshold 2.00s, median interval 100ms)" in caplog.text
    assert "pause lifted: book silent" in caplog.text


def test_compute_ops_holds_on_a_quiet_book_and_moves_on_a_fresh_one():
    clock = [0]
    mm = bot_with_book([100] * 20, clock)
    last = mm.feed.stats.last_valid_ns
    mm.orders.slots[(Side.BID, 0)] = live(Side.BID, 0, 999_000, n=1)
    mm._block_reason = lambda now_ns: None  # type: ignore[method-assign]  # only the book's age matters here
    mm.targets = lambda now_ns: fresh(bid=999_500)  # type: ignore[method-assign]  # the alpha moved the bid
    mm._last_fair_tick = float(MID_TICK)

    clock[0] = last + 401 * MS  # held: nothing created, nothing moved
    assert mm.compute_ops(max_quota_ops=10) == []
    mm.targets = lambda now_ns: TargetQuotes(bids=(), asks=(QuoteLevel(1_000_500, 40),))  # bid side dropped
    [cancel] = mm.compute_ops(max_quota_ops=10)
    assert isinstance(cancel, CancelOrder)

    mm.orders.slots[(Side.BID, 0)] = live(Side.BID, 0, 999_000, n=1)
    mm.targets = lambda now_ns: fresh(bid=999_500)  # type: ignore[method-assign]
    clock[0] = last + 400 * MS  # fresh: the bid is moved and the ask placed
    intents = mm.compute_ops(max_quota_ops=10)
    assert {type(i) for i in intents} == {ModifyOrder, CreateOrder}

