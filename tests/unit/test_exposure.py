"""The exposure rule behind the position limit (issue 10, item 1), as pure functions and fast unit tests:
the worst case of a side counts the position, fills seen in order reports but not yet in the position,
every order of the side (resting, in flight, targeted: per slot the larger of order and target) and
orders no slot tracks; M is reserved from equity, so it does not grow as the position uses margin; an
untracked order is cancelled before anything new goes on its side."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest
from params_support import default_params

from lmm.config.config import load_config
from lmm.core.account import AccountState
from lmm.core.execution import ORPHAN_CANCEL_RETRY_NS, OrderManager
from lmm.core.exposure import side_exposure, within_limit, worst_position_lots
from lmm.core.ids import ClientOrderIndex, ClientOrderIndexAllocator, OrderIndex
from lmm.core.intents import CancelOrder, CreateOrder
from lmm.core.market import MarketInfo
from lmm.core.market_maker import MarketMaker, build_model
from lmm.core.order_diff import CancelOp, CancelReason, CreateOp, DiffParams, diff_orders
from lmm.core.order_state import Side, SlotState
from lmm.core.orders import OrderReport, OrderSlot, fill_delta, slot_exposure_lots
from lmm.core.outcomes import Outcome, SendResult
from lmm.core.quoting import CapitalSnapshot, MarketRules, QuoteLevel, TargetQuotes, position_limit_usd
from lmm.core.reconcile import DEFAULT_GRACE_NS

BTC = MarketInfo(1, "BTC", 1, 5, 20, 10_000_000)
RULES = MarketRules(1, 5, 20, 10.0)
MID = 1_000_000.0  # $100,000: 100 lots = $100
NOW = 10**13
OID = OrderIndex(2**48 + 5)


def slot(side: Side, level: int, state: SlotState, size: int, pending: int = 0, cid: int = 11,
         oid: OrderIndex | None = OID, filled: int = 0) -> OrderSlot:
    return OrderSlot(side, level, state, ClientOrderIndex(cid), oid, 999_000 if side is Side.BID else 1_001_000,
                     size, pending_size_lots=pending, filled_lots=filled)


def report(status: str = "open", remaining: int = 30, filled: int | None = 0, side: Side = Side.BID,
           oid: OrderIndex = OID, cid: int | None = 11, price: int = 999_000) -> OrderReport:
    return OrderReport(oid, None if cid is None else ClientOrderIndex(cid), side, status, price, remaining, filled)


# ---- per-slot worst case ------------------------------------------------------------------------------


def test_each_slot_counts_the_larger_of_its_order_and_its_target_never_the_largest_sum():
    # level 0 empty (its order just filled), level 1 still resting 40 lots; targets: 30 lots on each level.
    # max(sum of orders, sum of targets) = max(40, 60) = 60 would miss that level 1 keeps its 40 lots while
    # level 0 gets a new 30: the worst case is 30 + 40 = 70.
    slots = [slot(Side.BID, 1, SlotState.LIVE, 40)]
    targets = (QuoteLevel(999_000, 30), QuoteLevel(998_000, 30))
    assert side_exposure(Side.BID, slots, targets).orders_lots == 70
    # a live order and its own target are one order: the larger counts, not both
    assert side_exposure(Side.BID, [slot(Side.BID, 0, SlotState.LIVE, 25)], (QuoteLevel(999_000, 30),)
                         ).orders_lots == 30


def test_slot_exposure_counts_both_sizes_of_a_pending_modify_and_unconfirmed_cancels():
    assert slot_exposure_lots(slot(Side.BID, 0, SlotState.MODIFYING, 20, pending=35)) == 35
    assert slot_exposure_lots(slot(Side.BID, 0, SlotState.MODIFYING, 50, pending=35)) == 50
    assert slot_exposure_lots(slot(Side.BID, 0, SlotState.CANCELING, 20)) == 20
    assert slot_exposure_lots(slot(Side.BID, 0, SlotState.PLACING, 20, oid=None)) == 20
    assert slot_exposure_lots(OrderSlot(Side.BID, 0)) == 0


def test_other_side_slots_do_not_count():
    slots = [slot(Side.ASK, 0, SlotState.LIVE, 99)]
    assert side_exposure(Side.BID, slots, ()).total_lots == 0


def test_unsettled_fills_and_untracked_orders_add_to_the_worst_case():
    exposure = side_exposure(Side.BID, [slot(Side.BID, 0, SlotState.LIVE, 30)], (), unsettled_fill_lots=30,
                             orphan_lots=25)
    assert exposure.total_lots == 85
    assert worst_position_lots(10, Side.BID, exposure) == 95
    assert worst_position_lots(10, Side.ASK, side_exposure(Side.ASK, [], (), orphan_lots=5)) == -5


def test_within_limit_at_the_boundary_and_for_a_reducing_side():
    exposure = side_exposure(Side.BID, [], (QuoteLevel(999_000, 30),))
    assert within_limit(70, Side.BID, exposure, 100.0, RULES, MID)  # 70 + 30 lots = $100: exactly M
    assert not within_limit(71, Side.BID, exposure, 100.0, RULES, MID)
    # short 200 lots: bids reduce, whatever M
    assert within_limit(-200, Side.BID, exposure, 0.0, RULES, MID)
    asks = side_exposure(Side.ASK, [], (QuoteLevel(1_001_000, 30),))
    assert not within_limit(-71, Side.ASK, asks, 100.0, RULES, MID)
    assert within_limit(500, Side.ASK, asks, 0.0, RULES, MID)


# ---- M does not run ahead of the position --------------------------------------------------------------


def test_limit_is_reserved_from_equity_and_does_not_grow_as_margin_is_used():
    params = default_params().quoting
    flat = CapitalSnapshot(available_usd=2000.0, equity_usd=2000.0, refreshed_ns=NOW)
    loaded = CapitalSnapshot(available_usd=300.0, equity_usd=2000.0, refreshed_ns=NOW)  # margin in use
    m_flat = position_limit_usd(params, RULES, flat, NOW, MID)
    # 0.9 * (2000 * 2 - 2 * 480 lots * $100,000) = 0.9 * (4000 - 960)
    assert m_flat == pytest.approx(2736.0)
    assert position_limit_usd(params, RULES, loaded, NOW, MID) == pytest.approx(m_flat)
    assert position_limit_usd(params, RULES, None, NOW, MID) is None


# ---- fills are counted as soon as an order report shows them ------------------------------------------


def test_fill_delta_reads_the_cumulative_filled_amount_and_never_goes_back():
    live = slot(Side.BID, 0, SlotState.LIVE, 30, filled=10)
    assert fill_delta(live, report(remaining=10, filled=30)) == 20
    assert fill_delta(live, report(remaining=30, filled=5)) == 0  # a stale report
    assert fill_delta(live, report("filled", remaining=0, filled=40)) == 30
    # without the filled amount: a terminal fill is whatever could still trade; a shrink at the same price
    assert fill_delta(live, report("filled", remaining=0, filled=None)) == 30
    assert fill_delta(live, report(remaining=12, filled=None)) == 18
    assert fill_delta(live, report("canceled", remaining=0, filled=None)) == 0


def test_order_report_fills_count_until_a_stream_position_covers_them():
    account = AccountState(7, 1, 1, 5)
    account.on_positions([], snapshot=True, now_ns=1)
    account.note_order_fill(Side.BID, 30, now_ns=10)
    assert account.unsettled_fill_lots(Side.BID) == 30 and account.unsettled_fill_lots(Side.ASK) == 0
    # another market's position is no news for ours
    account.on_account_all({"type": "update/account_all", "positions": {"0": {"market_id": 0, "sign": 1,
                                                                             "position": "1.0000"}}}, 20)
    assert account.unsettled_fill_lots(Side.BID) == 30
    account.on_account_all({"type": "update/account_all", "positions": {"1": {"market_id": 1, "sign": 1,
                                                                             "position": "0.00030"}}}, 30)
    assert account.position_lots == 30 and account.unsettled_fill_lots(Side.BID) == 0


def test_a_rest_read_settles_only_fills_seen_before_it_was_requested():
    account = AccountState(7, 1, 1, 5)
    account.note_order_fill(Side.BID, 30, now_ns=10)
    account.note_order_fill(Side.BID, 20, now_ns=50)
    body = {"accounts": [{"index": 7, "collateral": "2000", "positions": [
        {"market_id": 1, "sign": 1, "position": "0.00030"}]}]}
    account.on_rest_account(body, now_ns=60, requested_ns=40)
    assert account.position_lots == 30
    assert account.unsettled_fill_lots(Side.BID) == 20  # seen after the request: maybe not in the reply


def test_stream_fills_without_a_position_move_the_position_at_once():
    account = AccountState(7, 1, 1, 5)
    account.on_positions([], snapshot=True, now_ns=1)
    account.note_order_fill(Side.BID, 30, now_ns=5)
    trade = {"trade_id": 9, "market_id": 1, "price": "99990.0", "size": "0.00030", "bid_account_id": 7,
             "ask_account_id": 3, "is_maker_ask": False}
    fills = account.on_account_all({"type": "update/account_all", "trades": {"1": [trade]}}, 10)
    assert len(fills) == 1
    assert account.position_lots == 30
    assert account.unsettled_fill_lots(Side.BID) == 0  # now in the position, no longer counted twice
    assert account.position_ws_ns == 10  # an older REST read cannot undo it
    # the same trade again (a replay) changes nothing
    account.on_account_all({"type": "update/account_all", "trades": {"1": [trade]}}, 11)
    assert account.position_lots == 30


def test_a_trade_seen_before_its_order_report_is_not_counted_again_by_the_report():
    account = AccountState(7, 1, 1, 5)
    account.on_positions([{"market_id": 1, "sign": 1, "position": "0.00040"}], now_ns=1)
    trade = {"trade_id": 1, "market_id": 1, "bid_account_id": 7, "ask_account_id": 99, "is_maker_ask": False,
             "price": "99900.0", "size": "0.00030", "bid_id": OID.value, "ask_id": OID.value + 1}
    account.on_account_all({"type": "update/account_all", "trades": {"1": [trade]}}, 10)
    assert account.position_lots == 70
    account.note_order_fill(Side.BID, 30, now_ns=11, order_index=OID)  # the order report of that trade
    assert account.unsettled_fill_lots(Side.BID) == 0
    account.note_order_fill(Side.BID, 5, now_ns=12, order_index=OID)  # a later fill of it: not in the position
    assert account.unsettled_fill_lots(Side.BID) == 5
    # the same with the trade in a frame that carries the position, and through the market maker
    mm = bot(40)
    plan(mm.orders, TargetQuotes(bids=(QuoteLevel(999_000, 30),), asks=()))
    cid = mm.orders.slots[(Side.BID, 0)].client_index
    mm.on_orders([report(remaining=30, filled=0, cid=cid.value)], NOW)
    mm.account.on_account_all({"type": "update/account_all", "trades": {"1": [trade]},
                               "positions": {"1": {"market_id": 1, "sign": 1, "position": "0.00070"}}}, NOW + 1)
    mm.on_orders([report("filled", remaining=0, filled=30, cid=cid.value)], NOW + 2)
    assert mm.account.position_lots == 70 and mm.account.unsettled_fill_lots(Side.BID) == 0


def test_a_frame_with_our_position_is_the_truth_and_its_trades_are_not_added_again():
    account = AccountState(7, 1, 1, 5)
    account.on_positions([], snapshot=True, now_ns=1)
    trade = {"trade_id": 9, "market_id": 1, "price": "99990.0", "size": "0.00030", "bid_account_id": 7,
             "ask_account_id": 3, "is_maker_ask": False}
    account.on_account_all({"type": "update/account_all", "trades": {"1": [trade]},
                            "positions": {"1": {"market_id": 1, "sign": 1, "position": "0.00030"}}}, 10)
    assert account.position_lots == 30


def test_filled_amount_is_parsed_from_order_reports():
    account = AccountState(7, 1, 1, 5)
    [parsed] = account.parse_orders([{"order_index": 2**48 + 5, "client_order_index": 11, "is_ask": False,
                                      "status": "open", "price": "99900.0", "remaining_base_amount": "0.00010",
                                      "filled_base_amount": "0.00020", "market_index": 1}])
    assert parsed.remaining_lots == 10 and parsed.filled_lots == 20


# ---- untracked orders: counted, cancelled first, nothing new on their side meanwhile -------------------


def manager() -> OrderManager:
    return OrderManager(BTC, DiffParams(base_threshold_bps=4.0, min_half_spread_bps=8.0, max_live_orders=4), 1,
                        ClientOrderIndexAllocator(lane=1), 30 * 10**9)


def bid_ask(size: int = 30) -> TargetQuotes:
    return TargetQuotes(bids=(QuoteLevel(999_000, size),), asks=(QuoteLevel(1_001_000, size),))


def plan(m: OrderManager, targets: TargetQuotes | None, now_ns: int = NOW) -> list:
    return m.plan(targets, fair_tick=MID, quota=None, position_lots=0, max_quota_ops=10, now_ns=now_ns,
                  now_ms=1_780_000_000_000)


def test_an_untracked_live_order_is_counted_cancelled_first_and_holds_its_side():
    m = manager()
    stray = report(remaining=40, filled=0, cid=12345)
    assert m.on_reports([stray], NOW) == [stray]
    assert m.orphan_lots(Side.BID) == 40 and m.orphan_lots(Side.ASK) == 0
    intents = plan(m, bid_ask())
    assert intents[0] == CancelOrder(1, OID.value)  # the cancel goes first
    creates = [i for i in intents if isinstance(i, CreateOrder)]
    assert [c.is_ask for c in creates] == [True]  # nothing new on the bid side until it is gone
    assert plan(m, bid_ask(), NOW + 1) == []  # its cancel is in flight: not sent again at once
    resent = plan(m, bid_ask(), NOW + ORPHAN_CANCEL_RETRY_NS)
    assert resent == [CancelOrder(1, OID.value)]  # ... but again once the retry interval passed
    fills: list[tuple[Side, int]] = []
    m.on_reports([report("canceled", remaining=0, filled=15, cid=12345)], NOW + 2,
                 on_fill=lambda side, lots, _: fills.append((side, lots)))
    assert fills == [(Side.BID, 15)]  # it traded 15 lots before the cancel took effect
    assert m.orphans == {}
    assert [i.is_ask for i in plan(m, bid_ask(), NOW + 3) if isinstance(i, CreateOrder)] == [False]


def test_an_orphan_is_dropped_when_the_venue_says_it_is_gone_or_a_later_listing_lacks_it():
    m = manager()
    m.on_reports([report(remaining=40, cid=12345)], NOW)
    [cancel] = plan(m, None)
    m.on_results([SendResult(Outcome.REJECTED, (cancel,), 21709, "not active order")], NOW + 1)
    assert m.orphans == {}
    m.on_reports([report(remaining=40, cid=12345)], NOW + 2)
    m.on_listing([report(remaining=40, cid=12345)], NOW + 3)
    assert OID in m.orphans  # still listed
    m.on_listing([], NOW + 1)  # a listing older than the sighting proves nothing
    assert OID in m.orphans
    m.on_listing([], NOW + 2 + DEFAULT_GRACE_NS)  # requested a grace after the sighting
    assert m.orphans == {}


def test_a_listing_that_lags_the_stream_does_not_drop_an_orphan_within_the_grace():
    # a create the venue answered "no" to landed: the stream reports it, it becomes an orphan holding its side
    m = manager()
    m.on_reports([report(remaining=40, cid=12345)], NOW)
    assert m.orphan_lots(Side.BID) == 40
    m.on_listing([], snapshot_ns=NOW + 1)  # REST, a moment behind the stream, does not list it yet
    assert m.orphan_lots(Side.BID) == 40
    intents = plan(m, bid_ask(), NOW + 2)
    assert not [i for i in intents if isinstance(i, CreateOrder) and not i.is_ask]  # no second bid
    m.on_reports([report(remaining=25, filled=15, cid=12345)], NOW + 5)  # still live: the grace restarts
    m.on_listing([], NOW + DEFAULT_GRACE_NS)
    assert m.orphan_lots(Side.BID) == 25
    m.on_listing([], NOW + 5 + DEFAULT_GRACE_NS)  # a grace after its last sighting: gone
    assert m.orphans == {}


def test_a_refused_orphan_cancel_is_sent_again_at_the_next_plan():
    m = manager()
    m.on_reports([report(remaining=40, cid=12345)], NOW)
    [cancel] = plan(m, None)
    m.on_results([SendResult(Outcome.RATE_LIMITED, (cancel,), 23000, "too many requests")], NOW + 1)
    assert plan(m, None, NOW + 2) == [CancelOrder(1, OID.value)]


def test_fills_of_tracked_orders_are_reported_as_they_are_seen():
    m = manager()
    plan(m, bid_ask())
    bid = m.slots[(Side.BID, 0)]
    fills: list[tuple[Side, int]] = []
    m.on_reports([OrderReport(OID, bid.client_index, Side.BID, "open", 999_000, 30, 0)], NOW,
                 on_fill=lambda side, lots, _: fills.append((side, lots)))
    m.on_reports([OrderReport(OID, bid.client_index, Side.BID, "open", 999_000, 10, 20)], NOW,
                 on_fill=lambda side, lots, _: fills.append((side, lots)))
    m.on_reports([OrderReport(OID, bid.client_index, Side.BID, "filled", 999_000, 0, 30)], NOW,
                 on_fill=lambda side, lots, _: fills.append((side, lots)))
    assert fills == [(Side.BID, 20), (Side.BID, 10)]
    assert m.slots[(Side.BID, 0)].state is SlotState.IDLE


def test_no_create_on_a_side_while_one_of_its_orders_is_being_cancelled():
    params = DiffParams(base_threshold_bps=4.0, min_half_spread_bps=8.0, max_live_orders=4)
    level1 = slot(Side.BID, 1, SlotState.LIVE, 30)
    two_levels_bids_only_level0 = TargetQuotes(bids=(QuoteLevel(999_000, 30),), asks=())
    ops = diff_orders(two_levels_bids_only_level0, {(Side.BID, 1): level1}, fair_tick=MID, quota_remaining=None,
                      params=params)
    # level 1 is no longer wanted: its cancel goes, level 0 waits until it is confirmed
    assert ops == [CancelOp(Side.BID, 1, OID, CancelReason.NO_TARGET)]
    canceling = {(Side.BID, 1): replace(level1, state=SlotState.CANCELING)}
    assert diff_orders(two_levels_bids_only_level0, canceling, fair_tick=MID, quota_remaining=None,
                       params=params) == []
    held = diff_orders(bid_ask(), {}, fair_tick=MID, quota_remaining=None, params=params,
                       hold_creates=frozenset({Side.ASK}))
    assert held == [CreateOp(Side.BID, 0, 999_000, 30)]


# ---- the bot's decision --------------------------------------------------------------------------------


def bot(position_lots: int) -> MarketMaker:
    config = load_config(env={})
    mm = MarketMaker(config, BTC, 7, build_model(config, BTC), clock_ns=time.monotonic_ns,
                     wall_ms=lambda: time.time_ns() // 1_000_000)
    mm.account.position_lots = position_lots
    return mm


def test_a_fill_seen_in_an_order_report_counts_before_the_position_catches_up():
    mm = bot(40)
    plan(mm.orders, TargetQuotes(bids=(QuoteLevel(999_000, 30),), asks=()))
    cid = mm.orders.slots[(Side.BID, 0)].client_index
    mm.on_orders([OrderReport(OID, cid, Side.BID, "open", 999_000, 30, 0)], NOW)
    assert mm._within_limit(bid_ask(), 100.0, MID).bids == bid_ask().bids  # 40 + 30 lots = $70
    # the sweep fills the bid: the order report arrives first, the position (40) has not moved yet
    mm.on_orders([OrderReport(OID, cid, Side.BID, "filled", 999_000, 0, 30)], NOW + 1)
    assert mm.orders.slots[(Side.BID, 0)].state is SlotState.IDLE
    # worst case 40 + 30 filled + 30 new = $100: fits exactly; with M = $99 the bid side is withdrawn
    assert mm._within_limit(bid_ask(), 100.0, MID).bids == bid_ask().bids
    assert mm._within_limit(bid_ask(), 99.0, MID).bids == ()
    mm.account.on_account_all({"type": "update/account_all",
                               "positions": {"1": {"market_id": 1, "sign": 1, "position": "0.00070"}}}, NOW + 2)
    assert mm._within_limit(bid_ask(), 100.0, MID).bids == bid_ask().bids  # 70 + 30: counted once


def test_an_untracked_bid_withdraws_the_bid_side_while_it_may_fill():
    mm = bot(40)
    mm.on_orders([report(remaining=40, cid=12345)], NOW)  # a bid of ours that no slot tracks
    assert mm._within_limit(bid_ask(), 100.0, MID).bids == ()  # 40 + 40 + 30 lots = $110
    assert mm._within_limit(bid_ask(), 110.0, MID).bids == bid_ask().bids


def test_an_order_with_a_modify_in_flight_is_cancelled_once_its_side_is_withdrawn():
    params = DiffParams(base_threshold_bps=4.0, min_half_spread_bps=8.0, max_live_orders=4)
    modifying = {(Side.BID, 0): slot(Side.BID, 0, SlotState.MODIFYING, 30, pending=25)}
    asks_only = TargetQuotes(bids=(), asks=(QuoteLevel(1_001_000, 30),))
    ops = diff_orders(asks_only, modifying, fair_tick=MID, quota_remaining=None, params=params)
    assert ops == [CancelOp(Side.BID, 0, OID, CancelReason.NO_TARGET), CreateOp(Side.ASK, 0, 1_001_000, 30)]
    # still wanted: the modify is waited for, nothing is resent
    assert diff_orders(bid_ask(), modifying, fair_tick=MID, quota_remaining=None, params=params) == [
        CreateOp(Side.ASK, 0, 1_001_000, 30)]
