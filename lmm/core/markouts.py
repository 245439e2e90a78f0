"""Markouts of our own fills: how the mid moved after each fill, in basis points, signed so that positive is
good for us (the mid rose after a buy, fell after a sell). Pure: fills and a mid path in, figures out."""
from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

HORIZONS_S = (0.1, 1.0, 5.0, 30.0, 60.0)
NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class FillPoint:
    time_ns: int
    is_buy: bool
    price: float  # in any unit, the same as the mids'


@dataclass(frozen=True, slots=True)
class Markout:
    mean_bps: float | None  # None when no fill has a mid that far after it
    stderr_bps: float | None
    count: int


def mid_at(times_ns: Sequence[int], mids: Sequence[float], t_ns: int) -> float | None:
    """The last mid at or before ``t_ns``; None before the first or after the path ends."""
    if not times_ns or t_ns > times_ns[-1]:
        return None
    i = bisect_left(times_ns, t_ns)
    if i < len(times_ns) and times_ns[i] == t_ns:
        return mids[i]
    return mids[i - 1] if i > 0 else None


def markout(fills: Sequence[FillPoint], times_ns: Sequence[int], mids: Sequence[float], horizon_s: float,
            side: bool | None = None) -> Markout:
    """Mean signed markout at ``horizon_s`` over the fills (of one side: ``side`` True buys, False sells)."""
    values = []
    for fill in fills:
        if side is not None and fill.is_buy != side:
            continue
        later = mid_at(times_ns, mids, fill.time_ns + int(horizon_s * NS))
        if later is None or fill.price <= 0:
            continue
        move = (later - fill.price) / fill.price * 1e4
        values.append(move if fill.is_buy else -move)
    return summary(values)


def summary(values: Sequence[float]) -> Markout:
    """Mean, standard error and count of signed markouts (bp)."""
    if not values:
        return Markout(None, None, 0)
    mean = sum(values) / len(values)
    if len(values) < 2:
        return Markout(mean, None, 1)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return Markout(mean, math.sqrt(var / len(values)), len(values))
