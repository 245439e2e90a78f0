# Helpers for the simulated engine's tests: funded traders with a key, and terse order transactions.
# Rules: deterministic; times are explicit nanoseconds from a fixed origin. ETH (market 0) prices are
# cents (2 decimals) and sizes are 1e-4 ETH, so `usd(2000)` and `eth(1)` read as they are meant.
from __future__ import annotations

from dataclasses import dataclass

from sim.engine import Engine
from sim.engine_types import (
    CancelOrderTx,
    CreateOrderTx,
    ModifyOrderTx,
    OrderType,
    SelfTradeBehavior,
    Tier,
    TimeInForce,
    Tx,
    TxMeta,
    TxResult,
)
from sim.engine_views import BookLevelChange, Event
from sim.markets import ETH, MICRO_PER_USDC

T0 = 1_800_000_000 * 1_000_000_000  # a fixed origin, ns
SECOND = 1_000_000_000
KEY = 3
EXPIRY_MS = T0 // 1_000_000 + 3_600_000  # one hour after T0


def usd(dollars: float) -> int:
    """ETH price in ticks (cents)."""
    return round(dollars * 10**ETH.price_decimals)


def eth(amount: float) -> int:
    """ETH size in lots."""
    return round(amount * 10**ETH.size_decimals)


def micro(dollars: float) -> int:
    return round(dollars * MICRO_PER_USDC)


@dataclass
class Venue:
    engine: Engine

    def trader(self, collateral_usd: float = 100_000, tier: Tier = Tier.STANDARD, **kwargs: object) -> int:
        account = self.engine.create_account(micro(collateral_usd), tier, **kwargs)  # type: ignore[arg-type]
        self.engine.register_api_key(account, KEY, "0x" + "ab" * 40)
        return account

    def send(self, account: int, tx: Tx, now: int = T0) -> TxResult:
        nonce = self.engine.next_nonce(account, KEY)
        return self.engine.submit(now, TxMeta(account, KEY, nonce), tx)

    def ok(self, account: int, tx: Tx, now: int = T0) -> TxResult:
        result = self.send(account, tx, now)
        assert result.accepted, result
        return result

    def place(self, account: int, price: int, size: int, *, ask: bool, tif: TimeInForce = TimeInForce.GOOD_TILL_TIME,
              cid: int = 0, reduce_only: bool = False, now: int = T0, expiry_ms: int | None = None,
              stp: SelfTradeBehavior = SelfTradeBehavior.EXPIRE_MAKER) -> int:
        """Send a limit order and return its exchange order index."""
        if expiry_ms is None:
            expiry_ms = 0 if tif is TimeInForce.IMMEDIATE_OR_CANCEL else EXPIRY_MS
        tx = CreateOrderTx(market_index=0, client_order_index=cid, base_amount=size, price=price, is_ask=ask,
                           order_type=OrderType.LIMIT, time_in_force=tif, reduce_only=reduce_only,
                           order_expiry_ms=expiry_ms, self_trade_behavior=stp)
        result = self.ok(account, tx, now)
        assert result.order_index is not None
        return result.order_index

    def market(self, account: int, worst_price: int, size: int, *, ask: bool, reduce_only: bool = False,
               now: int = T0) -> int:
        tx = CreateOrderTx(market_index=0, client_order_index=0, base_amount=size, price=worst_price, is_ask=ask,
                           order_type=OrderType.MARKET, time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL,
                           reduce_only=reduce_only)
        result = self.ok(account, tx, now)
        assert result.order_index is not None
        return result.order_index

    def modify(self, account: int, index: int, price: int, size: int, now: int = T0) -> TxResult:
        return self.send(account, ModifyOrderTx(market_index=0, index=index, base_amount=size, price=price), now)

    def cancel(self, account: int, index: int, now: int = T0) -> TxResult:
        return self.send(account, CancelOrderTx(market_index=0, index=index), now)

    def status(self, order_index: int) -> str:
        view = self.engine.order(order_index)
        assert view is not None
        return view.status.value

    def position(self, account: int, market_id: int = 0) -> int:
        for position in self.engine.account(account).positions:
            if position.market_id == market_id:
                return position.size
        return 0


def new_venue() -> Venue:
    return Venue(Engine())


def coalesced(events: list[Event]) -> list:
    """The outbox with each run of book level changes as one list of ((market, side, price), size), in the order
    the levels first changed in the run, each with its last size. The form in which an `ExemptBook`'s open
    transactions must leave the same events as closed ones (the feed's book chain keeps a run of changes the
    same way)."""
    result: list = []
    for event in events:
        if isinstance(event, BookLevelChange):
            if not result or not isinstance(result[-1], dict):
                result.append({})
            result[-1][(event.market_id, event.is_ask, event.price)] = event.size
        else:
            result.append(event)
    return [list(item.items()) if isinstance(item, dict) else item for item in result]


def whole_state(engine: Engine, accounts: list[int], key: int) -> tuple:
    """Everything of market 1 and of ``accounts`` (with API key ``key``) a caller of the engine can observe."""
    return (engine.height, engine.book_levels(1), engine.book_orders(1),
            [engine.next_nonce(a, key) for a in accounts], [engine.account(a) for a in accounts],
            [engine.orders(a) for a in accounts], [engine.inactive_orders(a, limit=10**6) for a in accounts],
            engine.recent_trades(1, 10**6), engine.mark_price(1))
