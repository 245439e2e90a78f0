"""OrderManager: targets -> intents, slot bookkeeping, result settlement (pure)."""
from lmm.core.execution import OrderManager
from lmm.core.ids import ClientOrderIndex, ClientOrderIndexAllocator, OrderIndex
from lmm.core.intents import TIF_POST_ONLY, CancelOrder, CreateOrder, ModifyOrder
from lmm.core.market import MarketInfo
from lmm.core.order_diff import DiffParams
from lmm.core.order_state import Side, SlotState
from lmm.core.orders import OrderReport
from lmm.core.outcomes import Outcome, SendResult
from lmm.core.quoting import QuoteLevel, TargetQuotes

BTC = MarketInfo(1, "BTC", 1, 5, 20, 10_000_000)
NOW_MS = 1_780_000_000_000
FAIR = 970_000.0


def manager() -> OrderManager:
    return OrderManager(BTC, DiffParams(base_threshold_bps=4.0, min_half_spread_bps=8.0, max_live_orders=2), 1,
                        ClientOrderIndexAllocator(), order_timeout_ns=30 * 10**9)


def targets(bid=969_000, ask=971_000, size=30) -> TargetQuotes:
    return TargetQuotes(bids=(QuoteLevel(bid, size),), asks=(QuoteLevel(ask, size),))


def plan(m, t, quota=None, max_quota_ops=1_000_000, now=0):
    return m.plan(t, fair_tick=FAIR, quota=quota, position_lots=0, max_quota_ops=max_quota_ops, now_ns=now,
                  now_ms=NOW_MS)


def live_report(m, side, order_index, price, size=30, status="open"):
    slot = m.slots[(side, 0)]
    return OrderReport(OrderIndex(2**48 + order_index), slot.client_index, side, status, price, size)


def test_first_plan_creates_post_only_on_both_sides_and_does_not_resend():
    m = manager()
    intents = plan(m, targets())
    assert {type(i) for i in intents} == {CreateOrder}
    assert all(i.time_in_force == TIF_POST_ONLY and i.market_index == 1 for i in intents)
    assert len({i.client_order_index for i in intents}) == 2
    assert {m.slots[(s, 0)].state for s in Side} == {SlotState.PLACING}
    assert plan(m, targets(bid=968_000)) == []  # PLACING: never resend


def test_refused_create_reverts_slot_unknown_keeps_it_waiting():
    m = manager()
    intents = plan(m, targets())
    bid = next(i for i in intents if not i.is_ask)
    ask = next(i for i in intents if i.is_ask)
    m.on_results([SendResult(Outcome.REJECTED, (bid,), code=21701), SendResult(Outcome.UNKNOWN, (ask,))], 1)
    assert m.slots[(Side.BID, 0)].state is SlotState.IDLE
    assert m.slots[(Side.ASK, 0)].state is SlotState.PLACING
    assert m.stats.refused == 1 and m.stats.unknown == 1


def test_report_makes_slot_live_then_price_move_modifies_by_exchange_index():
    m = manager()
    plan(m, targets())
    unmatched = m.on_reports([live_report(m, Side.BID, 7, 969_000), live_report(m, Side.ASK, 8, 971_000)], 5)
    assert unmatched == []
    assert m.slots[(Side.BID, 0)].state is SlotState.LIVE
    assert plan(m, targets(bid=969_100)) == []  # 1 bp < 4 bp threshold
    intents = plan(m, targets(bid=968_000))
    assert intents == [ModifyOrder(1, 2**48 + 7, 30, 968_000)]
    assert m.slots[(Side.BID, 0)].state is SlotState.MODIFYING


def test_free_slot_allows_one_quota_op_but_all_cancels():
    m = manager()
    assert len(plan(m, targets(), max_quota_ops=1)) == 1
    m2 = manager()
    plan(m2, targets())
    m2.on_reports([live_report(m2, Side.BID, 1, 969_000), live_report(m2, Side.ASK, 2, 971_000)], 1)
    gone = TargetQuotes(bids=(), asks=())
    intents = plan(m2, gone, max_quota_ops=0)
    assert sorted(i.order_index for i in intents) == [2**48 + 1, 2**48 + 2]
    assert all(isinstance(i, CancelOrder) for i in intents)


def test_unmatched_report_is_returned_as_orphan_candidate():
    m = manager()
    stray = OrderReport(OrderIndex(2**48 + 99), ClientOrderIndex(12345), Side.BID, "open", 960_000, 10)
    assert m.on_reports([stray], 1) == [stray]


def test_terminal_report_frees_slot_and_post_only_cancels_are_counted():
    m = manager()
    plan(m, targets())
    m.on_reports([live_report(m, Side.BID, 3, 969_000, status="canceled-post-only")], 2)
    assert m.slots[(Side.BID, 0)].state is SlotState.IDLE
    assert m.stats.post_only_cancels == 1


def test_timeout_asks_for_lookup():
    m = manager()
    plan(m, targets(), now=0)
    assert m.check_timeouts(10 * 10**9) == []
    lookups = m.check_timeouts(31 * 10**9)
    assert len(lookups) == 2 and all(lk.client_index is not None for lk in lookups)


def test_tracked_cancels_cover_every_order_the_bot_may_have_on_the_venue():
    """The shutdown's cancels: live orders by exchange index, a create not yet confirmed by its client index
    (it may have landed unseen), untracked orders; nothing for an idle slot."""
    m = manager()
    creates = plan(m, targets())
    bid_create = next(i for i in creates if not i.is_ask)
    m.on_results([SendResult(Outcome.ACCEPTED, tuple(creates))], now_ns=1)
    m.on_reports([live_report(m, Side.ASK, 7, 971_000)], now_ns=2)  # the ask is confirmed, the bid is not
    stray = OrderReport(OrderIndex(2**48 + 9), ClientOrderIndex(12345), Side.BID, "open", 960_000, 30)
    m.on_reports([stray], now_ns=3)
    assert m.slots[(Side.BID, 0)].state is SlotState.PLACING
    assert set(m.tracked_cancels()) == {CancelOrder(1, 2**48 + 7), CancelOrder(1, bid_create.client_order_index),
                                        CancelOrder(1, 2**48 + 9)}
    idle = manager()
    assert idle.tracked_cancels() == []
