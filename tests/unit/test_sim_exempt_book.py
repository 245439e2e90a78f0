"""`Engine.exempt_book` (a mirrored book's creates and resizes, their transactions left open until the engine's next
operation of another kind) must leave the engine exactly as `submit_exempt` and `exempt_resizer`, which close every
transaction: the same results, books, queues, orders, accounts, nonces, height and trades, and the same events but
for runs of level changes coalesced (one change per level, with its last size, where it first changed), which the
feed's book chain publishes the same; on seeded random sequences of creates (crossing ones too), resizes,
refused amounts and expiries, failed margin checks, expiries falling due, our quotes and external trades."""
from __future__ import annotations

import random

import pytest

from sim.book_chain import BookChain
from sim.engine import Engine
from sim.engine_types import CreateOrderTx, ErrorCode, OrderType, TimeInForce, TxMeta
from sim.engine_views import BookLevelChange, OrderUpdate
from sim.markets import MarketSpec
from tests.sim_engine_support import coalesced, whole_state

T0 = 1_723_161_255_000_000_000
SPEC = MarketSpec(market_id=1, symbol="ETHUSDT", price_decimals=2, size_decimals=3, min_base_amount=2,
                  min_quote_amount=0)
KEY = 3
MID = 268_000
EXPIRY_MS = 30 * 24 * 3600 * 1000 - 60_000


class Pair:
    """`old` runs the exempt accounts' changes through `submit_exempt` / `exempt_resizer`, `new` through
    `exempt_book`; the bot and the external taker send the same transactions to both."""

    def __init__(self) -> None:
        self.old, self.new = Engine((SPEC,)), Engine((SPEC,))
        for engine in (self.old, self.new):
            rich = engine.create_account(10**18, "premium", exempt_from_limits=True, publish_orders=False)
            poor = engine.create_account(3_000_000_000, "premium", exempt_from_limits=True,
                                         publish_orders=False)  # fails margin checks now and then
            taker = engine.create_account(10**18, "premium", exempt_from_limits=True, publish_orders=False)
            bot = engine.create_account(10**12, "premium")
            for account in (rich, poor, taker, bot):
                engine.register_api_key(account, KEY, "00" * 40)
        self.makers, self.taker, self.bot = [rich, poor], taker, bot
        self.resizers = {a: self.old.exempt_resizer(a, KEY) for a in self.makers}
        self.books = {a: self.new.exempt_book(a, KEY, 1) for a in self.makers}
        self.chains = [BookChain(1, random.Random(1), [], [], first_nonce=1) for _ in range(2)]
        self.coalesced_levels = 0

    def create(self, now: int, account: int, is_ask: bool, price: int, size: int, expiry_ms: int) -> None:
        tx = CreateOrderTx(1, 0, size, price, is_ask, OrderType.LIMIT, TimeInForce.GOOD_TILL_TIME,
                           order_expiry_ms=expiry_ms)
        assert self.old.submit_exempt(now, account, KEY, tx) == self.books[account].create(now, is_ask, price, size,
                                                                                             expiry_ms)

    def resize(self, now: int, account: int, order_index: int, size: int) -> None:
        old_order = self.old._state.live_orders.get(order_index) or self.old._state.recent_inactive[order_index]
        new_order = self.new._state.live_orders.get(order_index) or self.new._state.recent_inactive[order_index]
        assert self.resizers[account](now, old_order, size) == self.books[account].resize(now, new_order, size)

    def both(self, now: int, account: int, tx: CreateOrderTx) -> None:
        results = []
        for engine in (self.old, self.new):
            if account == self.taker:
                results.append(engine.submit_exempt(now, account, KEY, tx))
            else:
                result = engine.submit(now, TxMeta(account, KEY, engine.next_nonce(account, KEY)), tx)
                results.append((result.code, result.order_index, result.tx_hash))
        assert results[0] == results[1]

    def drain(self) -> None:
        """Both outboxes: the same events but for coalesced runs of level changes; the same book updates."""
        old, new = self.old.take_events(), self.new.take_events()
        assert coalesced(new) == coalesced(old)
        assert [e for e in new if not isinstance(e, BookLevelChange)] == \
               [e for e in old if not isinstance(e, BookLevelChange)]
        self.coalesced_levels += len(old) - len(new)
        for chain, events in zip(self.chains, (old, new), strict=True):
            for event in events:
                if isinstance(event, BookLevelChange):
                    chain.record(event.is_ask, event.price, event.size)
        assert self.chains[0].take_update() == self.chains[1].take_update()


def random_step(pair: Pair, rng: random.Random, now: int) -> None:
    kind = rng.random()
    account = rng.choice(pair.makers)
    live = pair.old.orders(account)
    if kind < 0.06:  # our quote (post-only), or a taker of ours
        tif = rng.choice([TimeInForce.POST_ONLY, TimeInForce.IMMEDIATE_OR_CANCEL])
        expiry = 0 if tif == TimeInForce.IMMEDIATE_OR_CANCEL else now // 1_000_000 + rng.choice([6, 600]) * 60_000
        pair.both(now, pair.bot, CreateOrderTx(1, 0, rng.randint(2, 20), MID + rng.randint(-15, 15),
                                               rng.random() < 0.5, OrderType.LIMIT, tif, order_expiry_ms=expiry))
    elif kind < 0.12:  # an external trade
        pair.both(now, pair.taker, CreateOrderTx(1, 0, rng.randint(2, 60), MID + rng.randint(-10, 10),
                                                 rng.random() < 0.5, OrderType.LIMIT,
                                                 TimeInForce.IMMEDIATE_OR_CANCEL))
    elif kind < 0.35 or not live:  # a new level, crossing now and then (it trades, against us too)
        is_ask = rng.random() < 0.5
        price = MID + rng.randint(-12, 12) + (6 if is_ask else -6)
        size = rng.choice([rng.randint(2, 40), rng.randint(2, 40), 1, 10**13])  # 1 and 10**13: refused amounts
        expiry = now // 1_000_000 + rng.choice([EXPIRY_MS] * 5 + [6 * 60_000] * 4 + [60_000])  # 1 min: refused
        pair.create(now, account, is_ask, price, size, expiry)
    else:
        order = rng.choice(live)
        remaining = order.remaining_base_amount
        size = rng.choice([0, 1, rng.randint(1, remaining), remaining, remaining + rng.randint(1, 30), 10**13])
        pair.resize(now, account, order.order_index, size)
        if rng.random() < 0.03:  # a held order no longer live (a trade filled it): the transaction is refused
            pair.resize(now, account, order.order_index, 0)
            pair.resize(now, account, order.order_index, 5)


@pytest.mark.parametrize("seed", range(8))
def test_the_exempt_book_leaves_the_engine_as_closed_transactions_do(seed: int) -> None:
    rng = random.Random(seed)
    pair = Pair()
    accounts = [*pair.makers, pair.taker, pair.bot]
    now = T0
    deferred = 0
    for step in range(2000):
        now += rng.choice([0, 0, 1_000_000, 50_000_000, 20 * 1_000_000_000])  # expiries fall due as time passes
        random_step(pair, rng, now)
        deferred += pair.new._state.levels_deferred
        if rng.random() < 0.1:  # the feed drains the outbox every few operations
            pair.drain()
        if step % 100 == 0:
            assert whole_state(pair.old, accounts, KEY) == whole_state(pair.new, accounts, KEY)
    pair.drain()
    # and a trade then meets the same queues: the same fills
    for is_ask in (False, True):
        pair.both(now, pair.taker, CreateOrderTx(1, 0, 10**6, MID + (-100 if is_ask else 100), is_ask,
                                                 OrderType.LIMIT, TimeInForce.IMMEDIATE_OR_CANCEL))
    pair.drain()
    assert whole_state(pair.old, accounts, KEY) == whole_state(pair.new, accounts, KEY)
    trades = pair.new.recent_trades(1, 10**6)
    assert any(pair.bot in (t.ask_account_id, t.bid_account_id) for t in trades)  # our orders filled too
    assert deferred > 100 and pair.coalesced_levels > 20  # the open path ran, and its level changes coalesced


def test_the_random_sequences_reach_every_outcome() -> None:
    rng = random.Random(3)
    pair = Pair()
    now = T0
    statuses: set[str] = set()
    for step in range(3000):
        now += rng.choice([0, 1_000_000, 50_000_000, 20 * 1_000_000_000])
        random_step(pair, rng, now)
        if step % 50 == 0:  # an account keeps its last 1,000 inactive orders
            statuses |= {str(o.status) for a in pair.makers for o in pair.new.inactive_orders(a, limit=10**6)}
    assert {"canceled", "filled", "canceled-margin-not-allowed", "canceled-expired"} <= statuses


def test_an_open_run_is_closed_before_any_other_operation() -> None:
    """The events around our own order are exactly those of closed transactions (not merely coalesced): the
    mirror's level changes come out before the order's update."""
    pair = Pair()
    rich = pair.makers[0]
    for price, size in ((MID - 5, 10), (MID - 4, 7), (MID + 5, 8)):
        pair.create(T0, rich, price > MID, price, size, T0 // 1_000_000 + EXPIRY_MS)
    order = pair.new.orders(rich)[0]
    pair.resize(T0, rich, order.order_index, 4)
    assert pair.new._state.levels_deferred and not pair.new._state.outbox
    pair.both(T0, pair.bot, CreateOrderTx(1, 0, 3, MID - 4, False, OrderType.LIMIT, TimeInForce.POST_ONLY,
                                          order_expiry_ms=T0 // 1_000_000 + 600_000))
    old, new = pair.old.take_events(), pair.new.take_events()
    assert [type(e).__name__ for e in new] == ["BookLevelChange"] * 3 + ["OrderUpdate", "BookLevelChange"]
    assert new[:3] == [BookLevelChange(1, False, MID - 5, 4), BookLevelChange(1, False, MID - 4, 7),
                       BookLevelChange(1, True, MID + 5, 8)]
    assert new[3:] == old[-2:] and isinstance(new[3], OrderUpdate)
    assert coalesced(new) == coalesced(old)


def test_the_exempt_book_refuses_published_and_limited_accounts() -> None:
    engine = Engine((SPEC,))
    published = engine.create_account(10**18, "premium", exempt_from_limits=True)
    limited = engine.create_account(10**18, "premium", publish_orders=False)
    for account in (published, limited):
        engine.register_api_key(account, KEY, "00" * 40)
        with pytest.raises(ValueError):
            engine.exempt_book(account, KEY, 1)


def test_a_resize_of_another_accounts_order_is_refused() -> None:
    pair = Pair()
    rich, poor = pair.makers
    pair.create(T0, rich, True, MID + 5, 10, T0 // 1_000_000 + EXPIRY_MS)
    order = pair.new._state.live_orders[pair.new.orders(rich)[0].order_index]
    with pytest.raises(ValueError):
        pair.books[poor].resize(T0, order, 3)
    assert pair.books[rich].resize(T0, order, 1) == ErrorCode.INVALID_BASE_OR_QUOTE_AMOUNT  # under the minimum
