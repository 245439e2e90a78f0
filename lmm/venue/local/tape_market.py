"""A recorded Binance market replayed into the local venue: the tape's depth stream, synced by the product's own
Binance sync code, is mirrored level by level into the engine (``mirror.BookMirror``), and the tape's trades
take liquidity from it. The run's virtual wall clock is the tape's local receive time.

Rules:
- Events are replayed in local-time order (the order the recorder received them: what the bot would have seen).
  Before each event the loop sleeps until its time, so every timer of the daemon (sampler, pacing, latency,
  the venue's 50 ms publishing beat) runs between the tape's events exactly as it falls.
- The book is mirrored only while the sync holds (snapshot applied, diff chain intact); on a gap the mirror is
  emptied and rebuilt at the next sync. Levels further than ``band_bps`` from the touch are not mirrored.
- ``finished`` is set when the tape is exhausted (the backtest then stops the daemon).
- ``on_second(t_ns, mid_ticks2)``, when given, is called for every whole second of tape time from the start,
  at the first tape event at or after it and before that event is applied (between two events only the
  daemon's timers run, and the bot's post-only quotes cannot trade by themselves): no timer of its own, so the
  run is the same with or without it. ``seconds_until(end_ns)`` calls it for the seconds after the last event.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from lmm.book.binance_depth import BinanceDepthSync, DepthEvent, DepthSnapshot, SyncAction
from lmm.venue.clock import VirtualClock
from lmm.venue.local.mirror import BookMirror
from lmm.venue.tape.reader import Tape
from lmm.venue.tape.schema import BINANCE_DEPTH, BINANCE_SNAPSHOT, BINANCE_TRADE

log = logging.getLogger("lighter_mm.tape_market")

DEFAULT_SNAPSHOT_LIMIT = 1000
SNAPSHOT_DEPTH = 5000  # levels per side taken from the synced book at a (re)build


@dataclass
class ReplayStats:
    events: int = 0
    depth_events: int = 0
    trades: int = 0
    syncs: int = 0
    gaps: int = 0
    mids: list[tuple[int, int]] = field(default_factory=list)  # (local ns, mid in half ticks), every 100 ms


class BinanceTapeMarket:
    def __init__(self, tape: Tape, symbol: str, price_decimals: int, size_decimals: int, mirror: BookMirror,
                 clock: VirtualClock, *, start_ns: int | None = None, end_ns: int | None = None,
                 band_bps: float = 300.0, on_second: Callable[[int, int | None], None] | None = None) -> None:
        self._tape = tape
        self._symbol = symbol
        self._mirror = mirror
        self._clock = clock
        self._start_ns = start_ns
        self._end_ns = end_ns
        self._band = band_bps / 1e4
        self.sync = BinanceDepthSync(price_decimals, size_decimals)
        self.finished = asyncio.Event()
        self.stats = ReplayStats()
        self._next_mid_ns = 0
        self._on_second = on_second
        self._next_second_ns: int | None = start_ns

    async def run(self) -> None:
        try:
            await self._replay()
        finally:
            self.finished.set()

    async def _replay(self) -> None:
        clock, stats = self._clock, self.stats
        # the levels are read as the tape's integer columns: the tape parsed the raw frames with the sync's own
        # contract (lmm.venue.tape.decode), so the sync gets them on its grid without parsing the JSON again
        events = self._tape.events(kinds=(BINANCE_SNAPSHOT, BINANCE_DEPTH, BINANCE_TRADE), symbols=(self._symbol,),
                                   start_ns=self._start_ns, end_ns=self._end_ns)
        for ev in events:
            local_ns = ev[0]
            delay = local_ns - clock.wall_ns()
            if delay > 0:
                await asyncio.sleep(delay / 1e9)
            now = clock.wall_ns()  # the tape's time: the engine and the report use the wall clock
            if self._on_second is not None:
                self.seconds_until(now)
            stats.events += 1
            kind = ev[2]
            if kind == BINANCE_DEPTH:
                self._on_depth(ev, now)
            elif kind == BINANCE_TRADE:
                stats.trades += 1
                if self.sync.synced:  # price_tick, qty_lots, buyer_is_maker
                    self._mirror.trade(ev[6], ev[7], aggressor_is_buy=not ev[8], now_ns=now)
            else:
                self._on_snapshot(ev, now)
            self._sample_mid(now)

    def seconds_until(self, until_ns: int) -> None:
        """``on_second`` for every whole second of tape time up to ``until_ns`` not reported yet."""
        if self._on_second is None:
            return
        if self._next_second_ns is None:
            self._next_second_ns = until_ns
        while self._next_second_ns <= until_ns:
            self._on_second(self._next_second_ns, self.sync.mid_ticks2() if self.sync.synced else None)
            self._next_second_ns += 1_000_000_000

    # ---- depth ----------------------------------------------------------------------------------------

    def _on_depth(self, ev: tuple, now: int) -> None:
        self.stats.depth_events += 1
        first_id, final_id, prev_id = ev[5], ev[6], ev[7]
        bid_ticks, bid_lots, ask_ticks, ask_lots = ev[8], ev[9], ev[10], ev[11]
        was_synced = self.sync.synced
        event_ms = ev[4] // 1_000_000 if ev[4] is not None else 0  # the tape's exchange time is E in ns
        action = self.sync.feed(DepthEvent(first_id, final_id, prev_id if prev_id is not None else -1, event_ms,
                                           list(zip(bid_ticks, bid_lots, strict=True)),
                                           list(zip(ask_ticks, ask_lots, strict=True)), in_ticks=True))
        self._after(action, was_synced, now, applied=(bid_ticks, bid_lots, ask_ticks, ask_lots), final_id=final_id)

    def _on_snapshot(self, ev: tuple, now: int) -> None:
        limit = ev[7] if ev[7] is not None else DEFAULT_SNAPSHOT_LIMIT
        was_synced = self.sync.synced
        snapshot = DepthSnapshot(ev[6], list(zip(ev[8], ev[9], strict=True)), list(zip(ev[10], ev[11], strict=True)),
                                 limit, in_ticks=True)
        self._after(self.sync.on_snapshot(snapshot), was_synced, now, applied=None, final_id=None)

    def _after(self, action: SyncAction, was_synced: bool, now: int, applied: tuple | None,
               final_id: int | None) -> None:
        sync = self.sync
        if action is SyncAction.SYNCED:
            self.stats.syncs += 1
            self._rebuild(now)
        elif was_synced and not sync.synced:
            self.stats.gaps += 1
            log.warning("tape %s: depth chain broken; the mirrored book is emptied until the next sync", self._symbol)
            self._mirror.clear(now)
        elif sync.synced and applied is not None and sync.last_final_id == final_id:
            bid_ticks, bid_lots, ask_ticks, ask_lots = applied
            lo, hi = self._band_edges()
            mirror = self._mirror
            for is_ask, ticks, lots in ((False, bid_ticks, bid_lots), (True, ask_ticks, ask_lots)):
                for price, size in zip(ticks, lots, strict=True):
                    inside = lo <= price <= hi
                    if inside or mirror.holds(is_ask, price):
                        mirror.set_level(is_ask, price, size if inside else 0, now)

    def _band_edges(self) -> tuple[int, int]:
        bid, ask = self.sync.bids.best(), self.sync.asks.best()
        if bid <= 0 or ask <= 0:
            return 0, 2**62
        return int(bid * (1 - self._band)), int(ask * (1 + self._band)) + 1

    def _rebuild(self, now: int) -> None:
        lo, hi = self._band_edges()
        for is_ask, side in ((False, self.sync.bids), (True, self.sync.asks)):
            self._mirror.replace_side(is_ask, {price: size for price, size in side.levels(SNAPSHOT_DEPTH)
                                               if lo <= price <= hi}, now)

    def _sample_mid(self, now: int) -> None:
        if now < self._next_mid_ns or not self.sync.synced:
            return
        mid2 = self.sync.mid_ticks2()
        if mid2 is not None:
            self.stats.mids.append((now, mid2))
            self._next_mid_ns = now + 100_000_000

