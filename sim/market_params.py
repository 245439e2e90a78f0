# Parameters of the synthetic market: one frozen, validated object with documented defaults.
# Rules: plain values only (no behaviour beyond validation and unit helpers); every knob of the synthetic
# market is named here, so a run is fully described by (MarketParams, seed).
from __future__ import annotations

import math
from dataclasses import dataclass

SECONDS_PER_YEAR = 365 * 24 * 3600


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True, slots=True)
class InstrumentParams:
    """One instrument traded on both venues: a Lighter perp and the Binance USD-M perp that leads it."""

    lighter_market_id: int
    binance_symbol: str  # upper case, e.g. "BTCUSDT"
    initial_price: float  # USD
    annual_volatility: float  # of the fair price, e.g. 0.55 = 55 % a year
    binance_price_decimals: int  # Binance tick = 10^-decimals (BTCUSDT 0.1, ETHUSDT 0.01)
    binance_qty_decimals: int = 3  # Binance quantity step (0.001 for both)
    binance_price_text_decimals: int = 2  # Binance prints 2 decimals even where the tick is 0.1
    binance_level_size: float = 0.25  # median quantity of one Binance level near the touch, base asset
    lighter_level_size: float = 0.05  # median size of one resting level of the market's own account
    taker_notional_usd: float = 1500.0  # median notional of one Lighter market order
    taker_rate_hz: float = 1.0  # Poisson rate of Lighter market orders
    binance_trade_rate_hz: float | None = None  # this symbol's small Binance trades (None: MarketParams')
    pressure_variance_share: float | None = None  # this symbol's predictable share (None: MarketParams')

    def __post_init__(self) -> None:
        _require(self.binance_symbol.isupper() and self.binance_symbol.isalnum(),
                 f"binance_symbol must be upper-case alphanumeric: {self.binance_symbol!r}")
        _require(self.initial_price > 0, "initial_price must be > 0")
        _require(0 < self.annual_volatility < 10, "annual_volatility must be in (0, 10)")
        _require(0 <= self.binance_price_decimals <= self.binance_price_text_decimals <= 8,
                 "need 0 <= binance_price_decimals <= binance_price_text_decimals <= 8")
        _require(0 <= self.binance_qty_decimals <= 8, "binance_qty_decimals must be in [0, 8]")
        for name in ("binance_level_size", "lighter_level_size", "taker_notional_usd"):
            _require(getattr(self, name) > 0, f"{name} must be > 0")
        _require(self.taker_rate_hz >= 0, "taker_rate_hz must be >= 0")
        _require(self.binance_trade_rate_hz is None or self.binance_trade_rate_hz >= 0,
                 "binance_trade_rate_hz must be >= 0")
        _require(self.pressure_variance_share is None or 0 <= self.pressure_variance_share < 1,
                 "pressure_variance_share must be in [0, 1)")

    @property
    def binance_tick(self) -> float:
        return 10.0 ** -self.binance_price_decimals

    def per_second_volatility(self) -> float:
        """Standard deviation of the log fair price over one second."""
        return self.annual_volatility / math.sqrt(SECONDS_PER_YEAR)


ETH_INSTRUMENT = InstrumentParams(
    lighter_market_id=0,
    binance_symbol="ETHUSDT",
    initial_price=3000.0,
    annual_volatility=0.70,
    binance_price_decimals=2,
    binance_level_size=4.0,
    lighter_level_size=1.5,
    taker_notional_usd=1000.0,
    taker_rate_hz=1.0,
)

BTC_INSTRUMENT = InstrumentParams(
    lighter_market_id=1,
    binance_symbol="BTCUSDT",
    initial_price=100_000.0,
    annual_volatility=0.55,
    binance_price_decimals=1,
    binance_level_size=0.25,
    lighter_level_size=0.05,
    taker_notional_usd=1500.0,
    taker_rate_hz=1.2,
)


@dataclass(frozen=True, slots=True)
class MarketParams:
    """Knobs of the synthetic market. Defaults give BTC/ETH-like behaviour at modest engine load.

    Fair price: log-price diffusion plus a drift `c · pressure`, where pressure is a unit-variance
    Ornstein-Uhlenbeck process (correlation time `pressure_timescale_s`) that carries
    `pressure_variance_share` of the long-run return variance; the rest is unpredictable noise.
    Binance: a book around the fair price whose level sizes are tilted by exp(±`binance_pressure_skew` ·
    pressure), so the band imbalance tracks pressure and predicts the next second's drift.
    Lighter: the market's own resting levels around the fair price of `lighter_lag_ms` ago, plus Poisson
    market orders, part of them informed by the current fair price (they pick off stale quotes).
    """

    instruments: tuple[InstrumentParams, ...] = (ETH_INSTRUMENT, BTC_INSTRUMENT)
    micro_step_ms: int = 20  # resolution of the price process and of Binance micro-updates

    # fair price and pressure
    pressure_timescale_s: float = 2.0
    pressure_variance_share: float = 0.4

    # Binance book
    binance_pressure_skew: float = 0.4  # log size tilt per unit of pressure (bids up, asks down)
    binance_level_refresh_hz: float = 1000.0  # size re-draws of random levels per second per symbol
    binance_level_lifetime_s: float = 10.0  # mean life of a level beyond the dense zone near the touch
    binance_dense_ticks: int = 40  # levels exist at every tick this close to the touch, sparser beyond
    binance_book_extent: float = 0.03  # the book spans ±3 % of the fair price (covers a 2.5 % band)
    binance_size_sigma: float = 1.0  # lognormal sigma of level sizes
    binance_trade_rate_hz: float = 4.0  # small aggressive trades at the touch, per symbol
    binance_unknown_delete_prob: float = 0.05  # chance per micro-update of deleting a level that is absent
    binance_max_id_stride: int = 40  # update ids advance by 1..this between micro-updates
    binance_snapshot_history_s: float = 10.0  # kept book copies for the stale-snapshot fault

    # Lighter
    lighter_lag_ms: int = 400
    lighter_levels_per_side: int = 5
    lighter_half_spread_bps: float = 0.6  # level 0 distance from the lagged fair price
    lighter_level_spacing_bps: float = 1.5
    lighter_touch_tolerance_bps: float = 0.3  # level 0 is moved when its target drifts further than this
    lighter_deep_tolerance_bps: float = 1.0  # deeper levels likewise
    lighter_requote_interval_ms: int = 100
    lighter_size_sigma: float = 0.6  # lognormal sigma of resting sizes
    lighter_order_ttl_s: int = 86_400  # good-till-time expiry of the market's resting orders
    taker_informed_share: float = 0.5  # share of market orders that trade toward the current fair price
    taker_informed_min_gap_bps: float = 0.5  # informed takers act only on a gap larger than this
    taker_size_sigma: float = 1.0
    taker_slippage_bps: float = 15.0  # worst acceptable price of a market order, from the touch
    market_collateral_usdc: int = 1_000_000_000  # per market account; margin never binds

    # Realism knobs (sim/README.md "Market profiles"). These defaults switch them off, which is the `kind`
    # market; the shipped profiles (sim/profiles/*.json, the `default` one included) switch them on.
    binance_noise_bps: float = 0.0  # std of Binance's own mid deviation from the fair price (AR(1))
    binance_noise_timescale_s: float = 0.5  # its correlation time
    lighter_noise_bps: float = 0.0  # std of the Lighter liquidity's own deviation from the lagged fair price
    lighter_noise_timescale_s: float = 1.0
    lighter_lag_jitter_ms: int = 0  # std of the lag drawn at each requote (lag >= 0, capped at mean + 3 std)
    lighter_churn_hz: float = 0.0  # size re-draws of random resting levels per second per market (other makers)
    rival_makers: int = 0  # rival maker accounts per market that join the best bid and ask
    rival_size_usd: float = 3000.0  # mean notional of one rival order (lognormal, sigma lighter_size_sigma)
    rival_requote_ms: int = 250  # how often a rival re-joins the touch (moving loses its queue priority)
    sniper_edge_bps: float = 0.0  # 0: off; else takers lift a resting quote that the current fair price has
    #                               moved through by more than this (stale quotes of anyone, the bot's included)
    sniper_max_notional_usd: float = 20_000.0  # the most one sniper order takes
    taker_latency_ms: int = 0  # Lighter's taker speed bump (lighter-api.md §7.6: premium 140-200 ms, standard
    #                            300 ms): the market's informed takers and snipers act on the fair price this old

    def __post_init__(self) -> None:
        _require(len(self.instruments) > 0, "at least one instrument")
        ids = [i.lighter_market_id for i in self.instruments]
        symbols = [i.binance_symbol for i in self.instruments]
        _require(len(set(ids)) == len(ids), "duplicate lighter_market_id")
        _require(len(set(symbols)) == len(symbols), "duplicate binance_symbol")
        _require(1 <= self.micro_step_ms <= 1000, "micro_step_ms must be in [1, 1000]")
        _require(100 % self.micro_step_ms == 0, "micro_step_ms must divide 100 (the fastest feed cadence)")
        _require(self.pressure_timescale_s > 0, "pressure_timescale_s must be > 0")
        _require(0 <= self.pressure_variance_share < 1, "pressure_variance_share must be in [0, 1)")
        _require(self.binance_pressure_skew >= 0, "binance_pressure_skew must be >= 0")
        _require(self.binance_level_refresh_hz >= 0, "binance_level_refresh_hz must be >= 0")
        _require(self.binance_level_lifetime_s > 0, "binance_level_lifetime_s must be > 0")
        _require(self.binance_dense_ticks >= 1, "binance_dense_ticks must be >= 1")
        _require(0 < self.binance_book_extent < 0.5, "binance_book_extent must be in (0, 0.5)")
        _require(self.binance_size_sigma >= 0 and self.lighter_size_sigma >= 0 and self.taker_size_sigma >= 0,
                 "size sigmas must be >= 0")
        _require(self.binance_trade_rate_hz >= 0, "binance_trade_rate_hz must be >= 0")
        _require(0 <= self.binance_unknown_delete_prob <= 1, "binance_unknown_delete_prob must be in [0, 1]")
        _require(self.binance_max_id_stride >= 1, "binance_max_id_stride must be >= 1")
        _require(self.binance_snapshot_history_s >= 1, "binance_snapshot_history_s must be >= 1")
        _require(self.lighter_lag_ms >= 0, "lighter_lag_ms must be >= 0")
        _require(self.lighter_levels_per_side >= 1, "lighter_levels_per_side must be >= 1")
        _require(self.lighter_half_spread_bps > 0, "lighter_half_spread_bps must be > 0")
        _require(self.lighter_level_spacing_bps > 0, "lighter_level_spacing_bps must be > 0")
        _require(self.lighter_touch_tolerance_bps >= 0 and self.lighter_deep_tolerance_bps >= 0,
                 "tolerances must be >= 0")
        _require(self.lighter_requote_interval_ms >= self.micro_step_ms,
                 "lighter_requote_interval_ms must be >= micro_step_ms")
        _require(300 <= self.lighter_order_ttl_s <= 30 * 86_400, "lighter_order_ttl_s must be in [300, 30 days]")
        _require(0 <= self.taker_informed_share <= 1, "taker_informed_share must be in [0, 1]")
        _require(self.taker_informed_min_gap_bps >= 0, "taker_informed_min_gap_bps must be >= 0")
        _require(self.taker_slippage_bps > 0, "taker_slippage_bps must be > 0")
        _require(self.market_collateral_usdc > 0, "market_collateral_usdc must be > 0")
        _require(self.binance_noise_bps >= 0 and self.lighter_noise_bps >= 0, "noise must be >= 0")
        _require(self.binance_noise_timescale_s > 0 and self.lighter_noise_timescale_s > 0,
                 "noise timescales must be > 0")
        _require(self.lighter_lag_jitter_ms >= 0, "lighter_lag_jitter_ms must be >= 0")
        _require(self.lighter_churn_hz >= 0, "lighter_churn_hz must be >= 0")
        _require(0 <= self.rival_makers <= 10, "rival_makers must be in [0, 10]")
        _require(self.rival_size_usd > 0, "rival_size_usd must be > 0")
        _require(self.rival_requote_ms >= self.micro_step_ms, "rival_requote_ms must be >= micro_step_ms")
        _require(self.sniper_edge_bps >= 0, "sniper_edge_bps must be >= 0")
        _require(self.sniper_max_notional_usd > 0, "sniper_max_notional_usd must be > 0")
        _require(0 <= self.taker_latency_ms <= 5000, "taker_latency_ms must be in [0, 5000]")

    @property
    def max_lag_ms(self) -> int:
        return self.lighter_lag_ms + 3 * self.lighter_lag_jitter_ms

    @property
    def micro_step_ns(self) -> int:
        return self.micro_step_ms * 1_000_000

    def instrument(self, binance_symbol: str) -> InstrumentParams:
        for item in self.instruments:
            if item.binance_symbol == binance_symbol:
                return item
        raise KeyError(binance_symbol)
