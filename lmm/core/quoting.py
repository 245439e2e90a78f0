# Target quotes: from the model's level-0 ticks, the account and the limits to per-level prices and sizes.
#
# Rules (strategy-model.md §6, §7):
# - Pure: no I/O, no clock (`now_ns` comes in). Prices are integer ticks, sizes integer lots; USD amounts
#   are converted once to integer micro-USD and the lot arithmetic stays in integers.
# - Level k >= 1: bid_k = m - D_b * f^k, ask_k = m + D_a * f^k (D = level-0 distance from mid,
#   f = spread_factor_level1), with the minimum half-spread floor scaled to b * f^k around the floor
#   reference; bids round down, asks up; each level at least one tick beyond the previous one; a level
#   pushed off the valid price range is dropped together with every deeper level.
# - Size: capital * capital_usage_percent * leverage / mid on the lot grid, raised per order to
#   min_base_amount, min_quote_amount and min_order_value_usd at that order's own price; base_amount when
#   capital is unknown or stale.
# - Limit M = 0.9 * max(0, equity * leverage - 2 * levels * size * m), the reserved size taken from equity
#   (not from the available balance, which shrinks as the position uses margin and would make M grow with
#   the position: the limit would run ahead of the position it bounds). |P| * m >= M suppresses every level
#   of the side that adds exposure; M <= 0 or unknown means no adding side at all, never "no limit"
#   (defect E6). A position worth less than position_value_threshold_usd counts as flat, and when flat
#   both sides add exposure.
from __future__ import annotations

import math
from dataclasses import dataclass

MAX_PRICE_TICK = 2**32 - 1  # Lighter's signed price is a uint32
_EPS = 1e-9  # against binary floating-point error before floor/ceil to the tick grid
_MICRO = 1_000_000
_MAX_POSITION_SAFETY = 0.9


@dataclass(frozen=True, slots=True)
class MarketRules:
    """The market's grid and minimums (orderBookDetails)."""

    price_decimals: int
    size_decimals: int
    min_base_lots: int
    min_quote_amount_usd: float

    def notional_usd(self, lots: int, price_tick: float) -> float:
        return lots * price_tick / 10 ** (self.price_decimals + self.size_decimals)

    def lots_for_usd(self, usd: float, price_tick: float, round_up: bool) -> int:
        """Lots worth `usd` at `price_tick`, on the lot grid (integer arithmetic after one rounding)."""
        micro = usd_to_micro(usd)
        numerator = micro * 10 ** (self.price_decimals + self.size_decimals) * 2
        denominator = round(price_tick * 2) * _MICRO  # price may sit on a half tick (a mid)
        if denominator <= 0:
            raise ValueError(f"price must be positive: {price_tick}")
        return -(-numerator // denominator) if round_up else numerator // denominator

    def base_to_lots(self, base: float) -> int:
        return max(0, round(base * 10**self.size_decimals))


@dataclass(frozen=True, slots=True)
class QuotingParams:
    """Built from the configuration by ``lmm.core.params.build_params`` (its schema holds the defaults)."""

    levels_per_side: int
    spread_factor_level1: float
    capital_usage_percent: float
    leverage: int
    base_amount: float
    min_order_value_usd: float
    position_value_threshold_usd: float
    min_half_spread_bps: float
    capital_max_age_ns: int = 3600 * 10**9  # not configurable

    def __post_init__(self) -> None:
        if self.levels_per_side < 1:
            raise ValueError(f"levels_per_side must be >= 1: {self.levels_per_side}")
        if self.spread_factor_level1 < 1:
            raise ValueError(f"spread_factor_level1 must be >= 1: {self.spread_factor_level1}")


@dataclass(frozen=True, slots=True)
class CapitalSnapshot:
    """Account capital in USD and when it was last refreshed successfully (not last changed: E20)."""

    available_usd: float
    equity_usd: float
    refreshed_ns: int


@dataclass(frozen=True, slots=True)
class QuoteLevel:
    price_tick: int
    size_lots: int


@dataclass(frozen=True, slots=True)
class TargetQuotes:
    bids: tuple[QuoteLevel, ...]  # index = level, best first; empty when the side is suppressed
    asks: tuple[QuoteLevel, ...]
    reduce_only_bids: bool = False  # set on the reducing side when the adding side is suppressed
    reduce_only_asks: bool = False
    max_position_usd: float | None = None  # the limit used, for logs and the skew normalisation


def usd_to_micro(usd: float) -> int:
    return round(usd * _MICRO)


def fresh_capital(capital: CapitalSnapshot | None, now_ns: int, max_age_ns: int) -> CapitalSnapshot | None:
    if capital is None or now_ns - capital.refreshed_ns > max_age_ns:
        return None
    if not (math.isfinite(capital.available_usd) and math.isfinite(capital.equity_usd)):
        return None
    return capital


def base_size_lots(
    params: QuotingParams, rules: MarketRules, capital: CapitalSnapshot | None, now_ns: int, mid_tick: float
) -> int:
    """Order size at mid: from capital when fresh, else base_amount; raised to the minimums at mid."""
    fresh = fresh_capital(capital, now_ns, params.capital_max_age_ns)
    if fresh is None:
        lots = rules.base_to_lots(params.base_amount)
    else:
        budget = max(0.0, fresh.available_usd) * params.capital_usage_percent * params.leverage
        lots = rules.lots_for_usd(budget, mid_tick, round_up=False)
    return raise_to_minimums(params, rules, lots, mid_tick)


def raise_to_minimums(params: QuotingParams, rules: MarketRules, lots: int, price_tick: float) -> int:
    """The smallest valid size >= lots at this price: base >= min_base and base * price >= both minimums."""
    return max(
        lots,
        exchange_minimum_lots(rules, price_tick),
        rules.lots_for_usd(params.min_order_value_usd, price_tick, round_up=True),
    )


def exchange_minimum_lots(rules: MarketRules, price_tick: float) -> int:
    return max(1, rules.min_base_lots, rules.lots_for_usd(rules.min_quote_amount_usd, price_tick, round_up=True))


def reserve_size_lots(
    params: QuotingParams, rules: MarketRules, capital: CapitalSnapshot | None, now_ns: int, mid_tick: float
) -> int:
    """The order size M reserves for: from equity when capital is fresh (a flat account's order size), else
    base_amount; raised to the minimums at mid. Unlike base_size_lots it does not shrink as margin is used."""
    fresh = fresh_capital(capital, now_ns, params.capital_max_age_ns)
    if fresh is None:
        lots = rules.base_to_lots(params.base_amount)
    else:
        budget = max(0.0, fresh.equity_usd) * params.capital_usage_percent * params.leverage
        lots = rules.lots_for_usd(budget, mid_tick, round_up=False)
    return raise_to_minimums(params, rules, lots, mid_tick)


def position_limit_usd(
    params: QuotingParams, rules: MarketRules, capital: CapitalSnapshot | None, now_ns: int, mid_tick: float
) -> float | None:
    """M at this mid (None when capital is unknown or stale)."""
    reserve = reserve_size_lots(params, rules, capital, now_ns, mid_tick)
    return max_position_usd(params, rules, capital, now_ns, reserve, mid_tick)


def max_position_usd(
    params: QuotingParams,
    rules: MarketRules,
    capital: CapitalSnapshot | None,
    now_ns: int,
    size_lots: int,
    mid_tick: float,
) -> float | None:
    """M, or None when capital is unknown or stale (which the caller must treat as "no new exposure")."""
    fresh = fresh_capital(capital, now_ns, params.capital_max_age_ns)
    if fresh is None:
        return None
    reserved = 2 * params.levels_per_side * rules.notional_usd(size_lots, mid_tick)
    return _MAX_POSITION_SAFETY * max(0.0, fresh.equity_usd * params.leverage - reserved)


def _ladder(level0: int, mid: float, floor_ref: float, params: QuotingParams, is_bid: bool) -> list[int]:
    if level0 <= 0:
        return []
    prices = [level0]
    distance0 = (mid - level0) if is_bid else (level0 - mid)
    for k in range(1, params.levels_per_side):
        factor = params.spread_factor_level1**k
        floor_fraction = params.min_half_spread_bps * factor / 1e4
        if is_bid:
            raw = min(mid - distance0 * factor, floor_ref * (1.0 - floor_fraction))
            tick = min(math.floor(raw + _EPS), prices[-1] - 1)
            valid = tick >= 1
        else:
            raw = max(mid + distance0 * factor, floor_ref * (1.0 + floor_fraction))
            tick = max(math.ceil(raw - _EPS), prices[-1] + 1)
            valid = tick <= MAX_PRICE_TICK
        if not valid:
            break
        prices.append(tick)
    return prices


def build_target_quotes(
    params: QuotingParams,
    rules: MarketRules,
    *,
    level0_bid_tick: int,
    level0_ask_tick: int,
    best_bid_tick: int,
    best_ask_tick: int,
    floor_ref_tick: float,
    position_lots: int,
    capital: CapitalSnapshot | None,
    now_ns: int,
) -> TargetQuotes | None:
    """Per-level target quotes, or None when nothing may be quoted.

    level0_*_tick come from VolObiCalculator.quote (0 = side suppressed by the model); floor_ref_tick is the
    floor reference of the model (F by default, m for parity), in ticks.
    """
    if best_bid_tick <= 0 or best_ask_tick <= 0 or best_bid_tick >= best_ask_tick:
        return None
    if level0_bid_tick > 0 and level0_ask_tick > 0 and level0_bid_tick >= level0_ask_tick:
        return None  # crossed level 0: the model's guard should have caught it; quote nothing
    mid = (best_bid_tick + best_ask_tick) / 2
    size_at_mid = base_size_lots(params, rules, capital, now_ns, mid)
    limit = position_limit_usd(params, rules, capital, now_ns, mid)

    position_usd = rules.notional_usd(abs(position_lots), mid)
    flat = position_usd < params.position_value_threshold_usd
    long = position_lots > 0 and not flat
    short = position_lots < 0 and not flat
    no_new_exposure = limit is None or limit <= 0
    at_limit = no_new_exposure or (not flat and limit is not None and position_usd >= limit)
    allow_bids = not (at_limit and not short)  # bids add exposure unless short
    allow_asks = not (at_limit and not long)

    bid_ticks = _ladder(level0_bid_tick, mid, floor_ref_tick, params, is_bid=True) if allow_bids else []
    ask_ticks = _ladder(level0_ask_tick, mid, floor_ref_tick, params, is_bid=False) if allow_asks else []
    if not bid_ticks and not ask_ticks:
        return None

    reduce_only_bids = at_limit and short
    reduce_only_asks = at_limit and long

    def levels(ticks: list[int], reduce_only: bool) -> tuple[QuoteLevel, ...]:
        out = []
        for tick in ticks:
            lots = raise_to_minimums(params, rules, size_at_mid, tick)
            if reduce_only:  # never more than the position, but never below what the exchange accepts
                lots = max(min(lots, abs(position_lots)), exchange_minimum_lots(rules, tick))
            out.append(QuoteLevel(price_tick=tick, size_lots=lots))
        return tuple(out)

    return TargetQuotes(
        bids=levels(bid_ticks, reduce_only_bids),
        asks=levels(ask_ticks, reduce_only_asks),
        reduce_only_bids=reduce_only_bids,
        reduce_only_asks=reduce_only_asks,
        max_position_usd=limit,
    )
