# The Lighter market of a replay: the simulator's own Lighter liquidity and takers (sim.lighter_flow),
# quoting around the replayed Binance mid as Lighter sees it: late, by a random lag per mid change, and
# off by a slowly wandering basis of its own.
# Rules: pure and seeded (random.Random passed in or derived from the seed); time comes in as `now_ns`
# (wall ns); integers in venue units at the engine boundary (lighter_flow does that).
#
# Lag: every new Binance mid (time t) reaches Lighter at t + L, L drawn from a gamma distribution with
# mean `lag_mean_ms` and standard deviation `lag_jitter_ms` (0: a fixed lag). A mid whose newer successor
# already arrived is ignored, so the lagged mid never goes back in source time.
# Noise: Lighter's price = lagged mid · (1 + n · 1e-4), n an Ornstein-Uhlenbeck process in bp with
# stationary standard deviation `noise_bps` and correlation time `noise_timescale_s`.
# Takers: the informed share trades toward the current (not lagged) mid with the same basis.
from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass

from sim.engine import Engine
from sim.lighter_flow import FlowStats, LighterLiquidity, LighterTakers, MarketAccount
from sim.market_params import InstrumentParams, MarketParams
from sim.markets import MarketSpec


@dataclass(frozen=True, slots=True)
class LighterLagParams:
    """How the Lighter market of a replay follows the Binance mid."""

    lag_mean_ms: float = 100.0
    lag_jitter_ms: float = 30.0
    noise_bps: float = 0.5
    noise_timescale_s: float = 5.0

    def __post_init__(self) -> None:
        if self.lag_mean_ms < 0 or self.lag_jitter_ms < 0:
            raise ValueError("lag_mean_ms and lag_jitter_ms must be >= 0")
        if self.lag_jitter_ms > 0 and self.lag_mean_ms == 0:
            raise ValueError("a jittered lag needs lag_mean_ms > 0")
        if self.noise_bps < 0 or self.noise_timescale_s <= 0:
            raise ValueError("noise_bps must be >= 0 and noise_timescale_s > 0")


class LaggedMid:
    """A mid seen through a random delivery lag (gamma distributed, mean and standard deviation given)."""

    def __init__(self, lag_mean_ms: float, lag_jitter_ms: float, rng: random.Random) -> None:
        self._mean_ns = lag_mean_ms * 1e6
        self._rng = rng
        if lag_jitter_ms > 0:
            self._shape = (lag_mean_ms / lag_jitter_ms) ** 2
            self._scale_ns = lag_jitter_ms**2 / lag_mean_ms * 1e6
        else:
            self._shape = 0.0
            self._scale_ns = 0.0
        self._pending: list[tuple[int, int, float]] = []  # (arrival ns, source ns, mid), a heap
        self.value: float | None = None
        self.source_ns = -1  # source time of `value`

    def draw_lag_ns(self) -> int:
        if self._shape == 0.0:
            return int(self._mean_ns)
        return int(self._rng.gammavariate(self._shape, self._scale_ns))

    def observe(self, time_ns: int, mid: float, lag_ns: int | None = None) -> None:
        """A new mid at `time_ns`; it arrives after a drawn lag (or `lag_ns`)."""
        delay = self.draw_lag_ns() if lag_ns is None else lag_ns
        heapq.heappush(self._pending, (time_ns + delay, time_ns, mid))

    def advance(self, now_ns: int) -> float | None:
        """Deliver what has arrived by `now_ns`; the newest mid by source time."""
        pending = self._pending
        while pending and pending[0][0] <= now_ns:
            _, source_ns, mid = heapq.heappop(pending)
            if source_ns > self.source_ns:
                self.source_ns, self.value = source_ns, mid
        return self.value


class BasisNoise:
    """An Ornstein-Uhlenbeck process in bp (stationary standard deviation `sd_bps`)."""

    def __init__(self, sd_bps: float, timescale_s: float, rng: random.Random) -> None:
        self._sd = sd_bps
        self._timescale_s = timescale_s
        self._rng = rng
        self.value_bps = rng.gauss(0.0, sd_bps) if sd_bps > 0 else 0.0
        self._time_ns: int | None = None

    def advance(self, now_ns: int) -> float:
        if self._sd > 0 and self._time_ns is not None and now_ns > self._time_ns:
            decay = math.exp(-(now_ns - self._time_ns) / 1e9 / self._timescale_s)
            self.value_bps = self.value_bps * decay + self._sd * math.sqrt(1 - decay * decay) * self._rng.gauss(0, 1)
        self._time_ns = now_ns if self._time_ns is None else max(self._time_ns, now_ns)
        return self.value_bps


class ReplayLighter:
    """One Lighter market driven by a replayed Binance mid."""

    def __init__(self, engine: Engine, spec: MarketSpec, instrument: InstrumentParams, params: MarketParams,
                 lag: LighterLagParams, seed: int, start_ns: int, stats: FlowStats) -> None:
        def rng(part: str) -> random.Random:
            return random.Random(f"{seed}/replay/{spec.symbol}/{part}")

        self.market_id = spec.market_id
        liquidity_account = MarketAccount(engine, params.market_collateral_usdc, stats)
        taker_account = MarketAccount(engine, params.market_collateral_usdc, stats)
        self.account_indexes = (liquidity_account.account_index, taker_account.account_index)
        self._liquidity = LighterLiquidity(engine, liquidity_account, spec, instrument, params, rng("liquidity"),
                                           stats)
        self._takers = LighterTakers(engine, taker_account, spec, instrument, params, rng("takers"), stats,
                                     start_ns)
        self.lagged = LaggedMid(lag.lag_mean_ms, lag.lag_jitter_ms, rng("lag"))
        self._noise = BasisNoise(lag.noise_bps, lag.noise_timescale_s, rng("noise"))
        self._requote_ns = params.lighter_requote_interval_ms * 1_000_000
        self._next_requote_ns = start_ns
        self.current_mid: float | None = None
        self.reference: float | None = None  # the price the liquidity last quoted around

    def observe_mid(self, time_ns: int, mid: float, lag_ns: int | None = None) -> None:
        """The Binance mid changed at `time_ns` (the first mid of a replay is passed with lag 0)."""
        self.current_mid = mid
        self.lagged.observe(time_ns, mid, lag_ns)

    def step(self, now_ns: int) -> None:
        lagged = self.lagged.advance(now_ns)
        factor = 1.0 + self._noise.advance(now_ns) * 1e-4
        if self.current_mid is not None:
            self._takers.run_until(now_ns, self.current_mid * factor)
        if lagged is not None and now_ns >= self._next_requote_ns:
            self._next_requote_ns = now_ns + self._requote_ns
            self.reference = lagged * factor
            self._liquidity.requote(now_ns, self.reference)

    def resume(self, now_ns: int) -> None:
        """After a pause: forget the market orders that would have arrived meanwhile."""
        self._takers.reset_clock(now_ns)
        self._next_requote_ns = now_ns
