"""The mirror on the engine's exempt paths (`submit_exempt`, `resize_exempt`, unpublished orders) leaves the engine
exactly as the mirror as first written, which sent every level change as an ordinary transaction: the same
books, queues, orders, fills, accounts, nonces and height, and the same events apart from the mirror's own
order updates (its level changes coalesced: `ExemptBook`), on random level updates, external trades and our own
quotes, for both queue models."""
from __future__ import annotations

import random

import pytest

from lmm.venue.local.mirror import (
    MIRROR_COLLATERAL,
    MIRROR_KEY_INDEX,
    MIRROR_PUBLIC_KEY,
    ORDER_EXPIRY_MS,
    PROPORTIONAL,
    RISK_AVERSE,
    BookMirror,
    MirrorStats,
)
from sim.engine import Engine
from sim.engine_types import CancelOrderTx, CreateOrderTx, ModifyOrderTx, OrderType, Tier, TimeInForce, TxMeta
from sim.engine_views import OrderUpdate
from sim.markets import MarketSpec
from tests.sim_engine_support import coalesced

NOW = 1_723_161_255_000_000_000
P = 268_000
SPEC = MarketSpec(market_id=1, symbol="ETHUSDT", price_decimals=2, size_decimals=3, min_base_amount=1,
                  min_quote_amount=0)


class ReferenceMirror:
    """The mirror's queue logic as first written: every change an ordinary transaction (`create_order`,
    `modify_order`, `cancel_order` with the account's next nonce)."""

    def __init__(self, engine: Engine, market_id: int, model: str, power: float = 1.0) -> None:
        self.engine, self.market_id, self.model, self.power = engine, market_id, model, power
        self.maker, self.taker = (self._account() for _ in range(2))
        self.stats = MirrorStats()

    def _account(self) -> int:
        index = self.engine.create_account(MIRROR_COLLATERAL, Tier.PREMIUM, exempt_from_limits=True)
        self.engine.register_api_key(index, MIRROR_KEY_INDEX, MIRROR_PUBLIC_KEY)
        return index

    def set_level(self, is_ask: bool, price: int, size: int, now_ns: int) -> None:
        self.stats.level_sets += 1
        queue = self.engine._book(self.market_id).side(is_ask).orders_at(price)
        held = sum(o.remaining for o in queue if o.account_index == self.maker)
        if size > held:
            last = queue[-1] if queue else None
            if last is not None and last.account_index == self.maker:
                self._modify(last, last.remaining + size - held, now_ns)
                return
            tx = CreateOrderTx(self.market_id, 0, size - held, price, is_ask, OrderType.LIMIT,
                               TimeInForce.GOOD_TILL_TIME, order_expiry_ms=now_ns // 1_000_000 + ORDER_EXPIRY_MS)
            self._send(self.maker, lambda meta: self.engine.create_order(now_ns, meta, tx))
        elif size < held:
            cut = held - size
            first_other = next((i for i, o in enumerate(queue) if o.account_index != self.maker), len(queue))
            ahead = [o for o in queue[:first_other] if o.account_index == self.maker]
            behind = [o for o in queue[first_other:] if o.account_index == self.maker]
            if not behind or not ahead or self.model == RISK_AVERSE:
                from_behind = min(cut, sum(o.remaining for o in behind))
            else:
                a, b = sum(o.remaining for o in ahead), sum(o.remaining for o in behind)
                fa, fb = a ** self.power, b ** self.power
                from_behind = min(b, max(cut - a, round(cut * fb / (fa + fb))))
            self._take(list(reversed(behind)), from_behind, now_ns)
            self._take(list(reversed(ahead)), cut - from_behind, now_ns)

    def trade(self, price: int, size: int, aggressor_is_buy: bool, now_ns: int) -> None:
        self.stats.trades += 1
        tx = CreateOrderTx(self.market_id, 0, size, price, not aggressor_is_buy, OrderType.LIMIT,
                           TimeInForce.IMMEDIATE_OR_CANCEL)
        self._send(self.taker, lambda meta: self.engine.create_order(now_ns, meta, tx))

    def _take(self, orders: list, amount: int, now_ns: int) -> None:
        for order in orders:
            if amount <= 0:
                return
            cut = min(amount, order.remaining)
            amount -= cut
            if cut == order.remaining:
                tx = CancelOrderTx(self.market_id, order.order_index)
                self._send(self.maker, lambda meta, tx=tx: self.engine.cancel_order(now_ns, meta, tx))
            else:
                self._modify(order, order.remaining - cut, now_ns)

    def _modify(self, order, size: int, now_ns: int) -> None:
        tx = ModifyOrderTx(self.market_id, order.order_index, size, order.price)
        self._send(self.maker, lambda meta: self.engine.modify_order(now_ns, meta, tx))

    def _send(self, account: int, submit) -> None:
        self.stats.engine_txs += 1
        result = submit(TxMeta(account, MIRROR_KEY_INDEX, self.engine.next_nonce(account, MIRROR_KEY_INDEX)))
        if not result.accepted:
            self.stats.rejected += 1
            self.stats.rejection_codes[result.code] = self.stats.rejection_codes.get(result.code, 0) + 1


def snapshot(engine: Engine, accounts: list[int]) -> tuple:
    return (engine.height, engine.book_levels(1), engine.book_orders(1), engine.recent_trades(1, 10**6),
            [engine.account(a) for a in accounts], [engine.orders(a) for a in accounts],
            [engine.inactive_orders(a, limit=10**6) for a in accounts],
            [engine.next_nonce(a, MIRROR_KEY_INDEX) for a in accounts])


@pytest.mark.parametrize("model", [RISK_AVERSE, PROPORTIONAL])
@pytest.mark.parametrize("seed", range(3))
def test_the_mirror_leaves_the_engine_as_ordinary_transactions_do(model: str, seed: int) -> None:
    rng = random.Random(seed)
    old_engine, new_engine = Engine((SPEC,)), Engine((SPEC,))
    old, new = ReferenceMirror(old_engine, 1, model, 1.5), BookMirror(new_engine, 1, model, 1.5)
    us = old_engine.create_account(10**12, "premium")
    assert new_engine.create_account(10**12, "premium") == us
    for engine in (old_engine, new_engine):
        engine.register_api_key(us, MIRROR_KEY_INDEX, MIRROR_PUBLIC_KEY)
    accounts = [*new.account_indexes, us]
    mid, now = P, NOW
    for _ in range(2500):
        now += rng.choice([0, 1_000_000, 30_000_000])
        mid += rng.choice([0, 0, 0, -1, 1])
        kind = rng.random()
        if kind < 0.75:  # a level update, through the touch now and then (the engine then trades or self-trades)
            is_ask = rng.random() < 0.5
            price = mid + (1 if is_ask else -1) * rng.randint(-1, 8)
            size = 0 if rng.random() < 0.25 else rng.randint(1, 60)
            for mirror in (old, new):
                mirror.set_level(is_ask, price, size, now)
        elif kind < 0.9:
            price, size, buy = mid + rng.randint(-4, 4), rng.randint(1, 80), rng.random() < 0.5
            for mirror in (old, new):
                mirror.trade(price, size, buy, now)
        else:  # our own quote joins a level, or leaves
            live = old_engine.orders(us)
            if live and rng.random() < 0.4:
                tx = CancelOrderTx(1, rng.choice(live).order_index)
            else:
                is_ask = rng.random() < 0.5
                tx = CreateOrderTx(1, 0, rng.randint(1, 10), mid + (1 if is_ask else -1) * rng.randint(0, 5), is_ask,
                                   OrderType.LIMIT, TimeInForce.POST_ONLY, order_expiry_ms=now // 1_000_000 + 600_000)
            for engine in (old_engine, new_engine):
                engine.submit(now, TxMeta(us, MIRROR_KEY_INDEX, engine.next_nonce(us, MIRROR_KEY_INDEX)), tx)
        mirror_orders = [e for e in old_engine.take_events()
                         if not (isinstance(e, OrderUpdate) and e.order.owner_account_index in new.account_indexes)]
        assert coalesced(new_engine.take_events()) == coalesced(mirror_orders)
    assert snapshot(old_engine, accounts) == snapshot(new_engine, accounts)
    assert old.stats == new.stats
    assert any(t.ask_account_id == us or t.bid_account_id == us for t in new_engine.recent_trades(1, 10**6))
