# Market profiles: versioned JSON files that describe a market (what was measured on a real tape) and the
# simulator settings that reproduce it. `python -m sim --profile NAME|FILE` loads one; `default` is the
# realistic profile every entry point uses unless told otherwise, `kind` is the old flattering market
# (MarketParams' own defaults) for tests that need quick fills and a strong signal.
#
# A profile: {"format": "lighter-mm-market-profile", "version": 1, "name", "markets": {SYMBOL: {"source",
# "measured"}}, "simulator": {"params": {MarketParams scalars}, "instruments": {SYMBOL: {InstrumentParams
# fields}}}, "tolerances": {...}}. Only the `simulator` section drives the simulator; `measured` is what the
# tests compare it with (sim.profile_stats measures both).
# Rules: pure except `load_profile` (reads a file); unknown keys are errors (a typo must not silently fall
# back to a default).
from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

from sim.market_params import (
    BTC_INSTRUMENT,
    ETH_INSTRUMENT,
    SECONDS_PER_YEAR,
    InstrumentParams,
    MarketParams,
)

PROFILE_FORMAT = "lighter-mm-market-profile"
PROFILE_VERSION = 1
PROFILES_DIR = Path(__file__).resolve().parent / "profiles"
DEFAULT_PROFILE = "default"
KIND_PROFILE = "kind"
PROFILE_ENV = "LMM_SIM_PROFILE"

# Assumptions of every calibrated profile where a Binance tape says nothing about Lighter (sim/README.md).
LIGHTER_ASSUMPTIONS: dict[str, Any] = {
    "lighter_lag_ms": 100,  # Binance leads Lighter by ~100 ms (public lead-lag studies)
    "lighter_lag_jitter_ms": 50,
    "lighter_noise_bps": 0.3,
    "lighter_requote_interval_ms": 50,
    "lighter_touch_tolerance_bps": 0.1,
    "lighter_deep_tolerance_bps": 0.5,
    "lighter_churn_hz": 25.0,  # other makers resizing: Lighter's order_book batches every 50 ms carry changes
    "taker_informed_share": 0.2,
    "rival_makers": 2,
    "rival_size_usd": 3000.0,
    "rival_requote_ms": 250,
    "sniper_edge_bps": 1.0,
    "sniper_max_notional_usd": 20_000.0,
    "taker_latency_ms": 200,  # premium tier, no staked LIT (lighter-api.md §7.6); makers and cancels: 0 ms
    "binance_noise_timescale_s": 0.5,
}
LIGHTER_TAKER_SHARE = 0.1  # Lighter taker orders per Binance taker order (a smaller venue)
MAX_BINANCE_NOISE_BPS = 1.5
# Binance's mid is not the fair price: other venues and Lighter's own flow move it too. A tape of one venue
# cannot separate that part, so a floor is assumed when the 100 ms/1 s variances show no excess noise.
MIN_BINANCE_NOISE_BPS = 0.3
# The signal: the 1 s OBI→return correlation of the kind market (pressure share 0.4) is about KIND_CORRELATION;
# r grows like √share, so the share is scaled by (measured r / KIND_CORRELATION)².
KIND_CORRELATION = 0.3
# How closely the simulator must reproduce a profile (tests/sim/test_market_profiles.py reads these).
DEFAULT_TOLERANCES: dict[str, Any] = {
    "binance_mid_return_std_bp_1s_ratio": [0.6, 1.6],
    "binance_depth_usd_within_1bp_ratio": [0.5, 2.0],
    "binance_imbalance_return_corr_1s_standard_errors": 2.5,  # |r_sim - r_tape| < k·√(1/n_sim + 1/n_tape)
    "lighter_poisson_takers_per_s_ratio": [0.5, 2.0],  # to LIGHTER_TAKER_SHARE x Binance taker orders/s
    "lighter_poisson_taker_usd_p50_ratio": [0.5, 2.0],  # to Binance's median taker order
    "lighter_book_updates_per_s_min": 15.0,
    "lighter_imbalance_return_corr_1s_max": 0.2,
    "lead_lag_ms_range": [50, 300],
}
_INSTRUMENTS = {"ETHUSDT": ETH_INSTRUMENT, "BTCUSDT": BTC_INSTRUMENT}


def instrument_for(symbol: str) -> str:
    """The simulated instrument a Binance symbol calibrates: ETH* -> ETHUSDT, BTC* -> BTCUSDT."""
    for name in _INSTRUMENTS:
        if symbol.upper().startswith(name[:3]):
            return name
    raise ValueError(f"no simulated instrument for {symbol!r} (ETH or BTC)")


def _levels_within(ticks: float, dense: int) -> float:
    """Expected Binance levels per side within `ticks` of the touch (density 1 up to `dense`, dense/k beyond)."""
    if ticks <= dense:
        return max(1.0, ticks)
    return dense + dense * math.log(ticks / dense)


def simulator_section(measured: dict, instrument: str) -> dict:
    """Simulator settings from one instrument's measurements (formulas in sim/README.md)."""
    base = _INSTRUMENTS[instrument]
    kind = MarketParams()
    binance = measured["binance"]
    vol_01 = binance["mid_return_std_bp"]["0.1"] * 1e-4
    vol_1 = binance["mid_return_std_bp"]["1"] * 1e-4
    tau = LIGHTER_ASSUMPTIONS["binance_noise_timescale_s"]
    # A mean-reverting noise of std b adds 2b²(1 - e^(-h/τ)) to the variance of an h-second return: the
    # excess of ten 100 ms variances over one 1 s variance measures it.
    excess = 10 * vol_01 ** 2 - vol_1 ** 2
    weight = 2 * (10 * (1 - math.exp(-0.1 / tau)) - (1 - math.exp(-1 / tau)))
    noise = min(MAX_BINANCE_NOISE_BPS, max(MIN_BINANCE_NOISE_BPS, math.sqrt(max(0.0, excess) / weight) * 1e4)) * 1e-4
    fair_var = max(vol_1 ** 2 - 2 * noise ** 2 * (1 - math.exp(-1 / tau)), 0.25 * vol_1 ** 2)
    annual = math.sqrt(fair_var * SECONDS_PER_YEAR)
    # The price level is not calibrated (the instrument keeps its own, which tests and docs rely on); sizes
    # are, in USD: the Binance levels within 1 bp hold the measured notional.
    ticks_1bp = base.initial_price * 1e-4 / base.binance_tick
    depth_1bp = binance["depth_usd_per_side_within_bp"]["1"]
    level_size = depth_1bp / base.initial_price / _levels_within(ticks_1bp, kind.binance_dense_ticks)
    takers = binance["taker_order_usd"]
    p50, p90 = max(takers["p50"], 1.0), max(takers["p90"], 1.0)
    sigma = min(2.0, max(0.3, math.log(max(p90 / p50, 1.0001)) / 1.2816))
    corr = binance["imbalance_return_corr"]["1"]["r"]
    share = kind.pressure_variance_share * min(1.0, max(0.01, corr / KIND_CORRELATION)) ** 2
    return {
        "params": {**LIGHTER_ASSUMPTIONS, "binance_noise_bps": round(noise * 1e4, 3),
                   "taker_size_sigma": round(sigma, 3)},
        "instruments": {instrument: {
            "pressure_variance_share": round(share, 4),
            "annual_volatility": round(annual, 4),
            "binance_level_size": round(max(level_size, 10.0 ** -base.binance_qty_decimals), 4),
            "binance_trade_rate_hz": round(binance["taker_orders_per_s"], 3),
            "taker_rate_hz": round(LIGHTER_TAKER_SHARE * binance["taker_orders_per_s"], 3),
            "taker_notional_usd": round(p50 * math.exp(sigma * sigma / 2), 1),
        }},
    }


# ---- loading -----------------------------------------------------------------------------------------


def profile_path(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".json" or path.exists():
        return path
    return PROFILES_DIR / f"{name_or_path}.json"


def load_profile(name_or_path: str | Path) -> dict:
    """A shipped profile by name (`default`, `kind`, `eth_usdm_20240808`, ...) or a profile file."""
    path = profile_path(name_or_path)
    profile = json.loads(path.read_text())
    if profile.get("format") != PROFILE_FORMAT:
        raise ValueError(f"{path}: not a market profile (format {profile.get('format')!r})")
    if profile.get("version") != PROFILE_VERSION:
        raise ValueError(f"{path}: profile version {profile.get('version')!r}, this simulator reads {PROFILE_VERSION}")
    return profile


_INSTRUMENT_PARAM_FIELDS = {f.name for f in dataclasses.fields(InstrumentParams)}


def market_params_from_profile(profile: dict, **overrides: Any) -> MarketParams:
    """MarketParams of a profile (over MarketParams' defaults), then `overrides`."""
    section = profile.get("simulator") or {}
    params = dict(section.get("params") or {})
    unknown = set(params) - {f.name for f in dataclasses.fields(MarketParams)}
    if unknown:
        raise ValueError(f"profile {profile.get('name')!r}: unknown simulator params {sorted(unknown)}")
    instruments = []
    per_instrument = section.get("instruments") or {}
    for item in MarketParams().instruments:
        changes = dict(per_instrument.get(item.binance_symbol) or {})
        bad = set(changes) - _INSTRUMENT_PARAM_FIELDS
        if bad:
            raise ValueError(f"profile {profile.get('name')!r}: unknown {item.binance_symbol} fields {sorted(bad)}")
        instruments.append(dataclasses.replace(item, **changes))
    unknown_symbols = set(per_instrument) - {i.binance_symbol for i in instruments}
    if unknown_symbols:
        raise ValueError(f"profile {profile.get('name')!r}: unknown instruments {sorted(unknown_symbols)}")
    return MarketParams(**{**params, "instruments": tuple(instruments), **overrides})


def profile_market_params(name_or_path: str | Path = DEFAULT_PROFILE, **overrides: Any) -> MarketParams:
    return market_params_from_profile(load_profile(name_or_path), **overrides)


def default_market_params(**overrides: Any) -> MarketParams:
    """The market every entry point uses: the profile named by $LMM_SIM_PROFILE (a name or a file), else the
    realistic `default` (sim/profiles/default.json)."""
    return profile_market_params(os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE, **overrides)


def kind_market_params(**overrides: Any) -> MarketParams:
    """The kind (legacy) market: strong signal, 400 ms fixed lag, no rivals, no snipers (MarketParams())."""
    return MarketParams(**overrides)
