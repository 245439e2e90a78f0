# leftovers.py: what the shutdown says may remain when it gives up, and the spacing of its cancel-all retries.
from __future__ import annotations

import random

from lmm.core.ids import ClientOrderIndex, OrderIndex
from lmm.core.leftovers import (
    CANCEL_ALL_BACKOFF,
    OpenOrder,
    cancel_all_backoff,
    describe_open_orders,
    from_reports,
    from_slots,
)
from lmm.core.market import MarketInfo
from lmm.core.order_state import Side, SlotState
from lmm.core.orders import OrderReport, OrderSlot

BTC = MarketInfo(market_id=1, symbol="BTC", price_decimals=1, size_decimals=5, min_base_lots=20,
                 min_quote_micro_usd=10_000_000)
CLIENT = 2_959_780_378_177
ORDER = 562_949_953_421_272


def test_a_rest_listing_is_described_with_every_id_side_price_and_size() -> None:
    reports = [OrderReport(OrderIndex(ORDER), ClientOrderIndex(CLIENT), Side.BID, "open", 999_965, 1_199),
               OrderReport(OrderIndex(ORDER + 1), None, Side.ASK, "open", 1_000_266, 500)]
    text = describe_open_orders(BTC, from_reports(reports), "REST listing")
    assert text == (f"2 order(s) may remain on BTC (REST listing): bid 0.01199 @ 99996.5 (client order index {CLIENT}, "
                    f"order index {ORDER}); ask 0.00500 @ 100026.6 (order index {ORDER + 1})")


def test_without_a_listing_the_non_idle_slots_are_what_may_remain() -> None:
    slots = [OrderSlot(Side.BID, 0),  # idle: nothing
             OrderSlot(Side.ASK, 0, SlotState.PLACING, ClientOrderIndex(CLIENT), None, 1_000_266, 500),
             OrderSlot(Side.BID, 1, SlotState.LIVE, ClientOrderIndex(CLIENT + 1), OrderIndex(ORDER), 999_965, 20)]
    orders = from_slots(slots)
    assert orders == (OpenOrder(Side.ASK, 1_000_266, 500, CLIENT, None),
                      OpenOrder(Side.BID, 999_965, 20, CLIENT + 1, ORDER))
    text = describe_open_orders(BTC, orders, "slots")
    assert f"ask 0.00500 @ 100026.6 (client order index {CLIENT})" in text
    assert f"bid 0.00020 @ 99996.5 (client order index {CLIENT + 1}, order index {ORDER})" in text


def test_nothing_seen_still_says_the_cancel_was_not_confirmed() -> None:
    text = describe_open_orders(BTC, (), "REST listing")
    assert "no order of BTC was seen" in text and "not confirmed" in text


def test_cancel_all_retries_grow_with_jitter_up_to_the_cap() -> None:
    backoff = cancel_all_backoff(random.Random(3))
    delays = [backoff.next_delay() for _ in range(12)]
    policy = CANCEL_ALL_BACKOFF
    for attempt, delay in enumerate(delays):
        ceiling = min(policy.max_delay, policy.base_delay * policy.factor ** attempt)
        assert ceiling * (1 - policy.jitter) <= delay <= ceiling
    assert len(set(delays)) == len(delays)  # jittered: no two retries in lockstep
    # a 60 s budget holds at most this many cancel-alls even with the shortest jittered delays
    budget, spent, sends = 60.0, 0.0, 0
    floor = cancel_all_backoff(random.Random(0))
    floor.rng = _AlwaysOne()
    while spent < budget:
        sends += 1
        spent += floor.next_delay()
    assert sends <= 20


class _AlwaysOne(random.Random):
    def random(self) -> float:
        return 1.0  # the most jitter: the shortest delays
