"""Send pacing: how long to wait, and how many quota-consuming operations the next send may carry.

Rules (strategy-model §8.3, lighter-api §7):
- At least ``send_interval`` between sends.
- Premium accounts: quota pacing by the last reported ``volume_quota_remaining`` (>= 500: 1x, 50-499: 1.5x,
  10-49: 3x); below 10 the account lives on the free slot: one quota-consuming send per 15 s, while cancels
  (which consume no quota) still go at the base interval.
- Standard accounts: no quota; at most 60 sends per rolling 60 s.
- A 429 backoff, when active, holds every send.
Pure: time is passed in as ``now`` (monotonic seconds).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

FREE_SLOT_SECONDS = 15.0
STANDARD_SENDS_PER_MINUTE = 60
UNLIMITED = 1_000_000


def quota_pacing_multiplier(quota: int | None) -> float:
    if quota is None or quota >= 500:
        return 1.0
    if quota >= 50:
        return 1.5
    if quota >= 10:
        return 3.0
    return float("inf")  # free-slot regime


@dataclass(frozen=True)
class Permit:
    """What the next send may do once ``wait`` seconds have passed."""

    wait: float
    max_quota_ops: int  # 0: cancels only; 1: the free slot; UNLIMITED otherwise


@dataclass
class Pacer:
    send_interval: float = 0.1
    premium: bool = True
    last_send: float = float("-inf")
    last_quota_send: float = float("-inf")
    backoff_until: float = float("-inf")
    _standard_window: deque[float] = field(default_factory=deque)

    def permit(self, now: float, quota: int | None) -> Permit:
        """The wait before the next send, and its quota-op allowance after that wait."""
        wait = max(0.0, self.last_send + self.send_interval - now, self.backoff_until - now)
        if not self.premium:
            window = self._standard_window
            while window and window[0] <= now - 60.0:
                window.popleft()
            if len(window) >= STANDARD_SENDS_PER_MINUTE:
                wait = max(wait, window[0] + 60.0 - now)
            return Permit(wait, UNLIMITED)
        multiplier = quota_pacing_multiplier(quota)
        if multiplier == float("inf"):
            slot_open = self.last_quota_send + FREE_SLOT_SECONDS <= now + wait
            return Permit(wait, 1 if slot_open else 0)
        quota_wait = max(wait, self.last_send + self.send_interval * multiplier - now)
        return Permit(quota_wait, UNLIMITED)

    def free_slot_in(self, now: float) -> float:
        return max(0.0, self.last_quota_send + FREE_SLOT_SECONDS - now)

    def on_sent(self, now: float, quota_ops: int) -> None:
        self.last_send = now
        if quota_ops:
            self.last_quota_send = now
        if not self.premium:
            self._standard_window.append(now)

    def hold_until(self, until: float) -> None:
        self.backoff_until = max(self.backoff_until, until)
