"""Local copy of one Lighter market's order book, fed with decoded WebSocket messages (sans-I/O).

Rules (lighter-api.md 6.5, strategy-model.md 5.3):
- snapshot vs update is decided by the message ``type`` only: ``subscribed/order_book`` replaces the
  whole book, ``update/order_book`` applies absolute sizes (any zero size deletes the level);
- continuity: each update's ``begin_nonce`` must equal the previous message's ``nonce`` (the snapshot
  seeds the chain); ``offset`` is never used;
- a nonce gap, a crossed book (best bid >= best ask) or a malformed message drops the book and marks it
  invalid with a reason until the next snapshot; updates arriving meanwhile are ignored. The caller
  resubscribes when ``on_message`` returns an event whose ``needs_resubscribe`` is true;
- prices and sizes are parsed exactly into integer ticks and lots at the edge (no float round trip);
- no I/O and no clock here: messages in, a ``BookEvent`` out;
- the state machine lives in a core: ``PyLighterBookCore`` below, or its C twin
  ``_vol_obi_fast.CLighterBookCore`` (one call per message) when the sides are ``CBookSide``.
  ``LighterBook`` only delegates, so both cores answer the same tests.
"""

from __future__ import annotations

import enum
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any, Protocol

from lmm.book.book_side import EMPTY_TICK, MAX_DECIMALS, BookSide, PyBookSide

logger = logging.getLogger(__name__)

SideFactory = Callable[[bool], BookSide]

SNAPSHOT_TYPE = "subscribed/order_book"
UPDATE_TYPE = "update/order_book"
NO_SNAPSHOT_REASON = "no snapshot received yet"


class BookEvent(enum.Enum):
    """What one message did to the book."""

    SNAPSHOT = "snapshot"  # book replaced; valid
    UPDATED = "updated"  # delta applied; valid
    GAP = "gap"  # begin_nonce broke the chain; book dropped
    CROSSED = "crossed"  # best bid >= best ask after applying; book dropped
    MALFORMED = "malformed"  # unparseable message; book dropped
    AWAITING_SNAPSHOT = "awaiting_snapshot"  # update ignored: the book is invalid until a snapshot
    IGNORED = "ignored"  # not an order-book message of this market

    @property
    def needs_resubscribe(self) -> bool:
        return self in (BookEvent.GAP, BookEvent.CROSSED, BookEvent.MALFORMED)


@dataclass(frozen=True, slots=True)
class BookTop:
    """The best levels of each side as (tick, lots), best first."""

    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]


def default_side_factory() -> SideFactory:
    """CBookSide when the extension is built and LIGHTER_MM_PURE_PYTHON != "1", else PyBookSide.

    The environment is read when called, not at import time.
    """
    if os.environ.get("LIGHTER_MM_PURE_PYTHON") != "1":
        try:
            from lmm._fast import CBookSide
        except ImportError:
            logger.debug("_vol_obi_fast.CBookSide unavailable; using PyBookSide")
        else:
            return CBookSide
    return PyBookSide


@lru_cache(maxsize=32, typed=True)  # typed: 0.3 and Fraction(0.3) are equal but mean different depths
def _band_terms(looking_depth: float | Fraction | str) -> tuple[int, int, int]:
    """(q - p, q + p, 2q) for looking_depth = p/q, exactly."""
    # str() of a float is its shortest repr, so 0.025 becomes exactly 1/40 rather than the binary double.
    depth = Fraction(str(looking_depth)) if isinstance(looking_depth, float) else Fraction(looking_depth)
    if not 0 < depth < 1:
        raise ValueError(f"looking_depth must be in (0, 1), got {looking_depth!r}")
    return depth.denominator - depth.numerator, depth.denominator + depth.numerator, 2 * depth.denominator


def band_edges(mid_ticks2: int, looking_depth: float | Fraction | str) -> tuple[int, int]:
    """Exclusive band edges (lo, hi) in ticks: lo = ceil(m(1 - d)), hi = floor(m(1 + d)), m = mid_ticks2 / 2.

    Exact rational arithmetic, so a test oracle computing the same formula agrees at the edges.
    """
    below, above, denominator = _band_terms(looking_depth)
    return -((-mid_ticks2 * below) // denominator), (mid_ticks2 * above) // denominator


class BookCore(Protocol):
    """What LighterBook delegates to: PyLighterBookCore or _vol_obi_fast.CLighterBookCore."""

    @property
    def bids(self) -> BookSide: ...
    @property
    def asks(self) -> BookSide: ...
    @property
    def nonce(self) -> int | None: ...
    @property
    def invalid_reason(self) -> str | None: ...
    @property
    def best_bid_tick(self) -> int: ...
    @property
    def best_ask_tick(self) -> int: ...
    @property
    def mid_ticks2(self) -> int | None: ...
    @property
    def mid(self) -> float | None: ...
    def on_message(self, message: Mapping[str, Any]) -> BookEvent: ...
    def apply_snapshot(self, order_book: Mapping[str, Any]) -> BookEvent: ...
    def apply_update(self, order_book: Mapping[str, Any]) -> BookEvent: ...
    def invalidate(self, reason: str) -> None: ...
    def imbalance_lots(self, looking_depth: float | Fraction | str) -> int | None: ...
    def imbalance(self, looking_depth: float | Fraction | str) -> float | None: ...


# CLighterBookCore receives the events in this order (its _Event enum).
CORE_EVENT_ORDER = (
    BookEvent.SNAPSHOT,
    BookEvent.UPDATED,
    BookEvent.GAP,
    BookEvent.CROSSED,
    BookEvent.MALFORMED,
    BookEvent.AWAITING_SNAPSHOT,
    BookEvent.IGNORED,
)


class PyLighterBookCore:
    """The pure-Python book state machine (twin of _vol_obi_fast.CLighterBookCore), on any BookSide."""

    __slots__ = (
        "_channels",
        "_price_decimals",
        "_price_scale",
        "_size_decimals",
        "_size_scale",
        "asks",
        "bids",
        "invalid_reason",
        "nonce",
    )

    def __init__(self, market_id: int, price_decimals: int, size_decimals: int, side_factory: SideFactory) -> None:
        self._channels = frozenset((f"order_book:{market_id}", f"order_book/{market_id}"))
        self._price_decimals = price_decimals
        self._size_decimals = size_decimals
        self._price_scale = 10**price_decimals
        self._size_scale = 10**size_decimals
        self.bids: BookSide = side_factory(True)
        self.asks: BookSide = side_factory(False)
        self.nonce: int | None = None
        self.invalid_reason: str | None = NO_SNAPSHOT_REASON

    def on_message(self, message: Mapping[str, Any]) -> BookEvent:
        kind = message.get("type")
        if kind == UPDATE_TYPE:
            is_snapshot = False
        elif kind == SNAPSHOT_TYPE:
            is_snapshot = True
        else:
            return BookEvent.IGNORED
        channel = message.get("channel")
        if channel is not None and (type(channel) is not str or channel not in self._channels):
            return BookEvent.IGNORED
        order_book = message.get("order_book")
        if type(order_book) is not dict and not isinstance(order_book, Mapping):
            if not is_snapshot and self.invalid_reason is not None:
                return BookEvent.AWAITING_SNAPSHOT
            return self._drop(BookEvent.MALFORMED, f"message without an order_book object: {kind}")
        if is_snapshot:
            return self.apply_snapshot(order_book)
        return self.apply_update(order_book)

    def apply_snapshot(self, order_book: Mapping[str, Any]) -> BookEvent:
        nonce = order_book.get("nonce")
        if type(nonce) is not int:
            return self._drop(BookEvent.MALFORMED, f"snapshot nonce is not an int: {nonce!r}")
        bids, asks = order_book.get("bids"), order_book.get("asks")
        if bids is None or asks is None:
            return self._drop(BookEvent.MALFORMED, "snapshot without bids or asks")
        try:
            self.bids.replace_levels(bids, self._price_decimals, self._size_decimals)
            self.asks.replace_levels(asks, self._price_decimals, self._size_decimals)
        except (TypeError, ValueError) as exc:
            return self._drop(BookEvent.MALFORMED, f"malformed snapshot: {exc}")
        self.nonce = nonce
        self.invalid_reason = None
        return self._check_crossed(BookEvent.SNAPSHOT)

    def apply_update(self, order_book: Mapping[str, Any]) -> BookEvent:
        if self.invalid_reason is not None:
            return BookEvent.AWAITING_SNAPSHOT
        begin_nonce, nonce = order_book.get("begin_nonce"), order_book.get("nonce")
        if type(begin_nonce) is not int or type(nonce) is not int:
            return self._drop(BookEvent.MALFORMED, f"update nonces are not ints: {begin_nonce!r}, {nonce!r}")
        if begin_nonce != self.nonce:
            return self._drop(BookEvent.GAP, f"nonce gap: begin_nonce {begin_nonce} != previous nonce {self.nonce}")
        try:
            self.bids.apply_levels(order_book.get("bids", ()), self._price_decimals, self._size_decimals)
            self.asks.apply_levels(order_book.get("asks", ()), self._price_decimals, self._size_decimals)
        except (TypeError, ValueError) as exc:
            return self._drop(BookEvent.MALFORMED, f"malformed update: {exc}")
        self.nonce = nonce
        return self._check_crossed(BookEvent.UPDATED)

    def invalidate(self, reason: str) -> None:
        self._drop(BookEvent.IGNORED, reason)

    def _check_crossed(self, event: BookEvent) -> BookEvent:
        best_bid, best_ask = self.bids.best(), self.asks.best()
        if best_bid != EMPTY_TICK and best_ask != EMPTY_TICK and best_bid >= best_ask:
            return self._drop(BookEvent.CROSSED, f"crossed: best bid tick {best_bid} >= best ask tick {best_ask}")
        return event

    def _drop(self, event: BookEvent, reason: str) -> BookEvent:
        self.bids.clear()
        self.asks.clear()
        self.nonce = None
        self.invalid_reason = reason
        return event

    @property
    def best_bid_tick(self) -> int:
        return self.bids.best()

    @property
    def best_ask_tick(self) -> int:
        return self.asks.best()

    @property
    def mid_ticks2(self) -> int | None:
        best_bid, best_ask = self.bids.best(), self.asks.best()
        if self.invalid_reason is not None or best_bid == EMPTY_TICK or best_ask == EMPTY_TICK:
            return None
        return best_bid + best_ask

    @property
    def mid(self) -> float | None:
        mid_ticks2 = self.mid_ticks2
        return None if mid_ticks2 is None else mid_ticks2 / (2 * self._price_scale)

    def imbalance_lots(self, looking_depth: float | Fraction | str) -> int | None:
        mid_ticks2 = self.mid_ticks2
        if mid_ticks2 is None:
            return None
        below, above, denominator = _band_terms(looking_depth)
        # lo = ceil(m(1 - d)) and hi = floor(m(1 + d)) as in band_edges, inlined on this per-sample path.
        return self.bids.band_sum(-((-mid_ticks2 * below) // denominator)) - self.asks.band_sum(
            (mid_ticks2 * above) // denominator
        )

    def imbalance(self, looking_depth: float | Fraction | str) -> float | None:
        lots = self.imbalance_lots(looking_depth)
        return None if lots is None else lots / self._size_scale


def make_core(market_id: int, price_decimals: int, size_decimals: int, side_factory: SideFactory) -> BookCore:
    """The C core when the sides are the extension's CBookSide, else the Python core on side_factory."""
    try:
        import lmm._fast as _vol_obi_fast
    except ImportError:
        pass
    else:
        if side_factory is _vol_obi_fast.CBookSide:
            return _vol_obi_fast.CLighterBookCore(
                market_id, price_decimals, size_decimals, CORE_EVENT_ORDER, _band_terms
            )
    return PyLighterBookCore(market_id, price_decimals, size_decimals, side_factory)


class LighterBook:
    """The order book of one Lighter market, in integer price ticks and size lots.

    ``on_message(message) -> BookEvent`` feeds one decoded WebSocket message, as the SDK's WsClient
    receives it; ``imbalance(looking_depth) -> float | None`` is S_bid - S_ask in base-asset units inside
    the band (strategy-model.md 5.3), None without a mid. Both are the active core's own bound methods
    (no wrapper frame on the per-message path).
    """

    __slots__ = ("_core", "imbalance", "market_id", "on_message", "price_decimals", "size_decimals")

    def __init__(
        self,
        market_id: int,
        price_decimals: int,
        size_decimals: int,
        side_factory: SideFactory | None = None,
    ) -> None:
        if type(market_id) is not int or market_id < 0:
            raise ValueError(f"market_id must be a non-negative int, got {market_id!r}")
        for name, decimals in (("price_decimals", price_decimals), ("size_decimals", size_decimals)):
            if type(decimals) is not int or not 0 <= decimals <= MAX_DECIMALS:
                raise ValueError(f"{name} must be an int in [0, {MAX_DECIMALS}], got {decimals!r}")
        factory = side_factory if side_factory is not None else default_side_factory()
        self.market_id = market_id
        self.price_decimals = price_decimals
        self.size_decimals = size_decimals
        self._core: BookCore = make_core(market_id, price_decimals, size_decimals, factory)
        self.on_message: Callable[[Mapping[str, Any]], BookEvent] = self._core.on_message
        self.imbalance: Callable[[float | Fraction | str], float | None] = self._core.imbalance

    # -- input ---------------------------------------------------------------------------------------

    def apply_snapshot(self, order_book: Mapping[str, Any]) -> BookEvent:
        """Replace the whole book from the ``order_book`` object of a ``subscribed/order_book`` message."""
        return self._core.apply_snapshot(order_book)

    def apply_update(self, order_book: Mapping[str, Any]) -> BookEvent:
        """Apply the ``order_book`` object of an ``update/order_book`` message (absolute sizes)."""
        return self._core.apply_update(order_book)

    def invalidate(self, reason: str) -> None:
        """Drop the book until the next snapshot (e.g. the socket closed or a sanity check failed)."""
        self._core.invalidate(reason)

    # -- state ---------------------------------------------------------------------------------------

    @property
    def core(self) -> BookCore:
        """The active core (PyLighterBookCore or CLighterBookCore)."""
        return self._core

    @property
    def valid(self) -> bool:
        """True when the book is synced and not crossed (one side may still be empty)."""
        return self._core.invalid_reason is None

    @property
    def invalid_reason(self) -> str | None:
        return self._core.invalid_reason

    @property
    def nonce(self) -> int | None:
        """The nonce of the last applied message; None while invalid."""
        return self._core.nonce

    @property
    def bids(self) -> BookSide:
        return self._core.bids

    @property
    def asks(self) -> BookSide:
        return self._core.asks

    @property
    def best_bid_tick(self) -> int:
        """Best bid in ticks, EMPTY_TICK (-1) when there is none."""
        return self._core.best_bid_tick

    @property
    def best_ask_tick(self) -> int:
        """Best ask in ticks, EMPTY_TICK (-1) when there is none."""
        return self._core.best_ask_tick

    @property
    def mid_ticks2(self) -> int | None:
        """best_bid_tick + best_ask_tick (twice the mid, exact), or None unless valid with both sides."""
        return self._core.mid_ticks2

    @property
    def mid(self) -> float | None:
        """Mid price in USD, or None unless valid with both sides."""
        return self._core.mid

    def band_edges(self, looking_depth: float | Fraction | str) -> tuple[int, int] | None:
        """Exclusive OBI band edges (lo, hi) in ticks around the current mid, or None without a mid."""
        mid_ticks2 = self._core.mid_ticks2
        return None if mid_ticks2 is None else band_edges(mid_ticks2, looking_depth)

    def imbalance_lots(self, looking_depth: float | Fraction | str) -> int | None:
        """S_bid - S_ask in lots inside the band (strategy-model.md 5.3), or None without a mid."""
        return self._core.imbalance_lots(looking_depth)

    def top(self, depth: int) -> BookTop:
        """The best `depth` levels per side, for sanity checks and logs."""
        core = self._core
        return BookTop(bids=tuple(core.bids.levels(depth)), asks=tuple(core.asks.levels(depth)))

    def __repr__(self) -> str:
        state = "valid" if self.valid else f"invalid ({self.invalid_reason})"
        return (
            f"LighterBook(market_id={self.market_id}, {state}, bid={self.best_bid_tick}, "
            f"ask={self.best_ask_tick}, nonce={self.nonce})"
        )
