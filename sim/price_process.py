# The latent fair price of one instrument and the order-flow pressure that drives its short-term drift.
# Rules: pure and seeded (the caller passes a random.Random); advances in fixed steps; no clocks or I/O.
#
# Model, per step of dt seconds:
#   pressure  p ← p·e^(−dt/τ) + √(1 − e^(−2dt/τ)) · N(0, 1)          (stationary, unit variance)
#   log price x ← x + c·p·dt + σ_noise·√dt · N(0, 1)
# For an Ornstein-Uhlenbeck p the drift adds variance 2·c²·τ per second over long horizons, so with a
# target per-second volatility σ and a pressure share s: c = σ·√(s / 2τ) and σ_noise = σ·√(1 − s).
# Pressure is what the Binance book reveals; the drift it causes is what the OBI alpha can predict.
from __future__ import annotations

import math
import random
from collections import deque


class FairPriceProcess:
    """Fair price and pressure of one instrument, plus a short history for lagged readings."""

    def __init__(self, initial_price: float, per_second_volatility: float, pressure_timescale_s: float,
                 pressure_variance_share: float, step_s: float, rng: random.Random,
                 history_steps: int = 0) -> None:
        if initial_price <= 0 or per_second_volatility <= 0 or step_s <= 0 or pressure_timescale_s <= 0:
            raise ValueError("initial_price, volatility, step and timescale must be > 0")
        if not 0 <= pressure_variance_share < 1:
            raise ValueError("pressure_variance_share must be in [0, 1)")
        self._rng = rng
        self._log_price = math.log(initial_price)
        self._decay = math.exp(-step_s / pressure_timescale_s)
        self._pressure_noise = math.sqrt(1.0 - self._decay * self._decay)
        self._drift_per_step = (per_second_volatility * math.sqrt(pressure_variance_share / (2 * pressure_timescale_s))
                                * step_s)
        self._noise_per_step = per_second_volatility * math.sqrt(1.0 - pressure_variance_share) * math.sqrt(step_s)
        self.pressure = rng.gauss(0.0, 1.0)
        self.price = initial_price
        # prices of the last `history_steps` steps, oldest first; the current price is the last entry
        self._history: deque[float] = deque([initial_price], maxlen=history_steps + 1)

    def advance(self) -> None:
        gauss = self._rng.gauss
        self._log_price += self._drift_per_step * self.pressure + self._noise_per_step * gauss(0.0, 1.0)
        self.pressure = self.pressure * self._decay + self._pressure_noise * gauss(0.0, 1.0)
        self.price = math.exp(self._log_price)
        self._history.append(self.price)

    def lagged_price(self, steps: int | None = None) -> float:
        """The price `steps` steps ago (default `history_steps`; the oldest known right after start)."""
        history = self._history
        if steps is None or steps >= len(history):
            return history[0]
        return history[-1 - max(0, steps)]


class LogNoise:
    """A stationary AR(1) deviation in log space, std `std_bps` basis points, correlation time `timescale_s`;
    `factor` multiplies a price. With std 0 it stays 1 and draws nothing (the kind market's path is unchanged)."""

    def __init__(self, std_bps: float, timescale_s: float, step_s: float, rng: random.Random) -> None:
        self._rng = rng
        self._std = std_bps * 1e-4
        self._decay = math.exp(-step_s / timescale_s)
        self._shock = self._std * math.sqrt(1.0 - self._decay * self._decay)
        self.value = rng.gauss(0.0, self._std) if self._std > 0 else 0.0
        self.factor = math.exp(self.value)

    def advance(self) -> None:
        if self._std > 0:
            self.value = self.value * self._decay + self._shock * self._rng.gauss(0.0, 1.0)
            self.factor = math.exp(self.value)
