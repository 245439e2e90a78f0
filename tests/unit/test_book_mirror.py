"""The mirror of an external book in the matching engine, and its queue models, with one order of ours."""
from __future__ import annotations

import pytest

from lmm.venue.local.mirror import PROPORTIONAL, RISK_AVERSE, BookMirror
from sim.engine import Engine
from sim.engine_types import CreateOrderTx, OrderType, TimeInForce, TxMeta
from sim.markets import MarketSpec

NOW = 1_723_161_255_000_000_000
P = 268_000  # ticks
SPEC = MarketSpec(market_id=1, symbol="ETHUSDT", price_decimals=2, size_decimals=3, min_base_amount=1,
                  min_quote_amount=0)


def setup(model: str) -> tuple[Engine, BookMirror, int]:
    engine = Engine((SPEC,))
    mirror = BookMirror(engine, 1, model)
    me = engine.create_account(10**12, "premium")
    engine.register_api_key(me, 1, "00" * 40)
    mirror.set_level(False, P, 10, NOW)  # 10 lots ahead of us when we join
    mirror.set_level(True, P + 100, 50, NOW)
    tx = CreateOrderTx(market_index=1, client_order_index=7, base_amount=3, price=P, is_ask=False,
                       order_type=OrderType.LIMIT, time_in_force=TimeInForce.POST_ONLY,
                       order_expiry_ms=NOW // 1_000_000 + 86_400_000)
    assert engine.create_order(NOW, TxMeta(me, 1, engine.next_nonce(me, 1)), tx).accepted
    return engine, mirror, me


def queue(engine: Engine, me: int) -> list[tuple[str, int]]:
    return [("us" if o.account_index == me else "mirror", o.remaining)
            for o in engine._book(1).side(False).orders_at(P)]


@pytest.mark.parametrize("model", [RISK_AVERSE, PROPORTIONAL])
def test_we_join_the_back_and_later_size_queues_behind_us(model: str):
    engine, mirror, me = setup(model)
    assert queue(engine, me) == [("mirror", 10), ("us", 3)]
    mirror.set_level(False, P, 16, NOW)  # the level gains 6: behind us
    assert queue(engine, me) == [("mirror", 10), ("us", 3), ("mirror", 6)]


def test_risk_averse_takes_a_shrinking_level_from_behind_us_first():
    engine, mirror, me = setup(RISK_AVERSE)
    mirror.set_level(False, P, 16, NOW)
    mirror.set_level(False, P, 12, NOW)  # -4: all from behind
    assert queue(engine, me) == [("mirror", 10), ("us", 3), ("mirror", 2)]
    mirror.set_level(False, P, 7, NOW)  # -5: the 2 behind, then 3 ahead (the level now holds less than before)
    assert queue(engine, me) == [("mirror", 7), ("us", 3)]


def test_proportional_splits_a_shrinking_level_by_the_sizes_ahead_and_behind():
    engine, mirror, me = setup(PROPORTIONAL)
    mirror.set_level(False, P, 20, NOW)  # 10 ahead, 10 behind
    mirror.set_level(False, P, 12, NOW)  # -8: half from each side
    assert queue(engine, me) == [("mirror", 6), ("us", 3), ("mirror", 6)]


def test_a_trade_fills_us_only_after_the_queue_ahead():
    engine, mirror, me = setup(RISK_AVERSE)
    mirror.trade(P, 11, aggressor_is_buy=False, now_ns=NOW)  # 10 ahead of us, then 1 of ours
    assert queue(engine, me) == [("us", 2)]
    trades = engine.account_trades(me)
    assert [(t.price, t.size, t.bid_account_id == me) for t in trades] == [(P, 1, True)]
    mirror.trade(P - 5, 5, aggressor_is_buy=False, now_ns=NOW)  # trades through our price: the rest of ours
    assert queue(engine, me) == []
    assert sum(t.size for t in engine.account_trades(me)) == 3


def test_no_level_is_left_when_the_external_level_goes():
    engine, mirror, _ = setup(RISK_AVERSE)
    mirror.set_level(True, P + 100, 0, NOW)
    assert engine.best_bid_ask(1) == (P, None)
    assert mirror.stats.rejected == 0
