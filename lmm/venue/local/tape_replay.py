"""What the tape markets share (``tape_market`` for a Binance market, ``lighter_tape_market`` for a Lighter one):
the replay's clock, the per-second series, the mirrored band and the mid samples of the report.

Rules:
- Events are replayed in local-time order (the order the recorder received them: what the bot would have seen).
  Before each event the loop sleeps until its time (``_until``), so every timer of the daemon (sampler, pacing,
  latency, the venue's 50 ms publishing beat) runs between the tape's events exactly as it falls.
- Levels further than ``band_bps`` from the replayed book's touch are not mirrored (a level leaving the band is
  taken away).
- ``finished`` is set when the tape is exhausted (the backtest then stops the daemon).
- ``on_second(t_ns, mid_ticks2)``, when given, is called for every whole second of tape time from the start,
  at the first tape event at or after it and before that event is applied (between two events only the
  daemon's timers run, and the bot's post-only quotes cannot trade by themselves): no timer of its own, so the
  run is the same with or without it. ``seconds_until(end_ns)`` calls it for the seconds after the last event.
- ``stats.mids``: the replayed book's mid every 100 ms of tape time (the report's markouts).
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from lmm.venue.clock import VirtualClock
from lmm.venue.local.mirror import BookMirror
from lmm.venue.tape.reader import Tape

SNAPSHOT_DEPTH = 5000  # levels per side taken from the replayed book at a (re)build
MID_SAMPLE_NS = 100_000_000
SECOND_NS = 1_000_000_000


@dataclass
class ReplayStats:
    events: int = 0
    depth_events: int = 0
    trades: int = 0
    syncs: int = 0
    gaps: int = 0
    mids: list[tuple[int, int]] = field(default_factory=list)  # (local ns, mid in half ticks), every 100 ms


class TapeReplay:
    """The base of a tape market; a subclass replays its events (``_replay``) and says what its book is."""

    def __init__(self, tape: Tape, symbol: str, mirror: BookMirror, clock: VirtualClock, *,
                 start_ns: int | None = None, end_ns: int | None = None, band_bps: float = 300.0,
                 on_second: Callable[[int, int | None], None] | None = None) -> None:
        self._tape = tape
        self._symbol = symbol
        self._mirror = mirror
        self._clock = clock
        self._start_ns = start_ns
        self._end_ns = end_ns
        self._band = band_bps / 1e4
        self.finished = asyncio.Event()
        self.stats = ReplayStats()
        self._next_mid_ns = 0
        self._on_second = on_second
        self._next_second_ns: int | None = start_ns

    # ---- what a subclass provides -----------------------------------------------------------------------

    async def _replay(self) -> None:
        raise NotImplementedError

    def mid_ticks2(self) -> int | None:
        """The replayed book's mid in half ticks; None while it is not synced."""
        raise NotImplementedError

    def _touch(self) -> tuple[int, int]:
        """The replayed book's best bid and ask ticks (0 or less for an empty side)."""
        raise NotImplementedError

    def _levels(self, is_ask: bool) -> Iterable[tuple[int, int]]:
        """The replayed book's side, best first, as (tick, lots), at least ``SNAPSHOT_DEPTH`` deep."""
        raise NotImplementedError

    # ---- shared -------------------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self._replay()
        finally:
            self.finished.set()

    async def _until(self, local_ns: int) -> int:
        """Sleep until the tape's ``local_ns``; the per-second series first. Returns the tape's time now."""
        clock = self._clock
        delay = local_ns - clock.wall_ns()
        if delay > 0:
            await asyncio.sleep(delay / 1e9)
        now = clock.wall_ns()  # the tape's time: the engine and the report use the wall clock
        if self._on_second is not None:
            self.seconds_until(now)
        return now

    def seconds_until(self, until_ns: int) -> None:
        """``on_second`` for every whole second of tape time up to ``until_ns`` not reported yet."""
        if self._on_second is None:
            return
        if self._next_second_ns is None:
            self._next_second_ns = until_ns
        while self._next_second_ns <= until_ns:
            self._on_second(self._next_second_ns, self.mid_ticks2())
            self._next_second_ns += SECOND_NS

    def _band_edges(self) -> tuple[int, int]:
        bid, ask = self._touch()
        if bid <= 0 or ask <= 0:
            return 0, 2**62
        return int(bid * (1 - self._band)), int(ask * (1 + self._band)) + 1

    def _mirror_changes(self, bid_ticks: Sequence[int], bid_lots: Sequence[int], ask_ticks: Sequence[int],
                        ask_lots: Sequence[int], now: int) -> None:
        """Levels the replayed book has just set (0: gone), into the mirror inside the band."""
        lo, hi = self._band_edges()
        mirror = self._mirror
        for is_ask, ticks, lots in ((False, bid_ticks, bid_lots), (True, ask_ticks, ask_lots)):
            for price, size in zip(ticks, lots, strict=True):
                inside = lo <= price <= hi
                if inside or mirror.holds(is_ask, price):
                    mirror.set_level(is_ask, price, size if inside else 0, now)

    def _rebuild(self, now: int) -> None:
        """The mirror becomes the replayed book inside the band."""
        lo, hi = self._band_edges()
        for is_ask in (False, True):
            self._mirror.replace_side(is_ask, {price: size for price, size in self._levels(is_ask)
                                               if lo <= price <= hi}, now)

    def _sample_mid(self, now: int) -> None:
        if now < self._next_mid_ns:
            return
        mid2 = self.mid_ticks2()
        if mid2 is not None:
            self.stats.mids.append((now, mid2))
            self._next_mid_ns = now + MID_SAMPLE_NS
