# Competition on the simulated Lighter venue: rival makers that join the touch, and snipers that pick off
# stale quotes. Both are off in the `kind` market (MarketParams defaults) and on in the shipped profiles.
# Rules: as sim.lighter_flow (engine transaction and query API only, seeded randomness, rejections counted
# and never raised); each rival and the snipers trade from their own funded premium account.
#
# Rival maker: one post-only order per side, at the best price of the OTHER accounts' orders on that side.
# Every `rival_requote_ms` (a random phase per rival) it re-joins that price when it moved; a move loses
# the queue, so a bot that joins a price later queues behind the rivals already there, and a bot that
# improves the touch is joined by the rivals within one requote interval (behind it).
# Sniper: at every market step it compares the best bid and ask with the fair price it sees (the current
# one, or `taker_latency_ms` old: Lighter delays taker orders, not makers' cancels): an ask more than
# `sniper_edge_bps` below it is lifted, a bid more than that above it is hit, with an IOC limited to
# fair ∓ edge, up to `sniper_max_notional_usd`. Whoever rests there is picked off, the bot included.
from __future__ import annotations

import math
import random

from sim.engine import Engine
from sim.engine_types import CreateOrderTx, ModifyOrderTx, OrderType, TimeInForce, TxOutcome
from sim.lighter_flow import FlowStats, MarketAccount
from sim.market_params import MarketParams
from sim.markets import MarketSpec


class RivalMaker:
    """One rival account's quote on one market."""

    def __init__(self, engine: Engine, account: MarketAccount, spec: MarketSpec, params: MarketParams,
                 rng: random.Random, stats: FlowStats, start_ns: int) -> None:
        self._engine = engine
        self._account = account
        self._spec = spec
        self._rng = rng
        self._stats = stats
        self._tick = 10.0 ** -spec.price_decimals
        self._lot = 10.0 ** -spec.size_decimals
        self._size_usd = params.rival_size_usd
        self._sigma = params.lighter_size_sigma
        self._interval_ns = params.rival_requote_ms * 1_000_000
        self._ttl_ms = params.lighter_order_ttl_s * 1000
        self._next_ns = start_ns + int(rng.random() * self._interval_ns)
        self._orders: dict[bool, int | None] = {False: None, True: None}  # is_ask -> order index

    def run_until(self, now_ns: int) -> None:
        if now_ns < self._next_ns or now_ns < self._account.blocked_until_ns:
            return
        self._next_ns = now_ns + self._interval_ns
        engine, market_id = self._engine, self._spec.market_id
        own = {o.order_index: o for o in engine.orders(self._account.account_index, market_id)}
        bids, asks = engine.book_levels(market_id, 4)
        for is_ask, levels in ((False, bids), (True, asks)):
            index = self._orders[is_ask]
            mine = own.get(index) if index is not None else None
            target = _best_of_others(levels, mine.price if mine else None, mine.remaining_base_amount if mine else 0)
            if target is None:
                continue
            if mine is None:
                self._orders[is_ask] = self._create(now_ns, is_ask, target)
            elif mine.price != target:
                result = self._account.send(now_ns, ModifyOrderTx(market_id, mine.order_index,
                                                                  mine.remaining_base_amount, target))
                self._stats.modifies += 1
                if not result.accepted and result.outcome is not TxOutcome.RATE_LIMITED:
                    self._orders[is_ask] = None

    def _create(self, now_ns: int, is_ask: bool, price: int) -> int | None:
        spec = self._spec
        notional = self._size_usd * math.exp(self._sigma * self._rng.gauss(0.0, 1.0) - 0.5 * self._sigma ** 2)
        size = max(spec.min_base_amount, round(notional / (price * self._tick) / self._lot))
        tx = CreateOrderTx(spec.market_id, 0, size, price, is_ask, OrderType.LIMIT, TimeInForce.POST_ONLY,
                           order_expiry_ms=now_ns // 1_000_000 + self._ttl_ms)
        result = self._account.send(now_ns, tx)
        self._stats.creates += 1
        return result.order_index if result.accepted else None


def _best_of_others(levels: list[tuple[int, int]], own_price: int | None, own_size: int) -> int | None:
    """Best price on a side once the rival's own order is taken out (levels best first)."""
    for price, size in levels:
        if price == own_price and size <= own_size:
            continue  # only the rival rests here
        return price
    return None


class Sniper:
    """Picks off stale quotes on one market against the fair price."""

    def __init__(self, engine: Engine, account: MarketAccount, spec: MarketSpec, params: MarketParams) -> None:
        """``account`` counts its market orders in the market's ``FlowStats``."""
        self._engine = engine
        self._account = account
        self._spec = spec
        self._tick = 10.0 ** -spec.price_decimals
        self._lot = 10.0 ** -spec.size_decimals
        self._edge = params.sniper_edge_bps * 1e-4
        self._max_notional = params.sniper_max_notional_usd
        self.picked_off = 0

    def run(self, now_ns: int, fair_price: float) -> None:
        if now_ns < self._account.blocked_until_ns:
            return
        spec = self._spec
        best_bid, best_ask = self._engine.best_bid_ask(spec.market_id)
        size = max(spec.min_base_amount, round(self._max_notional / fair_price / self._lot))
        if best_ask is not None and best_ask * self._tick < fair_price * (1 - self._edge):
            self._take(now_ns, True, math.floor(fair_price * (1 - self._edge) / self._tick), size)
        if best_bid is not None and best_bid * self._tick > fair_price * (1 + self._edge):
            self._take(now_ns, False, math.ceil(fair_price * (1 + self._edge) / self._tick), size)

    def _take(self, now_ns: int, is_buy: bool, worst: int, size: int) -> None:
        self._account.send_market_order(now_ns, self._spec, is_buy, worst, size)
        self.picked_off += 1
