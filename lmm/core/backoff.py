"""Jittered exponential backoff: the one retry spacing of the bot (reconnects, snapshots, cancels).

Pure: no clocks, no sleeping. Delays grow as base * factor**attempt up to a cap, each reduced by up to the
jitter fraction; the caller resets it once the thing retried has proved healthy. The random source is
injected so tests are deterministic.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BackoffPolicy:
    """Delays grow as base * factor**attempt up to max_delay; jitter removes up to that fraction of it."""

    base_delay: float
    max_delay: float
    factor: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError(f"need 0 <= base_delay <= max_delay, got {self.base_delay}, {self.max_delay}")
        if self.factor < 1.0:
            raise ValueError(f"factor must be >= 1, got {self.factor}")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter must be in [0, 1], got {self.jitter}")


@dataclass
class Backoff:
    """Jittered exponential backoff; an infinite iterator of delays in seconds."""

    policy: BackoffPolicy
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0

    def ceiling(self) -> float:
        """The un-jittered delay of the next attempt."""
        grown = self.policy.base_delay * self.policy.factor ** min(self.attempts, 64)
        return min(self.policy.max_delay, grown)

    def next_delay(self) -> float:
        ceiling = self.ceiling()
        self.attempts += 1
        return ceiling * (1.0 - self.policy.jitter * self.rng.random())

    def reset(self) -> None:
        self.attempts = 0

    def __iter__(self) -> Backoff:
        return self

    def __next__(self) -> float:
        return self.next_delay()
