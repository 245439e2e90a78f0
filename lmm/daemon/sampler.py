"""Fixed-clock sampling: one tick per ``step_ns`` boundary, scheduled by deadline so the step never drifts.

Rules:
- Deadlines are t0 + k * step on the monotonic clock. A late wake-up runs one tick at the current time and
  skips the deadlines already passed; the model counts the boundaries crossed itself (``on_timer``), so
  window lengths and the sqrt(1e9/step_ns) scaling keep their meaning.
- Each tick: the Binance feed takes its OBI sample; the model receives the Binance alpha as an override
  while it is fresh (or loses it), then takes its own sample. Source switches are logged.
- A tick callback that raises is logged and the clock keeps going (a sampler must not die silently).
- ``on_step`` (the bot's ``--record``) runs after each tick's model sample, with the tick's time.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

log = logging.getLogger("lighter_mm.sampler")


class AlphaSource(Protocol):
    def sample(self, now_ns: int) -> bool: ...

    def alpha(self, now_ns: int | None = None) -> tuple[float, int] | None: ...


async def run_fixed_clock(step_ns: int, on_tick: Callable[[int], None],
                          clock_ns: Callable[[], int] = time.monotonic_ns,
                          sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
    start = clock_ns()
    k = 1
    while True:
        delay_ns = start + k * step_ns - clock_ns()
        if delay_ns > 0:
            await sleep(delay_ns / 1e9)
        now = clock_ns()
        try:
            on_tick(now)
        except Exception:
            log.exception("sampler tick failed")
        k = max(k + 1, (now - start) // step_ns + 1)


class ModelSampler:
    """The per-tick work: Binance sample, alpha override, model sample."""

    def __init__(self, calculator: Any, binance: AlphaSource | None,
                 on_step: Callable[[int], None] | None = None) -> None:
        self._calc = calculator
        self._binance = binance
        self._on_step = on_step
        self._source = "none"
        self.source_switches = 0

    def tick(self, now_ns: int) -> None:
        if self._binance is not None:
            self._binance.sample(now_ns)
            alpha = self._binance.alpha(now_ns)
            if alpha is None:
                self._calc.clear_alpha_override()
            else:
                self._calc.set_alpha_override(alpha[0], alpha[1])
        self._calc.on_timer(now_ns)
        source = self._calc.alpha_source(now_ns)
        if source != self._source:
            self.source_switches += 1
            log.info("alpha source: %s -> %s", self._source, source)
            self._source = source
        if self._on_step is not None:
            self._on_step(now_ns)

    @property
    def source(self) -> str:
        return self._source
