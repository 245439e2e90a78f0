"""The event-loop lag monitor: it sees a loop that is held up, and stays near zero on an idle loop."""
from __future__ import annotations

import asyncio
import time

import pytest

from lmm.ops.loop_lag import LoopLagMonitor


async def test_a_blocked_loop_shows_as_lag() -> None:
    monitor = LoopLagMonitor(interval_s=0.05, guard_s=0.01)
    task = asyncio.create_task(monitor.run())
    try:
        await asyncio.sleep(0.02)
        time.sleep(0.2)  # holds the loop across the monitor's due time (0.05 s)
        while monitor.samples < 2:
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
    worst = monitor.percentile_ms(1.0)
    assert worst is not None and worst >= 100.0
    assert monitor.overshoot_percentile_ms(1.0) is not None


def test_no_samples_means_no_percentile_and_negative_lag_is_clamped() -> None:
    monitor = LoopLagMonitor()
    assert monitor.percentile_ms(0.99) is None
    monitor.record(-0.5)
    assert monitor.samples == 1 and monitor.percentile_ms(0.5) == 0.0


@pytest.mark.parametrize(("interval_s", "guard_s", "capacity"), [(0.1, 0.1, 10), (0.1, 0.0, 10), (0.1, 0.01, 0)])
def test_rejects_settings_that_cannot_measure(interval_s: float, guard_s: float, capacity: int) -> None:
    with pytest.raises(ValueError):
        LoopLagMonitor(interval_s, guard_s, capacity)
