"""risk_reconcile's resync after a gap in the order stream, pure: which tracked orders to look up by client
index, and what the lookup's answers do to the slots."""
from __future__ import annotations

from lmm.config.config import load_config
from lmm.core.ids import ClientOrderIndex, OrderIndex
from lmm.core.intents import CreateOrder
from lmm.core.market import MarketInfo
from lmm.core.market_maker import MarketMaker, build_model
from lmm.core.order_state import Side, SlotState
from lmm.core.orders import OrderReport, OrderSlot, initial_slots
from lmm.core.outcomes import Outcome, SendResult
from lmm.core.quoting import QuoteLevel, TargetQuotes
from lmm.core.reconcile import lookup_client_indexes, resolve_after_gap

SEC = 10**9
SETTLE = 2 * SEC
REQUESTED = 103 * SEC
NOW = REQUESTED + SEC // 10
BID, ASK = (Side.BID, 0), (Side.ASK, 0)


def slot(side: Side, state: SlotState, cid: int, since_s: float, *, oid: int | None = 1, price: int = 999_000,
         pending_price: int = 0) -> OrderSlot:
    return OrderSlot(side, 0, state, ClientOrderIndex(cid), None if oid is None else OrderIndex(2**48 + oid),
                     price, 20, pending_price_tick=pending_price, pending_size_lots=20 if pending_price else 0,
                     since_ns=int(since_s * SEC))


def report(cid: int, status: str, *, oid: int = 1, side: Side = Side.BID, price: int = 999_000) -> OrderReport:
    return OrderReport(OrderIndex(2**48 + oid), ClientOrderIndex(cid), side, status, price, 20)


def resolve(slots: dict, reports: list[OrderReport], asked: set[int] | None = None) -> dict:
    asked = {s.client_index.value for s in slots.values() if s.client_index is not None} if asked is None else asked
    updates = resolve_after_gap(slots, reports, asked=asked, requested_ns=REQUESTED, settle_ns=SETTLE, now_ns=NOW)
    return {key: update.slot for key, update in updates.items()}


def test_lookup_asks_for_every_tracked_order_within_the_venue_limit() -> None:
    slots = initial_slots(2)
    slots[BID] = slot(Side.BID, SlotState.CANCELING, 11, 100)
    slots[(Side.ASK, 1)] = slot(Side.ASK, SlotState.LIVE, 12, 90)
    assert sorted(lookup_client_indexes(slots)) == [11, 12]
    assert len(lookup_client_indexes(slots, limit=1)) == 1
    assert lookup_client_indexes(initial_slots(1)) == []


def test_a_terminal_answer_frees_the_slot_at_once_whatever_its_age() -> None:
    slots = {BID: slot(Side.BID, SlotState.CANCELING, 11, 102.9),  # cancel sent 0.1 s before the lookup
             ASK: slot(Side.ASK, SlotState.LIVE, 12, 102.9, oid=2, price=1_001_000)}
    updates = resolve(slots, [report(11, "canceled"), report(12, "filled", oid=2, side=Side.ASK)])
    assert {key: s.state for key, s in updates.items()} == {BID: SlotState.IDLE, ASK: SlotState.IDLE}


def test_a_settled_send_takes_the_lookups_answer() -> None:
    slots = {
        BID: slot(Side.BID, SlotState.MODIFYING, 11, 100, pending_price=999_500),  # the modify was lost
        ASK: slot(Side.ASK, SlotState.PLACING, 12, 100, oid=None, price=1_001_000),  # the create never landed
    }
    updates = resolve(slots, [report(11, "open")])
    assert updates[BID].state is SlotState.LIVE and updates[BID].price_tick == 999_000
    assert updates[ASK].state is SlotState.IDLE


def test_a_create_that_landed_goes_live() -> None:
    slots = {ASK: slot(Side.ASK, SlotState.PLACING, 12, 100, oid=None, price=1_001_000)}
    updates = resolve(slots, [report(12, "open", oid=7, side=Side.ASK, price=1_001_000)])
    assert updates[ASK].state is SlotState.LIVE and updates[ASK].order_index == OrderIndex(2**48 + 7)


def test_recent_sends_and_live_orders_are_left_to_the_stream() -> None:
    slots = {
        BID: slot(Side.BID, SlotState.CANCELING, 11, 101.5),  # within the settle time: may not show yet
        ASK: slot(Side.ASK, SlotState.LIVE, 12, 50, oid=2, price=1_001_000),
    }
    assert resolve(slots, [report(11, "open"), report(12, "open", oid=2, side=Side.ASK)]) == {}
    assert resolve(slots, []) == {}  # absent: the active-orders reconcile and its grace period decide


def test_a_missing_answer_frees_only_a_settled_create() -> None:
    # the modify and the cancel were sent to orders the venue confirmed live: REST lagging the venue is no
    # proof they are gone, the active-orders reconcile and its grace decide
    slots = {BID: slot(Side.BID, SlotState.MODIFYING, 11, 100, pending_price=999_500),
             ASK: slot(Side.ASK, SlotState.CANCELING, 12, 100, oid=2, price=1_001_000)}
    assert resolve(slots, []) == {}
    placing = {BID: slot(Side.BID, SlotState.PLACING, 13, 100, oid=None)}
    assert resolve(placing, [])[BID].state is SlotState.IDLE


def test_only_what_was_asked_is_judged_absent() -> None:
    slots = {ASK: slot(Side.ASK, SlotState.PLACING, 12, 100, oid=None)}
    assert resolve(slots, [], asked={99}) == {}  # not looked up (beyond the limit): no answer, no change
    assert resolve(slots, [], asked={12})[ASK].state is SlotState.IDLE


def test_a_terminal_report_wins_over_a_live_one_for_the_same_order() -> None:
    slots = {BID: slot(Side.BID, SlotState.CANCELING, 11, 102.9)}
    assert resolve(slots, [report(11, "canceled"), report(11, "open")])[BID].state is SlotState.IDLE
    assert resolve(slots, [report(11, "open"), report(11, "canceled")])[BID].state is SlotState.IDLE


# ---- the market maker applies the lookup: sends in flight, fills -----------------------------------------

BTC = MarketInfo(1, "BTC", 1, 5, 20, 10_000_000)
T0 = 10**13
OID = OrderIndex(2**48 + 5)
BID_ONLY = TargetQuotes(bids=(QuoteLevel(999_000, 30),), asks=())


def market_maker(position_lots: int = 40) -> MarketMaker:
    config = load_config(env={})
    mm = MarketMaker(config, BTC, 7, build_model(config, BTC), clock_ns=lambda: T0, wall_ms=lambda: 1_780_000_000_000)
    mm.account.position_lots, mm.account.position_known = position_lots, True
    return mm


def plan(mm: MarketMaker, targets: TargetQuotes, now_ns: int) -> list:
    return mm.orders.plan(targets, fair_tick=1_000_000.0, quota=None, position_lots=mm.account.position_lots,
                          max_quota_ops=10, now_ns=now_ns, now_ms=1_780_000_000_000)


def test_a_create_still_in_flight_is_not_cleared_by_the_lookup() -> None:
    mm = market_maker()
    sent = plan(mm, BID_ONLY, T0)  # the send takes long (a reconnect is going on)
    lookup = mm.gap_lookup(T0 + 5 * SEC)  # well past the settle time since the plan
    assert BID in lookup.in_flight
    assert mm.apply_lookup(lookup, [], T0 + 5 * SEC) == 0  # the venue may not have it yet
    assert mm.orders.slots[BID].state is SlotState.PLACING
    terminal = OrderReport(OID, mm.orders.slots[BID].client_index, Side.BID, "canceled-post-only", 999_000, 0, 0)
    assert resolve_after_gap(lookup.slots, [terminal], asked=set(lookup.asked), requested_ns=lookup.requested_ns,
                             settle_ns=SETTLE, now_ns=T0 + 5 * SEC, in_flight=lookup.in_flight)[BID].slot \
        == OrderSlot(Side.BID, 0)  # an end is proof even while the send is out
    mm.orders.on_results([SendResult(Outcome.ACCEPTED, tuple(sent))], T0 + 6 * SEC)  # the create did land
    assert not [i for i in plan(mm, BID_ONLY, T0 + 6 * SEC) if isinstance(i, CreateOrder)]  # no second bid


def test_a_fill_the_lookup_reveals_counts_until_the_position_covers_it() -> None:
    mm = market_maker(position_lots=40)
    sent = plan(mm, BID_ONLY, T0)
    cid = mm.orders.slots[BID].client_index
    mm.orders.on_results([SendResult(Outcome.ACCEPTED, tuple(sent))], T0)
    mm.on_orders([OrderReport(OID, cid, Side.BID, "open", 999_000, 30, 0)], T0)
    # the order stream drops; the bid fills (30 lots) meanwhile; the stream is back: the lookup
    lookup = mm.gap_lookup(T0 + 5 * SEC)
    assert mm.apply_lookup(lookup, [OrderReport(OID, cid, Side.BID, "filled", 999_000, 0, 30)], T0 + 6 * SEC) == 1
    assert mm.orders.slots[BID].state is SlotState.IDLE
    assert mm.account.unsettled_fill_lots(Side.BID) == 30  # the position (40) does not have them yet


def test_a_slot_moved_by_a_report_while_the_lookup_was_out_keeps_the_report() -> None:
    mm = market_maker()
    plan(mm, BID_ONLY, T0)
    cid = mm.orders.slots[BID].client_index
    mm.on_orders([OrderReport(OID, cid, Side.BID, "open", 999_000, 30, 0)], T0)
    lookup = mm.gap_lookup(T0 + 5 * SEC)
    mm.on_orders([OrderReport(OID, cid, Side.BID, "open", 999_000, 20, 10)], T0 + 5 * SEC + 1)
    assert mm.apply_lookup(lookup, [OrderReport(OID, cid, Side.BID, "filled", 999_000, 0, 30)], T0 + 6 * SEC) == 0
    assert mm.orders.slots[BID].size_lots == 20 and mm.account.unsettled_fill_lots(Side.BID) == 10
