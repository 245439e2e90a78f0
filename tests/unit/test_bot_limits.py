"""MarketMaker._within_limit: a side is quoted only if its worst case (every order of the side filled)
stays within the dynamic limit, counting resting and in-flight orders (pure)."""
import time

from lmm.config.config import load_config
from lmm.core.market import MarketInfo
from lmm.core.market_maker import MarketMaker, build_model
from lmm.core.quoting import QuoteLevel, TargetQuotes

BTC = MarketInfo(1, "BTC", 1, 5, 20, 10_000_000)
MID_TICK = 1_000_000.0  # $100,000: 100 lots = $100


def make(position_lots: int) -> MarketMaker:
    config = load_config(env={})
    mm = MarketMaker(config, BTC, 7, build_model(config, BTC), clock_ns=time.monotonic_ns,
                     wall_ms=lambda: time.time_ns() // 1_000_000)
    mm.account.position_lots = position_lots
    return mm


def targets(size: int = 30) -> TargetQuotes:
    return TargetQuotes(bids=(QuoteLevel(999_000, size),), asks=(QuoteLevel(1_001_000, size),))


def test_flat_with_room_keeps_both_sides():
    assert make(0)._within_limit(targets(), 100.0, MID_TICK) == targets()


def test_side_whose_fill_would_cross_the_limit_is_dropped():
    long = make(80)._within_limit(targets(), 100.0, MID_TICK)  # 80 + 30 lots = $110 > $100
    assert long is not None and long.bids == () and long.asks == targets().asks
    short = make(-80)._within_limit(targets(), 100.0, MID_TICK)
    assert short is not None and short.asks == () and short.bids == targets().bids


def test_in_flight_orders_count_toward_the_worst_case():
    mm = make(50)
    mm.orders.plan(TargetQuotes(bids=(QuoteLevel(999_000, 45),), asks=()), fair_tick=MID_TICK, quota=None,
                   position_lots=50, max_quota_ops=10, now_ns=1, now_ms=1_780_000_000_000)
    # a 45-lot bid is in flight: 50 + 45 = $95 fits, but the worst case must use the larger of in-flight and
    # target sizes, so a new 10-lot target still counts the 45 lots already sent
    assert mm._within_limit(targets(10), 100.0, MID_TICK).bids == targets(10).bids
    assert mm._within_limit(targets(10), 94.0, MID_TICK).bids == ()


def test_nothing_fits_means_no_quote_and_unknown_limit_passes_through():
    assert make(0)._within_limit(targets(), 20.0, MID_TICK) is None
    assert make(0)._within_limit(targets(), None, MID_TICK) == targets()


def test_silent_book_blocks_quoting():
    from lmm.book.lighter_book import LighterBook
    from lmm.core.book_freshness import BookCadence

    mm = make(0)
    mm.account.position_known = True

    class Feed:
        book = LighterBook(1, 1, 5)
        stats = type("Stats", (), {"last_valid_ns": 1_000})()
        cadence = BookCadence()  # no interval known yet: the absolute bound applies

    Feed.book.on_message({"type": "subscribed/order_book", "channel": "order_book:1",
                          "order_book": {"bids": [{"price": "99999.0", "size": "0.10000"}],
                                         "asks": [{"price": "100001.0", "size": "0.10000"}],
                                         "nonce": 5, "begin_nonce": 0}})
    mm.feed = Feed()
    silence = int(mm.config.safety.max_book_silence_sec * 1e9)
    assert mm._block_reason(1_000 + silence + 1) == "book silent"
    assert mm._block_reason(1_000 + silence // 2) != "book silent"
