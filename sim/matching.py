# Price-time matching of one incoming order against a book, and the settlement of each fill.
# Rules: the maker's price sets the fill price; the resting order at the front of the best level trades
# first. Each fill updates both orders, both positions (exact cost basis), fees by each side's tier,
# collateral, volume, premium quota and the trade history. Reduce-only orders never trade beyond the
# position they reduce; a resting reduce-only order that can no longer reduce is cancelled.
from __future__ import annotations

from enum import Enum

from sim.accounts import Account, Position, fee_micro
from sim.engine_state import EngineState
from sim.engine_types import OrderStatus, SelfTradeBehavior
from sim.engine_views import Trade
from sim.orders import Order


class MatchStop(Enum):
    FILLED = "filled"
    NO_LIQUIDITY = "no_liquidity"  # the opposite side is empty
    PRICE = "price"  # the best opposite price no longer crosses the order's price
    REDUCE_ONLY = "reduce_only"  # the taker's position is closed
    SELF_TRADE = "self_trade"  # the taker itself was expired by self-trade prevention


def match_incoming(state: EngineState, taker: Order, stp: SelfTradeBehavior, tx_hash: str, now_ns: int,
                   ) -> MatchStop:
    """Trade `taker` (not resting) against the opposite side until one of the MatchStop reasons."""
    spec = state.markets[taker.market_index]
    opposite = state.books[taker.market_index].side(not taker.is_ask)
    taker_account = state.accounts[taker.account_index]
    taker_position = taker_account.position(spec)
    while taker.remaining > 0:
        best = opposite.best_price()
        if best is None:
            return MatchStop.NO_LIQUIDITY
        if (best < taker.price) if taker.is_ask else (best > taker.price):
            return MatchStop.PRICE
        maker = opposite.first_order_at(best)
        assert maker is not None
        if maker.account_index == taker.account_index:
            if stp == SelfTradeBehavior.EXPIRE_TAKER:
                return MatchStop.SELF_TRADE
            state.retire(maker, OrderStatus.CANCELED_SELF_TRADE, now_ns)
            if stp == SelfTradeBehavior.EXPIRE_BOTH:
                return MatchStop.SELF_TRADE
            continue
        maker_account = state.accounts[maker.account_index]
        maker_position = maker_account.position(spec)
        size = min(taker.remaining, maker.remaining)
        if maker.reduce_only:
            if not maker_position.reduces(maker.is_ask):
                state.retire(maker, OrderStatus.CANCELED_REDUCE_ONLY, now_ns)
                continue
            size = min(size, abs(maker_position.size))
        if taker.reduce_only:
            if not taker_position.reduces(taker.is_ask):
                return MatchStop.REDUCE_ONLY
            size = min(size, abs(taker_position.size))
        _settle_fill(state, maker, taker, size, best, tx_hash, now_ns)
        sweep_reduce_only(state, maker_account, maker_position, now_ns)
        sweep_reduce_only(state, taker_account, taker_position, now_ns)
    return MatchStop.FILLED


def _settle_fill(state: EngineState, maker: Order, taker: Order, size: int, price: int, tx_hash: str,
                 now_ns: int) -> None:
    spec = state.markets[maker.market_index]
    quote = spec.quote_micro(price, size)
    for order in (maker, taker):
        order.filled_base += size
        order.filled_quote += quote
    if size == maker.remaining:
        state.retire(maker, OrderStatus.FILLED, now_ns)
        maker.remaining = 0
    else:
        state.shrink_resting(maker, maker.remaining - size)
        state.note_order(maker, now_ns)
    taker.remaining -= size
    state.note_order(taker, now_ns)

    maker_account = state.accounts[maker.account_index]
    taker_account = state.accounts[taker.account_index]
    maker_fee_ticks = maker_account.fee_ticks(is_maker=True)
    taker_fee_ticks = taker_account.fee_ticks(is_maker=False)
    maker_fee = _settle_side(state, maker_account, maker, size, quote, maker_fee_ticks)
    taker_fee = _settle_side(state, taker_account, taker, size, quote, taker_fee_ticks)

    ask, bid = (maker, taker) if maker.is_ask else (taker, maker)
    state.trade_sequence += 1
    state.record_trade(Trade(
        trade_id=state.trade_sequence,
        tx_hash=tx_hash,
        market_id=maker.market_index,
        price=price,
        size=size,
        usd_amount=quote,
        ask_id=ask.order_index,
        bid_id=bid.order_index,
        ask_client_id=ask.client_order_index,
        bid_client_id=bid.client_order_index,
        ask_account_id=ask.account_index,
        bid_account_id=bid.account_index,
        is_maker_ask=maker.is_ask,
        taker_fee=taker_fee_ticks,
        maker_fee=maker_fee_ticks,
        taker_fee_paid=taker_fee,
        maker_fee_paid=maker_fee,
        timestamp_ms=now_ns // 1_000_000,
        transaction_time_us=now_ns // 1_000,
        block_height=state.height,
    ))


def _settle_side(state: EngineState, account: Account, order: Order, size: int, quote: int, fee_ticks: int,
                 ) -> int:
    """Apply one side of a fill to its account; returns the fee charged in micro-USDC."""
    position = account.positions[order.market_index]
    realized = position.apply_fill(is_buy=not order.is_ask, size=size, quote=quote)
    fee = fee_micro(quote, fee_ticks)
    position.fees_paid += fee
    account.collateral += realized - fee
    account.fees_paid += fee
    account.total_volume += quote
    account.trade_count += 1
    if account.limits.uses_quota:
        account.limits.quota.earn(quote)
    state.note_account(account.index, order.market_index)
    return fee


def sweep_reduce_only(state: EngineState, account: Account, position: Position, now_ns: int) -> None:
    """Cancel the account's resting reduce-only orders on this market that can no longer reduce."""
    if position.reduce_only_order_count == 0:
        return
    stale = [
        order for order in account.live_orders.values()
        if order.reduce_only and order.market_index == position.market_id and not position.reduces(order.is_ask)
    ]
    for order in stale:
        state.retire(order, OrderStatus.CANCELED_REDUCE_ONLY, now_ns)
