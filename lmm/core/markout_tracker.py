"""Markouts of our own fills as they happen, and the markout guard that widens the side being picked off.

Rules:
- Pure and incremental: ``on_fill(now_ns, is_buy, price)`` and ``on_mid(now_ns, mid)`` in, figures out; time
  comes in as ``now_ns`` (the run's monotonic clock). Prices and mids in one unit (the market maker uses ticks).
- A fill's markout at horizon h is the mid at ``fill + h`` (the last mid at or before that instant, as
  ``lmm.core.markouts.mid_at``) against the fill price, in bp of the fill price, signed so that positive is
  good for us: the mid rose after a buy, fell after a sell. It is known at the first mid at or after
  ``fill + h``; a fill before any mid has no markout.
- Bounded memory: per horizon a queue of fills waiting for their mid (at most ``MAX_PENDING``, the oldest
  dropped and counted beyond that), per horizon and side the last ``window_fills`` markouts, and run totals
  (a sum and a count).
- The rolling figure (status line, metrics, the guard) is the mean over the last ``window_fills`` markouts of
  the side (or of both sides) whose fill is at most ``window_ns`` old; the run figure (the end summary) is
  the mean over every fill of the run.
- The guard (config ``markout_guard``, off by default): when a side's rolling markout at the guard's horizon,
  over at least ``min_fills`` fills, is below ``-threshold_bps``, that side's level-0 quote moves away from
  the mid by ``min(max_widen_bps, widen_bps + (-markout - threshold_bps))`` bp of the mid, rounded up to
  whole ticks (bids down, asks up: a widened quote never crosses). Our buys are the bid's fills, our sells
  the ask's.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

HORIZONS_S = (1, 5, 30)
MAX_PENDING = 10_000  # fills per horizon waiting for their mid: far above any fill rate the bot can reach
SEC = 1_000_000_000
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class MarkoutGuardParams:
    """Built from the configuration by ``lmm.core.params.build_params`` (its schema holds the defaults)."""

    enabled: bool
    horizon: str  # "1s" or "5s": the rolling markout the guard reads
    window_fills: int  # the rolling window: the last this many fills of a side...
    window_ns: int  # ...no older than this (by fill time)
    min_fills: int  # fewer markouts in the window than this: no widening
    threshold_bps: float  # widen only when the rolling markout is below -threshold_bps
    widen_bps: float  # the step added as soon as the threshold is passed
    max_widen_bps: float  # the cap on the widening

    @property
    def horizon_s(self) -> int:
        return int(self.horizon.removesuffix("s"))


@dataclass(frozen=True, slots=True)
class MarkoutFigure:
    mean_bps: float | None  # None when no markout is known
    count: int


@dataclass(frozen=True, slots=True)
class _Pending:
    due_ns: int
    fill_ns: int
    is_buy: bool
    price: float


class MarkoutTracker:
    def __init__(self, window_fills: int, window_ns: int, horizons_s: tuple[int, ...] = HORIZONS_S) -> None:
        if window_fills < 1:
            raise ValueError(f"window_fills must be >= 1: {window_fills}")
        self.horizons_s = horizons_s
        self._window_ns = window_ns
        self._pending = {h: deque[_Pending](maxlen=MAX_PENDING) for h in horizons_s}
        # (horizon, side) -> the last window_fills (fill_ns, markout); side None = both sides
        self._recent = {(h, side): deque[tuple[int, float]](maxlen=window_fills)
                        for h in horizons_s for side in (None, True, False)}
        self._sum = {key: 0.0 for key in self._recent}
        self._count = {key: 0 for key in self._recent}
        self._last_mid: float | None = None
        self.dropped = 0  # fills that left a full pending queue without a markout

    def on_fill(self, now_ns: int, is_buy: bool, price: float) -> None:
        if not (price > 0 and math.isfinite(price)):
            return
        for h, pending in self._pending.items():
            if len(pending) == pending.maxlen:
                self.dropped += 1
            pending.append(_Pending(now_ns + h * SEC, now_ns, is_buy, price))

    def on_mid(self, now_ns: int, mid: float) -> None:
        """A mid seen at ``now_ns``: settles every fill whose horizon has come (fills due before ``now_ns``
        take the previous mid, the last one at or before their instant)."""
        if not (mid > 0 and math.isfinite(mid)):
            return
        for h, pending in self._pending.items():
            while pending and pending[0].due_ns <= now_ns:
                fill = pending.popleft()
                later = mid if fill.due_ns == now_ns else self._last_mid
                if later is not None:
                    self._record(h, fill, later)
        self._last_mid = mid

    def _record(self, h: int, fill: _Pending, later: float) -> None:
        move = (later - fill.price) / fill.price * 1e4
        value = move if fill.is_buy else -move
        for side in (None, fill.is_buy):
            key = (h, side)
            self._recent[key].append((fill.fill_ns, value))
            self._sum[key] += value
            self._count[key] += 1

    def rolling(self, horizon_s: int, side: bool | None, now_ns: int) -> MarkoutFigure:
        """The mean markout over the window (``side``: True our buys, False our sells, None both)."""
        oldest = now_ns - self._window_ns
        values = [value for fill_ns, value in self._recent[(horizon_s, side)] if fill_ns >= oldest]
        return MarkoutFigure(sum(values) / len(values) if values else None, len(values))

    def run_total(self, horizon_s: int, side: bool | None) -> MarkoutFigure:
        """The mean markout over every fill of the run that has one."""
        count = self._count[(horizon_s, side)]
        return MarkoutFigure(self._sum[(horizon_s, side)] / count if count else None, count)


def guard_widening_bps(params: MarkoutGuardParams, tracker: MarkoutTracker, now_ns: int) -> tuple[float, float]:
    """How far to widen (bid, ask), in bp: 0 when off, below ``min_fills`` or above the threshold."""
    if not params.enabled:
        return 0.0, 0.0

    def widening(is_buy: bool) -> float:
        figure = tracker.rolling(params.horizon_s, is_buy, now_ns)
        if figure.mean_bps is None or figure.count < params.min_fills or figure.mean_bps >= -params.threshold_bps:
            return 0.0
        return min(params.max_widen_bps, params.widen_bps + (-figure.mean_bps - params.threshold_bps))

    return widening(True), widening(False)


def widen_level0(bid_tick: int, ask_tick: int, widen_bid_bps: float, widen_ask_bps: float, mid_tick: float,
                 max_price_tick: int) -> tuple[int, int]:
    """The level-0 ticks moved away from the mid by the widening (0 stays 0: a suppressed side); a bid pushed
    below one tick or an ask above ``max_price_tick`` becomes 0 (not quoted)."""

    def ticks(bps: float) -> int:
        return max(0, math.ceil(bps * mid_tick / 1e4 - _EPS)) if bps > 0 else 0

    if bid_tick > 0 and widen_bid_bps > 0:
        bid_tick -= ticks(widen_bid_bps)
        bid_tick = bid_tick if bid_tick >= 1 else 0
    if ask_tick > 0 and widen_ask_bps > 0:
        ask_tick += ticks(widen_ask_bps)
        ask_tick = ask_tick if ask_tick <= max_price_tick else 0
    return bid_tick, ask_tick
