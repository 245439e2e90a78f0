# Resizing a resting order of an account exempt from limits (a mirrored external book) in place: the exact
# effect of the ModifyOrder (same price, new size) or CancelOrder (size 0) the account would send, without the
# transaction objects and closures of the general pipeline.
# Rules: only the cases whose outcome is certain are handled here (`resize_in_place` returns False before
# changing anything otherwise, and the caller sends the transaction); every state change is the one the
# pipeline makes (book, tallies, the order of the live-order dicts, order fields, nonce, height, outbox); only
# the pipeline's duplicate expiry entries, which nothing can observe, are left out.
from __future__ import annotations

from sim.accounts import Account, ApiKey
from sim.engine_state import EngineState
from sim.engine_types import OrderStatus
from sim.order_txs import _amounts_error, _margin_allows
from sim.orders import Order


def resize_in_place(state: EngineState, account: Account, key: ApiKey, order: Order,
                    size: int, now_ns: int) -> bool:
    """Apply an accepted same-price resize (or a cancel, size 0) of ``order``, a resting order of ``account``;
    False (nothing changed) when the case is not one of those: amounts the market refuses, a size increase of
    an order that is not the last of its level, or one whose margin check depends on the book or fails."""
    spec = state.markets[order.market_index]
    if size == 0:
        _accept(state, key)
        state.retire(order, OrderStatus.CANCELED, now_ns)
        state.flush()
        return True
    if _amounts_error(spec, size, order.price) is not None:
        return False
    if size <= order.remaining:
        _accept(state, key)
        order.trigger_price = 0
        if size < order.remaining:
            state.shrink_resting(order, size)
            order.initial_base_amount = order.filled_base + size
        state.note_order(order, now_ns)
        state.flush()
        return True
    book = state.books[order.market_index]
    if book.side(order.is_ask).last_order_at(order.price) is not order or order.reduce_only or \
            order.client_order_index or order.market_index not in state.last_trade_price:
        return False  # moved behind others, a margin check reading the book's mid, other bookkeeping
    # the pipeline takes the order out of the book, then checks margin for it at its new size: the tallies
    # are what the margin reads (the mark is the last trade, not the book)
    old = order.remaining
    account.track_resting(order, -old, -1)
    order.remaining = size
    allowed = _margin_allows(state, account, order)
    order.remaining = old
    if not allowed:
        account.track_resting(order, old, 1)
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
    state.flush()
    return True


def _accept(state: EngineState, key: ApiKey) -> None:
    key.next_nonce += 1
    state.height += 1
