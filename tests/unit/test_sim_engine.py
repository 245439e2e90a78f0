# Matching and order lifecycle of the simulated Lighter engine: priority, time in force, reduce-only,
# modify, cancel, expiry, indexes and the event outbox.
from __future__ import annotations

import pytest
from sim_engine_support import EXPIRY_MS, SECOND, T0, eth, new_venue, usd

from sim.engine_types import (
    MIN_ORDER_INDEX,
    CancelAllOrdersTx,
    CancelAllTif,
    CreateOrderTx,
    ErrorCode,
    OrderType,
    SelfTradeBehavior,
    TimeInForce,
)
from sim.engine_views import AccountUpdate, BookLevelChange, OrderUpdate, TradeEvent

IOC = TimeInForce.IMMEDIATE_OR_CANCEL
POST_ONLY = TimeInForce.POST_ONLY


def test_price_then_time_priority() -> None:
    venue = new_venue()
    first, second, better, taker = (venue.trader() for _ in range(4))
    a = venue.place(first, usd(2001), eth(1), ask=True)
    b = venue.place(second, usd(2001), eth(1), ask=True)
    c = venue.place(better, usd(2000.5), eth(1), ask=True)
    venue.place(taker, usd(2001), eth(2.5), ask=False, tif=IOC)

    trades = list(reversed(venue.engine.recent_trades(0, 10)))
    assert [(t.ask_id, t.price, t.size) for t in trades] == [
        (c, usd(2000.5), eth(1)), (a, usd(2001), eth(1)), (b, usd(2001), eth(0.5))]
    assert all(t.bid_account_id == taker and t.is_maker_ask for t in trades)
    assert venue.status(a) == "filled"
    partly = venue.engine.order(b)
    assert partly is not None and partly.remaining_base_amount == eth(0.5)
    assert venue.engine.book_levels(0) == ([], [(usd(2001), eth(0.5))])


def test_book_levels_aggregate_best_first_with_depth() -> None:
    venue = new_venue()
    maker = venue.trader()
    for price, size in ((1999, 1), (1998, 2), (1999, 0.5), (2001, 1), (2003, 3), (2002, 2)):
        venue.place(maker, usd(price), eth(size), ask=price > 2000)
    bids, asks = venue.engine.book_levels(0)
    assert bids == [(usd(1999), eth(1.5)), (usd(1998), eth(2))]
    assert asks == [(usd(2001), eth(1)), (usd(2002), eth(2)), (usd(2003), eth(3))]
    assert venue.engine.book_levels(0, depth=1) == ([(usd(1999), eth(1.5))], [(usd(2001), eth(1))])
    assert venue.engine.best_bid_ask(0) == (usd(1999), usd(2001))
    assert venue.engine.mark_price(0) == usd(2000)  # mid before any trade


def test_post_only_that_would_cross_is_canceled_not_rejected() -> None:
    venue = new_venue()
    maker, poster = venue.trader(), venue.trader()
    venue.place(maker, usd(2000), eth(1), ask=True)
    order = venue.place(poster, usd(2000), eth(1), ask=False, tif=POST_ONLY)
    assert venue.status(order) == "canceled-post-only"
    assert venue.engine.recent_trades(0) == []
    assert venue.engine.book_levels(0) == ([], [(usd(2000), eth(1))])
    resting = venue.place(poster, usd(1999.99), eth(1), ask=False, tif=POST_ONLY)
    assert venue.status(resting) == "open"


def test_partial_fill_rests_the_remainder_of_a_gtt_order() -> None:
    venue = new_venue()
    maker, taker = venue.trader(), venue.trader()
    ask = venue.place(maker, usd(2000), eth(0.3), ask=True)
    bid = venue.place(taker, usd(2000.5), eth(1), ask=False)
    view = venue.engine.order(bid)
    assert view is not None
    assert (view.status.value, view.filled_base_amount, view.remaining_base_amount) == ("open", eth(0.3), eth(0.7))
    assert view.filled_quote_amount == 600_000_000  # 0.3 × $2000 in micro-USDC
    assert venue.status(ask) == "filled"
    assert venue.engine.book_levels(0) == ([(usd(2000.5), eth(0.7))], [])


def test_ioc_remainder_is_canceled_and_never_rests() -> None:
    venue = new_venue()
    maker, taker = venue.trader(), venue.trader()
    venue.place(maker, usd(2000), eth(0.3), ask=True)
    venue.place(maker, usd(2002), eth(1), ask=True)
    bid = venue.place(taker, usd(2001), eth(1), ask=False, tif=IOC)
    view = venue.engine.order(bid)
    assert view is not None
    assert (view.status.value, view.filled_base_amount) == ("canceled", eth(0.3))
    assert venue.engine.book_levels(0) == ([], [(usd(2002), eth(1))])
    assert venue.engine.orders(taker) == []


def test_market_order_fills_within_its_worst_price_then_reports_why_it_stopped() -> None:
    venue = new_venue()
    maker, taker = venue.trader(), venue.trader()
    venue.place(maker, usd(2000), eth(0.5), ask=True)
    venue.place(maker, usd(2010), eth(0.5), ask=True)
    venue.place(maker, usd(2050), eth(1), ask=True)
    full = venue.market(taker, usd(2010), eth(0.6), ask=False)
    assert venue.status(full) == "filled"
    stopped = venue.market(taker, usd(2020), eth(1), ask=False)
    view = venue.engine.order(stopped)
    assert view is not None
    assert (view.status.value, view.filled_base_amount) == ("canceled-too-much-slippage", eth(0.4))
    drained = venue.market(taker, usd(3000), eth(2), ask=False)
    view = venue.engine.order(drained)
    assert view is not None
    assert (view.status.value, view.filled_base_amount) == ("canceled-not-enough-liquidity", eth(1))
    assert venue.position(taker) == eth(2)


def test_market_order_needs_ioc_and_zero_expiry() -> None:
    venue = new_venue()
    trader = venue.trader()
    gtt_market = CreateOrderTx(0, 0, eth(1), usd(2000), False, order_type=OrderType.MARKET,
                               time_in_force=TimeInForce.GOOD_TILL_TIME, order_expiry_ms=EXPIRY_MS)
    assert venue.send(trader, gtt_market).code == ErrorCode.INVALID_TIME_IN_FORCE
    ioc_with_expiry = CreateOrderTx(0, 0, eth(1), usd(2000), False, time_in_force=IOC, order_expiry_ms=EXPIRY_MS)
    assert venue.send(trader, ioc_with_expiry).code == ErrorCode.INVALID_EXPIRY


def test_reduce_only_cannot_open_increase_or_flip() -> None:
    venue = new_venue()
    trader, other = venue.trader(), venue.trader()
    flat = venue.place(trader, usd(2000), eth(1), ask=True, reduce_only=True)
    assert venue.status(flat) == "canceled-reduce-only"

    venue.place(other, usd(2000), eth(1), ask=True)
    venue.place(trader, usd(2000), eth(1), ask=False, tif=IOC)  # long 1
    increase = venue.place(trader, usd(1990), eth(1), ask=False, reduce_only=True)
    assert venue.status(increase) == "canceled-reduce-only"

    venue.place(other, usd(1995), eth(5), ask=False)
    close = venue.place(trader, usd(1995), eth(3), ask=True, tif=IOC, reduce_only=True)
    view = venue.engine.order(close)
    assert view is not None
    assert view.filled_base_amount == eth(1)
    assert view.status.value == "canceled-reduce-only"
    assert venue.position(trader) == 0


def test_resting_reduce_only_is_canceled_when_the_position_closes_elsewhere() -> None:
    venue = new_venue()
    trader, other = venue.trader(), venue.trader()
    venue.place(other, usd(2000), eth(1), ask=True)
    venue.place(trader, usd(2000), eth(1), ask=False, tif=IOC)
    take_profit = venue.place(trader, usd(2100), eth(1), ask=True, reduce_only=True)
    assert venue.status(take_profit) == "open"
    venue.place(other, usd(1990), eth(1), ask=False)
    venue.place(trader, usd(1990), eth(1), ask=True, tif=IOC)  # closes the long
    assert venue.status(take_profit) == "canceled-reduce-only"
    assert venue.engine.book_levels(0) == ([], [])


def test_self_trade_expires_the_resting_order_by_default() -> None:
    venue = new_venue()
    trader, other = venue.trader(), venue.trader()
    own = venue.place(trader, usd(2000), eth(1), ask=True)
    foreign = venue.place(other, usd(2001), eth(1), ask=True)
    bid = venue.place(trader, usd(2001), eth(1), ask=False, tif=IOC)
    assert venue.status(own) == "canceled-self-trade"
    assert venue.status(foreign) == "filled"
    assert venue.status(bid) == "filled"
    own_again = venue.place(trader, usd(2002), eth(1), ask=True)
    taker = venue.place(trader, usd(2002), eth(1), ask=False, stp=SelfTradeBehavior.EXPIRE_TAKER)
    assert (venue.status(own_again), venue.status(taker)) == ("open", "canceled-self-trade")


def test_modify_smaller_size_keeps_priority_but_new_price_or_larger_size_loses_it() -> None:
    venue = new_venue()
    first, second, taker = venue.trader(), venue.trader(), venue.trader()
    a = venue.place(first, usd(2000), eth(1), ask=True, cid=11)
    b = venue.place(second, usd(2000), eth(1), ask=True)
    assert venue.modify(first, a, usd(2000), eth(0.6)).accepted
    venue.place(taker, usd(2000), eth(0.1), ask=False, tif=IOC)
    assert venue.engine.recent_trades(0, 1)[0].ask_id == a  # still first in line

    assert venue.modify(first, 11, usd(2000), eth(0.9)).accepted  # larger, by client index
    venue.place(taker, usd(2000), eth(0.1), ask=False, tif=IOC)
    assert venue.engine.recent_trades(0, 1)[0].ask_id == b
    view = venue.engine.order(a)
    assert view is not None
    assert (view.remaining_base_amount, view.initial_base_amount) == (eth(0.9), eth(1.0))

    assert venue.modify(second, b, usd(1999), eth(0.9)).accepted  # better price, to the back of a new level
    assert venue.engine.book_levels(0)[1] == [(usd(1999), eth(0.9)), (usd(2000), eth(0.9))]


def test_modify_post_only_into_the_spread_crossing_cancels_it() -> None:
    venue = new_venue()
    maker, poster = venue.trader(), venue.trader()
    venue.place(maker, usd(2000), eth(1), ask=True)
    bid = venue.place(poster, usd(1990), eth(1), ask=False, tif=POST_ONLY)
    assert venue.modify(poster, bid, usd(2000), eth(1)).accepted
    assert venue.status(bid) == "canceled-post-only"


def test_modify_errors() -> None:
    venue = new_venue()
    owner, stranger = venue.trader(), venue.trader()
    order = venue.place(owner, usd(2000), eth(1), ask=True)
    assert venue.modify(stranger, order, usd(2001), eth(1)).code == ErrorCode.NOT_ORDER_OWNER
    assert venue.modify(owner, order, usd(2001), eth(0.001)).code == ErrorCode.INVALID_BASE_OR_QUOTE_AMOUNT
    assert venue.cancel(owner, order).accepted
    assert venue.modify(owner, order, usd(2001), eth(1)).code == ErrorCode.NOT_ACTIVE_ORDER


def test_cancel_by_exchange_or_client_index() -> None:
    venue = new_venue()
    owner, stranger = venue.trader(), venue.trader()
    by_exchange = venue.place(owner, usd(2000), eth(1), ask=True)
    by_client = venue.place(owner, usd(2001), eth(1), ask=True, cid=42)
    assert venue.cancel(stranger, by_exchange).code == ErrorCode.NOT_ORDER_OWNER
    assert venue.cancel(owner, by_exchange).order_index == by_exchange
    assert venue.cancel(owner, 42).order_index == by_client
    assert (venue.status(by_exchange), venue.status(by_client)) == ("canceled", "canceled")
    gone = venue.cancel(owner, by_exchange)
    assert (gone.code, gone.message, gone.http_status) == (21600, "given order is not an active limit order", 400)
    assert venue.engine.book_levels(0) == ([], [])
    assert [o.order_index for o in venue.engine.inactive_orders(owner)] == [by_client, by_exchange]


def test_cancel_all_now_for_one_market_or_all() -> None:
    venue = new_venue()
    owner, other = venue.trader(), venue.trader()
    eth_order = venue.place(owner, usd(2000), eth(1), ask=True)
    btc_order = venue.ok(owner, CreateOrderTx(1, 0, 100, 900_000, True, order_expiry_ms=EXPIRY_MS)).order_index
    foreign = venue.place(other, usd(2001), eth(1), ask=True)
    venue.ok(owner, CancelAllOrdersTx(CancelAllTif.IMMEDIATE, 0, market_index=1))
    assert [o.order_index for o in venue.engine.orders(owner)] == [eth_order]
    venue.ok(owner, CancelAllOrdersTx())
    assert venue.engine.orders(owner) == []
    assert venue.status(btc_order or 0) == "canceled"
    assert venue.status(foreign) == "open"


def test_scheduled_cancel_all_fires_at_its_time_and_abort_drops_it() -> None:
    venue = new_venue()
    owner = venue.trader()
    order = venue.place(owner, usd(2000), eth(1), ask=True)
    at_ms = T0 // 1_000_000 + 10 * 60_000
    too_soon = CancelAllOrdersTx(CancelAllTif.SCHEDULED, T0 // 1_000_000 + 60_000)
    assert venue.send(owner, too_soon).code == ErrorCode.INVALID_EXPIRY
    venue.ok(owner, CancelAllOrdersTx(CancelAllTif.SCHEDULED, at_ms))
    venue.engine.expire(at_ms * 1_000_000 - 1)
    assert venue.status(order) == "open"
    venue.engine.expire(at_ms * 1_000_000)
    assert venue.status(order) == "canceled"

    later = venue.place(owner, usd(2000), eth(1), ask=True, now=T0 + 700 * SECOND)
    venue.ok(owner, CancelAllOrdersTx(CancelAllTif.SCHEDULED, at_ms + 600_000), now=T0 + 700 * SECOND)
    venue.ok(owner, CancelAllOrdersTx(CancelAllTif.ABORT), now=T0 + 701 * SECOND)
    venue.engine.expire(T0 + 3_000 * SECOND)
    assert venue.status(later) == "open"


def test_orders_expire_at_their_expiry() -> None:
    venue = new_venue()
    owner = venue.trader()
    short_ms = T0 // 1_000_000 + 6 * 60_000
    order = venue.place(owner, usd(2000), eth(1), ask=True, expiry_ms=short_ms)
    keeper = venue.place(owner, usd(2001), eth(1), ask=True)
    venue.engine.expire(short_ms * 1_000_000 - 1)
    assert venue.status(order) == "open"
    venue.place(owner, usd(1000), eth(1), ask=False, now=short_ms * 1_000_000)  # a transaction expires first
    assert venue.status(order) == "canceled-expired"
    assert venue.status(keeper) == "open"
    assert venue.engine.book_levels(0)[1] == [(usd(2001), eth(1))]


@pytest.mark.parametrize("ahead_ms", [0, 4 * 60_000, 31 * 24 * 3_600_000])
def test_gtt_expiry_outside_5_minutes_to_30_days_is_rejected(ahead_ms: int) -> None:
    venue = new_venue()
    owner = venue.trader()
    tx = CreateOrderTx(0, 0, eth(1), usd(2000), True, order_expiry_ms=T0 // 1_000_000 + ahead_ms)
    assert venue.send(owner, tx).code == ErrorCode.INVALID_EXPIRY


def test_minimum_base_and_quote_amounts() -> None:
    venue = new_venue()
    owner = venue.trader()
    below_base = CreateOrderTx(0, 0, 49, usd(5000), True, order_expiry_ms=EXPIRY_MS)  # 0.0049 ETH
    below_quote = CreateOrderTx(0, 0, 50, usd(1999), True, order_expiry_ms=EXPIRY_MS)  # 0.005 × 1999 < $10
    at_minimum = CreateOrderTx(0, 0, 50, usd(2000), True, order_expiry_ms=EXPIRY_MS)  # exactly $10
    assert venue.send(owner, below_base).code == ErrorCode.INVALID_BASE_OR_QUOTE_AMOUNT
    assert venue.send(owner, below_quote).code == ErrorCode.INVALID_BASE_OR_QUOTE_AMOUNT
    assert venue.send(owner, at_minimum).accepted
    assert venue.send(owner, CreateOrderTx(7, 0, 50, usd(2000), True, order_expiry_ms=EXPIRY_MS)).code == 21602


def test_client_order_index_unique_among_live_orders() -> None:
    venue = new_venue()
    owner, other = venue.trader(), venue.trader()
    first = venue.place(owner, usd(2000), eth(1), ask=True, cid=7)
    duplicate = venue.send(owner, CreateOrderTx(0, 7, eth(1), usd(1990), False, order_expiry_ms=EXPIRY_MS))
    assert (duplicate.code, duplicate.message) == (21728, "client order index already exists")
    assert venue.place(other, usd(2001), eth(1), ask=True, cid=7) > 0  # another account may use it
    assert venue.cancel(owner, first).accepted
    assert venue.place(owner, usd(2000), eth(1), ask=True, cid=7) != first  # free again once inactive
    too_big = venue.send(owner, CreateOrderTx(0, 2**48, eth(1), usd(1990), False, order_expiry_ms=EXPIRY_MS))
    assert too_big.code == ErrorCode.INVALID_CLIENT_ORDER_INDEX


def test_exchange_order_indexes_are_unique_and_at_least_2_pow_48() -> None:
    venue = new_venue()
    owner = venue.trader(exempt_from_limits=True)
    indexes = [venue.place(owner, usd(1900 + i), eth(1), ask=i % 2 == 0, tif=POST_ONLY) for i in range(0, 200, 2)]
    indexes += [venue.place(owner, usd(1000 + i), eth(1), ask=False) for i in range(50)]
    assert len(set(indexes)) == len(indexes)
    assert min(indexes) >= MIN_ORDER_INDEX
    assert all(i < 2**49 for i in indexes)


def test_outbox_reports_trades_orders_levels_and_accounts_of_one_transaction() -> None:
    venue = new_venue()
    maker, taker = venue.trader(), venue.trader()
    ask = venue.place(maker, usd(2000), eth(1), ask=True, cid=5)
    created = venue.engine.take_events()
    assert [type(e) for e in created] == [OrderUpdate, BookLevelChange]
    assert venue.engine.take_events() == []

    bid = venue.place(taker, usd(2000), eth(0.4), ask=False, tif=IOC, cid=6)
    events = venue.engine.take_events()
    assert [type(e) for e in events] == [TradeEvent, OrderUpdate, OrderUpdate, BookLevelChange, AccountUpdate,
                                         AccountUpdate]
    trade = events[0].trade  # type: ignore[union-attr]
    assert (trade.ask_id, trade.bid_id, trade.ask_client_id, trade.bid_client_id) == (ask, bid, 5, 6)
    assert (trade.maker_account_id, trade.taker_account_id, trade.is_maker_ask) == (maker, taker, True)
    assert (trade.price, trade.size, trade.usd_amount) == (usd(2000), eth(0.4), 800_000_000)
    states = {e.order.order_index: e.order for e in events if isinstance(e, OrderUpdate)}
    assert states[bid].status.value == "filled"
    assert (states[ask].status.value, states[ask].remaining_base_amount) == ("open", eth(0.6))
    assert events[3] == BookLevelChange(market_id=0, is_ask=True, price=usd(2000), size=eth(0.6))
    assert {(e.account_index, e.market_ids) for e in events if isinstance(e, AccountUpdate)} == {
        (maker, (0,)), (taker, (0,))}

    venue.cancel(maker, ask)
    events = venue.engine.take_events()
    assert events[-1] == BookLevelChange(market_id=0, is_ask=True, price=usd(2000), size=0)
