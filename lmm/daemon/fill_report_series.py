"""The fill history as the backtest report's pictures: the series and the markouts that ``backtest_plots``
draws, built from the fills of a period (an adapter: the HTML writer reads nothing but the report dict).

Rules:
- One point per fill of the window, at the fill's time, held until the next (steps): the mid recorded with
  it, the ledger's position after it, and the period's net PnL so far: realized (average cost) minus fees,
  plus the position's unrealized PnL at the last mid recorded (the fill's own price before any). The last
  point is report.json's ``pnl_net_usd``.
- Markouts: the history knows the mid only when the bot handled a fill. The mid "at" t + h is the last mid
  recorded after the fill (strictly later) and at or before t + h; a fill with none is not counted at that
  horizon (the counts say how many were). Between sparse fills this is the move up to the last fill before
  the horizon, not the move at it: the backtester's markouts read the mid path itself.
"""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from lmm.core.fill_ledger import ZERO, AverageCostLedger, LedgerFill, Opening, in_window
from lmm.core.markouts import HORIZONS_S, NS, summary

SIDES = (("all", None), ("buy", True), ("sell", False))


@dataclass(frozen=True, slots=True)
class PathPoint:
    time_ns: int
    is_buy: bool
    price: float
    mid: float | None  # recorded with the fill
    position: float  # the ledger's, after the fill
    pnl_usd: float  # the window's net PnL after the fill


def fill_path(fills: Sequence[LedgerFill], opening: Opening, start_ns: int | None,
              end_ns: int | None) -> list[PathPoint]:
    """The window's fills as points; every fill (before the window too) moves the ledger."""
    ledger = AverageCostLedger(opening.position, opening.price)
    last_mid: Decimal | None = None
    realized = fees = ZERO
    points = []
    for fill in fills:
        closed = ledger.apply(fill.signed_size, fill.price)
        if fill.mid is not None:
            last_mid = fill.mid
        if not in_window(fill.time_ns, start_ns, end_ns):
            continue
        realized += closed
        fees += fill.fee_usd
        mark = last_mid if last_mid is not None else fill.price
        points.append(PathPoint(fill.time_ns, fill.is_buy, float(fill.price),
                                None if fill.mid is None else float(fill.mid), float(ledger.position),
                                float(realized - fees + ledger.unrealized(mark))))
    return points


def history_markouts(points: Sequence[PathPoint]) -> dict[str, dict[str, dict[str, Any]]]:
    """``markouts_bps`` as the backtester's report has it, from the mids recorded at the fills."""
    sampled = [p for p in points if p.mid is not None]
    times = [p.time_ns for p in sampled]
    mids = [p.mid for p in sampled]
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for horizon in HORIZONS_S:
        values: dict[str, list[float]] = {side: [] for side, _ in SIDES}
        for point in points:
            i = bisect_right(times, point.time_ns + int(horizon * NS)) - 1
            later = mids[i] if i >= 0 and times[i] > point.time_ns else None
            if later is None or point.price <= 0:
                continue
            move = (later - point.price) / point.price * 1e4
            signed = move if point.is_buy else -move
            values["all"].append(signed)
            values["buy" if point.is_buy else "sell"].append(signed)
        table[f"{horizon:g}s"] = {side: asdict(summary(values[side])) for side, _ in SIDES}
    return table


def report_series(points: Sequence[PathPoint], window: tuple[int, int]) -> dict[str, list]:
    """``series`` as ``backtest_plots`` reads it, times in seconds from the window's start: each value held
    from its fill to the next (a point at the next fill's time with the value before it) and to the window's
    end, so the lines are steps: between fills the history knows no other mark."""
    start, end = window
    t_s: list[float] = []
    held: list[PathPoint] = []
    for index, point in enumerate(points):
        if index:
            t_s.append((point.time_ns - start) / NS)
            held.append(points[index - 1])
        t_s.append((point.time_ns - start) / NS)
        held.append(point)
    if points and end > points[-1].time_ns:
        t_s.append((end - start) / NS)
        held.append(points[-1])
    return {"t_s": t_s, "mid": [p.mid for p in held], "position": [p.position for p in held],
            "equity_usd": [p.pnl_usd for p in held], "fill_t_s": [(p.time_ns - start) / NS for p in points],
            "fill_price": [p.price for p in points], "fill_is_buy": [p.is_buy for p in points]}


def html_fields(fills: Sequence[LedgerFill], opening: Opening, start_ns: int | None,
                end_ns: int | None) -> dict[str, Any]:
    """The keys the HTML writer reads beyond the summary's own: the window, the series (net PnL as the
    equity over a collateral of 0), the markouts, the title and what the figures assume."""
    points = fill_path(fills, opening, start_ns, end_ns)
    window = (start_ns if start_ns is not None else points[0].time_ns,
              end_ns if end_ns is not None else points[-1].time_ns)
    return {
        "title": "Fill history", "mid_label": "mid recorded at the fills",
        "window_ns": list(window), "seconds": (window[1] - window[0]) / NS,
        "series": report_series(points, window), "markouts_bps": history_markouts(points),
        "assumptions": {"collateral_usd": 0, "pnl_method": "average cost",
                        "mark": "the last mid recorded at a fill",
                        "markout_mid": "the last mid recorded at a later fill, at or before the horizon"},
    }
