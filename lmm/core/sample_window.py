"""The newest N float samples in memory reserved up front, for percentiles of a run that never ends.

Rules: a ring of ``capacity`` doubles (``array('d')``, 8 bytes each) allocated at construction, so memory
is the same after the first sample as after a month (a list or a ``deque(maxlen=...)`` of floats grows by
about 32 bytes a sample until it is full, which for an hour-long window is a slow creep in itself). Once
full, each new sample replaces the oldest. Reads (iteration, ``len``, ``percentile``) see the kept samples
in no particular order; the percentile is the nearest rank, as the status figures have always used.
"""
from __future__ import annotations

from array import array
from collections.abc import Iterator


class SampleWindow:
    __slots__ = ("_capacity", "_count", "_next", "_values")

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self._capacity = capacity
        self._values = array("d", bytes(8 * capacity))
        self._count = 0
        self._next = 0

    @property
    def capacity(self) -> int:
        return self._capacity

    def append(self, value: float) -> None:
        self._values[self._next] = value
        self._next = (self._next + 1) % self._capacity
        if self._count < self._capacity:
            self._count += 1

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[float]:
        return iter(self._values[:self._count])  # the first `count` slots are the filled ones, in any case

    def percentile(self, q: float) -> float | None:
        """The q-quantile (0..1, nearest rank) of the kept samples; None before the first one."""
        if not self._count:
            return None
        ordered = sorted(self)
        return ordered[min(self._count - 1, int(q * self._count))]
