# The ground-truth Binance USD-M book of one symbol and the feed events it emits (binance-depth.md §9.3-9.5).
# Rules: pure and sans-I/O (time comes in as `now_ns`, events go out through listeners, called
# synchronously). Prices are integer ticks, quantities integer lots. Each micro-update takes the next
# update id after a stride >= 1, so ids are not contiguous; each diff stream batches the micro-updates of
# its cadence into one event whose U/u are the first/last ids of the batch and whose pu is the previous
# event's u; levels carry the net final quantity (0 = deleted). A snapshot is the book after the latest
# micro-update, so the next event of every diff stream straddles its lastUpdateId.
from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

DIFF_CADENCES_MS: tuple[int, ...] = (100, 250, 500)
UNBATCHED_CADENCE_MS = 0  # `@depth@0ms`: one event per applied diff, sent at once (replay only)
PARTIAL_DEPTH_LEVELS: tuple[int, ...] = (5, 10, 20)
_NS_PER_MS = 1_000_000
_SNAPSHOT_EVERY_NS = 1_000_000_000
_UNKNOWN_ID = -1  # a batch's pu after load_snapshot, until the first recorded diff supplies it

Level = tuple[int, int]  # (price ticks, quantity lots)


@dataclass(frozen=True, slots=True)
class BinanceSymbolSpec:
    """Tick and lot of one Binance symbol and how its numbers are printed."""

    symbol: str  # upper case
    price_decimals: int  # tick = 10^-price_decimals
    qty_decimals: int  # lot = 10^-qty_decimals
    price_text_decimals: int = 2  # Binance prints BTCUSDT prices with 2 decimals although the tick is 0.1

    def __post_init__(self) -> None:
        if not 0 <= self.price_decimals <= self.price_text_decimals:
            raise ValueError("need 0 <= price_decimals <= price_text_decimals")

    @property
    def tick_size(self) -> float:
        return 10.0 ** -self.price_decimals

    @property
    def lot_size(self) -> float:
        return 10.0 ** -self.qty_decimals

    def format_price(self, ticks: int) -> str:
        return _fixed(ticks * 10 ** (self.price_text_decimals - self.price_decimals), self.price_text_decimals)

    def format_qty(self, lots: int) -> str:
        return _fixed(lots, self.qty_decimals)


def _fixed(units: int, decimals: int) -> str:
    if decimals == 0:
        return str(units)
    whole, frac = divmod(units, 10**decimals)
    return f"{whole}.{frac:0{decimals}d}"


@dataclass(frozen=True, slots=True)
class DepthDiff:
    """One diff-depth event (`<symbol>@depth[@100ms|@500ms]`)."""

    symbol: str
    cadence_ms: int
    first_update_id: int  # U
    final_update_id: int  # u
    prev_final_update_id: int  # pu
    event_time_ms: int  # E
    transaction_time_ms: int  # T <= E
    bids: tuple[Level, ...]  # net final quantities, 0 = delete; best first
    asks: tuple[Level, ...]


@dataclass(frozen=True, slots=True)
class DepthTop:
    """The top PARTIAL_DEPTH_LEVELS[-1] levels per side at one cadence tick, for the partial-depth streams."""

    symbol: str
    cadence_ms: int
    first_update_id: int
    final_update_id: int
    prev_final_update_id: int
    event_time_ms: int
    transaction_time_ms: int
    bids: tuple[Level, ...]  # best first
    asks: tuple[Level, ...]


@dataclass(frozen=True, slots=True)
class BookTickerEvent:
    symbol: str
    update_id: int  # the depth update id of the micro-update that changed the best bid/offer
    event_time_ms: int
    transaction_time_ms: int
    bid: Level
    ask: Level


@dataclass(frozen=True, slots=True)
class AggTradeEvent:
    symbol: str
    agg_trade_id: int
    price: int  # ticks
    quantity: int  # lots
    first_trade_id: int
    last_trade_id: int
    trade_time_ms: int
    buyer_is_maker: bool


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    last_update_id: int
    event_time_ms: int
    transaction_time_ms: int
    bids: tuple[Level, ...]  # best first
    asks: tuple[Level, ...]


@dataclass(frozen=True, slots=True)
class BandSums:
    """Binance OBI band of strategy-model.md §5.3: outer edges exclusive, in ticks."""

    lo_tick: int
    hi_tick: int
    sum_bid: int  # lots
    sum_ask: int


BinanceEvent = DepthDiff | DepthTop | BookTickerEvent | AggTradeEvent
Listener = Callable[[BinanceEvent], None]


class _Batch:
    """Pending micro-updates of one diff cadence."""

    __slots__ = (
        "asks",
        "bids",
        "cadence_ms",
        "cadence_ns",
        "drop_next",
        "first_id",
        "last_time_ns",
        "next_emit_ns",
        "prev_final_id",
    )

    def __init__(self, cadence_ms: int, start_ns: int, prev_final_id: int) -> None:
        self.cadence_ms = cadence_ms
        self.cadence_ns = cadence_ms * _NS_PER_MS
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.first_id: int | None = None
        self.last_time_ns = start_ns
        self.next_emit_ns = (start_ns // self.cadence_ns + 1) * self.cadence_ns
        self.prev_final_id = prev_final_id
        self.drop_next = 0


class BinanceBook:
    """Truth book, update-id engine and per-cadence batching of one symbol."""

    def __init__(self, spec: BinanceSymbolSpec, first_update_id: int, start_ns: int,
                 history_s: float = 10.0) -> None:
        self.spec = spec
        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}
        self._bid_ticks: list[int] = []  # ascending
        self._ask_ticks: list[int] = []  # ascending
        self._last_id = first_update_id
        self._last_time_ns = start_ns
        self._now_ns = start_ns
        self._batches = [_Batch(c, start_ns, first_update_id) for c in DIFF_CADENCES_MS]
        self._listeners: list[Listener] = []
        self._last_top: tuple[int, int, int, int] | None = None
        self._stalled_until_ns = 0
        self._trade_id = first_update_id // 7
        self._history: deque[tuple[int, int, dict[int, int], dict[int, int]]] = deque(
            maxlen=max(1, int(history_s)))
        self._next_history_ns = start_ns
        self.derive_book_ticker = True  # False: bookTicker events come from outside (publish_external)

    # ---- reading -------------------------------------------------------------------------------------

    @property
    def last_update_id(self) -> int:
        return self._last_id

    @property
    def now_ns(self) -> int:
        return self._now_ns

    def best_bid(self) -> Level | None:
        return (self._bid_ticks[-1], self._bids[self._bid_ticks[-1]]) if self._bid_ticks else None

    def best_ask(self) -> Level | None:
        return (self._ask_ticks[0], self._asks[self._ask_ticks[0]]) if self._ask_ticks else None

    def level(self, is_bid: bool, tick: int) -> int:
        return (self._bids if is_bid else self._asks).get(tick, 0)

    def bid_ticks(self) -> list[int]:
        """Bid prices ascending (a live list: read it, never change it)."""
        return self._bid_ticks

    def ask_ticks(self) -> list[int]:
        """Ask prices ascending (a live list: read it, never change it)."""
        return self._ask_ticks

    def snapshot(self, limit: int | None = None) -> BookSnapshot:
        bids = self._bid_ticks[::-1] if limit is None else self._bid_ticks[: -limit - 1: -1]
        asks = self._ask_ticks if limit is None else self._ask_ticks[:limit]
        time_ms = self._last_time_ns // _NS_PER_MS
        return BookSnapshot(self._last_id, self._now_ns // _NS_PER_MS, time_ms,
                            tuple((t, self._bids[t]) for t in bids), tuple((t, self._asks[t]) for t in asks))

    def stale_snapshot(self, min_age_ns: int, limit: int | None = None) -> BookSnapshot | None:
        """The newest kept copy of the book at least `min_age_ns` old, else the oldest kept copy; None
        before the first copy (copies are kept once a second of book time)."""
        if not self._history:
            return None
        chosen = self._history[0]
        for entry in reversed(self._history):
            if self._now_ns - entry[1] >= min_age_ns:
                chosen = entry
                break
        update_id, time_ns, bids, asks = chosen
        bid_ticks = sorted(bids, reverse=True)[:limit]
        ask_ticks = sorted(asks)[:limit]
        time_ms = time_ns // _NS_PER_MS
        return BookSnapshot(update_id, time_ms, time_ms, tuple((t, bids[t]) for t in bid_ticks),
                            tuple((t, asks[t]) for t in ask_ticks))

    def band_sums(self, looking_depth: float) -> BandSums | None:
        """Band sums around the mid of the best bid and ask; None when a side is empty."""
        if not self._bid_ticks or not self._ask_ticks:
            return None
        mid = (self._bid_ticks[-1] + self._ask_ticks[0]) / 2
        lo = math.ceil(mid * (1 - looking_depth))
        hi = math.floor(mid * (1 + looking_depth))
        bids, asks = self._bids, self._asks
        sum_bid = sum(bids[t] for t in self._bid_ticks[bisect_right(self._bid_ticks, lo):])
        sum_ask = sum(asks[t] for t in self._ask_ticks[: bisect_left(self._ask_ticks, hi)])
        return BandSums(lo, hi, sum_bid, sum_ask)

    # ---- listeners and faults ------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def drop_next_diffs(self, count: int = 1) -> None:
        """Fault: the next `count` events of every diff stream are computed but never sent (a `pu` gap)."""
        for batch in self._batches:
            batch.drop_next += count

    def stall(self, seconds: float) -> None:
        """Fault: send nothing for `seconds` of book time; changes accumulate and the id chain stays intact."""
        self._stalled_until_ns = self._now_ns + int(seconds * 1e9)

    @property
    def stalled(self) -> bool:
        return self._now_ns < self._stalled_until_ns

    # ---- writing -------------------------------------------------------------------------------------

    def apply(self, time_ns: int, id_stride: int, bid_changes: Mapping[int, int],
              ask_changes: Mapping[int, int]) -> None:
        """One micro-update: absolute quantities per level (0 deletes; deleting an absent level is allowed)."""
        if id_stride < 1:
            raise ValueError("id_stride must be >= 1")
        if not bid_changes and not ask_changes:
            return
        self._last_id += id_stride
        self._write(time_ns, self._last_id, None, bid_changes, ask_changes)
        self._publish_top_if_changed(time_ns)

    def _write(self, time_ns: int, first_id: int, prev_final_id: int | None, bid_changes: Mapping[int, int],
               ask_changes: Mapping[int, int]) -> None:
        """The book and every pending batch take the changes (``first_id``: a new batch's U; ``prev_final_id``:
        a recorded diff's pu, which a batch with no pu yet takes)."""
        self._last_time_ns = time_ns
        self._now_ns = max(self._now_ns, time_ns)
        _apply_side(self._bids, self._bid_ticks, bid_changes)
        _apply_side(self._asks, self._ask_ticks, ask_changes)
        for batch in self._batches:
            if batch.first_id is None:
                batch.first_id = first_id
            if prev_final_id is not None and batch.prev_final_id == _UNKNOWN_ID:
                batch.prev_final_id = prev_final_id
            batch.bids.update(bid_changes)
            batch.asks.update(ask_changes)
            batch.last_time_ns = time_ns
        if time_ns >= self._next_history_ns:
            self._history.append((self._last_id, time_ns, dict(self._bids), dict(self._asks)))
            self._next_history_ns = time_ns + _SNAPSHOT_EVERY_NS

    def load_snapshot(self, time_ns: int, last_update_id: int, bids: Mapping[int, int],
                      asks: Mapping[int, int]) -> None:
        """Replace the whole book by a recorded snapshot (replay): no event is sent, pending batches are
        discarded, and the next diff batch of every cadence takes its `pu` from the first recorded diff
        applied after it (see `apply_diff`)."""
        self._bids = {t: q for t, q in bids.items() if q > 0}
        self._asks = {t: q for t, q in asks.items() if q > 0}
        self._bid_ticks = sorted(self._bids)
        self._ask_ticks = sorted(self._asks)
        self._last_id = last_update_id
        self._last_time_ns = time_ns
        self._now_ns = max(self._now_ns, time_ns)
        self._last_top = None
        for batch in self._batches:
            batch.bids, batch.asks, batch.first_id = {}, {}, None
            batch.prev_final_id = _UNKNOWN_ID
        self._history.clear()
        self._history.append((self._last_id, time_ns, dict(self._bids), dict(self._asks)))
        self._next_history_ns = time_ns + _SNAPSHOT_EVERY_NS

    def apply_diff(self, time_ns: int, first_id: int, final_id: int, prev_final_id: int,
                   bid_changes: Mapping[int, int], ask_changes: Mapping[int, int],
                   event_time_ms: int | None = None, transaction_time_ms: int | None = None) -> None:
        """One recorded diff (replay) with its own ids, applied as one micro-update whose id is `final_id`:
        the batched streams' U/u/pu are then the recorded ids (U of the batch's first diff, u of its last,
        pu the u of the stream's previous event), and the `@depth@0ms` stream gets this diff as recorded
        (U, u, pu unchanged; E/T as given, else `time_ns`)."""
        self._last_id = final_id
        self._write(time_ns, first_id, prev_final_id, bid_changes, ask_changes)
        if self._listeners and not self.stalled:
            event_ms = time_ns // _NS_PER_MS if event_time_ms is None else event_time_ms
            transaction_ms = event_ms if transaction_time_ms is None else transaction_time_ms
            self._publish(DepthDiff(self.spec.symbol, UNBATCHED_CADENCE_MS, first_id, final_id, prev_final_id,
                                    event_ms, transaction_ms, tuple(sorted(bid_changes.items(), reverse=True)),
                                    tuple(sorted(ask_changes.items()))))
        if self.derive_book_ticker:
            self._publish_top_if_changed(time_ns)

    def publish_external(self, event: BinanceEvent) -> None:
        """Send an event made elsewhere (a recorded bookTicker or trade) to the listeners, unless stalled."""
        if self._listeners and not self.stalled:
            self._publish(event)

    def record_trade(self, time_ns: int, price: int, quantity: int, buyer_is_maker: bool) -> None:
        self._trade_id += 1
        if self._listeners and not self.stalled:
            event = AggTradeEvent(self.spec.symbol, self._trade_id, price, quantity, self._trade_id,
                                  self._trade_id, time_ns // _NS_PER_MS, buyer_is_maker)
            self._publish(event)

    def advance_clock(self, now_ns: int) -> None:
        """Emit the diff and partial-depth events whose cadence tick is due by `now_ns`."""
        self._now_ns = max(self._now_ns, now_ns)
        for batch in self._batches:
            if batch.next_emit_ns > now_ns:
                continue
            emit_ns = batch.next_emit_ns
            # one event per call even after a long pause: ticks without changes would emit nothing anyway
            batch.next_emit_ns = (now_ns // batch.cadence_ns + 1) * batch.cadence_ns
            if batch.first_id is None or self.stalled:
                continue
            self._emit(batch, max(emit_ns, batch.last_time_ns))

    def _emit(self, batch: _Batch, emit_ns: int) -> None:
        first_id = batch.first_id
        assert first_id is not None
        event_ms = emit_ns // _NS_PER_MS
        transaction_ms = min(batch.last_time_ns // _NS_PER_MS, event_ms)
        prev_final = batch.prev_final_id
        bids = tuple(sorted(batch.bids.items(), reverse=True))
        asks = tuple(sorted(batch.asks.items()))
        batch.bids = {}
        batch.asks = {}
        batch.first_id = None
        batch.prev_final_id = self._last_id
        if batch.drop_next > 0:
            batch.drop_next -= 1
            return
        if not self._listeners:
            return
        symbol = self.spec.symbol
        self._publish(DepthDiff(symbol, batch.cadence_ms, first_id, self._last_id, prev_final, event_ms,
                                transaction_ms, bids, asks))
        depth = PARTIAL_DEPTH_LEVELS[-1]
        top_bids = tuple((t, self._bids[t]) for t in self._bid_ticks[: -depth - 1: -1])
        top_asks = tuple((t, self._asks[t]) for t in self._ask_ticks[:depth])
        self._publish(DepthTop(symbol, batch.cadence_ms, first_id, self._last_id, prev_final, event_ms,
                               transaction_ms, top_bids, top_asks))

    def _publish_top_if_changed(self, time_ns: int) -> None:
        if not self._bid_ticks or not self._ask_ticks:
            return
        bid_tick, ask_tick = self._bid_ticks[-1], self._ask_ticks[0]
        top = (bid_tick, self._bids[bid_tick], ask_tick, self._asks[ask_tick])
        if top == self._last_top:
            return
        self._last_top = top
        if self._listeners and not self.stalled:
            time_ms = time_ns // _NS_PER_MS
            self._publish(BookTickerEvent(self.spec.symbol, self._last_id, time_ms, time_ms,
                                          (top[0], top[1]), (top[2], top[3])))

    def _publish(self, event: BinanceEvent) -> None:
        for listener in tuple(self._listeners):
            listener(event)


def _apply_side(levels: dict[int, int], ticks: list[int], changes: Mapping[int, int]) -> None:
    for tick, lots in changes.items():
        if lots < 0:
            raise ValueError(f"negative quantity {lots} at tick {tick}")
        if lots == 0:
            if levels.pop(tick, None) is not None:
                del ticks[bisect_left(ticks, tick)]
        else:
            if tick not in levels:
                insort(ticks, tick)
            levels[tick] = lots
