"""The engine's entry points for accounts exempt from limits (a mirrored external book): `submit_exempt`,
`resize_exempt` and `exempt_resizer` (its form for a caller holding the order) must leave the engine exactly as
the ordinary transactions would (book, orders, accounts, nonces, height, trades, events), on random sequences
that cross, trade, expire and fail margin checks; and an account created with `publish_orders=False` only loses
its OrderUpdate events."""
from __future__ import annotations

import random

import pytest

from sim.engine import Engine
from sim.engine_types import (
    CancelOrderTx,
    CreateOrderTx,
    ErrorCode,
    ModifyOrderTx,
    OrderType,
    TimeInForce,
    TxMeta,
)
from sim.engine_views import OrderUpdate
from sim.markets import MarketSpec
from sim.order_txs import _margin_allows
from sim.orders import Order
from tests.sim_engine_support import whole_state

T0 = 1_723_161_255_000_000_000
SPEC = MarketSpec(market_id=1, symbol="ETHUSDT", price_decimals=2, size_decimals=3, min_base_amount=2,
                  min_quote_amount=0)
KEY = 3
MID = 268_000


class Pair:
    """Two engines fed the same random operations: `old` by ordinary transactions, `new` by the exempt paths."""

    def __init__(self, *, publish_orders: bool = True) -> None:
        self.old, self.new = Engine((SPEC,)), Engine((SPEC,))
        self.exempt: list[int] = []
        for engine in (self.old, self.new):
            rich = engine.create_account(10**18, "premium", exempt_from_limits=True, publish_orders=publish_orders)
            poor = engine.create_account(3_000_000_000, "premium", exempt_from_limits=True,
                                         publish_orders=publish_orders)  # fails margin checks now and then
            bot = engine.create_account(10**12, "premium")
            for account in (rich, poor, bot):
                engine.register_api_key(account, KEY, "00" * 40)
        self.exempt, self.bot = [rich, poor], bot
        self.resizers = {account: self.new.exempt_resizer(account, KEY) for account in self.exempt}

    def send_old(self, now: int, account: int, tx) -> int | ErrorCode:
        result = self.old.submit(now, TxMeta(account, KEY, self.old.next_nonce(account, KEY)), tx)
        return result.order_index if result.accepted else ErrorCode(result.code)

    def both(self, now: int, account: int, tx) -> None:
        """An ordinary transaction (the bot's), sent the ordinary way to both engines."""
        for engine in (self.old, self.new):
            engine.submit(now, TxMeta(account, KEY, engine.next_nonce(account, KEY)), tx)


def random_step(pair: Pair, rng: random.Random, now: int) -> None:
    kind = rng.random()
    account = rng.choice(pair.exempt)
    live = pair.old.orders(account)
    if kind < 0.08:  # the bot: a post-only quote, or a taker
        tif = rng.choice([TimeInForce.POST_ONLY, TimeInForce.IMMEDIATE_OR_CANCEL])
        price = MID + rng.randint(-15, 15)
        expiry = 0 if tif == TimeInForce.IMMEDIATE_OR_CANCEL else now // 1_000_000 + 6 * 60_000
        pair.both(now, pair.bot, CreateOrderTx(1, 0, rng.randint(1, 20), price, rng.random() < 0.5,
                                               OrderType.LIMIT, tif, order_expiry_ms=expiry))
        return
    if kind < 0.35 or not live:  # a new order, crossing now and then (it trades, self-trades or rests)
        tif = rng.choice([TimeInForce.GOOD_TILL_TIME] * 4 + [TimeInForce.IMMEDIATE_OR_CANCEL, TimeInForce.POST_ONLY])
        is_ask = rng.random() < 0.5
        price = MID + rng.randint(-12, 12) + (6 if is_ask else -6)
        expiry = 0 if tif == TimeInForce.IMMEDIATE_OR_CANCEL else now // 1_000_000 + rng.choice([6, 600]) * 60_000
        tx = CreateOrderTx(1, 0, rng.randint(1, 40), price, is_ask, OrderType.LIMIT, tif, order_expiry_ms=expiry)
        assert pair.send_old(now, account, tx) == pair.new.submit_exempt(now, account, KEY, tx)
        return
    order = rng.choice(live)
    size = rng.choice([0, 1, rng.randint(1, order.remaining_base_amount),
                       order.remaining_base_amount + rng.randint(1, 30), 10**9])
    price = order.price if rng.random() < 0.9 else order.price + rng.randint(-8, 8)
    if rng.random() < 0.1:  # through the generic entry point
        tx = CancelOrderTx(1, order.order_index) if size == 0 else ModifyOrderTx(1, order.order_index, size, price)
        assert pair.send_old(now, account, tx) == pair.new.submit_exempt(now, account, KEY, tx)
        return
    tx = CancelOrderTx(1, order.order_index) if size == 0 else ModifyOrderTx(1, order.order_index, size, price)
    held = pair.new._state.live_orders.get(order.order_index)
    if price == order.price and held is not None and rng.random() < 0.5:  # the mirror's way: it holds the order
        assert pair.send_old(now, account, tx) == pair.resizers[account](now, held, size)
        return
    assert pair.send_old(now, account, tx) == pair.new.resize_exempt(now, account, KEY, 1, order.order_index,
                                                                     price, size)


@pytest.mark.parametrize("seed", range(6))
def test_exempt_paths_leave_the_engine_as_the_ordinary_transactions_do(seed: int) -> None:
    rng = random.Random(seed)
    pair = Pair()
    accounts = [*pair.exempt, pair.bot]
    now = T0
    for _ in range(1500):
        now += rng.choice([0, 0, 1_000_000, 50_000_000, 20 * 1_000_000_000])  # expiries fall due as time passes
        random_step(pair, rng, now)
        assert pair.old.take_events() == pair.new.take_events()
    assert whole_state(pair.old, accounts, KEY) == whole_state(pair.new, accounts, KEY)
    assert pair.old.recent_trades(1, 10**6)  # the sequences did trade


def test_the_exempt_paths_cover_in_place_resizes_and_the_fallbacks() -> None:
    rng = random.Random(11)
    pair = Pair()
    now = T0
    outcomes: set[str] = set()
    for _ in range(3000):
        now += rng.choice([0, 1_000_000, 50_000_000])
        before = pair.new.height
        random_step(pair, rng, now)
        outcomes.add("changed" if pair.new.height != before else "unchanged")
    canceled = {o.status for a in pair.exempt for o in pair.new.inactive_orders(a, limit=10**6)}
    assert {"canceled", "filled", "canceled-margin-not-allowed"} <= {str(s) for s in canceled}
    assert outcomes == {"changed", "unchanged"}


def test_an_unpublished_account_only_loses_its_order_updates() -> None:
    rng = random.Random(5)
    quiet, loud = Pair(publish_orders=False), Pair(publish_orders=True)
    now = T0
    for _ in range(800):
        now += rng.choice([0, 1_000_000, 50_000_000])
        seed = rng.random()
        random_step(quiet, random.Random(seed), now)
        random_step(loud, random.Random(seed), now)
        expected = [e for e in loud.new.take_events()
                    if not (isinstance(e, OrderUpdate) and e.order.owner_account_index in loud.exempt)]
        assert quiet.new.take_events() == expected
        loud.old.take_events()
        quiet.old.take_events()
    assert whole_state(quiet.new, [*quiet.exempt, quiet.bot], KEY) == \
        whole_state(loud.new, [*loud.exempt, loud.bot], KEY)


def test_the_exempt_paths_refuse_an_account_with_limits() -> None:
    pair = Pair()
    with pytest.raises(ValueError):
        pair.new.submit_exempt(T0, pair.bot, KEY, CancelOrderTx(1, 2**48 + 1))
    with pytest.raises(ValueError):
        pair.new.resize_exempt(T0, pair.bot, KEY, 1, 2**48 + 1, MID, 0)
    with pytest.raises(ValueError):
        pair.new.exempt_resizer(pair.bot, KEY)


def test_the_resizer_answers_for_an_order_no_longer_live_as_the_transaction_does() -> None:
    """A mirror may hold an order that a trade has just filled: the resizer then sends the transaction, which the
    venue refuses (the same error code, nonce and height as `resize_exempt`)."""
    pair = Pair()
    rich = pair.exempt[0]
    tx = CreateOrderTx(1, 0, 5, MID, True, OrderType.LIMIT, TimeInForce.GOOD_TILL_TIME,
                       order_expiry_ms=T0 // 1_000_000 + 600 * 60_000)
    index = pair.new.submit_exempt(T0, rich, KEY, tx)
    order = pair.new._state.live_orders[index]
    pair.new.submit(T0, TxMeta(pair.bot, KEY, 0), CreateOrderTx(1, 0, 5, MID, False, OrderType.LIMIT,
                                                                 TimeInForce.IMMEDIATE_OR_CANCEL))
    assert index not in pair.new._state.live_orders  # filled
    height = pair.new.height
    assert pair.resizers[rich](T0, order, 3) == ErrorCode.NOT_ACTIVE_ORDER
    assert pair.new.height == height
    with pytest.raises(ValueError):
        pair.resizers[pair.exempt[1]](T0, order, 3)  # another account's order


def test_the_margin_check_shortcut_agrees_with_the_full_requirement() -> None:
    """`_margin_allows` answers at once when an order adds no lots to the worst case, and otherwise computes
    only the order's market anew; it must agree with the requirement computed in full (after <= before, or
    after <= equity) on random accounts and orders, before any mark and after."""
    rng = random.Random(7)
    pair = Pair()
    state_ = pair.new._state
    outcomes: list[tuple[bool, bool]] = []

    def check_all() -> None:
        for account_index in (*pair.exempt, pair.bot):
            account = state_.accounts[account_index]
            account.position(SPEC)
            is_ask = rng.random() < 0.5
            order = Order(order_index=0, client_order_index=0, market_index=1, account_index=account_index,
                          api_key_index=KEY, nonce=0, is_ask=is_ask, order_type=OrderType.LIMIT,
                          time_in_force=TimeInForce.GOOD_TILL_TIME, reduce_only=False,
                          price=MID + rng.randint(-20, 20), trigger_price=0, initial_base_amount=0,
                          remaining=int(10 ** rng.uniform(0, 6)), expiry_ms=0, created_at_ms=0)
            kept = account.collateral
            account.collateral = rng.choice([kept, rng.randint(0, 10**8)])  # near or past the limit too
            before = state_.initial_margin(account)
            extra_bid, extra_ask = (0, order.remaining) if is_ask else (order.remaining, 0)
            after = state_.initial_margin(account, market_id=1, extra_bid=extra_bid, extra_ask=extra_ask,
                                          price_hint=order.price)
            expected = after <= before or after <= state_.equity(account)
            assert _margin_allows(state_, account, order) == expected
            account.collateral = kept
            outcomes.append((after <= before, expected))

    for _ in range(30):  # no mark yet: an empty book and no trade
        check_all()
    assert pair.new.mark_price(1) is None and (False, False) in outcomes
    now = T0
    for _ in range(1500):
        now += rng.choice([0, 1_000_000, 50_000_000])
        random_step(pair, rng, now)
        check_all()
    assert {(True, True), (False, True), (False, False)} <= set(outcomes)
