# Risk rules: venue-error classification, the circuit breaker, the 429 backoff and stuck-slot clearing.
#
# Rules (SPEC "Safety", strategy-model.md §8.3, lighter-api.md §10):
# - Pure: no I/O and no clock; every input carries `now_ns`. The objects hold only counters and times.
# - Transient errors (429 / 23000, quota, invalid nonce, WS message limits) never count toward the
#   breaker; "order already gone" answers to a cancel (21600 / 21709 / 21715) are not failures either.
# - Breaker: `max_consecutive_order_rejections` rejections in a row, or a burst of post-only cancels
#   (quotes crossing the book) within a time window, trip it. It resumes only when the cooldown has
#   elapsed AND a reconcile taken after the trip was clean AND the feeds are healthy.
# - 429 backoff: min(15 * 2^(k-1), 120) s for the k-th consecutive 429; k resets after 2 consecutive
#   successes, or at the first success more than 5 minutes after the last 429.
# - A slot that timed out `max_lookups` times in a row without an answer is force-cleared; anything it
#   left on the exchange is then an unknown order, which the reconciler cancels.
# Reconciliation against the exchange lives in risk_reconcile.py, quota recovery in
# risk_quota_recovery.py.
from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from lmm.core.orders import OrderSlot, SlotKey

SEC = 1_000_000_000


class ErrorKind(Enum):
    RATE_LIMITED = "rate_limited"  # 429, 23000, WS message limits: back off
    QUOTA = "quota"  # volume quota exhausted: wait for the free slot
    NONCE = "nonce"  # re-seed the nonce and retry
    ALREADY_GONE = "already_gone"  # a cancel target that is no longer live: reconcile
    REJECTED = "rejected"  # the venue refused the order itself: counts toward the breaker

    @property
    def counts_toward_breaker(self) -> bool:
        return self is ErrorKind.REJECTED


_RATE_LIMIT_CODES = frozenset({23000, 30009, 30010})
_NONCE_CODES = frozenset({21104, 21105})
_GONE_CODES = frozenset({21600, 21709, 21715})


def classify_error(code: int | None, message: str, http_status: int | None = None) -> ErrorKind:
    text = message.lower()
    if http_status == 429 or code in _RATE_LIMIT_CODES or "429" in text or "too many" in text:
        return ErrorKind.RATE_LIMITED
    if code in _NONCE_CODES or "invalid nonce" in text or "nonce is not increasing" in text:
        return ErrorKind.NONCE
    if "quota" in text:
        return ErrorKind.QUOTA
    if code in _GONE_CODES:
        return ErrorKind.ALREADY_GONE
    return ErrorKind.REJECTED


@dataclass(frozen=True, slots=True)
class BreakerParams:
    max_consecutive_rejections: int  # safety.max_consecutive_order_rejections
    cooldown_ns: int  # safety.circuit_breaker_cooldown_sec
    post_only_cancels_max: int = 5  # this many canceled-post-only statuses ...
    post_only_window_ns: int = 30 * SEC  # ... within this window trip the breaker


@dataclass(frozen=True, slots=True)
class BreakerStatus:
    paused: bool
    reason: str | None  # why it tripped (kept while paused)
    waiting_for: tuple[str, ...]  # what a resume still needs: "cooldown", "clean reconcile", "feeds"


class CircuitBreaker:
    def __init__(self, params: BreakerParams) -> None:
        self._params = params
        self._consecutive = 0
        self._post_only: deque[int] = deque()
        self._tripped_ns: int | None = None
        self._reason: str | None = None
        self._clean_reconcile_ns: int | None = None
        self.trips = 0

    @property
    def tripped(self) -> bool:
        return self._tripped_ns is not None

    @property
    def consecutive_rejections(self) -> int:
        return self._consecutive

    def on_send_ok(self, now_ns: int) -> None:
        self._consecutive = 0

    def on_send_error(self, kind: ErrorKind, now_ns: int) -> None:
        if not kind.counts_toward_breaker:
            return
        self._consecutive += 1
        if self._consecutive >= self._params.max_consecutive_rejections:
            self._trip(f"{self._consecutive} consecutive order rejections", now_ns)

    def on_post_only_cancel(self, now_ns: int) -> None:
        self._post_only.append(now_ns)
        while self._post_only and now_ns - self._post_only[0] > self._params.post_only_window_ns:
            self._post_only.popleft()
        if len(self._post_only) >= self._params.post_only_cancels_max:
            self._trip(f"{len(self._post_only)} post-only cancels within the window", now_ns)

    def on_reconcile(self, clean: bool, snapshot_ns: int) -> None:
        """A reconcile finished; `snapshot_ns` is when the exchange's order list was taken."""
        self._clean_reconcile_ns = snapshot_ns if clean else None

    def status(self, now_ns: int, feeds_healthy: bool) -> BreakerStatus:
        """Current state; resumes (and resets) once every condition holds."""
        if self._tripped_ns is None:
            return BreakerStatus(paused=False, reason=None, waiting_for=())
        waiting: list[str] = []
        if now_ns - self._tripped_ns < self._params.cooldown_ns:
            waiting.append("cooldown")
        if self._clean_reconcile_ns is None or self._clean_reconcile_ns < self._tripped_ns:
            waiting.append("clean reconcile")
        if not feeds_healthy:
            waiting.append("feeds")
        if waiting:
            return BreakerStatus(paused=True, reason=self._reason, waiting_for=tuple(waiting))
        self._tripped_ns = None
        self._reason = None
        self._consecutive = 0
        self._post_only.clear()
        return BreakerStatus(paused=False, reason=None, waiting_for=())

    def _trip(self, reason: str, now_ns: int) -> None:
        if self._tripped_ns is None:
            self.trips += 1
            self._reason = reason
        self._tripped_ns = now_ns  # a new failure while tripped restarts the cooldown


@dataclass(frozen=True, slots=True)
class BackoffParams:
    base_ns: int = 15 * SEC
    max_ns: int = 120 * SEC
    decay_ns: int = 300 * SEC  # a success this long after the last 429 resets the level
    successes_to_reset: int = 2


class RateLimitBackoff:
    """Global backoff after 429 / "too many" answers (strategy-model.md §8.3)."""

    def __init__(self, params: BackoffParams = BackoffParams()) -> None:
        self._params = params
        self.level = 0  # k: consecutive 429s not yet forgiven
        self._successes = 0
        self._last_429_ns: int | None = None
        self.blocked_until_ns = 0

    def on_rate_limited(self, now_ns: int) -> int:
        """Record a 429; returns the time until which every send must wait."""
        self.level += 1
        self._successes = 0
        self._last_429_ns = now_ns
        delay = min(self._params.base_ns * 2 ** (self.level - 1), self._params.max_ns)
        self.blocked_until_ns = max(self.blocked_until_ns, now_ns + delay)
        return self.blocked_until_ns

    def on_success(self, now_ns: int) -> None:
        if self.level == 0:
            return
        if self._last_429_ns is not None and now_ns - self._last_429_ns > self._params.decay_ns:
            self._reset()
            return
        self._successes += 1
        if self._successes >= self._params.successes_to_reset:
            self._reset()

    def may_send(self, now_ns: int) -> bool:
        return now_ns >= self.blocked_until_ns

    def _reset(self) -> None:
        self.level = 0
        self._successes = 0


MAX_LOOKUPS_BEFORE_FORCE_CLEAR = 5


def stuck_slots(slots: Mapping[SlotKey, OrderSlot], max_lookups: int = MAX_LOOKUPS_BEFORE_FORCE_CLEAR) -> list[SlotKey]:
    """Slots to force-clear (orders.on_cleared): `max_lookups` timeouts in a row without an answer."""
    return sorted(
        (key for key, slot in slots.items() if slot.awaiting_exchange and slot.lookups >= max_lookups),
        key=lambda key: (key[1], key[0].value),
    )
