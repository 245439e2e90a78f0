# Read-only snapshots and outbox events of the simulated Lighter engine, for the servers to render.
# Rules: frozen dataclasses (and one named tuple) of integers in venue units (ticks, lots, micro-USDC, fee ticks
# of 1e-6, margin fractions of 1e-4, ms timestamps); formatting to wire strings is the server's job
# (MarketSpec.format_*).
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from sim.engine_types import MarginMode, OrderStatus, OrderType, Tier, TimeInForce


@dataclass(frozen=True, slots=True)
class OrderView:
    """Full state of one order (the venue's Order object, lighter-api.md §5.6)."""

    order_index: int
    client_order_index: int
    market_index: int
    owner_account_index: int
    is_ask: bool
    order_type: OrderType
    time_in_force: TimeInForce
    reduce_only: bool
    price: int  # ticks
    trigger_price: int
    initial_base_amount: int  # lots
    remaining_base_amount: int
    filled_base_amount: int
    filled_quote_amount: int  # micro-USDC
    order_expiry_ms: int
    status: OrderStatus
    nonce: int  # nonce of the transaction that created the order
    api_key_index: int
    created_at_ms: int
    updated_at_ms: int
    transaction_time_us: int  # time of the last change, microseconds
    block_height: int  # engine height when last changed

    @property
    def side(self) -> str:
        return "sell" if self.is_ask else "buy"


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill between a resting maker and an incoming taker (lighter-api.md §5.8)."""

    trade_id: int
    tx_hash: str
    market_id: int
    price: int  # ticks (the maker's price)
    size: int  # lots
    usd_amount: int  # micro-USDC
    ask_id: int
    bid_id: int
    ask_client_id: int
    bid_client_id: int
    ask_account_id: int
    bid_account_id: int
    is_maker_ask: bool
    taker_fee: int  # fee rate charged to the taker, fee ticks (1e-6 of notional)
    maker_fee: int
    taker_fee_paid: int  # micro-USDC
    maker_fee_paid: int
    timestamp_ms: int
    transaction_time_us: int
    block_height: int

    @property
    def maker_account_id(self) -> int:
        return self.ask_account_id if self.is_maker_ask else self.bid_account_id

    @property
    def taker_account_id(self) -> int:
        return self.bid_account_id if self.is_maker_ask else self.ask_account_id


@dataclass(frozen=True, slots=True)
class PositionView:
    market_id: int
    symbol: str
    size: int  # signed lots: > 0 long, < 0 short
    entry_quote: int  # micro-USDC cost basis of the open size (always >= 0)
    avg_entry_price: Decimal  # USDC per base unit, entry_quote / |size| (0 when flat)
    mark_price: int | None  # ticks used for the valuation below
    position_value: int  # micro-USDC, |size| at mark
    unrealized_pnl: int  # micro-USDC at mark
    realized_pnl: int  # micro-USDC, cumulative, before fees
    fees_paid: int  # micro-USDC, cumulative
    initial_margin_fraction: int  # 1e-4 units
    margin_mode: MarginMode
    allocated_margin: int  # micro-USDC (isolated mode bookkeeping only)
    open_order_count: int

    @property
    def sign(self) -> int:
        return (self.size > 0) - (self.size < 0)


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    account_index: int
    l1_address: str
    tier: Tier
    collateral: int  # micro-USDC: deposits + realized PnL - fees
    total_asset_value: int  # collateral + unrealized PnL
    initial_margin_requirement: int  # positions and open orders, micro-USDC
    maintenance_margin_requirement: int  # positions only
    available_balance: int  # total_asset_value - initial_margin_requirement, floored at 0
    realized_pnl: int
    unrealized_pnl: int
    fees_paid: int
    total_volume: int  # micro-USDC of fills
    trade_count: int
    volume_quota_remaining: int | None  # premium only
    positions: tuple[PositionView, ...]  # one per market the account has touched
    open_order_count: int


@dataclass(frozen=True, slots=True)
class ApiKeyView:
    account_index: int
    api_key_index: int
    public_key: str  # lowercase hex, no 0x
    next_nonce: int


# ---- outbox events (Engine.take_events) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """An order was created or changed; carries its full new state."""

    order: OrderView


@dataclass(frozen=True, slots=True)
class TradeEvent:
    trade: Trade


class BookLevelChange(NamedTuple):
    """New absolute total size at one price level; 0 means the level is gone.

    Emitted once per changed level at the end of each transaction (intermediate states are coalesced). A named
    tuple rather than a frozen dataclass: a mirrored book emits one per level update, and this builds 3x faster.
    """

    market_id: int
    is_ask: bool
    price: int  # ticks
    size: int  # lots


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    """Collateral, a position or the quota of the account changed; render it with Engine.account()."""

    account_index: int
    market_ids: tuple[int, ...]  # markets whose position changed (empty: collateral/quota only)


Event = OrderUpdate | TradeEvent | BookLevelChange | AccountUpdate
