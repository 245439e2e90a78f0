"""Fixed-clock sampling: deadlines without drift, late wake-ups, alpha override hand-over (pure, fake clock)."""
import asyncio

import pytest

from lmm.daemon.sampler import ModelSampler, run_fixed_clock
from lmm.model.vol_obi import PyVolObiCalculator

STEP = 100_000_000


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000_000
        self.late_ns: list[int] = []  # extra delay added to successive sleeps

    def __call__(self) -> int:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += round(seconds * 1e9) + (self.late_ns.pop(0) if self.late_ns else 0)
        await asyncio.sleep(0)


async def run_ticks(clock: FakeClock, count: int) -> list[int]:
    ticks: list[int] = []

    def on_tick(now: int) -> None:
        ticks.append(now)
        if len(ticks) == count:
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await run_fixed_clock(STEP, on_tick, clock_ns=clock, sleep=clock.sleep)
    return ticks


async def test_deadlines_do_not_drift():
    clock = FakeClock()
    start = clock.now
    clock.late_ns = [3_000_000] * 10  # every wake-up 3 ms late
    ticks = await run_ticks(clock, 10)
    assert [t - start for t in ticks] == [k * STEP + 3_000_000 for k in range(1, 11)]


async def test_late_wakeup_skips_passed_deadlines():
    clock = FakeClock()
    start = clock.now
    clock.late_ns = [0, 350_000_000, 0]  # the second sleep overruns by 3.5 steps
    ticks = await run_ticks(clock, 3)
    assert ticks[0] - start == STEP
    assert ticks[1] - start == 2 * STEP + 350_000_000
    assert ticks[2] - start == 6 * STEP  # the next deadline after the overrun, not 3 * STEP


async def test_failing_tick_is_logged_and_clock_continues(caplog):
    clock = FakeClock()
    calls: list[int] = []

    def on_tick(now: int) -> None:
        calls.append(now)
        if len(calls) == 1:
            raise ValueError("boom")
        if len(calls) == 3:
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await run_fixed_clock(STEP, on_tick, clock_ns=clock, sleep=clock.sleep)
    assert len(calls) == 3
    assert "sampler tick failed" in caplog.text


class FakeBinance:
    def __init__(self) -> None:
        self.value: tuple[float, int] | None = None
        self.samples = 0

    def sample(self, now_ns: int) -> bool:
        self.samples += 1
        return True

    def alpha(self, now_ns: int | None = None) -> tuple[float, int] | None:
        return self.value


def test_model_sampler_hands_binance_alpha_over_and_back():
    model = PyVolObiCalculator(tick_size=0.1, window_steps=50, min_warmup_samples=5, warmup_seconds=0,
                               local_alpha_min_samples=5)
    binance = FakeBinance()
    sampler = ModelSampler(model, binance)
    now = 1_000_000_000
    for i in range(10):
        now += STEP
        model.on_book(now, 100_000.0 + i, 1.0 + (i % 3))
        sampler.tick(now)
    assert sampler.source == "lighter" and binance.samples == 10
    binance.value = (1.5, now)
    now += STEP
    sampler.tick(now)
    assert sampler.source == "binance" and model.alpha(now) == 1.5
    binance.value = None
    now += STEP
    sampler.tick(now)
    assert sampler.source == "lighter"
    assert sampler.source_switches == 3
