# Binance USD-M futures local book and its sync state machine (binance-depth.md §4), sans-I/O.
# Rules: events are buffered until a REST snapshot arrives; buffered events with u < lastUpdateId (L) are
# dropped; the first applied event must straddle L (U <= L <= u); after it every event's pu must equal the
# previous u, otherwise the book is unsynced and a new snapshot is requested (its levels are kept, to be
# replaced). An event with u <= the last applied u is a replay and is ignored. A snapshot older than every
# buffered event asks for another snapshot; a snapshot newer than every buffered event waits for events.
# A snapshot replaces only the price range it covers (deep levels learned from diffs survive, §4.4),
# unless it returned fewer levels than requested, in which case it is the whole side. A crossed book or
# an unparseable level also forces a resync. Prices and sizes are exact integer ticks and lots.
# Calls return a `SyncAction` telling the shell what to do; no clock, no socket, no logging of its own.
from __future__ import annotations

import enum
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from lmm.book.book_side import EMPTY_TICK, BookSide
from lmm.book.lighter_book import SideFactory, band_edges, default_side_factory

Level = tuple[str, str]
TickLevel = tuple[int, int]


@dataclass(frozen=True, slots=True)
class DepthEvent:
    """One diff-depth event, levels still as the venue's decimal strings (or, with ``in_ticks``, already
    parsed on the book's grid as (tick, lots) integer pairs, e.g. read from a tape)."""

    first_id: int  # U
    final_id: int  # u
    prev_final_id: int  # pu
    event_ms: int  # E
    bids: Sequence[Level] | Sequence[TickLevel]
    asks: Sequence[Level] | Sequence[TickLevel]
    in_ticks: bool = False


@dataclass(frozen=True, slots=True)
class DepthSnapshot:
    last_update_id: int
    bids: Sequence[Level] | Sequence[TickLevel]
    asks: Sequence[Level] | Sequence[TickLevel]
    limit: int  # levels per side requested; fewer returned means the side is complete
    in_ticks: bool = False  # levels as (tick, lots) integer pairs


class SyncAction(enum.Enum):
    NONE = "none"
    FETCH_SNAPSHOT = "fetch_snapshot"  # a (new) REST snapshot is needed
    SYNCED = "synced"  # the book has just become synced; see `last_report`


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What a sync established: how far the fresh snapshot reaches from the touch, as a fraction of mid."""

    last_update_id: int
    snapshot_bid_levels: int
    snapshot_ask_levels: int
    bid_coverage: float
    ask_coverage: float
    retained_deep_levels: int


@dataclass
class SyncCounters:
    resyncs: int = 0  # syncs completed, the first one included
    gaps: int = 0
    crossed: int = 0
    malformed: int = 0
    snapshots_too_old: int = 0
    snapshots_waiting: int = 0
    replayed_events: int = 0
    buffer_overflows: int = 0
    events_applied: int = 0


class BinanceDepthSync:
    def __init__(
        self,
        price_decimals: int,
        size_decimals: int,
        side_factory: SideFactory | None = None,
        max_buffered_events: int = 5000,
    ) -> None:
        factory = side_factory if side_factory is not None else default_side_factory()
        self.price_decimals = price_decimals
        self.size_decimals = size_decimals
        self.bids: BookSide = factory(True)
        self.asks: BookSide = factory(False)
        self.counters = SyncCounters()
        self.last_report: SyncReport | None = None
        self._buffer: deque[DepthEvent] = deque()
        self._max_buffered = max_buffered_events
        self._pending_snapshot: DepthSnapshot | None = None
        self._snapshot_requested = False
        self._synced = False
        self._last_final_id: int | None = None

    # ---- state --------------------------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        return self._synced

    @property
    def last_final_id(self) -> int | None:
        """u of the last applied event (or L right after a snapshot with no event yet applied)."""
        return self._last_final_id

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def crossed(self) -> bool:
        best_bid, best_ask = self.bids.best(), self.asks.best()
        return best_bid != EMPTY_TICK and best_ask != EMPTY_TICK and best_bid >= best_ask

    def mid_ticks2(self) -> int | None:
        """best bid + best ask in ticks (twice the mid, exact), or None when a side is empty."""
        best_bid, best_ask = self.bids.best(), self.asks.best()
        if best_bid == EMPTY_TICK or best_ask == EMPTY_TICK:
            return None
        return best_bid + best_ask

    def imbalance_lots(self, looking_depth: float | Fraction | str) -> int | None:
        """S_bid - S_ask in lots inside the band of strategy-model.md §5.3, or None without a mid."""
        mid2 = self.mid_ticks2()
        if mid2 is None:
            return None
        lo, hi = band_edges(mid2, looking_depth)
        return self.bids.band_sum(lo) - self.asks.band_sum(hi)

    # ---- inputs -------------------------------------------------------------------------------------

    def reset(self) -> None:
        """A new connection: buffered events and the id chain are void; the levels wait to be replaced."""
        self._buffer.clear()
        self._pending_snapshot = None
        self._snapshot_requested = False
        self._synced = False
        self._last_final_id = None

    def feed(self, event: DepthEvent) -> SyncAction:
        if self._synced:
            return self._feed_synced(event)
        pending = self._pending_snapshot
        if pending is not None and event.final_id < pending.last_update_id:
            return SyncAction.NONE  # older than the snapshot we hold: dropped (step 4)
        self._buffer.append(event)
        if len(self._buffer) > self._max_buffered:
            self._buffer.popleft()
            self.counters.buffer_overflows += 1
        if self._pending_snapshot is not None:
            snapshot, self._pending_snapshot = self._pending_snapshot, None
            return self.on_snapshot(snapshot)
        return self._request_snapshot()

    def on_snapshot(self, snapshot: DepthSnapshot) -> SyncAction:
        """A REST snapshot arrived (the fetch requested by FETCH_SNAPSHOT)."""
        self._snapshot_requested = False
        if self._synced:
            return SyncAction.NONE  # a late answer to an old request; the chain is intact
        limit_id = snapshot.last_update_id
        buffer = self._buffer
        while buffer and buffer[0].final_id < limit_id:
            buffer.popleft()
        if not buffer:
            self.counters.snapshots_waiting += 1
            self._pending_snapshot = snapshot  # newer than every buffered event: wait for events
            return SyncAction.NONE
        first = buffer[0]
        if first.first_id > limit_id:
            self.counters.snapshots_too_old += 1
            return self._request_snapshot()
        try:
            report = self._apply_snapshot(snapshot)
        except (TypeError, ValueError):
            self.counters.malformed += 1
            return self._request_snapshot()
        self._synced = True
        self._last_final_id = limit_id
        self.counters.resyncs += 1
        self.last_report = report
        replay = list(buffer)
        buffer.clear()
        action = self._apply_event(replay[0])  # the straddling event
        applied = 1
        while applied < len(replay) and action is SyncAction.NONE:
            action = self._feed_synced(replay[applied])
            applied += 1
        if action is not SyncAction.NONE:
            buffer.extend(replay[applied:])  # still good material for the next snapshot
            return action
        return SyncAction.SYNCED

    def on_snapshot_failed(self) -> SyncAction:
        """The fetch failed (HTTP error, timeout, throttled): the snapshot is still needed."""
        self._snapshot_requested = False
        return SyncAction.NONE if self._synced else self._request_snapshot()

    # ---- internals ----------------------------------------------------------------------------------

    def _request_snapshot(self) -> SyncAction:
        if self._snapshot_requested:
            return SyncAction.NONE
        self._snapshot_requested = True
        return SyncAction.FETCH_SNAPSHOT

    def _feed_synced(self, event: DepthEvent) -> SyncAction:
        last = self._last_final_id
        assert last is not None
        if event.final_id <= last:
            self.counters.replayed_events += 1
            return SyncAction.NONE
        if event.prev_final_id != last:
            self.counters.gaps += 1
            return self._unsync(event)
        return self._apply_event(event)

    def _apply_event(self, event: DepthEvent) -> SyncAction:
        try:
            if event.in_ticks:
                _set_levels(self.bids, event.bids)
                _set_levels(self.asks, event.asks)
            else:
                self.bids.apply_levels(event.bids, self.price_decimals, self.size_decimals)
                self.asks.apply_levels(event.asks, self.price_decimals, self.size_decimals)
        except (TypeError, ValueError):
            self.counters.malformed += 1
            return self._unsync(None)
        self._last_final_id = event.final_id
        self.counters.events_applied += 1
        if self.crossed:
            self.counters.crossed += 1
            return self._unsync(None)
        return SyncAction.NONE

    def _unsync(self, keep: DepthEvent | None) -> SyncAction:
        """Leave SYNCED; `keep` (the event that broke the chain) starts the new buffer."""
        self._synced = False
        self._last_final_id = None
        self._buffer.clear()
        if keep is not None:
            self._buffer.append(keep)
        return self._request_snapshot()

    def _apply_snapshot(self, snapshot: DepthSnapshot) -> SyncReport:
        scratch_bids, scratch_asks = type(self.bids)(True), type(self.asks)(False)
        if snapshot.in_ticks:  # set one by one on an empty side: a later duplicate wins, zero sizes leave no level
            _set_levels(scratch_bids, snapshot.bids)
            _set_levels(scratch_asks, snapshot.asks)
        else:
            scratch_bids.replace_levels(snapshot.bids, self.price_decimals, self.size_decimals)
            scratch_asks.replace_levels(snapshot.asks, self.price_decimals, self.size_decimals)
        retained = _merge_side(self.bids, scratch_bids, complete=len(snapshot.bids) < snapshot.limit)
        retained += _merge_side(self.asks, scratch_asks, complete=len(snapshot.asks) < snapshot.limit)
        return SyncReport(
            last_update_id=snapshot.last_update_id,
            snapshot_bid_levels=len(scratch_bids),
            snapshot_ask_levels=len(scratch_asks),
            bid_coverage=_coverage(scratch_bids, scratch_asks, bid_side=True),
            ask_coverage=_coverage(scratch_bids, scratch_asks, bid_side=False),
            retained_deep_levels=retained,
        )


def _set_levels(side: BookSide, levels: Sequence[TickLevel]) -> None:
    """Levels already on the grid, applied as `apply_levels` applies parsed ones (ValueError on a negative one,
    the levels before it staying applied)."""
    for tick, lots in levels:
        side.set(tick, lots)


def _merge_side(book: BookSide, fresh: BookSide, complete: bool) -> int:
    """Replace `book`'s levels inside `fresh`'s range by `fresh`; returns how many deeper levels survive."""
    fresh_levels = fresh.levels(len(fresh))
    if complete or not fresh_levels:
        book.clear()
        kept = 0
    else:
        deepest = fresh_levels[-1][0]
        kept = 0
        for tick, _ in book.levels(len(book)):
            inside = tick >= deepest if book.is_bid else tick <= deepest
            if inside:
                book.set(tick, 0)
            else:
                kept += 1
    for tick, lots in fresh_levels:
        book.set(tick, lots)
    return kept


def _coverage(bids: BookSide, asks: BookSide, bid_side: bool) -> float:
    """Distance from the touch to the deepest level of one side, as a fraction of the mid (0 if empty)."""
    best_bid, best_ask = bids.best(), asks.best()
    if best_bid == EMPTY_TICK or best_ask == EMPTY_TICK:
        return 0.0
    mid = (best_bid + best_ask) / 2
    side = bids if bid_side else asks
    deepest = side.levels(len(side))[-1][0]
    return abs(deepest - (best_bid if bid_side else best_ask)) / mid
