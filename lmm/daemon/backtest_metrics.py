"""The backtest report's performance figures, from the report's own record (``series``: one point a second of
tape time, and the fills) and the tape's mid at every book change (``backtest_signal.MidPath``):

- gross spread capture: each fill's edge against the mid when it filled (size x (mid - price) for a buy,
  size x (price - mid) for a sell), in USD and in bp of the traded volume; the rest of the PnL before fees
  (``pnl_inventory_usd``) is what holding the position earned or lost as the market moved;
- Sharpe: from the per-second changes of equity (USD; the collateral is constant, so the ratio is the same on
  returns), mean over sample standard deviation, per second and annualised by sqrt(365 x 86,400) (the market
  trades around the clock), no risk-free rate, over the whole window (warm-up included);
- max drawdown: the largest fall of the per-second equity from its running peak (USD);
- time at the position limit: seconds at which the bot could not add to its position, by the quoting
  rule's own limit M (``lmm.core.quoting.position_limit_usd``) at that second's equity and mid;
- adverse-selection share: the share of fills whose 1 s markout is negative (the mid moved against us).

Pure functions: lists in, figures out; ``performance`` assembles the report's keys.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from lmm.config.config import Config
from lmm.core.params import build_params
from lmm.core.quoting import CapitalSnapshot, MarketRules, QuotingParams, position_limit_usd
from lmm.daemon.backtest_signal import MidPath

SECONDS_PER_YEAR = 365 * 86_400
ADVERSE_HORIZON_S = 1.0
NS = 1_000_000_000


@dataclass(frozen=True)
class Sharpe:
    per_second: float | None  # None below two changes or when equity never changed
    annualised: float | None
    changes: int


def max_drawdown(equity: Sequence[float]) -> float:
    """The largest fall from a running peak (>= 0; 0 for an empty or never-falling path)."""
    worst, peak = 0.0, -math.inf
    for value in equity:
        peak = max(peak, value)
        worst = max(worst, peak - value)
    return worst


def sharpe(equity: Sequence[float], steps_per_year: float = SECONDS_PER_YEAR) -> Sharpe:
    """Mean over sample standard deviation of the step-to-step changes of ``equity``, and annualised."""
    changes = [b - a for a, b in pairwise(equity)]
    n = len(changes)
    if n < 2:
        return Sharpe(None, None, n)
    mean = math.fsum(changes) / n
    var = math.fsum((c - mean) ** 2 for c in changes) / (n - 1)
    if var <= 0:
        return Sharpe(None, None, n)
    ratio = mean / math.sqrt(var)
    return Sharpe(ratio, ratio * math.sqrt(steps_per_year), n)


@dataclass(frozen=True)
class Fill:
    time_ns: int
    is_buy: bool
    price: float
    size: float  # base units


def spread_capture_usd(fills: Sequence[Fill], path: MidPath) -> float:
    """Sum of each fill's edge against the mid at its time (fills before the first mid count nothing)."""
    total = 0.0
    for fill in fills:
        mid = path.at(fill.time_ns)
        if mid is None:
            continue
        total += fill.size * ((mid - fill.price) if fill.is_buy else (fill.price - mid))
    return total


def adverse_share(fills: Sequence[Fill], path: MidPath, horizon_s: float = ADVERSE_HORIZON_S,
                  side: bool | None = None) -> dict[str, Any]:
    """The share of fills (of one side: ``side`` True buys) whose markout at ``horizon_s`` is negative,
    over the fills with a mid that far after them."""
    counted = adverse = 0
    for fill in fills:
        if side is not None and fill.is_buy != side:
            continue
        later = path.at(fill.time_ns + round(horizon_s * NS))
        if later is None:
            continue
        counted += 1
        move = later - fill.price if fill.is_buy else fill.price - later
        adverse += move < 0
    return {"share": adverse / counted if counted else None, "adverse": adverse, "count": counted}


def seconds_at_limit(params: QuotingParams, rules: MarketRules, position: Sequence[float],
                     mid: Sequence[float | None], equity: Sequence[float]) -> int:
    """Seconds at which the quoting rule lets no order add exposure: flat positions aside, |position| x mid at
    or above M (or M unknown or 0). Seconds without a mid are not counted."""
    lots_per_unit = 10 ** rules.size_decimals
    tick = 10.0 ** -rules.price_decimals
    count = 0
    for pos, m, eq in zip(position, mid, equity, strict=True):
        if m is None:
            continue
        mid_tick = m / tick
        capital = CapitalSnapshot(available_usd=eq, equity_usd=eq, refreshed_ns=0)
        limit = position_limit_usd(params, rules, capital, 0, mid_tick)
        position_usd = rules.notional_usd(round(abs(pos) * lots_per_unit), mid_tick)
        flat = position_usd < params.position_value_threshold_usd
        count += limit is None or limit <= 0 or (not flat and position_usd >= limit)
    return count


def fills_of(report: dict[str, Any]) -> list[Fill]:
    """The report's fills with their time in ns (``fill_t_s`` is exact to the ns for any window under years)."""
    series, start = report["series"], report["window_ns"][0]
    return [Fill(start + round(t * NS), b, p, s) for t, b, p, s in
            zip(series["fill_t_s"], series["fill_is_buy"], series["fill_price"], series["fill_size"], strict=True)]


def performance(report: dict[str, Any], config: Config, price_decimals: int, size_decimals: int,
                path: MidPath) -> dict[str, Any]:
    """The report's keys for spread capture, Sharpe, drawdown, time at the limit and adverse selection."""
    series = report["series"]
    fills = fills_of(report)
    capture = spread_capture_usd(fills, path)
    volume = report["volume_usd"]
    ratio = sharpe(series["equity_usd"])
    rules = MarketRules(price_decimals, size_decimals, min_base_lots=1, min_quote_amount_usd=0.0)
    at_limit = seconds_at_limit(build_params(config).quoting, rules, series["position"], series["mid"],
                                series["equity_usd"])
    points = len(series["t_s"])
    return {
        "spread_capture_usd": capture,
        "spread_capture_bps": capture / volume * 1e4 if volume > 0 else None,
        "pnl_inventory_usd": report["pnl_net_usd"] + report["fees_usd"] - capture,
        "sharpe": {"per_second": ratio.per_second, "annualised": ratio.annualised, "changes": ratio.changes},
        "max_drawdown_usd": max_drawdown(series["equity_usd"]),
        "time_at_position_limit_s": at_limit,
        "time_at_position_limit_share": at_limit / points if points else None,
        "adverse_selection": {"horizon_s": ADVERSE_HORIZON_S, **{
            side: adverse_share(fills, path, ADVERSE_HORIZON_S, flag)
            for side, flag in (("all", None), ("buy", True), ("sell", False))}},
    }
