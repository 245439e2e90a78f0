# Mutable order state inside the simulated engine, and its frozen view.
# Rules: only the engine mutates an Order; everything leaving the engine is an OrderView copy.
from __future__ import annotations

from dataclasses import dataclass

from sim.engine_types import OrderStatus, OrderType, SelfTradeBehavior, TimeInForce
from sim.engine_views import OrderView

ASK_INDEX_BASE = 2**48  # asks count up from 2^48, bids down from 2^49, as observed on the venue
BID_INDEX_TOP = 2**49


def exchange_order_index(sequence: int, is_ask: bool) -> int:
    """Exchange order index of the `sequence`-th order (sequence >= 1); always >= 2^48."""
    return ASK_INDEX_BASE + sequence if is_ask else BID_INDEX_TOP - sequence


@dataclass(slots=True, eq=False)
class Order:
    order_index: int
    client_order_index: int
    market_index: int
    account_index: int
    api_key_index: int
    nonce: int
    is_ask: bool
    order_type: OrderType
    time_in_force: TimeInForce
    reduce_only: bool
    price: int
    trigger_price: int
    initial_base_amount: int
    remaining: int
    expiry_ms: int
    created_at_ms: int
    filled_base: int = 0
    filled_quote: int = 0
    status: OrderStatus = OrderStatus.OPEN
    updated_at_ms: int = 0
    transaction_time_us: int = 0
    block_height: int = 0
    self_trade_behavior: SelfTradeBehavior = SelfTradeBehavior.EXPIRE_MAKER

    @property
    def is_live(self) -> bool:
        return self.status.is_live

    def touch(self, now_ns: int, height: int) -> None:
        self.updated_at_ms = now_ns // 1_000_000
        self.transaction_time_us = now_ns // 1_000
        self.block_height = height

    def view(self) -> OrderView:
        return OrderView(
            order_index=self.order_index,
            client_order_index=self.client_order_index,
            market_index=self.market_index,
            owner_account_index=self.account_index,
            is_ask=self.is_ask,
            order_type=self.order_type,
            time_in_force=self.time_in_force,
            reduce_only=self.reduce_only,
            price=self.price,
            trigger_price=self.trigger_price,
            initial_base_amount=self.initial_base_amount,
            remaining_base_amount=self.remaining,
            filled_base_amount=self.filled_base,
            filled_quote_amount=self.filled_quote,
            order_expiry_ms=self.expiry_ms,
            status=self.status,
            nonce=self.nonce,
            api_key_index=self.api_key_index,
            created_at_ms=self.created_at_ms,
            updated_at_ms=self.updated_at_ms,
            transaction_time_us=self.transaction_time_us,
            block_height=self.block_height,
        )
