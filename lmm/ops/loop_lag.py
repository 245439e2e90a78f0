"""Event-loop lag: how late the daemon's event loop gets to a task that is due at a known instant.

Two readings per interval, both in milliseconds, never negative:
- ``lag``: the task sleeps until ``guard_s`` before its due time, then yields to the loop (``sleep(0)``)
  until the due time has passed; lag = the first moment it runs again at or after the due time, minus the
  due time. This is how long work already on the loop holds back anything that becomes ready, to within
  one loop iteration.
- ``overshoot``: how late the plain timed sleep woke up, against its own due time. It includes the
  selector's millisecond timeout rounding (epoll: up to 1 ms even on an idle loop), so it is an upper bound
  of what a timer sees, not of what an arriving frame sees.
Rules: one cheap task (the yielding costs about ``guard_s`` of loop time per interval, i.e. under 0.5 % of
a core with the defaults); the newest ``capacity`` samples are kept in memory reserved up front
(``sample_window``), so memory stays constant and the percentiles describe the recent run.
"""
from __future__ import annotations

import asyncio
import time

from lmm.core.sample_window import SampleWindow

DEFAULT_INTERVAL_S = 0.25
DEFAULT_GUARD_S = 0.0015  # more than the selector's 1 ms rounding, so the timed sleep wakes before the due time
DEFAULT_CAPACITY = 14_400  # one hour at 4 samples a second


class LoopLagMonitor:
    def __init__(self, interval_s: float = DEFAULT_INTERVAL_S, guard_s: float = DEFAULT_GUARD_S,
                 capacity: int = DEFAULT_CAPACITY) -> None:
        if not 0 < guard_s < interval_s or capacity <= 0:
            raise ValueError("need 0 < guard_s < interval_s and a positive capacity")
        self.interval_s = interval_s
        self._interval_ns = int(interval_s * 1e9)
        self._guard_ns = int(guard_s * 1e9)
        self._lags_ms = SampleWindow(capacity)
        self._overshoots_ms = SampleWindow(capacity)

    async def run(self) -> None:
        clock = time.monotonic_ns
        while True:
            due_ns = clock() + self._interval_ns
            timed_due_ns = due_ns - self._guard_ns
            await asyncio.sleep((timed_due_ns - clock()) / 1e9)
            now_ns = clock()
            self._overshoots_ms.append(max(0, now_ns - timed_due_ns) / 1e6)
            while now_ns < due_ns:
                await asyncio.sleep(0)
                now_ns = clock()
            self.record(max(0, now_ns - due_ns) / 1e6)

    def record(self, lag_ms: float) -> None:
        self._lags_ms.append(max(0.0, lag_ms))

    @property
    def samples(self) -> int:
        return len(self._lags_ms)

    def percentile_ms(self, q: float) -> float | None:
        """The q-quantile (0..1, nearest rank) of the kept lag samples; None before the first one."""
        return self._lags_ms.percentile(q)

    def overshoot_percentile_ms(self, q: float) -> float | None:
        """The same for the plain timed sleep's overshoot (includes the selector's timeout rounding)."""
        return self._overshoots_ms.percentile(q)
