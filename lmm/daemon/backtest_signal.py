"""Signal quality on a tape: how well the model's imbalance z predicts the mid, by ``looking_depth`` and horizon.

The tape's Binance depth stream is replayed (in local time order, as the backtest replays it) through the
product's own ``BinanceDepthSync``; the synced book's mid and ``imbalance_lots(looking_depth)`` feed one
``VolObiCalculator`` per depth (``build_model``: the configuration's own step, window and warm-up counts),
exactly as the Lighter feed feeds the live model (``on_book`` on every change, ``on_book_invalid`` while
unsynced). The fixed clock steps every ``vol_obi.step_ns`` from the window's start; at each step, once the
model's local-imbalance alpha is up (``alpha_source == "lighter"``, i.e. ``local_alpha_min_samples`` samples),
its z (``alpha``) is paired with the mid's move over each horizon, in bp of the mid at the step. The figure is
Pearson's correlation over those pairs. Nothing of the model or the book is written again here.

The same pass keeps the synced mid at every book change (``MidPath``), which the report's spread capture and
adverse-selection share read.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lmm.book.binance_depth import BinanceDepthSync, DepthEvent, DepthSnapshot
from lmm.config.config import Config
from lmm.core.market import MarketInfo
from lmm.core.market_maker import build_model
from lmm.core.markouts import mid_at
from lmm.venue.tape.reader import Tape
from lmm.venue.tape.schema import BINANCE_DEPTH, BINANCE_SNAPSHOT

SIGNAL_DEPTHS = (0.005, 0.01, 0.025)  # looking_depth values always measured (with the configuration's own)
SIGNAL_HORIZONS_S = (0.1, 1.0, 5.0)
DEFAULT_SNAPSHOT_LIMIT = 1000
NS = 1_000_000_000


@dataclass(frozen=True)
class MidPath:
    """The synced mid (price units) at every change, in local ns; the last point is held to the window's end."""

    times_ns: list[int]
    mids: list[float]

    def at(self, t_ns: int) -> float | None:
        return mid_at(self.times_ns, self.mids, t_ns)


@dataclass(frozen=True)
class SignalSamples:
    """Per looking_depth: the model's z at each step where it was defined, with the step's time."""

    times_ns: dict[float, list[int]]
    z: dict[float, list[float]]


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's correlation; None below three pairs or when either side does not vary."""
    n = len(xs)
    if n != len(ys):
        raise ValueError(f"pearson: {n} x values and {len(ys)} y values")
    if n < 3:
        return None
    mx, my = math.fsum(xs) / n, math.fsum(ys) / n
    sxy = math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = math.fsum((x - mx) ** 2 for x in xs)
    syy = math.fsum((y - my) ** 2 for y in ys)
    if sxx <= 0 or syy <= 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def depths_for(config: Config) -> tuple[float, ...]:
    return tuple(sorted({*SIGNAL_DEPTHS, config.vol_obi.looking_depth}))


def replay_signal(tape: Tape, symbol: str, price_decimals: int, size_decimals: int, config: Config,
                  start_ns: int, end_ns: int, depths: Sequence[float],
                  contracts: Callable[[int, int], int] | None = None) -> tuple[MidPath, SignalSamples]:
    """One pass over the window's depth stream: the mid path and each depth's z on the fixed clock.
    ``contracts``: an inverse tape's sizes as lots on ``size_decimals`` (the base asset's grid), as the backtest
    mirrors them, so the z is the one the bot computes from the mirrored book."""
    market = MarketInfo(market_id=1, symbol=symbol, price_decimals=price_decimals, size_decimals=size_decimals,
                        min_base_lots=1, min_quote_micro_usd=0)
    lot = 10.0 ** -size_decimals
    tick = 10.0 ** -price_decimals
    models = {d: build_model(config, market) for d in depths}
    times: dict[float, list[int]] = {d: [] for d in depths}
    zs: dict[float, list[float]] = {d: [] for d in depths}
    step = config.vol_obi.step_ns
    next_step = start_ns
    sync = BinanceDepthSync(price_decimals, size_decimals)
    path_t: list[int] = []
    path_mid: list[float] = []

    def steps_until(now: int) -> None:
        nonlocal next_step
        while next_step <= now:
            for d, model in models.items():
                model.on_timer(next_step)
                if model.alpha_source(next_step) == "lighter":
                    times[d].append(next_step)
                    zs[d].append(model.alpha(next_step))
            next_step += step

    def levels(ticks: Sequence[int], sizes: Sequence[int]) -> list[tuple[int, int]]:
        if contracts is None:
            return list(zip(ticks, sizes, strict=True))
        return [(price, contracts(price, size)) for price, size in zip(ticks, sizes, strict=True)]

    for ev in tape.events(kinds=(BINANCE_SNAPSHOT, BINANCE_DEPTH), symbols=(symbol,), start_ns=start_ns,
                          end_ns=end_ns):
        now = ev[0]
        steps_until(now - 1)  # a step at the event's own time samples the book before the event
        if ev[2] == BINANCE_DEPTH:
            event_ms = ev[4] // 1_000_000 if ev[4] is not None else 0
            sync.feed(DepthEvent(ev[5], ev[6], ev[7] if ev[7] is not None else -1, event_ms,
                                 levels(ev[8], ev[9]), levels(ev[10], ev[11]), in_ticks=True))
        else:
            sync.on_snapshot(DepthSnapshot(ev[6], levels(ev[8], ev[9]), levels(ev[10], ev[11]),
                                           ev[7] if ev[7] is not None else DEFAULT_SNAPSHOT_LIMIT, in_ticks=True))
        mid2 = sync.mid_ticks2() if sync.synced and not sync.crossed else None
        if mid2 is None:
            for model in models.values():
                model.on_book_invalid(now)
            continue
        mid = mid2 / 2 * tick
        if not path_mid or path_mid[-1] != mid:
            path_t.append(now)
            path_mid.append(mid)
        for d, model in models.items():
            model.on_book(now, mid, sync.imbalance_lots(d) * lot)
    steps_until(end_ns)
    if path_t and path_t[-1] < end_ns:
        path_t.append(end_ns)
        path_mid.append(path_mid[-1])
    return MidPath(path_t, path_mid), SignalSamples(times, zs)


def signal_quality(samples: SignalSamples, path: MidPath, step_ns: int,
                   horizons_s: Sequence[float] = SIGNAL_HORIZONS_S) -> dict:
    """The report's ``signal_quality``: per depth, the z samples and, per horizon, corr(z, forward mid move)."""
    by_depth = {}
    for depth in sorted(samples.z):
        cell: dict = {"samples": len(samples.z[depth])}
        for horizon in horizons_s:
            xs, ys = [], []
            for t, z in zip(samples.times_ns[depth], samples.z[depth], strict=True):
                now, later = path.at(t), path.at(t + round(horizon * NS))
                if now is None or later is None:
                    continue
                xs.append(z)
                ys.append((later - now) / now * 1e4)
            cell[f"{horizon:g}s"] = {"corr": pearson(xs, ys), "count": len(xs)}
        by_depth[f"{depth:g}"] = cell
    return {"step_s": step_ns / NS, "horizons_s": list(horizons_s), "looking_depth": by_depth}

