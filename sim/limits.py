# sendTx rate limit and premium volume quota of the simulated Lighter venue (lighter-api.md §7.1, §7.5).
# Rules: pure state machines driven by an explicit `now_ns`. Checks (`peek_*`) never change state; the
# engine commits only once a transaction is accepted, so rejected transactions cost no quota.
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum

from sim.engine_types import Tier
from sim.markets import MICRO_PER_USDC

MINUTE_NS = 60 * 1_000_000_000
FREE_TX_INTERVAL_NS = 15 * 1_000_000_000
SEND_TX_PER_MINUTE = {Tier.STANDARD: 60, Tier.PREMIUM: 4_000}
QUOTA_START = 1_000
QUOTA_MAX = 5_000_000
QUOTA_EARN_MICRO = 7 * MICRO_PER_USDC  # +1 quota per $7 of fill volume


class RollingRateLimiter:
    """At most `limit` admitted requests in any window of `window_ns`."""

    def __init__(self, limit: int, window_ns: int = MINUTE_NS) -> None:
        self.limit = limit
        self.window_ns = window_ns
        self._admitted: deque[int] = deque()

    def try_admit(self, now_ns: int) -> bool:
        """Admit (and count) one request, or refuse it without counting it."""
        horizon = now_ns - self.window_ns
        while self._admitted and self._admitted[0] <= horizon:
            self._admitted.popleft()
        if len(self._admitted) >= self.limit:
            return False
        self._admitted.append(now_ns)
        return True


class QuotaCharge(Enum):
    FREE = "free"  # the one free transaction of the 15 s window: no quota used, none reported
    PAID = "paid"
    EXHAUSTED = "exhausted"


@dataclass(slots=True)
class VolumeQuota:
    """Premium volume quota. Earned volume below $7 carries over exactly (no rounding loss)."""

    remaining: int = QUOTA_START
    volume_carry_micro: int = 0
    last_free_ns: int | None = None

    def peek_charge(self, now_ns: int) -> QuotaCharge:
        if self.last_free_ns is None or now_ns - self.last_free_ns >= FREE_TX_INTERVAL_NS:
            return QuotaCharge.FREE
        return QuotaCharge.PAID if self.remaining > 0 else QuotaCharge.EXHAUSTED

    def commit(self, charge: QuotaCharge, now_ns: int) -> None:
        if charge is QuotaCharge.FREE:
            self.last_free_ns = now_ns
        elif charge is QuotaCharge.PAID:
            self.remaining -= 1
        else:
            raise ValueError("cannot commit an exhausted charge")

    def earn(self, volume_micro: int) -> None:
        total = self.volume_carry_micro + volume_micro
        self.remaining = min(QUOTA_MAX, self.remaining + total // QUOTA_EARN_MICRO)
        self.volume_carry_micro = total % QUOTA_EARN_MICRO


@dataclass(slots=True)
class SendLimits:
    """Everything limited per L1 address: shared by the accounts registered under it."""

    tier: Tier
    exempt: bool = False
    quota: VolumeQuota = field(default_factory=VolumeQuota)
    limiter: RollingRateLimiter | None = None

    def __post_init__(self) -> None:
        if self.limiter is None:
            self.limiter = RollingRateLimiter(SEND_TX_PER_MINUTE[self.tier])

    def set_tier(self, tier: Tier) -> None:
        self.tier = tier
        self.limiter = RollingRateLimiter(SEND_TX_PER_MINUTE[tier])

    def admit(self, now_ns: int) -> bool:
        assert self.limiter is not None
        return self.exempt or self.limiter.try_admit(now_ns)

    @property
    def uses_quota(self) -> bool:
        return self.tier is Tier.PREMIUM and not self.exempt
