"""``safety.cancel_foreign_orders``: true (the default) cancels every order of the market at start-up and in
reconciliation, as before; false cancels only the bot's own orders (by client order index) and leaves the
others alone, without counting them as reconcile mismatches. Pure parts, then the daemon's own start-up
and reconciler against the simulator."""
from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from exec_support import (
    BTC,
    best_touch,
    bot_config,
    open_trader,
    running_bot,
    sim_orders,
    started_runtime,
    wait_until,
)

import lmm.core.market_maker as bot
from lmm.config.config import load_config
from lmm.core.ids import EPOCH_MS, LANES, ClientOrderIndex, ClientOrderIndexAllocator, OrderIndex
from lmm.core.intents import CancelOrder, CreateOrder
from lmm.core.market import MarketInfo
from lmm.core.market_maker import MarketMaker, build_model
from lmm.core.order_state import Side
from lmm.core.orders import OrderReport
from lmm.core.reconcile import reconcile_orders
from lmm.daemon.startup_orders import own_live_orders
from sim.testing import SimAccount, SimHandle, start_simulator

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


# ---- against the simulator -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with start_simulator(seed=9191, with_market=True) as handle:
        yield handle


async def _place_far_bids(sim: SimHandle, account: SimAccount, client_indexes: list[int]) -> None:
    """Post-only bids 20 % under the touch (they rest and never fill), placed with the account's key."""
    async with open_trader(sim, account, use_ws=False) as trader:
        market = trader.market
        price = int(best_touch(sim)[0] * 0.8)
        min_lots_by_value = market.min_quote_micro_usd / 1e6 * 1.5 / market.price_of(price) * 10**market.size_decimals
        lots = max(market.min_base_lots, math.ceil(min_lots_by_value))
        results = await trader.sender.send([CreateOrder(BTC, index, lots, price, is_ask=False)
                                            for index in client_indexes])
        assert all(result.ok for result in results), results
    async def all_resting() -> bool:
        return set(client_indexes) <= await _resting(sim, account)

    await wait_until(all_resting, "the far bids resting")


async def _resting(sim: SimHandle, account: SimAccount) -> set[int]:
    return {int(order["client_order_index"]) for order in await sim_orders(sim, account)}


@pytest.mark.parametrize("cancel_foreign", [False, True])
async def test_start_up_and_reconcile_with_foreign_orders(sim: SimHandle, tmp_path: Path, cancel_foreign: bool,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    account = sim.create_account(collateral="10000", tier="premium")
    leftover = ClientOrderIndexAllocator(lane=BTC % LANES).next(time.time_ns() // 1_000_000 - 60_000).value
    await _place_far_bids(sim, account, [HAND_PLACED, leftover])
    config = bot_config(sim, tmp_path, safety={"cancel_foreign_orders": cancel_foreign})
    async with started_runtime(config, account) as rt:
        resting = await _resting(sim, account)
        assert leftover not in resting, "the bot's own leftover is cancelled at start-up either way"
        assert (HAND_PLACED in resting) is not cancel_foreign
        if not cancel_foreign:
            judged: list[int | None] = []  # client order indexes the reconciler was given to judge

            def recording(slots, exchange_orders, **kwargs):  # type: ignore[no-untyped-def]
                judged.extend(r.client_index.value if r.client_index else None for r in exchange_orders)
                return reconcile_orders(slots, exchange_orders, **kwargs)

            monkeypatch.setattr(bot, "reconcile_orders", recording)
            async with running_bot(rt):
                await wait_until(lambda: len(judged) >= 4 and rt.mm.stats.reconciles >= 4, "reconciles of quotes")
                assert HAND_PLACED in await _resting(sim, account)
            assert HAND_PLACED not in judged, "a foreign order is never cancelled nor counted as a mismatch"
    # the shutdown leaves the hand-placed order alone too, unless told to cancel every order
    assert await _resting(sim, account) == (set() if cancel_foreign else {HAND_PLACED})
