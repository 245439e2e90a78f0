# The statistics of a market profile, measured the same way on a recorded tape and on the simulator.
# Rules: pure (no I/O, no clock); both venues are fed the same normalized events (book snapshots and
# changes in integer ticks/lots, trades) in time order, by `sim.calibrate` (from a tape) or by
# `sim.market_probe` (from the synthetic market in simulated time). The Binance book is kept by the
# product's own `BinanceDepthSync` and its imbalance is the product's band imbalance (strategy-model.md
# §5.3), z-scored with the product's `RollingStats`, exactly as the quoting model reads it.
#
# Sampling: mids every 10 ms (lead-lag), everything else every 100 ms (the model's sampling step); a
# sample at grid time t shows the books as they were just before the first event at or after t.
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from lmm.book.binance_depth import BinanceDepthSync, DepthEvent, DepthSnapshot, SyncAction
from lmm.book.lighter_book import band_edges
from lmm.model.vol_obi import RollingStats

FINE_NS = 10_000_000  # mid samples for the lead-lag estimate
GRID_NS = 100_000_000  # the model's sampling step
FINE_PER_GRID = GRID_NS // FINE_NS
HORIZONS_S = (0.1, 1.0, 5.0)
RETURN_STEPS_S = (0.1, 1.0)
DEPTH_BPS = (1, 5, 10, 25)
LOOKING_DEPTH = 0.025  # the model's default band (config vol_obi.looking_depth)
Z_WINDOW = 6000  # the model's default OBI window (config vol_obi.window_steps)
Z_MIN_SAMPLES = 150
LEAD_LAG_RANGE_MS = (-200, 1000)
Level = tuple[int, int]


def quantiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"mean": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0}
    array = np.asarray(values, dtype=float)
    return {"mean": float(array.mean()), "p50": float(np.percentile(array, 50)),
            "p90": float(np.percentile(array, 90)), "p99": float(np.percentile(array, 99))}


@dataclass
class VenueSeries:
    """What one venue looked like: grid samples, book updates and taker orders."""

    tick: float  # USD per price tick
    usd_per_lot: float | None  # USD per size lot (coin-margined contracts), None: lot × price
    lot: float
    fine_mid: list[float] = field(default_factory=list)  # every 10 ms, NaN while the book is invalid
    mid: list[float] = field(default_factory=list)  # every 100 ms
    spread_ticks: list[float] = field(default_factory=list)
    imbalance: list[float] = field(default_factory=list)  # band imbalance in lots (Binance only)
    depth_usd: dict[int, list[float]] = field(default_factory=lambda: {bp: [] for bp in DEPTH_BPS})
    update_changes: list[int] = field(default_factory=list)  # changed levels per book update
    fills: list[tuple[int, bool, float]] = field(default_factory=list)  # (time ns, taker buys, USD)
    first_ns: int | None = None
    last_ns: int | None = None

    def usd(self, lots: int, price: float) -> float:
        return lots * self.usd_per_lot if self.usd_per_lot is not None else lots * self.lot * price


class _BookState:
    """Best prices and band sums of one book; Binance through BinanceDepthSync, Lighter as plain dicts."""

    def mid_ticks2(self) -> int | None:
        raise NotImplementedError

    def band(self, is_bid: bool, outer_excl: int) -> int:
        raise NotImplementedError


class BinanceBookState(_BookState):
    def __init__(self, price_decimals: int, size_decimals: int) -> None:
        self.sync = BinanceDepthSync(price_decimals, size_decimals)

    def snapshot(self, last_update_id: int, bids: Sequence[Level], asks: Sequence[Level]) -> SyncAction:
        return self.sync.on_snapshot(DepthSnapshot(last_update_id, list(bids), list(asks), limit=10**9,
                                                   in_ticks=True))

    def depth(self, first_id: int, final_id: int, prev_final_id: int, bids: Sequence[Level],
              asks: Sequence[Level]) -> SyncAction:
        """Apply one diff; FETCH_SNAPSHOT asks the caller for a snapshot (a live source can give one)."""
        return self.sync.feed(DepthEvent(first_id, final_id, prev_final_id, 0, list(bids), list(asks),
                                         in_ticks=True))

    def mid_ticks2(self) -> int | None:
        return self.sync.mid_ticks2() if self.sync.synced else None

    def band(self, is_bid: bool, outer_excl: int) -> int:
        side = self.sync.bids if is_bid else self.sync.asks
        return side.band_sum(outer_excl)

    def imbalance(self) -> int | None:
        return self.sync.imbalance_lots(LOOKING_DEPTH) if self.sync.synced else None


class LighterBookState(_BookState):
    def __init__(self) -> None:
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}

    def apply(self, is_snapshot: bool, bids: Iterable[Level], asks: Iterable[Level]) -> int:
        if is_snapshot:
            self.bids.clear()
            self.asks.clear()
        changes = 0
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for price, size in levels:
                changes += 1
                if size > 0:
                    side[price] = size
                else:
                    side.pop(price, None)
        return changes

    def mid_ticks2(self) -> int | None:
        if not self.bids or not self.asks:
            return None
        best_bid, best_ask = max(self.bids), min(self.asks)
        return best_bid + best_ask if best_bid < best_ask else None

    def band(self, is_bid: bool, outer_excl: int) -> int:
        if is_bid:
            return sum(s for p, s in self.bids.items() if p > outer_excl)
        return sum(s for p, s in self.asks.items() if p < outer_excl)


class MarketRecorder:
    """Feeds both venues' events in time order and samples them on the grid."""

    def __init__(self, binance: VenueSeries, binance_book: BinanceBookState,
                 lighter: VenueSeries | None = None, lighter_book: LighterBookState | None = None) -> None:
        self.binance = binance
        self.binance_book = binance_book
        self.lighter = lighter
        self.lighter_book = lighter_book
        self._next_fine_ns: int | None = None
        self._fine_index = 0

    def advance(self, now_ns: int) -> None:
        """Take the grid samples due strictly before `now_ns` (call before applying an event at now_ns)."""
        if self._next_fine_ns is None:
            self._next_fine_ns = (now_ns // FINE_NS + 1) * FINE_NS
            self.binance.first_ns = now_ns
            if self.lighter is not None:
                self.lighter.first_ns = now_ns
            return
        while self._next_fine_ns < now_ns:
            coarse = self._fine_index % FINE_PER_GRID == 0
            self._sample(self.binance, self.binance_book, coarse, with_imbalance=True)
            if self.lighter is not None and self.lighter_book is not None:
                self._sample(self.lighter, self.lighter_book, coarse, with_imbalance=False)
            self._fine_index += 1
            self._next_fine_ns += FINE_NS
        self.binance.last_ns = now_ns
        if self.lighter is not None:
            self.lighter.last_ns = now_ns

    def _sample(self, series: VenueSeries, book: _BookState, coarse: bool, with_imbalance: bool) -> None:
        mid2 = book.mid_ticks2()
        mid = math.nan if mid2 is None else mid2 * series.tick / 2
        series.fine_mid.append(mid)
        if not coarse:
            return
        series.mid.append(mid)
        if mid2 is None:
            series.spread_ticks.append(math.nan)
            if with_imbalance:
                series.imbalance.append(math.nan)
            for bp in DEPTH_BPS:
                series.depth_usd[bp].append(math.nan)
            return
        if isinstance(book, BinanceBookState):
            spread = book.sync.asks.best() - book.sync.bids.best()
        else:
            assert isinstance(book, LighterBookState)
            spread = min(book.asks) - max(book.bids)
        series.spread_ticks.append(float(spread))
        if with_imbalance and isinstance(book, BinanceBookState):
            value = book.imbalance()
            series.imbalance.append(math.nan if value is None else float(value))
        for bp in DEPTH_BPS:
            lo, hi = band_edges(mid2, bp / 10_000)
            lots = book.band(True, lo) + book.band(False, hi)
            series.depth_usd[bp].append(series.usd(lots, mid) / 2)  # per side

    @staticmethod
    def trade(series: VenueSeries, time_ns: int, taker_buys: bool, price: float, lots: int) -> None:
        series.fills.append((time_ns, taker_buys, series.usd(lots, price)))


# ---- statistics --------------------------------------------------------------------------------------


def _span_s(series: VenueSeries) -> float:
    if series.first_ns is None or series.last_ns is None:
        return 0.0
    return max(1e-9, (series.last_ns - series.first_ns) / 1e9)


def return_std_bp(mids: Sequence[float], step: int) -> float:
    array = np.asarray(mids, dtype=float)
    if len(array) <= step:
        return 0.0
    returns = np.log(array[step:] / array[:-step])[::step]
    returns = returns[np.isfinite(returns)]
    return float(returns.std() * 1e4) if len(returns) > 1 else 0.0


def zscores(values: Sequence[float]) -> np.ndarray:
    """The model's z of each sample within its rolling window (NaN before Z_MIN_SAMPLES samples)."""
    stats = RollingStats(Z_WINDOW)
    out = np.full(len(values), np.nan)
    for i, value in enumerate(values):
        if math.isnan(value):
            continue
        stats.push(value)
        if stats.count >= Z_MIN_SAMPLES:
            out[i] = stats.zscore(value)
    return out


def forward_return_corr(z: np.ndarray, mids: Sequence[float], horizon_steps: int) -> tuple[float, int]:
    """Correlation of z at t with the log mid return t -> t + horizon, on non-overlapping samples."""
    array = np.asarray(mids, dtype=float)
    if len(array) <= horizon_steps:
        return 0.0, 0
    starts = np.arange(0, len(array) - horizon_steps, horizon_steps)
    returns = np.log(array[starts + horizon_steps] / array[starts])
    x = z[starts]
    ok = np.isfinite(x) & np.isfinite(returns)
    if ok.sum() < 10 or np.std(x[ok]) == 0 or np.std(returns[ok]) == 0:
        return 0.0, int(ok.sum())
    return float(np.corrcoef(x[ok], returns[ok])[0, 1]), int(ok.sum())


def lead_lag(leader_fine: Sequence[float], follower_fine: Sequence[float]) -> tuple[int, float]:
    """(lag ms, correlation) maximising corr(leader's 100 ms return at t, follower's at t + lag)."""
    lead = np.asarray(leader_fine, dtype=float)
    follow = np.asarray(follower_fine, dtype=float)
    n = min(len(lead), len(follow))
    step = FINE_PER_GRID
    if n < 10 * step:
        return 0, 0.0
    lead_r = np.log(lead[step:n] / lead[:n - step])
    follow_r = np.log(follow[step:n] / follow[:n - step])
    best = (0, -2.0)
    low, high = LEAD_LAG_RANGE_MS
    for lag in range(low // 10, high // 10 + 1):
        a = lead_r[max(0, -lag): len(lead_r) - max(0, lag)]
        b = follow_r[max(0, lag): len(follow_r) - max(0, -lag)]
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() < 10 or a[ok].std() == 0 or b[ok].std() == 0:
            continue
        r = float(np.corrcoef(a[ok], b[ok])[0, 1])
        if r > best[1]:
            best = (lag * 10, r)
    return best


def taker_orders(fills: Sequence[tuple[int, bool, float]]) -> list[float]:
    """Fills grouped into taker orders (same time and side), as their USD notionals."""
    orders: dict[tuple[int, bool], float] = {}
    for time_ns, buys, usd in fills:
        orders[(time_ns, buys)] = orders.get((time_ns, buys), 0.0) + usd
    return list(orders.values())


def venue_stats(series: VenueSeries, imbalance_z: np.ndarray | None) -> dict:
    span = _span_s(series)
    mids = np.asarray(series.mid, dtype=float)
    spread = np.asarray(series.spread_ticks, dtype=float)
    ok = np.isfinite(spread) & np.isfinite(mids)
    spread_bp = spread[ok] * series.tick / mids[ok] * 1e4 if ok.any() else np.array([0.0])
    orders = taker_orders(series.fills)
    changes = series.update_changes
    stats: dict = {
        "seconds": round(span, 3),
        "mid_mean": float(np.nanmean(mids)) if ok.any() else 0.0,
        "mid_return_std_bp": {f"{s:g}": return_std_bp(series.mid, round(s * 10)) for s in RETURN_STEPS_S},
        "spread_ticks_mean": float(np.nanmean(spread)) if ok.any() else 0.0,
        "spread_bp_mean": float(spread_bp.mean()),
        "depth_usd_per_side_within_bp": {str(bp): float(np.nanmean(series.depth_usd[bp])) if ok.any() else 0.0
                                         for bp in DEPTH_BPS},
        "book_updates_per_s": len(changes) / span if span else 0.0,
        "changes_per_update": {"mean": float(np.mean(changes)) if changes else 0.0,
                               "p50": float(np.median(changes)) if changes else 0.0},
        "taker_orders_per_s": len(orders) / span if span else 0.0,
        "fills_per_s": len(series.fills) / span if span else 0.0,
        "taker_order_usd": quantiles(orders),
    }
    if imbalance_z is not None:
        corr = {}
        for horizon in HORIZONS_S:
            r, n = forward_return_corr(imbalance_z, series.mid, max(1, round(horizon * 10)))
            corr[f"{horizon:g}"] = {"r": r, "n": n}
        stats["imbalance_return_corr"] = corr
    return stats


def market_stats(binance: VenueSeries, lighter: VenueSeries | None) -> dict:
    """The measured part of a profile: Binance, Lighter (when recorded) and their lead-lag."""
    z = zscores(binance.imbalance)
    result: dict = {"binance": venue_stats(binance, z), "lighter": None, "lead_lag": None}
    if lighter is not None and lighter.mid:
        result["lighter"] = venue_stats(lighter, z)
        lag_ms, r = lead_lag(binance.fine_mid, lighter.fine_mid)
        result["lead_lag"] = {"lag_ms": lag_ms, "corr": r}
    return result
