# The Lighter market of a replay: the simulator's own Lighter liquidity and takers (sim.lighter_flow),
# quoting around the replayed Binance mid as Lighter sees it: late, by a random lag per mid change, and
# off by a slowly wandering basis of its own.
# Rules: pure and seeded (random.Random passed in or derived from the seed); time comes in as `now_ns`
# (wall ns); integers in venue units at the engine boundary (lighter_flow does that).
#
# Lag: Lighter at time t sees the Binance mid of t − L(t), L(t) = max(0, mean + jitter · z(t)), z a unit
# Ornstein-Uhlenbeck process (correlation time `lag_timescale_s`), so the lag has mean `lag_mean_ms` and
# standard deviation `lag_jitter_ms` and drifts smoothly; the seen mid never goes back in source time.
# Before the first mid of the replay is `lag` old, Lighter quotes around that first mid.
# Noise: Lighter's price = lagged mid · (1 + n · 1e-4), n an Ornstein-Uhlenbeck process in bp with
# stationary standard deviation `noise_bps` and correlation time `noise_timescale_s`.
# Takers: the informed share trades toward the current (not lagged) mid with the same basis.
from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections import deque
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
    lag_timescale_s: float = 1.0
    noise_bps: float = 0.5
    noise_timescale_s: float = 5.0

    def __post_init__(self) -> None:
        if self.lag_mean_ms < 0 or self.lag_jitter_ms < 0 or self.lag_timescale_s <= 0:
            raise ValueError("lag_mean_ms and lag_jitter_ms must be >= 0, lag_timescale_s > 0")
        if self.noise_bps < 0 or self.noise_timescale_s <= 0:
            raise ValueError("noise_bps must be >= 0 and noise_timescale_s > 0")


class LaggedMid:
    """A mid seen through a lag that wanders slowly around its mean: lag(t) = max(0, mean + jitter · z(t)),
    z a unit Ornstein-Uhlenbeck process with correlation time `timescale_s`; the value at t is the mid
    of time t − lag(t), never older than the previous value's source time."""

    def __init__(self, lag_mean_ms: float, lag_jitter_ms: float, timescale_s: float, rng: random.Random) -> None:
        self._mean_ns = lag_mean_ms * 1e6
        self._jitter = OrnsteinUhlenbeck(lag_jitter_ms * 1e6, timescale_s, rng)
        self._horizon_ns = int(self._mean_ns + 6 * lag_jitter_ms * 1e6) + 1_000_000_000
        self._times: deque[int] = deque()
        self._mids: deque[float] = deque()
        self.value: float | None = None
        self.source_ns = -1  # source time of the mid in `value`
        self.lag_ns = int(self._mean_ns)  # the lag in force at the last advance

    def observe(self, time_ns: int, mid: float) -> None:
        """The mid changed at `time_ns` (times never go back)."""
        self._times.append(time_ns)
        self._mids.append(mid)

    def advance(self, now_ns: int) -> float | None:
        self.lag_ns = max(0, int(self._mean_ns + self._jitter.advance(now_ns)))
        target = max(now_ns - self.lag_ns, self.source_ns)
        times, mids = self._times, self._mids
        while len(times) > 1 and times[1] <= target and now_ns - times[1] > self._horizon_ns:
            times.popleft()
            mids.popleft()
        index = bisect_right(times, target) - 1
        if index >= 0:
            self.source_ns, self.value = max(self.source_ns, target), mids[index]
        return self.value


class OrnsteinUhlenbeck:
    """A stationary Ornstein-Uhlenbeck process with standard deviation `sd`, advanced to wall times."""

    def __init__(self, sd: float, timescale_s: float, rng: random.Random) -> None:
        self._sd = sd
        self._timescale_s = timescale_s
        self._rng = rng
        self.value = rng.gauss(0.0, sd) if sd > 0 else 0.0
        self._time_ns: int | None = None

    def advance(self, now_ns: int) -> float:
        if self._sd > 0 and self._time_ns is not None and now_ns > self._time_ns:
            decay = math.exp(-(now_ns - self._time_ns) / 1e9 / self._timescale_s)
            self.value = self.value * decay + self._sd * math.sqrt(1 - decay * decay) * self._rng.gauss(0.0, 1.0)
        self._time_ns = now_ns if self._time_ns is None else max(self._time_ns, now_ns)
        return self.value


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
        self.lagged = LaggedMid(lag.lag_mean_ms, lag.lag_jitter_ms, lag.lag_timescale_s, rng("lag"))
        self._noise = OrnsteinUhlenbeck(lag.noise_bps, lag.noise_timescale_s, rng("noise"))
        self._requote_ns = params.lighter_requote_interval_ms * 1_000_000
        self._next_requote_ns = start_ns
        self.current_mid: float | None = None
        self.reference: float | None = None  # the price the liquidity last quoted around

    def observe_mid(self, time_ns: int, mid: float) -> None:
        """The Binance mid changed at `time_ns`."""
        self.current_mid = mid
        self.lagged.observe(time_ns, mid)

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
