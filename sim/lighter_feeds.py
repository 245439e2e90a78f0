# Lighter WebSocket feeds: drains the engine's outbox and publishes channel frames through the hub.
#
# Rules: the only consumer of Engine.take_events (other parties register listeners and get every event).
# Market data (order_book, ticker, trade) is published in batches by `flush_markets` (every 50 ms);
# account channels are published by `flush_accounts` right after each transaction and on every tick.
# Each frame is encoded once and shared by all subscribers. Runs on the server's event loop only.
from __future__ import annotations

import itertools
import random
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import msgspec

from sim.book_chain import BookChain, BookUpdate, Level
from sim.engine import Engine
from sim.engine_views import AccountUpdate, BookLevelChange, Event, OrderUpdate, OrderView, Trade, TradeEvent
from sim.lighter_faults import LighterFaults
from sim.lighter_render import order_json, position_json, trade_json, usdc_asset_json, user_stats_json
from sim.markets import MarketSpec
from sim.ws_hub import WsHub

EventListener = Callable[[Event], None]
_encode = msgspec.json.Encoder().encode


def encode_frame(frame: dict[str, Any]) -> str:
    return _encode(frame).decode()


def account_orders_key(market_id: int, account_index: int) -> str:
    """Hub routing key of account_orders/{m}/{a}; its frames say channel "account_orders:{m}"."""
    return f"account_orders:{market_id}:{account_index}"


class LighterFeeds:
    """Book chains, pending account changes and the frames built from them."""

    def __init__(self, engine: Engine, hub: WsHub, faults: LighterFaults, clock_ns: Callable[[], int],
                 monotonic_s: Callable[[], float], seed: int) -> None:
        self.engine = engine
        self.hub = hub
        self.faults = faults
        self._clock_ns = clock_ns
        self._monotonic_s = monotonic_s
        rng = random.Random(seed)
        self.specs: dict[int, MarketSpec] = engine.markets
        self.chains: dict[int, BookChain] = {}
        for market_id in self.specs:
            bids, asks = engine.book_levels(market_id)
            self.chains[market_id] = BookChain(market_id, random.Random(rng.random()), bids, asks,
                                               first_nonce=rng.randint(10**6, 10**7))
        self._offsets = itertools.count(rng.randint(1000, 5000))
        self._listeners: list[EventListener] = []
        self._pending_trades: dict[int, list[Trade]] = defaultdict(list)
        self._account_orders: dict[int, dict[int, OrderView]] = defaultdict(dict)
        self._account_trades: dict[int, list[Trade]] = defaultdict(list)
        self._dirty_accounts: set[int] = set()
        self._last_bbo: dict[int, tuple[Level | None, Level | None]] = {}
        self.published_book_updates = 0

    def add_listener(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    # ---- intake --------------------------------------------------------------------------------------

    def pump(self) -> int:
        """Drain the engine's outbox into pending state and listeners; returns the number of events."""
        events = self.engine.take_events()
        for event in events:
            if isinstance(event, BookLevelChange):
                self.chains[event.market_id].record(event.is_ask, event.price, event.size)
            elif isinstance(event, TradeEvent):
                trade = event.trade
                self._pending_trades[trade.market_id].append(trade)
                self._account_trades[trade.ask_account_id].append(trade)
                if trade.bid_account_id != trade.ask_account_id:
                    self._account_trades[trade.bid_account_id].append(trade)
            elif isinstance(event, OrderUpdate):
                order = event.order
                self._account_orders[order.owner_account_index][order.order_index] = order
            elif isinstance(event, AccountUpdate):
                self._dirty_accounts.add(event.account_index)
            for listener in self._listeners:
                listener(event)
        return len(events)

    # ---- market data ---------------------------------------------------------------------------------

    def _stamp(self) -> tuple[int, int, int]:
        now_ns = self._clock_ns()
        return now_ns // 1000, now_ns // 1_000_000, next(self._offsets)

    def flush_markets(self) -> None:
        if self.faults.is_stalled(self._monotonic_s()):
            return
        for market_id, chain in self.chains.items():
            skip = self.faults.take_skip_nonce(market_id)
            crossed = self.faults.take_crossed(market_id)
            update = chain.take_update(skip=skip, crossed=crossed)
            if update is not None and update.published:
                self._publish_book_update(market_id, update)
            if update is not None:
                self._publish_ticker_if_changed(market_id, chain)
            trades = self._pending_trades.pop(market_id, None)
            if trades:
                self._publish_trades(market_id, trades, chain.nonce)

    def _publish_book_update(self, market_id: int, update: BookUpdate) -> None:
        channel = f"order_book:{market_id}"
        self.published_book_updates += 1
        if not self.hub.has_subscribers(channel):
            return
        spec = self.specs[market_id]
        us, ms, offset = self._stamp()
        frame = {
            "channel": channel, "last_updated_at": us, "offset": offset,
            "order_book": {
                "code": 0,
                "asks": spec.levels_json(update.asks),
                "bids": spec.levels_json(update.bids),
                "offset": offset, "nonce": update.nonce, "last_updated_at": us,
                "begin_nonce": update.begin_nonce,
            },
            "timestamp": ms, "type": "update/order_book",
        }
        self.hub.publish(channel, encode_frame(frame))

    def order_book_snapshot(self, market_id: int) -> str:
        chain = self.chains[market_id]
        spec = self.specs[market_id]
        bids, asks = chain.snapshot()
        us, ms, offset = self._stamp()
        frame = {
            "channel": f"order_book:{market_id}", "last_updated_at": us, "offset": offset,
            "order_book": {
                "code": 0,
                "asks": spec.levels_json(asks),
                "bids": spec.levels_json(bids),
                "offset": offset, "nonce": chain.nonce, "last_updated_at": us, "begin_nonce": 0,
            },
            "timestamp": ms, "type": "subscribed/order_book",
        }
        return encode_frame(frame)

    def _ticker_frame(self, market_id: int, chain: BookChain, kind: str) -> str:
        spec = self.specs[market_id]
        us, ms, _ = self._stamp()

        def side(level: Level | None) -> dict[str, str]:
            price, size = level if level is not None else (0, 0)
            return {"price": spec.format_price(price), "size": spec.format_size(size)}

        frame = {
            "channel": f"ticker:{market_id}", "last_updated_at": us, "nonce": chain.nonce,
            "ticker": {"s": spec.symbol, "a": side(chain.best_ask()), "b": side(chain.best_bid()),
                       "last_updated_at": us},
            "timestamp": ms, "type": f"{kind}/ticker",
        }
        return encode_frame(frame)

    def ticker_snapshot(self, market_id: int) -> str:
        return self._ticker_frame(market_id, self.chains[market_id], "subscribed")

    def _publish_ticker_if_changed(self, market_id: int, chain: BookChain) -> None:
        bbo = (chain.best_bid(), chain.best_ask())
        if self._last_bbo.get(market_id) == bbo:
            return
        self._last_bbo[market_id] = bbo
        channel = f"ticker:{market_id}"
        if self.hub.has_subscribers(channel):
            self.hub.publish(channel, self._ticker_frame(market_id, chain, "update"))

    def _trades_frame(self, market_id: int, trades: list[Trade], nonce: int, kind: str) -> str:
        spec = self.specs[market_id]
        frame = {
            "channel": f"trade:{market_id}", "liquidation_trades": [], "nonce": nonce,
            "trades": [trade_json(t, spec) for t in trades], "type": f"{kind}/trade",
        }
        return encode_frame(frame)

    def _publish_trades(self, market_id: int, trades: list[Trade], nonce: int) -> None:
        channel = f"trade:{market_id}"
        if self.hub.has_subscribers(channel):
            self.hub.publish(channel, self._trades_frame(market_id, trades, nonce, "update"))

    def trades_snapshot(self, market_id: int) -> str:
        recent = list(reversed(self.engine.recent_trades(market_id, 50)))
        return self._trades_frame(market_id, recent, self.chains[market_id].nonce, "subscribed")

    # ---- accounts ------------------------------------------------------------------------------------

    def flush_accounts(self) -> None:
        accounts = set(self._account_orders) | set(self._account_trades) | self._dirty_accounts
        for account_index in accounts:
            orders = self._account_orders.pop(account_index, {})
            trades = self._account_trades.pop(account_index, [])
            dirty = account_index in self._dirty_accounts
            self._publish_account(account_index, list(orders.values()), trades, dirty or bool(trades))
        self._dirty_accounts.clear()

    def _publish_account(self, account_index: int, orders: list[OrderView], trades: list[Trade],
                         balances_changed: bool) -> None:
        hub = self.hub
        if orders:
            by_market: dict[int, list[OrderView]] = defaultdict(list)
            for order in orders:
                by_market[order.market_index].append(order)
            channel = f"account_all_orders:{account_index}"
            if hub.has_subscribers(channel):
                hub.publish(channel, self.account_all_orders_frame(account_index, by_market, "update"))
            for market_id, market_orders in by_market.items():
                key = account_orders_key(market_id, account_index)
                if hub.has_subscribers(key):
                    hub.publish(key, self.account_orders_frame(account_index, market_id, market_orders,
                                                               "update"))
        if trades and hub.has_subscribers(f"account_all_trades:{account_index}"):
            hub.publish(f"account_all_trades:{account_index}",
                        self.account_all_trades_frame(account_index, trades, "update"))
        if not (balances_changed or orders):
            return
        if hub.has_subscribers(f"account_all:{account_index}"):
            hub.publish(f"account_all:{account_index}", self.account_all_frame(account_index, trades, "update"))
        if balances_changed and hub.has_subscribers(f"user_stats:{account_index}"):
            hub.publish(f"user_stats:{account_index}", self.user_stats_frame(account_index, "update"))
        if balances_changed and hub.has_subscribers(f"account_all_positions:{account_index}"):
            hub.publish(f"account_all_positions:{account_index}",
                        self.account_all_positions_frame(account_index, "update"))

    def _group_trades(self, trades: list[Trade]) -> dict[str, list[dict[str, Any]]]:
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for trade in trades:
            grouped[str(trade.market_id)].append(trade_json(trade, self.specs[trade.market_id]))
        return dict(grouped)

    def account_all_frame(self, account_index: int, trades: list[Trade], kind: str) -> str:
        snapshot = self.engine.account(account_index)
        volume = snapshot.total_volume / 1e6
        frame = {
            "account": account_index, "channel": f"account_all:{account_index}", "type": f"{kind}/account_all",
            "assets": {"3": usdc_asset_json(snapshot)},
            "positions": {str(p.market_id): position_json(p, snapshot, self.specs[p.market_id])
                          for p in snapshot.positions},
            "trades": self._group_trades(trades),
            "funding_histories": {}, "shares": [],
            "daily_trades_count": snapshot.trade_count, "daily_volume": volume,
            "weekly_trades_count": snapshot.trade_count, "weekly_volume": volume,
            "monthly_trades_count": snapshot.trade_count, "monthly_volume": volume,
            "total_trades_count": snapshot.trade_count, "total_volume": volume,
        }
        return encode_frame(frame)

    def account_all_orders_frame(self, account_index: int, by_market: dict[int, list[OrderView]],
                                 kind: str) -> str:
        frame = {
            "channel": f"account_all_orders:{account_index}",
            "orders": {str(m): [order_json(o, self.specs[m]) for o in orders] for m, orders in by_market.items()},
            "type": f"{kind}/account_all_orders",
        }
        return encode_frame(frame)

    def account_orders_frame(self, account_index: int, market_id: int, orders: list[OrderView],
                             kind: str) -> str:
        spec = self.specs[market_id]
        frame = {
            "type": f"{kind}/account_orders", "channel": f"account_orders:{market_id}",
            "account": account_index, "nonce": self.chains[market_id].nonce,
            "orders": {str(market_id): [order_json(o, spec) for o in orders]},
        }
        return encode_frame(frame)

    def account_all_trades_frame(self, account_index: int, trades: list[Trade], kind: str) -> str:
        volume = self.engine.account(account_index).total_volume / 1e6
        frame = {
            "channel": f"account_all_trades:{account_index}", "trades": self._group_trades(trades),
            "total_volume": volume, "monthly_volume": volume, "weekly_volume": volume, "daily_volume": volume,
            "type": f"{kind}/account_all_trades",
        }
        return encode_frame(frame)

    def account_all_positions_frame(self, account_index: int, kind: str) -> str:
        snapshot = self.engine.account(account_index)
        frame = {
            "channel": f"account_all_positions:{account_index}",
            "positions": {str(p.market_id): position_json(p, snapshot, self.specs[p.market_id])
                          for p in snapshot.positions},
            "shares": [], "last_funding_round": None, "last_funding_discount": None,
            "type": f"{kind}/account_all_positions",
        }
        return encode_frame(frame)

    def user_stats_frame(self, account_index: int, kind: str) -> str:
        snapshot = self.engine.account(account_index)
        frame = {
            "channel": f"user_stats:{account_index}", "stats": user_stats_json(snapshot),
            "timestamp": self._clock_ns() // 1_000_000, "type": f"{kind}/user_stats",
        }
        return encode_frame(frame)

    def open_orders_by_market(self, account_index: int, market_id: int | None = None,
                              ) -> dict[int, list[OrderView]]:
        grouped: dict[int, list[OrderView]] = defaultdict(list)
        for order in self.engine.orders(account_index, market_id):
            grouped[order.market_index].append(order)
        return dict(grouped)

    def tick(self) -> None:
        """One 50 ms beat: drain, publish market data, publish account changes."""
        self.pump()
        self.flush_markets()
        self.flush_accounts()

    def after_tx(self) -> None:
        """Right after a transaction: account channels now, market data at the next beat."""
        self.pump()
        self.flush_accounts()
