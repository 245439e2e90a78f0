# Accounts of the simulated Lighter venue: collateral, positions with exact cost basis, fees, API keys.
# Rules: integers only (lots, ticks, micro-USDC). A position keeps its cost basis `entry_quote` as the
# exact micro-USDC paid for the open size; a partial close removes the proportional part (rounded down,
# the rest leaves when the position closes), so realized PnL summed over a round trip equals the cash
# flow exactly. Fees are rounded up to the micro-USDC. Margin requirements round up.
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from sim.engine_types import MarginMode, Tier
from sim.limits import SendLimits
from sim.markets import FEE_TICKS_PER_UNIT, MARGIN_FRACTION_ONE, MarketSpec
from sim.orders import Order

FEE_TICKS_BY_TIER: dict[Tier, tuple[int, int]] = {  # (maker, taker) in 1e-6 of notional
    Tier.STANDARD: (0, 0),
    Tier.PREMIUM: (40, 280),  # 0.4 bp / 2.8 bp (premium, 0 staked LIT)
}


def fee_micro(quote_micro: int, fee_ticks: int) -> int:
    return -(-quote_micro * fee_ticks // FEE_TICKS_PER_UNIT)


def margin_micro(quote_micro: int, margin_fraction: int) -> int:
    return -(-quote_micro * margin_fraction // MARGIN_FRACTION_ONE)


@dataclass(slots=True)
class Position:
    market_id: int
    initial_margin_fraction: int
    margin_mode: MarginMode = MarginMode.CROSS
    size: int = 0  # signed lots
    entry_quote: int = 0  # micro-USDC cost basis of |size|
    realized_pnl: int = 0
    fees_paid: int = 0
    allocated_margin: int = 0
    open_order_count: int = 0
    reduce_only_order_count: int = 0
    open_bid_lots: int = 0  # resting non-reduce-only orders, for the margin requirement
    open_ask_lots: int = 0

    def apply_fill(self, is_buy: bool, size: int, quote: int) -> int:
        """Apply a fill of `size` lots costing `quote` micro-USDC; returns the realized PnL."""
        delta = size if is_buy else -size
        if self.size == 0 or (self.size > 0) == is_buy:
            self.size += delta
            self.entry_quote += quote
            return 0
        held = abs(self.size)
        closed = min(size, held)
        close_quote = quote if closed == size else quote * closed // size
        removed_basis = self.entry_quote if closed == held else self.entry_quote * closed // held
        realized = close_quote - removed_basis if self.size > 0 else removed_basis - close_quote
        self.entry_quote -= removed_basis
        self.size += delta
        if closed < size:  # flipped: the rest opens a new position at this fill's price
            self.entry_quote = quote - close_quote
        self.realized_pnl += realized
        return realized

    def unrealized_pnl(self, spec: MarketSpec, mark: int | None) -> int:
        if self.size == 0 or mark is None:
            return 0
        value = spec.quote_micro(mark, abs(self.size))
        return value - self.entry_quote if self.size > 0 else self.entry_quote - value

    def worst_case_lots(self, extra_bid: int = 0, extra_ask: int = 0) -> int:
        """Largest |position| reachable if all resting orders on one side (plus extras) filled."""
        return max(abs(self.size + self.open_bid_lots + extra_bid), abs(self.size - self.open_ask_lots - extra_ask))

    def reduces(self, is_ask: bool) -> bool:
        """Would an order on this side reduce the current position?"""
        return self.size > 0 if is_ask else self.size < 0


@dataclass(slots=True)
class ApiKey:
    public_key: str
    next_nonce: int = 0


@dataclass(slots=True, eq=False)
class Account:
    index: int
    l1_address: str
    limits: SendLimits
    collateral: int
    api_keys: dict[int, ApiKey] = field(default_factory=dict)
    positions: dict[int, Position] = field(default_factory=dict)
    live_orders: dict[int, Order] = field(default_factory=dict)  # order_index → order, oldest first
    client_orders: dict[int, int] = field(default_factory=dict)  # live client index → order index
    inactive: deque[Order] = field(default_factory=deque)
    fees_paid: int = 0
    total_volume: int = 0
    trade_count: int = 0
    scheduled_cancel_all_ms: int | None = None
    last_tier_change_ns: int | None = None

    @property
    def tier(self) -> Tier:
        return self.limits.tier

    def fee_ticks(self, is_maker: bool) -> int:
        maker, taker = FEE_TICKS_BY_TIER[self.tier]
        return maker if is_maker else taker

    def position(self, spec: MarketSpec) -> Position:
        pos = self.positions.get(spec.market_id)
        if pos is None:
            pos = self.positions[spec.market_id] = Position(spec.market_id, spec.default_initial_margin_fraction)
        return pos

    def track_resting(self, order: Order, lots: int, count: int) -> None:
        """Adjust the per-market resting-order tallies by `lots` and `count` (negative to remove)."""
        pos = self.positions[order.market_index]
        pos.open_order_count += count
        if order.reduce_only:
            pos.reduce_only_order_count += count
        elif order.is_ask:
            pos.open_ask_lots += lots
        else:
            pos.open_bid_lots += lots
