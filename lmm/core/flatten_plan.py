"""Flatten: the decisions of closing a position (which order, when to read again, when to stop), pure.

Rules (strategy-model.md §11.2 E7):
- Pure, like ``SnapshotPacer``: times are integer nanoseconds passed in, decisions are return values. The shell
  (``daemon/flatten.py: flatten_position``) reads the position and the touch, sends, sleeps and logs; it asks
  ``next_step(now_ns)`` and, when the step's ``at_ns`` is still ahead, sleeps until then and asks again.
- Nothing to do when already flat; refused with a maker-only API key (taker orders are refused there).
- Every order is a limit IOC (order_expiry 0), reduce-only, priced at the touch moved by ``slippage_bps`` of
  the price (never an absolute amount, which goes negative on cheap markets); it can never open or flip
  a position and never rests on the book.
- At most ``max_attempts`` attempts (an unusable book counts as one). After an accepted order the position is
  re-read every ``POLL_NS`` until it changes or ``settle_timeout_s`` has passed; after a 429 it is re-read
  after the next jittered backoff delay (from ``backoff_base_s``, doubling, capped at ``backoff_max_s``);
  after an unusable book or any other failure after ``backoff_base_s``.
- The verdict is the exchange's word: one last read of the position after the last attempt (None when it
  could not be read: not known flat).
"""
from __future__ import annotations

import enum
import math
import random
from dataclasses import dataclass

from lmm.core.backoff import Backoff, BackoffPolicy
from lmm.core.intents import ORDER_TYPE_LIMIT, TIF_IOC, CreateOrder
from lmm.core.market import MarketInfo
from lmm.core.outcomes import Outcome

SEC = 1_000_000_000
POLL_NS = 100_000_000  # re-reads of the position while an accepted order settles
NO_USABLE_BOOK = "no usable book"
MAKER_ONLY = "maker-only API key"

Touch = tuple[int, int]  # (best bid tick, best ask tick)


@dataclass(frozen=True, slots=True)
class FlattenParams:
    slippage_bps: float = 50.0  # 0.5 % through the touch: fills against any normal book
    max_attempts: int = 5
    backoff_base_s: float = 1.0  # first wait after a 429, doubled per 429, capped at backoff_max_s
    backoff_max_s: float = 15.0
    settle_timeout_s: float = 5.0  # how long a sent order may take to show in the position


@dataclass(frozen=True, slots=True)
class FlattenResult:
    flat: bool
    start_lots: int
    final_lots: int | None  # None when the final position could not be read
    attempts: int
    detail: str


def ioc_close_price(position_lots: int, touch: Touch, slippage_bps: float) -> int:
    """Limit price of the closing IOC: sell below the best bid when long, buy above the best ask when short."""
    best_bid, best_ask = touch
    if position_lots > 0:
        return max(1, math.floor(best_bid * (1.0 - slippage_bps / 1e4)))
    return math.ceil(best_ask * (1.0 + slippage_bps / 1e4))


def close_order(market: MarketInfo, client_order_index: int, position_lots: int, touch: Touch,
                slippage_bps: float) -> CreateOrder:
    return CreateOrder(
        market_index=market.market_id,
        client_order_index=client_order_index,
        base_amount=abs(position_lots),
        price=ioc_close_price(position_lots, touch, slippage_bps),
        is_ask=position_lots > 0,
        time_in_force=TIF_IOC,
        order_type=ORDER_TYPE_LIMIT,
        reduce_only=True,
        order_expiry=0,
    )


def usable_touch(touch: Touch | None) -> bool:
    return touch is not None and touch[0] > 0 and touch[1] > touch[0]


class FlattenAction(enum.Enum):
    READ_TOUCH = "read_touch"
    SEND = "send"  # the closing IOC of ``lots`` at ``touch`` (the step's attempt number)
    READ_POSITION = "read_position"
    VERIFY = "verify"  # read the position one last time, then ``verdict``
    DONE = "done"  # nothing to do: ``result``
    REFUSE = "refuse"  # not allowed: ``result``


@dataclass(frozen=True, slots=True)
class FlattenStep:
    action: FlattenAction
    at_ns: int = 0  # not before this time: the shell sleeps until then and asks again
    lots: int = 0  # SEND: the signed position to close
    touch: Touch | None = None  # SEND: the touch to price it from
    attempt: int = 0  # SEND: its attempt number (1 for the first)
    result: FlattenResult | None = None  # DONE, REFUSE


class FlattenPlan:
    """One flatten, from the position read at its start."""

    def __init__(self, params: FlattenParams, start_lots: int, *, maker_only_key: bool = False,
                 rng: random.Random | None = None) -> None:
        self.params = params
        self.start_lots = start_lots
        self.position = start_lots
        self.attempts = 0
        self.rate_limits = 0
        self.detail = ""
        self._maker_only = maker_only_key
        self._backoff = Backoff(BackoffPolicy(params.backoff_base_s, params.backoff_max_s),
                                rng if rng is not None else random.Random())
        self._send: FlattenStep | None = None
        self._read_at: int | None = None
        self._change_deadline: int | None = None  # after an accepted order: until when to wait for a change

    def next_step(self, now_ns: int) -> FlattenStep:
        if self.start_lots == 0:
            return FlattenStep(FlattenAction.DONE, now_ns, result=FlattenResult(True, 0, 0, 0, "already flat"))
        if self._maker_only:
            return FlattenStep(FlattenAction.REFUSE, now_ns,
                               result=FlattenResult(False, self.start_lots, self.start_lots, 0, MAKER_ONLY))
        if self._send is not None:
            return self._send
        if self._read_at is not None:
            return FlattenStep(FlattenAction.READ_POSITION, self._read_at)
        if self.attempts < self.params.max_attempts and self.position != 0:
            return FlattenStep(FlattenAction.READ_TOUCH, now_ns)
        return FlattenStep(FlattenAction.VERIFY, now_ns)

    def on_touch(self, touch: Touch | None, now_ns: int) -> None:
        self.attempts += 1
        if not usable_touch(touch):
            self.detail = NO_USABLE_BOOK
            self._read_at = now_ns + round(self.params.backoff_base_s * SEC)
            return
        self._send = FlattenStep(FlattenAction.SEND, now_ns, self.position, touch, self.attempts)

    def on_send_result(self, outcome: Outcome, code: int | None, message: str, now_ns: int) -> None:
        self._send = None
        if outcome is Outcome.RATE_LIMITED:
            self.rate_limits += 1
            delay = self._backoff.next_delay()
            self.detail = f"429, backing off {delay:.1f}s"
            self._read_at = now_ns + round(delay * SEC)
        elif outcome is Outcome.ACCEPTED:
            self.detail = "sent"
            self._read_at = now_ns
            self._change_deadline = now_ns + round(self.params.settle_timeout_s * SEC)
        else:
            self.detail = f"{outcome.value} {code} {message}"
            self._read_at = now_ns + round(self.params.backoff_base_s * SEC)

    def on_position(self, lots: int, now_ns: int) -> None:
        """The position read (answered at ``now_ns``)."""
        waiting = self._change_deadline
        if waiting is not None and lots == self.position and now_ns < waiting:
            self._read_at = now_ns + POLL_NS
            return
        self.position, self._read_at, self._change_deadline = lots, None, None

    def verdict(self, final_lots: int | None) -> FlattenResult:
        """The result from the last read of the position (None: it could not be read)."""
        return FlattenResult(final_lots == 0, self.start_lots, final_lots, self.attempts, self.detail or "done")
