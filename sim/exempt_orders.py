# Orders of an account exempt from limits (a mirrored external book) changed without the general transaction
# pipeline: the exact effect of the CreateOrder, ModifyOrder (same price, new size) or CancelOrder (size 0) the
# account would send, without the transaction objects and closures.
# Rules:
# - Only the cases whose outcome is certain are handled here (`resize_in_place` returns False, and
#   `ExemptBook.create` hands over to `Engine.submit_exempt`, before changing anything otherwise); every state
#   change is the one the pipeline makes (book, tallies, the order of the live-order dicts, order fields, nonce,
#   height, expiry heap); only the pipeline's duplicate expiry entries, which nothing can observe, are left out.
# - `ExemptBook` (one market of an account whose orders are not published) leaves the end of its transactions
#   open: such a transaction's only events are book level changes, so instead of closing each one
#   (`EngineState.flush`) it marks the state (`levels_deferred`) and the engine closes them all at once before its
#   next operation of any other kind (`Engine.expire`, which every transaction runs first) or when the outbox is
#   drained (`Engine.take_events`). The outbox then holds the same events in the same order, except that a run of
#   these level changes is coalesced (one change per level, where it first changed, with its last size): what
#   the feed's book chain makes of any run of level changes anyway (`sim.book_chain`, last write wins).
from __future__ import annotations

from typing import TYPE_CHECKING

from sim.accounts import Account, ApiKey
from sim.engine_state import EngineState
from sim.engine_types import (
    CreateOrderTx,
    ErrorCode,
    OrderStatus,
    OrderType,
    SelfTradeBehavior,
    TimeInForce,
)
from sim.order_txs import ORDER_EXPIRY_MAX_MS, ORDER_EXPIRY_MIN_MS, _amounts_error, _margin_allows
from sim.orders import Order

if TYPE_CHECKING:
    from sim.engine import Engine


def resize_in_place(state: EngineState, account: Account, key: ApiKey, order: Order,
                    size: int, now_ns: int) -> bool:
    """Apply an accepted same-price resize (or a cancel, size 0) of ``order``, a resting order of ``account``,
    and close the transaction; False (nothing changed) when the case is not one of those: amounts the market
    refuses, a size increase of an order that is not the last of its level, or one whose margin check fails."""
    if not resize_open(state, account, key, order, size, now_ns):
        return False
    state.flush()
    return True


def resize_open(state: EngineState, account: Account, key: ApiKey, order: Order, size: int, now_ns: int) -> bool:
    """`resize_in_place` without closing the transaction (no `flush`)."""
    if size == 0:
        _accept(state, key)
        state.retire(order, OrderStatus.CANCELED, now_ns)
        return True
    if _amounts_error(state.markets[order.market_index], size, order.price) is not None:
        return False
    remaining = order.remaining
    if size <= remaining:
        _accept(state, key)
        order.trigger_price = 0
        if size < remaining:
            state.shrink_resting(order, size)
            order.initial_base_amount = order.filled_base + size
        state.note_order(order, now_ns)
        return True
    book = state.books[order.market_index]
    if book.side(order.is_ask).last_order_at(order.price) is not order or order.reduce_only or \
            order.client_order_index or order.market_index not in state.last_trade_price:
        return False  # moved behind others, a margin check reading the book's mid, other bookkeeping
    # the pipeline takes the order out of the book, then checks margin for it at its new size: the tallies
    # are what the margin reads (the mark is the last trade, not the book)
    account.track_resting(order, -remaining, -1)
    order.remaining = size
    allowed = _margin_allows(state, account, order)
    order.remaining = remaining
    if not allowed:
        account.track_resting(order, remaining, 1)
        return False
    account.track_resting(order, size, 1)
    _accept(state, key)
    order.trigger_price = 0
    # unrest + rest: back at the end of its level (where it was) and of the live-order dicts
    del state.live_orders[order.order_index]
    del account.live_orders[order.order_index]
    book.grow_last(order, size)
    order.initial_base_amount = order.filled_base + size
    state.live_orders[order.order_index] = order
    account.live_orders[order.order_index] = order
    state.note_order(order, now_ns)  # the pipeline notes it twice, with the same time and height
    # the pipeline also pushes its expiry again: a duplicate of the entry pushed when it first rested (the
    # expiry never changes while it rests), which `run_due` would pop with it and ignore
    return True


def _accept(state: EngineState, key: ApiKey) -> None:
    key.next_nonce += 1
    state.height += 1


class ExemptBook:
    """One market of an exempt account whose orders are not published (``Engine.exempt_book``): resizes and
    creates with the outcome of `Engine.resize_exempt` and `Engine.submit_exempt`, their transactions left open
    (see the module's rules). Falls back to those entry points, which close the open ones first, whenever the
    outcome is not certain here: a create that could cross (it must trade, against our orders too), amounts or
    an expiry the venue refuses, a resize `resize_in_place` does not handle, an order no longer live."""

    def __init__(self, engine: Engine, state: EngineState, account: Account, key: ApiKey, api_key_index: int,
                 market_id: int) -> None:
        if account.index not in state.unpublished_accounts:
            raise ValueError(f"exempt_book: account {account.index}'s orders are published")
        self._engine = engine
        self._state = state
        self._scheduler = engine._scheduler
        self._expiries, self._cancel_alls = self._scheduler.expiries, self._scheduler.cancel_alls
        self._live = state.live_orders
        self._account = account
        self._account_index = account.index
        self._position = account.positions.get(market_id)  # the market's position, once it exists
        self._key = key
        self._api_key_index = api_key_index
        self._market_id = market_id
        self._spec = state.markets[market_id]
        self._book = state.books[market_id]

    def _expire(self, now_ns: int) -> None:
        """`Engine.expire` when something may be due (it closes the open transactions first)."""
        now_ms = now_ns // 1_000_000
        expiries, cancel_alls = self._expiries, self._cancel_alls
        if (expiries and expiries[0][0] <= now_ms) or (cancel_alls and cancel_alls[0][0] <= now_ms):
            self._engine.expire(now_ns)

    def resize(self, now_ns: int, order: Order, size: int) -> int | ErrorCode:
        """`Engine.resize_exempt` of ``order`` (this account's, held by the caller) to ``size`` at its price
        (0: a cancel): the order index, or the ErrorCode of the refused transaction."""
        self._expire(now_ns)
        if order.account_index != self._account_index:
            raise ValueError(f"exempt_book: order {order.order_index} is not account {self._account_index}'s")
        state = self._state
        index = order.order_index
        if self._live.get(index) is order:
            remaining = order.remaining
            if 0 < size < remaining and order.market_index == self._market_id and \
                    _amounts_error(self._spec, size, order.price) is None:
                # the common case, `resize_open`'s shrink in place with the calls unrolled (an unpublished
                # order's note is its touch)
                key = self._key
                key.next_nonce += 1
                state.height += 1
                order.trigger_price = 0
                position = self._position
                if position is None:
                    position = self._position = self._account.positions[order.market_index]
                if order.reduce_only:
                    pass  # no lots tallied
                elif order.is_ask:
                    position.open_ask_lots += size - remaining
                else:
                    position.open_bid_lots += size - remaining
                self._book.shrink(order, size)
                order.initial_base_amount = order.filled_base + size
                order.touch(now_ns, state.height)
                state.levels_deferred = True
                return index
            if resize_open(state, self._account, self._key, order, size, now_ns):
                state.levels_deferred = True
                return index
        return self._engine.resize_exempt(now_ns, self._account_index, self._api_key_index, order.market_index,
                                          index, order.price, size)

    def create(self, now_ns: int, is_ask: bool, price: int, size: int, expiry_ms: int) -> int | ErrorCode:
        """`Engine.submit_exempt` of a GTT limit order (no client index) of ``size`` at ``price``: the order
        index, or the ErrorCode of the refused transaction. One that cannot cross rests here."""
        self._expire(now_ns)
        state, spec = self._state, self._spec
        ahead = expiry_ms - now_ns // 1_000_000
        if self._book.crosses(is_ask, price) or _amounts_error(spec, size, price) is not None or \
                not ORDER_EXPIRY_MIN_MS <= ahead <= ORDER_EXPIRY_MAX_MS:
            tx = CreateOrderTx(market_index=self._market_id, client_order_index=0, base_amount=size, price=price,
                               is_ask=is_ask, order_type=OrderType.LIMIT, time_in_force=TimeInForce.GOOD_TILL_TIME,
                               order_expiry_ms=expiry_ms)
            return self._engine.submit_exempt(now_ns, self._account.index, self._api_key_index, tx)
        account, key = self._account, self._key
        nonce = key.next_nonce
        _accept(state, key)
        self._position = account.position(spec)
        order = Order(order_index=state.next_order_index(is_ask), client_order_index=0, market_index=spec.market_id,
                      account_index=account.index, api_key_index=self._api_key_index, nonce=nonce, is_ask=is_ask,
                      order_type=OrderType.LIMIT, time_in_force=TimeInForce.GOOD_TILL_TIME, reduce_only=False,
                      price=price, trigger_price=0, initial_base_amount=size, remaining=size, expiry_ms=expiry_ms,
                      created_at_ms=now_ns // 1_000_000, self_trade_behavior=SelfTradeBehavior.EXPIRE_MAKER)
        # the pipeline's `_place` for an order that cannot cross: the margin check, then it rests
        if _margin_allows(state, account, order):
            state.rest(order, now_ns)
            self._scheduler.watch_expiry(order)
            state.levels_deferred = True
        else:
            state.retire(order, OrderStatus.CANCELED_MARGIN_NOT_ALLOWED, now_ns)
        return order.order_index

