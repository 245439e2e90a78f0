# Read-only snapshots of the simulated engine's state for the servers (account, positions).
# Rules: no mutation; values at the current mark of each market.
from __future__ import annotations

from decimal import Decimal

from sim.accounts import Account, Position
from sim.engine_state import EngineState
from sim.engine_views import AccountSnapshot, PositionView
from sim.markets import MICRO_PER_USDC, MarketSpec

_AVG_PRICE_EXTRA_DIGITS = 4  # average entry shown with a few digits beyond the tick


def position_view(state: EngineState, spec: MarketSpec, position: Position) -> PositionView:
    mark = state.mark_price(spec.market_id)
    return PositionView(
        market_id=spec.market_id,
        symbol=spec.symbol,
        size=position.size,
        entry_quote=position.entry_quote,
        avg_entry_price=average_entry_price(spec, position),
        mark_price=mark,
        position_value=spec.quote_micro(mark, abs(position.size)) if mark is not None else 0,
        unrealized_pnl=position.unrealized_pnl(spec, mark),
        realized_pnl=position.realized_pnl,
        fees_paid=position.fees_paid,
        initial_margin_fraction=position.initial_margin_fraction,
        margin_mode=position.margin_mode,
        allocated_margin=position.allocated_margin,
        open_order_count=position.open_order_count,
    )


def average_entry_price(spec: MarketSpec, position: Position) -> Decimal:
    """entry_quote / |size| in USDC per base unit, rounded half-even to price_decimals + 4 digits."""
    if position.size == 0:
        return Decimal(0)
    base = Decimal(abs(position.size)).scaleb(-spec.size_decimals)
    usdc = Decimal(position.entry_quote) / MICRO_PER_USDC
    return (usdc / base).quantize(Decimal(1).scaleb(-(spec.price_decimals + _AVG_PRICE_EXTRA_DIGITS)))


def account_snapshot(state: EngineState, account: Account) -> AccountSnapshot:
    positions = tuple(
        position_view(state, state.markets[market_id], position)
        for market_id, position in sorted(account.positions.items())
    )
    unrealized = sum(p.unrealized_pnl for p in positions)
    total_value = account.collateral + unrealized
    initial = state.initial_margin(account)
    limits = account.limits
    return AccountSnapshot(
        account_index=account.index,
        l1_address=account.l1_address,
        tier=account.tier,
        collateral=account.collateral,
        total_asset_value=total_value,
        initial_margin_requirement=initial,
        maintenance_margin_requirement=state.maintenance_margin(account),
        available_balance=max(0, total_value - initial),
        realized_pnl=sum(p.realized_pnl for p in positions),
        unrealized_pnl=unrealized,
        fees_paid=account.fees_paid,
        total_volume=account.total_volume,
        trade_count=account.trade_count,
        volume_quota_remaining=limits.quota.remaining if limits.uses_quota else None,
        positions=positions,
        open_order_count=len(account.live_orders),
    )
