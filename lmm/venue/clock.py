"""The one clock of a run: the system's, or a virtual one that an event loop advances.

Rules:
- The shell (daemon, venues, ops) reads time only through a ``Clock``; the core takes ``now_ns`` from it.
- ``SystemClock`` is the machine's monotonic and wall clocks; the asyncio loop's own clock is the same
  monotonic clock, so ``asyncio.sleep`` and the ``Clock`` agree.
- ``VirtualClock`` holds an integer ``now_ns`` that only the virtual-time loop moves. The loop
  (``virtual_time_loop``) never waits: when nothing is ready, it jumps the clock to the next timer. A run on it
  is as fast as its work allows and gives the same result every time (no sockets, no threads on that loop).
  Wall time is the virtual monotonic time plus a fixed epoch (the start of a tape, or the real time at start).
"""
from __future__ import annotations

import asyncio
import math
import selectors
import time
from typing import Protocol

NS = 1_000_000_000
MAX_START_NS = 10**6 * NS  # about 11 days


class Clock(Protocol):
    virtual: bool  # True: time moves only when the loop jumps it (loop lag means nothing there)

    def monotonic_ns(self) -> int: ...

    def monotonic(self) -> float: ...

    def wall_ns(self) -> int: ...

    def wall_ms(self) -> int: ...

    def wall(self) -> float: ...


class SystemClock:
    """The machine's clocks."""

    virtual = False
    monotonic_ns = staticmethod(time.monotonic_ns)
    monotonic = staticmethod(time.monotonic)
    wall_ns = staticmethod(time.time_ns)
    wall = staticmethod(time.time)

    @staticmethod
    def wall_ms() -> int:
        return time.time_ns() // 1_000_000


SYSTEM_CLOCK = SystemClock()


class VirtualClock:
    """Virtual time in integer nanoseconds; ``advance_to`` is the only way it moves (never backwards)."""

    virtual = True

    def __init__(self, start_ns: int = 1_000 * NS, wall_epoch_ns: int | None = None) -> None:
        if not 0 <= start_ns <= MAX_START_NS:
            # asyncio keeps time in float seconds: far from zero they lose the nanoseconds its timers need
            raise ValueError("virtual monotonic time must start near zero; set wall_epoch_ns for the wall clock")
        self._now_ns = start_ns
        # wall = monotonic + offset; by default the virtual run starts at the real wall time
        self._wall_offset_ns = (time.time_ns() if wall_epoch_ns is None else wall_epoch_ns) - start_ns

    def monotonic_ns(self) -> int:
        return self._now_ns

    def monotonic(self) -> float:
        return self._now_ns / NS

    def wall_ns(self) -> int:
        return self._now_ns + self._wall_offset_ns

    def wall_ms(self) -> int:
        return (self._now_ns + self._wall_offset_ns) // 1_000_000

    def wall(self) -> float:
        return (self._now_ns + self._wall_offset_ns) / NS

    def advance_to(self, now_ns: int) -> None:
        if now_ns > self._now_ns:
            self._now_ns = now_ns

    def advance(self, seconds: float) -> None:
        self._now_ns += max(0, math.ceil(seconds * NS))


class DeadlockError(RuntimeError):
    """The virtual-time loop has nothing scheduled and nothing can wake it: the run would wait forever."""


class _JumpingSelector(selectors.DefaultSelector):
    """A selector that never blocks on a timeout: it jumps the virtual clock instead. Ready file descriptors
    (the loop's own wake-up pipe: signals, ``call_soon_threadsafe``) are still served."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self._clock = clock

    def select(self, timeout: float | None = None) -> list:
        events = super().select(0)
        if events or timeout == 0:
            return events
        if timeout is None:  # no timer at all: only another thread or a signal could wake us
            events = super().select(1.0)
            if not events:
                raise DeadlockError("virtual time: nothing is scheduled and nothing woke the loop")
            return events
        self._clock.advance(timeout)
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An asyncio loop whose time is a ``VirtualClock``: sleeps and timeouts cost no real time."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(selector=_JumpingSelector(clock))
        self.clock = clock

    def time(self) -> float:
        return self.clock.monotonic()


def virtual_time_loop(clock: VirtualClock) -> VirtualTimeLoop:
    return VirtualTimeLoop(clock)
