# Order transactions of the simulated engine: create, modify, cancel, cancel-all.
# Rules: each `plan_*` validates without changing anything and returns either the venue ErrorCode or an
# `Execute` callable that applies the accepted transaction (given its tx hash) and returns the order
# index it created or targeted. Matching-time outcomes become order statuses, never errors.
from __future__ import annotations

import heapq
from collections.abc import Callable

from sim.accounts import Account, margin_micro
from sim.engine_state import EngineState
from sim.engine_types import (
    MAX_CLIENT_ORDER_INDEX,
    MIN_ORDER_INDEX,
    NIL_MARKET_INDEX,
    CancelAllOrdersTx,
    CancelAllTif,
    CancelOrderTx,
    CreateOrderTx,
    ErrorCode,
    ModifyOrderTx,
    OrderStatus,
    OrderType,
    SelfTradeBehavior,
    TimeInForce,
    TxMeta,
)
from sim.markets import MarketSpec
from sim.matching import MatchStop, match_incoming
from sim.orders import Order

Execute = Callable[[str], "int | None"]
Plan = ErrorCode | Execute

MINUTE_MS = 60_000
DAY_MS = 24 * 60 * MINUTE_MS
ORDER_EXPIRY_MIN_MS = 5 * MINUTE_MS
ORDER_EXPIRY_MAX_MS = 30 * DAY_MS
SCHEDULED_CANCEL_MIN_MS = 5 * MINUTE_MS
SCHEDULED_CANCEL_MAX_MS = 15 * DAY_MS
MAX_LIVE_ORDERS_PER_ACCOUNT = 1_500
MAX_LIVE_ORDERS_PER_MARKET = 1_000
_TIME_IN_FORCE_VALUES = frozenset(int(v) for v in TimeInForce)
_SELF_TRADE_VALUES = frozenset(int(v) for v in SelfTradeBehavior)


class OrderScheduler:
    """Min-heaps of order expiries and scheduled cancel-alls (lazy deletion: entries are re-checked)."""

    def __init__(self) -> None:
        self.expiries: list[tuple[int, int]] = []  # (expiry_ms, order_index)
        self.cancel_alls: list[tuple[int, int]] = []  # (time_ms, account_index)

    def has_due(self, now_ms: int) -> bool:
        """Whether an expiry or a scheduled cancel-all may be due (entries are re-checked by `run_due`)."""
        expiries, cancel_alls = self.expiries, self.cancel_alls
        return bool((expiries and expiries[0][0] <= now_ms) or (cancel_alls and cancel_alls[0][0] <= now_ms))

    def watch_expiry(self, order: Order) -> None:
        if order.expiry_ms > 0:
            heapq.heappush(self.expiries, (order.expiry_ms, order.order_index))


def _amounts_error(spec: MarketSpec, base_amount: int, price: int) -> ErrorCode | None:
    if not 1 <= base_amount <= spec.max_base_amount:
        return ErrorCode.INVALID_BASE_AMOUNT
    if not 1 <= price <= spec.max_price:
        return ErrorCode.INVALID_PRICE
    if base_amount < spec.min_base_amount or \
            (spec.min_quote_amount > 0 and spec.quote_micro(price, base_amount) < spec.min_quote_amount):
        return ErrorCode.INVALID_BASE_OR_QUOTE_AMOUNT
    return None


def _expiry_error(tx: CreateOrderTx, now_ms: int) -> ErrorCode | None:
    if tx.order_type == OrderType.MARKET and tx.time_in_force != TimeInForce.IMMEDIATE_OR_CANCEL:
        return ErrorCode.INVALID_TIME_IN_FORCE
    if tx.time_in_force == TimeInForce.IMMEDIATE_OR_CANCEL:
        return None if tx.order_expiry_ms == 0 else ErrorCode.INVALID_EXPIRY
    ahead = tx.order_expiry_ms - now_ms
    return None if ORDER_EXPIRY_MIN_MS <= ahead <= ORDER_EXPIRY_MAX_MS else ErrorCode.INVALID_EXPIRY


def plan_create(state: EngineState, scheduler: OrderScheduler, account: Account, meta: TxMeta,
                tx: CreateOrderTx, now_ns: int) -> Plan:
    spec = state.markets.get(tx.market_index)
    if spec is None:
        return ErrorCode.INVALID_MARKET_INDEX
    if tx.order_type not in (OrderType.LIMIT, OrderType.MARKET):
        return ErrorCode.INVALID_TX_INFO  # trigger and TWAP orders are not simulated
    if tx.time_in_force not in _TIME_IN_FORCE_VALUES:
        return ErrorCode.INVALID_TIME_IN_FORCE
    if tx.self_trade_behavior not in _SELF_TRADE_VALUES:
        return ErrorCode.INVALID_TX_INFO
    error = _amounts_error(spec, tx.base_amount, tx.price) or _expiry_error(tx, now_ns // 1_000_000)
    if error is not None:
        return error
    if not 0 <= tx.client_order_index <= MAX_CLIENT_ORDER_INDEX:
        return ErrorCode.INVALID_CLIENT_ORDER_INDEX
    if tx.client_order_index and tx.client_order_index in account.client_orders:
        return ErrorCode.CLIENT_ORDER_INDEX_EXISTS
    if account.limits.exempt:  # the rest of the market (synthetic or mirrored) is many traders, not one account
        pass
    elif len(account.live_orders) >= MAX_LIVE_ORDERS_PER_ACCOUNT:
        return ErrorCode.MAX_ACTIVE_ORDERS_ACCOUNT
    elif (position := account.positions.get(spec.market_id)) is not None and \
            position.open_order_count >= MAX_LIVE_ORDERS_PER_MARKET:
        return ErrorCode.MAX_ACTIVE_ORDERS_MARKET

    def execute(tx_hash: str) -> int:
        account.position(spec)
        order = Order(
            order_index=state.next_order_index(tx.is_ask),
            client_order_index=tx.client_order_index,
            market_index=spec.market_id,
            account_index=account.index,
            api_key_index=meta.api_key_index,
            nonce=meta.nonce,
            is_ask=tx.is_ask,
            order_type=OrderType(tx.order_type),
            time_in_force=TimeInForce(tx.time_in_force),
            reduce_only=tx.reduce_only,
            price=tx.price,
            trigger_price=tx.trigger_price,
            initial_base_amount=tx.base_amount,
            remaining=tx.base_amount,
            expiry_ms=tx.order_expiry_ms,
            created_at_ms=now_ns // 1_000_000,
            self_trade_behavior=SelfTradeBehavior(tx.self_trade_behavior),
        )
        state.note_order(order, now_ns)
        _place(state, scheduler, account, order, tx_hash, now_ns)
        return order.order_index

    return execute


def _place(state: EngineState, scheduler: OrderScheduler, account: Account, order: Order, tx_hash: str,
           now_ns: int) -> None:
    """Run an incoming (new or re-priced) order: pre-trade checks, matching, then rest or retire."""
    position = account.positions[order.market_index]
    if order.reduce_only and not position.reduces(order.is_ask):
        state.retire(order, OrderStatus.CANCELED_REDUCE_ONLY, now_ns)
        return
    if not order.reduce_only and not _margin_allows(state, account, order):
        state.retire(order, OrderStatus.CANCELED_MARGIN_NOT_ALLOWED, now_ns)
        return
    book = state.books[order.market_index]
    if order.time_in_force == TimeInForce.POST_ONLY and book.crosses(order.is_ask, order.price):
        state.retire(order, OrderStatus.CANCELED_POST_ONLY, now_ns)
        return
    if order.remaining > 0 and not book.crosses(order.is_ask, order.price):  # what matching would find at once
        stop = MatchStop.NO_LIQUIDITY if book.side(not order.is_ask).best_price() is None else MatchStop.PRICE
    else:
        stop = match_incoming(state, order, order.self_trade_behavior, tx_hash, now_ns)
    if order.remaining == 0:
        state.retire(order, OrderStatus.FILLED, now_ns)
    elif stop is MatchStop.SELF_TRADE:
        state.retire(order, OrderStatus.CANCELED_SELF_TRADE, now_ns)
    elif stop is MatchStop.REDUCE_ONLY or (order.reduce_only and not position.reduces(order.is_ask)):
        state.retire(order, OrderStatus.CANCELED_REDUCE_ONLY, now_ns)
    elif order.time_in_force == TimeInForce.IMMEDIATE_OR_CANCEL:
        state.retire(order, _ioc_remainder_status(order, stop), now_ns)
    else:
        state.rest(order, now_ns)
        scheduler.watch_expiry(order)


def _ioc_remainder_status(order: Order, stop: MatchStop) -> OrderStatus:
    if order.order_type != OrderType.MARKET:
        return OrderStatus.CANCELED
    if stop is MatchStop.NO_LIQUIDITY:
        return OrderStatus.CANCELED_NOT_ENOUGH_LIQUIDITY
    return OrderStatus.CANCELED_TOO_MUCH_SLIPPAGE


def _margin_allows(state: EngineState, account: Account, order: Order) -> bool:
    """Initial margin with the order counted as resting must be covered by equity, unless the order does
    not raise the requirement (it only reduces exposure)."""
    extra_bid, extra_ask = (0, order.remaining) if order.is_ask else (order.remaining, 0)
    position = account.positions.get(order.market_index)
    if position is not None:  # only this market's term differs between before and after
        lots_before, lots_after = position.worst_case_lots(), position.worst_case_lots(extra_bid, extra_ask)
        mark = state.mark_price(order.market_index)
        if mark is not None and lots_after <= lots_before:
            return True  # the same mark and no more lots: after <= before
        quote = state.markets[order.market_index].quote_micro
        imf = position.initial_margin_fraction
        # as initial_margin values the market: at its mark, else at 0 before and at the order's price after
        term_before = margin_micro(quote(0 if mark is None else mark, lots_before), imf) if lots_before else 0
        term_after = margin_micro(quote(order.price if mark is None else mark, lots_after), imf) if lots_after else 0
        if term_after <= term_before:
            return True  # after <= before
        # with no other market, the requirement is this market's term alone
        before = term_before if len(account.positions) == 1 else state.initial_margin(account)
        after = before - term_before + term_after
    else:
        before = state.initial_margin(account)
        after = state.initial_margin(account, market_id=order.market_index, extra_bid=extra_bid,
                                     extra_ask=extra_ask, price_hint=order.price)
    return after <= before or after <= state.equity(account)


def resolve_live_order(state: EngineState, account: Account, market_index: int, index: int,
                       missing: ErrorCode) -> Order | ErrorCode:
    """Find a live order by exchange index (>= 2^48) or client order index (< 2^48)."""
    if index >= MIN_ORDER_INDEX:
        order = state.live_orders.get(index)
        if order is not None and order.account_index != account.index:
            return ErrorCode.NOT_ORDER_OWNER
    elif index > 0:
        order_index = account.client_orders.get(index)
        order = account.live_orders.get(order_index) if order_index is not None else None
    else:
        return ErrorCode.INVALID_ORDER_INDEX
    if order is None or order.market_index != market_index:
        return missing
    return order


def plan_modify(state: EngineState, scheduler: OrderScheduler, account: Account, tx: ModifyOrderTx,
                now_ns: int) -> Plan:
    spec = state.markets.get(tx.market_index)
    if spec is None:
        return ErrorCode.INVALID_MARKET_INDEX
    found = resolve_live_order(state, account, tx.market_index, tx.index, ErrorCode.NOT_ACTIVE_ORDER)
    if isinstance(found, ErrorCode):
        return found
    order = found
    error = _amounts_error(spec, tx.base_amount, tx.price)
    if error is not None:
        return error

    def execute(tx_hash: str) -> int:
        order.trigger_price = tx.trigger_price
        if tx.price == order.price and tx.base_amount <= order.remaining:
            if tx.base_amount < order.remaining:
                state.shrink_resting(order, tx.base_amount)
                order.initial_base_amount = order.filled_base + tx.base_amount
            state.note_order(order, now_ns)
            return order.order_index
        state.unrest(order)  # a new price or a larger size goes to the back of the queue
        order.price = tx.price
        order.remaining = tx.base_amount
        order.initial_base_amount = order.filled_base + tx.base_amount
        state.note_order(order, now_ns)
        _place(state, scheduler, account, order, tx_hash, now_ns)
        return order.order_index

    return execute


def plan_cancel(state: EngineState, account: Account, tx: CancelOrderTx, now_ns: int) -> Plan:
    if tx.market_index not in state.markets:
        return ErrorCode.INVALID_MARKET_INDEX
    found = resolve_live_order(state, account, tx.market_index, tx.index, ErrorCode.NOT_ACTIVE_LIMIT_ORDER)
    if isinstance(found, ErrorCode):
        return found
    order = found

    def execute(_tx_hash: str) -> int:
        state.retire(order, OrderStatus.CANCELED, now_ns)
        return order.order_index

    return execute


def cancel_account_orders(state: EngineState, account: Account, market_index: int, status: OrderStatus,
                          now_ns: int) -> int:
    """Retire the account's live orders (one market, or all with 255); returns how many."""
    targets = [o for o in account.live_orders.values()
               if market_index == NIL_MARKET_INDEX or o.market_index == market_index]
    for order in targets:
        state.retire(order, status, now_ns)
    return len(targets)


def plan_cancel_all(state: EngineState, scheduler: OrderScheduler, account: Account, tx: CancelAllOrdersTx,
                    now_ns: int) -> Plan:
    now_ms = now_ns // 1_000_000
    if tx.market_index != NIL_MARKET_INDEX and tx.market_index not in state.markets:
        return ErrorCode.INVALID_MARKET_INDEX
    if tx.time_in_force == CancelAllTif.IMMEDIATE:
        if tx.time_ms != 0:
            return ErrorCode.INVALID_EXPIRY

        def cancel_now(_tx_hash: str) -> None:
            cancel_account_orders(state, account, tx.market_index, OrderStatus.CANCELED, now_ns)

        return cancel_now
    if tx.market_index != NIL_MARKET_INDEX:
        return ErrorCode.INVALID_TX_INFO  # market-scoped cancel-all only with IMMEDIATE
    if tx.time_in_force == CancelAllTif.SCHEDULED:
        if not SCHEDULED_CANCEL_MIN_MS <= tx.time_ms - now_ms <= SCHEDULED_CANCEL_MAX_MS:
            return ErrorCode.INVALID_EXPIRY

        def schedule(_tx_hash: str) -> None:
            account.scheduled_cancel_all_ms = tx.time_ms
            heapq.heappush(scheduler.cancel_alls, (tx.time_ms, account.index))

        return schedule

    def abort(_tx_hash: str) -> None:
        account.scheduled_cancel_all_ms = None

    return abort


def run_due(state: EngineState, scheduler: OrderScheduler, now_ns: int) -> bool:
    """Expire orders and run scheduled cancel-alls due at `now_ns`; returns whether anything changed."""
    now_ms = now_ns // 1_000_000
    due: dict[int, Order] = {}  # a re-rested order may have several heap entries
    while scheduler.expiries and scheduler.expiries[0][0] <= now_ms:
        expiry_ms, order_index = heapq.heappop(scheduler.expiries)
        order = state.live_orders.get(order_index)
        if order is not None and order.expiry_ms == expiry_ms:
            due[order_index] = order
    accounts: list[Account] = []
    while scheduler.cancel_alls and scheduler.cancel_alls[0][0] <= now_ms:
        time_ms, account_index = heapq.heappop(scheduler.cancel_alls)
        account = state.accounts[account_index]
        if account.scheduled_cancel_all_ms == time_ms:
            account.scheduled_cancel_all_ms = None
            accounts.append(account)
    if not due and not any(a.live_orders for a in accounts):
        return False
    state.height += 1
    for order in due.values():
        state.retire(order, OrderStatus.CANCELED_EXPIRED, now_ns)
    for account in accounts:
        cancel_account_orders(state, account, NIL_MARKET_INDEX, OrderStatus.CANCELED, now_ns)
    return True
