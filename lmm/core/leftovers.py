"""Orders that may still be open when cancelling gives up, and the spacing of the cancel-all retries.

Rules:
- Pure: no I/O, no clocks. ``cancel_all_backoff`` spaces the cancel-alls of ``cancel_confirmation``'s
  ``CancelAllConfirmation``; the daemon's ``_cancel_leftovers`` describes what may remain with
  ``describe_open_orders`` when its budget runs out.
- Retries of a cancel-all that was refused, or that did not leave the market empty, back off exponentially
  with jitter up to a cap (``reconnect.Backoff``), so a venue refusing everything is asked a few times a
  minute, not hammered.
- What may remain comes from the newest REST listing when there was one (the venue's word), otherwise from
  the bot's own order slots; the line says which, and names every order by client order index, order index,
  side, price and size, so it can be checked and cancelled by hand.
"""
from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from lmm.core.backoff import Backoff, BackoffPolicy
from lmm.core.market import MarketInfo
from lmm.core.order_state import Side, SlotState
from lmm.core.orders import OrderReport, OrderSlot

# First retry after 0.25-0.5 s, doubling up to 4-8 s: about a dozen cancel-alls in a 60 s shutdown budget.
CANCEL_ALL_BACKOFF = BackoffPolicy(base_delay=0.5, max_delay=8.0, factor=2.0, jitter=0.5)


def cancel_all_backoff(rng: random.Random | None = None) -> Backoff:
    return Backoff(CANCEL_ALL_BACKOFF, rng if rng is not None else random.Random())


@dataclass(frozen=True, slots=True)
class OpenOrder:
    side: Side
    price_tick: int
    size_lots: int
    client_index: int | None
    order_index: int | None


def from_reports(reports: Iterable[OrderReport]) -> tuple[OpenOrder, ...]:
    return tuple(OpenOrder(r.side, r.price_tick, r.remaining_lots,
                           None if r.client_index is None else r.client_index.value, r.order_index.value)
                 for r in reports)


def from_slots(slots: Iterable[OrderSlot]) -> tuple[OpenOrder, ...]:
    """Every slot not IDLE: its order may rest (or be about to) on the exchange."""
    return tuple(OpenOrder(s.side, s.price_tick, s.size_lots,
                           None if s.client_index is None else s.client_index.value,
                           None if s.order_index is None else s.order_index.value)
                 for s in slots if s.state is not SlotState.IDLE)


def _order_text(market: MarketInfo, order: OpenOrder) -> str:
    price = f"{market.price_of(order.price_tick):.{market.price_decimals}f}"
    size = f"{market.size_of(order.size_lots):.{market.size_decimals}f}"
    ids = ", ".join(part for part in (
        None if order.client_index is None else f"client order index {order.client_index}",
        None if order.order_index is None else f"order index {order.order_index}") if part)
    return f"{order.side.value} {size} @ {price} ({ids or 'no id known'})"


def describe_open_orders(market: MarketInfo, orders: tuple[OpenOrder, ...], source: str) -> str:
    """``2 order(s) may remain on BTC (<source>): bid 0.00200 @ 99982.5 (client order index 5, ...), ...``."""
    if not orders:
        return f"no order of {market.symbol} was seen ({source}), but the cancel was not confirmed"
    listed = "; ".join(_order_text(market, order) for order in orders)
    return f"{len(orders)} order(s) may remain on {market.symbol} ({source}): {listed}"
