"""``safety.cancel_foreign_orders``: true (the default) cancels every order of the market at start-up and in
reconciliation, as before; false cancels only the bot's own orders (by client order index) and leaves the
others alone, without counting them as reconcile mismatches. The pure parts; the daemon's own start-up,
reconciler and shutdown with foreign orders are in tests/venue/test_foreign_orders_venue.py."""
from __future__ import annotations

import time

import pytest

from lmm.config.config import load_config
from lmm.core.ids import EPOCH_MS, LANES, ClientOrderIndex, ClientOrderIndexAllocator, OrderIndex
from lmm.core.intents import CancelOrder
from lmm.core.market import MarketInfo
from lmm.core.market_maker import MarketMaker, build_model
from lmm.core.order_state import Side
from lmm.core.orders import OrderReport
from lmm.daemon.startup_orders import own_live_orders

pytestmark = pytest.mark.timeout(180)
NOW_MS = 1_780_000_000_000  # 2026-05-28
DAY_MS = 86_400_000
MARKET = MarketInfo(1, "BTC", 1, 5, 20, 10_000_000)
HAND_PLACED = 77  # a client order index a person (or another program) would choose


def _report(client: int | None, order_index: int, status: str = "open") -> OrderReport:
    return OrderReport(OrderIndex(2**48 + order_index), None if client is None else ClientOrderIndex(client),
                       Side.BID, status, 900_000, 20)


# ---- pure ---------------------------------------------------------------------------------------------------


def test_allocator_recognises_the_shape_of_its_own_indexes() -> None:
    allocator = ClientOrderIndexAllocator(lane=1)
    mine = [allocator.next(NOW_MS + i) for i in range(5)]
    earlier_run = ClientOrderIndexAllocator(lane=1).next(NOW_MS - 90 * DAY_MS)
    assert all(allocator.issued(index, NOW_MS) for index in [*mine, earlier_run])
    other_lane = ClientOrderIndexAllocator(lane=2).next(NOW_MS)
    too_early = ClientOrderIndex((100 * DAY_MS * 4) * LANES + 1)  # April 2024: before the bot existed
    from_the_future = ClientOrderIndex(((NOW_MS + DAY_MS - EPOCH_MS) * 4) * LANES + 1)
    for index in (other_lane, too_early, from_the_future, ClientOrderIndex(HAND_PLACED), ClientOrderIndex(9),
                  ClientOrderIndex(10**9 * LANES + 1), None):
        assert not allocator.issued(index, NOW_MS), index


def test_own_live_orders_splits_the_listing() -> None:
    allocator = ClientOrderIndexAllocator(lane=1)
    own = _report(allocator.next(NOW_MS).value, 1)
    reports = [own, _report(HAND_PLACED, 2), _report(None, 3), _report(allocator.next(NOW_MS).value, 4, "filled")]
    assert own_live_orders(reports, allocator.issued, NOW_MS) == ([own], 2)


def _bot(cancel_foreign: bool) -> MarketMaker:
    config = load_config(env={"LMM_SAFETY_CANCEL_FOREIGN_ORDERS": str(cancel_foreign).lower()})
    return MarketMaker(config, MARKET, 7, build_model(config, MARKET), clock_ns=time.monotonic_ns,
                       wall_ms=lambda: NOW_MS)


@pytest.mark.parametrize("cancel_foreign", [True, False])
def test_reconcile_cancels_foreign_orders_only_when_configured(cancel_foreign: bool) -> None:
    mm = _bot(cancel_foreign)
    stray_own = _report(mm.orders.allocator.next(NOW_MS).value, 1)  # a leftover of ours no slot tracks
    foreign = [_report(HAND_PLACED, 2), _report(None, 3)]
    # the first listing sends the cancels; later ones retry them only after a second (counted until gone)
    cancels = mm.reconcile([stray_own, *foreign], snapshot_ns=10**12)
    expected = [stray_own] + (foreign if cancel_foreign else [])
    assert cancels == [CancelOrder(MARKET.market_id, r.order_index.value) for r in expected]
    only_foreign = _bot(cancel_foreign)
    for _ in range(3):
        only_foreign.reconcile(foreign, snapshot_ns=10**12)
    assert ("reconcile mismatch" in only_foreign.pauses) is cancel_foreign
    assert only_foreign.stats.orphans_cancelled == (6 if cancel_foreign else 0)


@pytest.mark.parametrize("cancel_foreign", [True, False])
def test_foreign_orders_on_the_order_stream_become_orphans_only_when_configured(cancel_foreign: bool) -> None:
    mm = _bot(cancel_foreign)
    stray_own = _report(mm.orders.allocator.next(NOW_MS).value, 1)
    foreign = _report(HAND_PLACED, 2)
    mm.on_orders([stray_own, foreign], now_ns=10**12)
    expected = {stray_own.order_index} | ({foreign.order_index} if cancel_foreign else set())
    assert set(mm.orders.orphans) == expected
