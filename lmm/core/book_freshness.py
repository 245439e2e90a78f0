"""How fresh the Lighter book is, judged against its own update cadence, and what quoting may do meanwhile.

Rules:
- ``BookCadence`` keeps the last ``capacity`` intervals between valid book updates in a fixed ring; the
  cadence is their median, so the one long gap a stall or a quiet spell leaves behind barely moves it. An
  invalid book (gap, reset, resync) breaks the chain: the wait for the fresh snapshot is not an interval.
- Stale: silent for longer than max(floor, stale multiple x median), and never longer than
  ``safety.max_book_silence_sec`` (also the threshold while fewer than ``min_intervals`` are known). A stale
  book pauses quoting, which cancels the resting orders.
- Held: silent for longer than hold multiple x median (at most the stale threshold). Other inputs (the
  Binance alpha, the inventory, time) may not move the quotes of a held book: no new or re-priced order;
  cancels still go (a side the bot no longer wants, an order too close to the fair price).
Pure: no I/O, time is passed in.
"""
from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import Enum

from lmm.core.order_state import Side, SlotState
from lmm.core.orders import OrderSlot, SlotKey
from lmm.core.quoting import QuoteLevel, TargetQuotes

SEC = 1_000_000_000
CADENCE_CAPACITY = 64
CADENCE_MIN_INTERVALS = 8


class BookCadence:
    """The median of the last ``capacity`` intervals between valid book updates (bounded memory)."""

    def __init__(self, capacity: int = CADENCE_CAPACITY, min_intervals: int = CADENCE_MIN_INTERVALS) -> None:
        if not 1 <= min_intervals <= capacity:
            raise ValueError(f"need 1 <= min_intervals <= capacity, got {min_intervals}, {capacity}")
        self._ring: deque[int] = deque(maxlen=capacity)  # arrival order, to evict the oldest
        self._sorted: list[int] = []  # the same intervals, sorted: the median is one index away
        self._min_intervals = min_intervals
        self._last_ns: int | None = None

    def on_update(self, now_ns: int) -> None:
        last, self._last_ns = self._last_ns, now_ns
        if last is None or now_ns < last:
            return
        if len(self._ring) == self._ring.maxlen:
            oldest = self._ring[0]
            del self._sorted[bisect.bisect_left(self._sorted, oldest)]
        self._ring.append(now_ns - last)
        bisect.insort(self._sorted, now_ns - last)

    def break_chain(self) -> None:
        """The book went invalid: the next update starts a new chain (the outage is no interval)."""
        self._last_ns = None

    @property
    def intervals(self) -> int:
        return len(self._ring)

    @property
    def median_ns(self) -> int | None:
        """The median interval (upper median for an even count), None until ``min_intervals`` are known."""
        if len(self._sorted) < self._min_intervals:
            return None
        return self._sorted[len(self._sorted) // 2]


@dataclass(frozen=True, slots=True)
class SilenceParams:
    floor_ns: int  # safety.book_stale_floor_sec
    stale_multiple: float  # safety.book_stale_cadence_multiple
    hold_multiple: float  # safety.book_hold_cadence_multiple
    max_silence_ns: int  # safety.max_book_silence_sec: the absolute upper bound


@dataclass(frozen=True, slots=True)
class SilenceThresholds:
    hold_ns: int  # silent longer than this: quotes held
    stale_ns: int  # silent longer than this: quoting paused, orders cancelled


class BookFreshness(Enum):
    FRESH = "fresh"
    HELD = "held"
    STALE = "stale"


def silence_thresholds(params: SilenceParams, median_ns: int | None) -> SilenceThresholds:
    if median_ns is None:  # cadence not known yet: only the absolute bound
        return SilenceThresholds(params.max_silence_ns, params.max_silence_ns)
    stale = min(params.max_silence_ns, max(params.floor_ns, round(params.stale_multiple * median_ns)))
    return SilenceThresholds(min(stale, round(params.hold_multiple * median_ns)), stale)


def book_freshness(last_update_ns: int | None, now_ns: int, thresholds: SilenceThresholds) -> BookFreshness:
    if last_update_ns is None:
        return BookFreshness.STALE
    silence = now_ns - last_update_ns
    if silence > thresholds.stale_ns:
        return BookFreshness.STALE
    if silence > thresholds.hold_ns:
        return BookFreshness.HELD
    return BookFreshness.FRESH


def _held_ladder(wanted: tuple[QuoteLevel, ...], side: Side,
                 slots: Mapping[SlotKey, OrderSlot]) -> tuple[QuoteLevel, ...]:
    kept: list[QuoteLevel] = []
    for level in range(len(wanted)):
        slot = slots.get((side, level))
        # a level without an order ends the ladder: a target there would be a create, and levels beyond it
        # cannot be addressed without one (their orders are cancelled, which is always allowed)
        if slot is None or slot.state in (SlotState.IDLE, SlotState.CANCELING):
            break
        if slot.state is SlotState.MODIFYING:
            kept.append(QuoteLevel(slot.pending_price_tick, slot.pending_size_lots))
        else:
            kept.append(QuoteLevel(slot.price_tick, slot.size_lots))
    return tuple(kept)


def held_targets(fresh: TargetQuotes | None, slots: Mapping[SlotKey, OrderSlot]) -> TargetQuotes | None:
    """The targets of a held book: each order the fresh targets still want stays where it rests; nothing is
    created or moved. A level the fresh targets drop (a side suppressed by the limit, a level removed) is
    cancelled as usual."""
    if fresh is None:
        return None
    return replace(fresh, bids=_held_ladder(fresh.bids, Side.BID, slots),
                   asks=_held_ladder(fresh.asks, Side.ASK, slots))
