# Engine views rendered as the venue's JSON objects (reference §5.5-§5.9, §6.6 and Appendix B).
#
# Rules: pure functions from engine views and market specs to plain dicts; prices and sizes carry exactly
# the market's decimals, USDC amounts 6; ids and timestamps are integers (ms, except transaction_time
# and last_updated_at in µs). Fields the SDK models declare are present even when the simulator has
# nothing meaningful to put there (zeros), so the SDK's models and a bot see the venue's shapes.
from __future__ import annotations

from decimal import Decimal
from typing import Any

from sim.engine_views import AccountSnapshot, ApiKeyView, OrderView, PositionView, Trade
from sim.markets import MARGIN_FRACTION_ONE, MarketSpec, format_usdc

USDC_ASSET_ID = 3
# Trade fields of the SDK model that the simulator never sends (the venue omits them when zero).
NOT_SIMULATED_TRADE_FIELDS = frozenset({
    "taker_position_size_before", "taker_entry_quote_before", "taker_initial_margin_fraction_before",
    "taker_position_sign_changed", "maker_position_size_before", "maker_entry_quote_before",
    "maker_initial_margin_fraction_before", "maker_position_sign_changed", "ask_account_pnl",
    "bid_account_pnl",
})
_EMPTY_POOL_INFO = {
    "status": 0, "operator_fee": "0", "min_operator_share_rate": "0", "total_shares": 0, "operator_shares": 0,
    "annual_percentage_yield": 0, "daily_returns": [], "share_prices": [], "sharpe_ratio": 0, "strategies": [],
}


def fee_percent(fee_ticks: int) -> str:
    """Fee ticks (1e-6 of notional) as the percent string of orderBookDetails: 280 -> '0.0280'."""
    return f"{fee_ticks // 10_000}.{fee_ticks % 10_000:04d}"


def order_json(order: OrderView, spec: MarketSpec) -> dict[str, Any]:
    return {
        "order_index": order.order_index,
        "client_order_index": order.client_order_index,
        "order_id": str(order.order_index),
        "client_order_id": str(order.client_order_index),
        "market_index": order.market_index,
        "owner_account_index": order.owner_account_index,
        "initial_base_amount": spec.format_size(order.initial_base_amount),
        "price": spec.format_price(order.price),
        "nonce": order.nonce,
        "remaining_base_amount": spec.format_size(order.remaining_base_amount),
        "is_ask": order.is_ask,
        "base_size": order.remaining_base_amount,
        "base_price": order.price,
        "filled_base_amount": spec.format_size(order.filled_base_amount),
        "filled_quote_amount": format_usdc(order.filled_quote_amount),
        "side": order.side,
        "type": order.order_type.wire,
        "time_in_force": order.time_in_force.wire,
        "reduce_only": order.reduce_only,
        "trigger_price": spec.format_price(order.trigger_price),
        "order_expiry": order.order_expiry_ms,
        "status": order.status.value,
        "trigger_status": "na",
        "trigger_time": 0,
        "parent_order_index": 0,
        "parent_order_id": "0",
        "to_trigger_order_id_0": "0",
        "to_trigger_order_id_1": "0",
        "to_cancel_order_id_0": "0",
        "integrator_fee_collector_index": "0",
        "integrator_taker_fee": "0",
        "integrator_maker_fee": "0",
        "block_height": order.block_height,
        "timestamp": order.created_at_ms,
        "created_at": order.created_at_ms,
        "updated_at": order.updated_at_ms,
        "transaction_time": order.transaction_time_us,
        "order_flags": 0,
        "order_version": 0,
        "market_symbol": spec.symbol,
        "market_kind": "perps",
    }


def simple_order_json(order: OrderView, spec: MarketSpec) -> dict[str, Any]:
    return {
        "order_index": order.order_index,
        "order_id": str(order.order_index),
        "owner_account_index": order.owner_account_index,
        "initial_base_amount": spec.format_size(order.initial_base_amount),
        "remaining_base_amount": spec.format_size(order.remaining_base_amount),
        "price": spec.format_price(order.price),
        "order_expiry": order.order_expiry_ms,
        "transaction_time": order.transaction_time_us,
    }


def trade_json(trade: Trade, spec: MarketSpec) -> dict[str, Any]:
    body: dict[str, Any] = {
        "trade_id": trade.trade_id,
        "trade_id_str": str(trade.trade_id),
        "tx_hash": trade.tx_hash,
        "type": "trade",
        "market_id": trade.market_id,
        "size": spec.format_size(trade.size),
        "price": spec.format_price(trade.price),
        "usd_amount": format_usdc(trade.usd_amount),
        "ask_id": trade.ask_id,
        "ask_id_str": str(trade.ask_id),
        "bid_id": trade.bid_id,
        "bid_id_str": str(trade.bid_id),
        "ask_client_id": trade.ask_client_id,
        "ask_client_id_str": str(trade.ask_client_id),
        "bid_client_id": trade.bid_client_id,
        "bid_client_id_str": str(trade.bid_client_id),
        "ask_account_id": trade.ask_account_id,
        "bid_account_id": trade.bid_account_id,
        "is_maker_ask": trade.is_maker_ask,
        "block_height": trade.block_height,
        "timestamp": trade.timestamp_ms,
        "transaction_time": trade.transaction_time_us,
        "market_symbol": spec.symbol,
        "market_kind": "perps",
        "integrator_maker_fee": 0,
        "integrator_maker_fee_collector_index": 0,
        "integrator_taker_fee": 0,
        "integrator_taker_fee_collector_index": 0,
        "taker_allocated_margin_usdc_before": 0,
        "taker_allocated_margin_usdc_after": 0,
        "maker_allocated_margin_usdc_before": 0,
        "maker_allocated_margin_usdc_after": 0,
        "bid_order_version": 0,
        "ask_order_version": 0,
    }
    # The venue omits fee fields when zero, and likewise the *_position_size_before / *_entry_quote_before
    # / *_initial_margin_fraction_before / *_position_sign_changed and *_account_pnl fields, which the
    # simulator does not compute (NOT_SIMULATED_TRADE_FIELDS).
    if trade.taker_fee:
        body["taker_fee"] = trade.taker_fee
    if trade.maker_fee:
        body["maker_fee"] = trade.maker_fee
    return body


def _avg_entry(price: Decimal, spec: MarketSpec) -> str:
    return str(price.quantize(Decimal(1).scaleb(-spec.price_decimals)))


def _liquidation_price(position: PositionView, snapshot: AccountSnapshot, spec: MarketSpec) -> str:
    """Price at which total asset value would hit the maintenance requirement, this position alone moving."""
    if position.size == 0:
        return "0"
    base = abs(Decimal(position.size).scaleb(-spec.size_decimals))
    mark = spec.price_to_decimal(position.mark_price or 0)
    slack = Decimal(snapshot.total_asset_value - snapshot.maintenance_margin_requirement).scaleb(-6)
    move = slack / base
    price = mark - move if position.size > 0 else mark + move
    return _avg_entry(max(price, Decimal(0)), spec)


def position_json(position: PositionView, snapshot: AccountSnapshot, spec: MarketSpec) -> dict[str, Any]:
    return {
        "market_id": position.market_id,
        "symbol": position.symbol,
        "initial_margin_fraction": _fraction_percent(position.initial_margin_fraction),
        "open_order_count": position.open_order_count,
        "pending_order_count": 0,
        "position_tied_order_count": 0,
        "sign": position.sign if position.size else 1,
        "position": spec.format_size(abs(position.size)),
        "avg_entry_price": _avg_entry(position.avg_entry_price, spec),
        "position_value": format_usdc(position.position_value),
        "unrealized_pnl": format_usdc(position.unrealized_pnl),
        "realized_pnl": format_usdc(position.realized_pnl),
        "liquidation_price": _liquidation_price(position, snapshot, spec),
        "total_funding_paid_out": "0.000000",
        "margin_mode": int(position.margin_mode),
        "allocated_margin": format_usdc(position.allocated_margin),
        "total_discount": "0.000000",
        "margin_set_flag": 0,
    }


def _fraction_percent(fraction: int) -> str:
    """Margin fraction (1e-4 units) as the account endpoint's percent string: 1000 -> '10.00'."""
    return f"{fraction // 100}.{fraction % 100:02d}"


def usdc_asset_json(snapshot: AccountSnapshot) -> dict[str, Any]:
    return {
        "symbol": "USDC",
        "asset_id": USDC_ASSET_ID,
        "balance": format_usdc(snapshot.collateral),
        "locked_balance": "0.000000",
        "margin_balance": format_usdc(snapshot.collateral),
        "margin_mode": "enabled",
        "multiplier": "1",
    }


def account_json(snapshot: AccountSnapshot, specs: dict[int, MarketSpec]) -> dict[str, Any]:
    """DetailedAccount of `GET /api/v1/account`."""
    return {
        "code": 0,
        "account_type": snapshot.tier.account_type,
        "index": snapshot.account_index,
        "l1_address": snapshot.l1_address,
        "cancel_all_time": 0,
        "total_order_count": snapshot.open_order_count,
        "total_isolated_order_count": 0,
        "pending_order_count": 0,
        "available_balance": format_usdc(snapshot.available_balance),
        "status": 1,
        "collateral": format_usdc(snapshot.collateral),
        "transaction_time": 0,
        "account_trading_mode": 0,
        "account_index": snapshot.account_index,
        "name": "",
        "description": "",
        "can_invite": False,
        "referral_points_percentage": "",
        "can_rfq": False,
        "can_rfq_market_ids": [],
        "created_at": 0,
        "metadata": {"color": ""},
        "positions": [position_json(p, snapshot, specs[p.market_id]) for p in snapshot.positions],
        "assets": [usdc_asset_json(snapshot)],
        "total_asset_value": format_usdc(snapshot.total_asset_value),
        "cross_asset_value": format_usdc(snapshot.total_asset_value),
        "cross_initial_margin_requirement": format_usdc(snapshot.initial_margin_requirement),
        "cross_maintenance_margin_requirement": format_usdc(snapshot.maintenance_margin_requirement),
        "shares": [],
        "pending_unlocks": [],
        "approved_integrators": [],
        "pool_info": _EMPTY_POOL_INFO,
        "agent_enabled": False,
    }


def user_stats_json(snapshot: AccountSnapshot) -> dict[str, Any]:
    leverage = Decimal(0)
    notional = sum(p.position_value for p in snapshot.positions)
    if snapshot.total_asset_value > 0:
        leverage = Decimal(notional) / Decimal(snapshot.total_asset_value)
    margin_usage = Decimal(0)
    if snapshot.total_asset_value > 0:
        margin_usage = Decimal(snapshot.initial_margin_requirement * 100) / Decimal(snapshot.total_asset_value)
    stats = {
        "collateral": format_usdc(snapshot.collateral),
        "portfolio_value": format_usdc(snapshot.total_asset_value),
        "leverage": str(leverage.quantize(Decimal("0.01"))),
        "available_balance": format_usdc(snapshot.available_balance),
        "margin_usage": str(margin_usage.quantize(Decimal("0.01"))),
        # what the available balance buys at the default 20x (initial margin fraction 500)
        "buying_power": format_usdc(snapshot.available_balance * MARGIN_FRACTION_ONE // 500),
    }
    return {"account_trading_mode": 0, **stats, "cross_stats": dict(stats), "total_stats": dict(stats)}


def api_key_json(key: ApiKeyView) -> dict[str, Any]:
    return {
        "account_index": key.account_index,
        "api_key_index": key.api_key_index,
        "nonce": key.next_nonce,
        "public_key": key.public_key,
        "transaction_time": 0,
    }


def order_book_json(spec: MarketSpec) -> dict[str, Any]:
    """OrderBook of `GET /api/v1/orderBooks` (static market metadata)."""
    return {
        "symbol": spec.symbol,
        "market_id": spec.market_id,
        "market_type": "perp",
        "base_asset_id": 0,
        "quote_asset_id": 0,
        "status": "active",
        "taker_fee": fee_percent(spec.taker_fee_ticks),
        "maker_fee": fee_percent(spec.maker_fee_ticks),
        "liquidation_fee": fee_percent(spec.liquidation_fee_ticks),
        "min_base_amount": spec.format_size(spec.min_base_amount),
        "min_quote_amount": format_usdc(spec.min_quote_amount),
        "order_quote_limit": format_usdc(2**48 - 1),
        "supported_size_decimals": spec.size_decimals,
        "supported_price_decimals": spec.price_decimals,
        "supported_quote_decimals": 6,
        "is_maker_fee_enabled": True,
        "is_taker_fee_enabled": True,
        "created_at": "0",
        "multiplier": "1",
        "start_timestamp": 0,
        "end_timestamp": 0,
        "settlement_type": 0,
        "settlement_price": 0,
        "settlement_cap": 0,
        "outcome": 0,
        "default_price": 0,
        "operator_account_index": 0,
        "is_frozen": False,
        "open_interest": "0",
    }


def order_book_detail_json(spec: MarketSpec, last_trade_price: int | None, open_interest_lots: int,
                           daily_trades: int, daily_base_lots: int, daily_quote_micro: int,
                           ) -> dict[str, Any]:
    """PerpsOrderBookDetail of `GET /api/v1/orderBookDetails`."""
    last = float(spec.price_to_decimal(last_trade_price)) if last_trade_price is not None else 0.0
    mark = spec.format_price(last_trade_price or 0)
    return {
        **order_book_json(spec),
        "size_decimals": spec.size_decimals,
        "price_decimals": spec.price_decimals,
        "quote_multiplier": 1,
        "default_initial_margin_fraction": spec.default_initial_margin_fraction,
        "min_initial_margin_fraction": spec.min_initial_margin_fraction,
        "maintenance_margin_fraction": spec.maintenance_margin_fraction,
        "closeout_margin_fraction": spec.closeout_margin_fraction,
        "last_trade_price": last,
        "daily_trades_count": daily_trades,
        "daily_base_token_volume": float(spec.size_to_decimal(daily_base_lots)),
        "daily_quote_token_volume": daily_quote_micro / 1e6,
        "daily_price_low": last,
        "daily_price_high": last,
        "daily_price_change": 0.0,
        "open_interest": float(spec.size_to_decimal(open_interest_lots)),
        "funding_premium_multiplier": 0,
        "daily_chart": {},
        "market_config": {
            "market_margin_mode": 0, "insurance_fund_account_index": 2**48 - 1, "liquidation_mode": 0,
            "force_reduce_only": False, "trading_hours": "", "funding_fee_discounts_enabled": False,
            "hidden": False, "rfq_enabled": False,
        },
        "strategy_index": 0,
        "funding_clamp_small": "0.0001",
        "funding_clamp_big": "0.0002",
        "base_interest_rate": "0.0000",
        "mark_price": mark,
        "index_price": mark,
        "market_flags": 0,
    }
