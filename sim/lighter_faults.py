# Pending fault injections of the Lighter venue, consumed by the REST/WS servers and the book feed.
#
# Rules: plain state with no I/O; the servers ask "should this request fail?" and the answer consumes the
# fault. Times are monotonic seconds passed in by the caller. Every kind is documented in FAULT_KINDS
# (also the table in sim/README.md); unknown kinds and bad parameters raise ValueError.
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS: dict[str, str] = {
    "drop_connections": "close every Lighter WebSocket connection now (close code 1012); "
                        "params: none",
    "skip_nonce": "drop the next order-book update of a market, so the one after has a begin_nonce that "
                  "does not match; params: market_id (default: every market)",
    "stall_feed": "send no order_book/ticker/trade updates for N seconds, then resume the chain where it "
                  "stopped; params: seconds, feed ('lighter' default; 'binance' is forwarded as binance_stall)",
    "rate_limit": "answer HTTP 429 {code 23000} to the next N REST /api/v1 requests and WS transactions; "
                  "params: count",
    "reject_tx": "reject the next N transactions (REST and WS) with a given code; the nonce is not consumed; "
                 "params: count, code (default 21739), message, http_status (default 400)",
    "delay_ack": "delay the acknowledgement of the next N transactions by delay_ms; the transaction itself "
                 "executes at once; params: delay_ms, count (default 1)",
    "crossed_book": "send one order-book update (chain intact) carrying a fake bid level above the best ask; "
                    "the next update removes it; params: market_id (default 0)",
    "taker_sweep": "market orders of a fixed size sent repeatedly from a separate synthetic account, hitting "
                   "the best resting orders of one side (the account under test's included); params: side "
                   "('sell' hits the bids, 'buy' lifts the asks), size (base units), interval_ms (300), "
                   "count (default 1) or seconds (sweep for that long), market_id (0), slippage_bps (50); "
                   "{\"stop\": true} ends every sweep in force; "
                   "handled by sim.taker_sweeps.TakerSweeps",
}
# Kinds starting with this prefix go unchanged to the Binance server's inject_fault (sim.binance_faults:
# binance_pu_gap, binance_stale_snapshot, binance_stall, binance_close, binance_rest_429).

BINANCE_PREFIX = "binance_"


@dataclass
class TxRejection:
    code: int
    message: str
    http_status: int


@dataclass
class LighterFaults:
    """Counters and deadlines of the faults in force."""

    rate_limited_requests: int = 0
    rejections: list[TxRejection] = field(default_factory=list)
    ack_delays_ms: list[int] = field(default_factory=list)
    skip_nonce_markets: set[int] = field(default_factory=set)
    skip_nonce_all: bool = False
    stalled_until_s: float = 0.0
    crossed_markets: set[int] = field(default_factory=set)

    def take_rate_limit(self) -> bool:
        if self.rate_limited_requests > 0:
            self.rate_limited_requests -= 1
            return True
        return False

    def take_rejection(self) -> TxRejection | None:
        return self.rejections.pop(0) if self.rejections else None

    def take_ack_delay_ms(self) -> int:
        return self.ack_delays_ms.pop(0) if self.ack_delays_ms else 0

    def take_skip_nonce(self, market_id: int) -> bool:
        if self.skip_nonce_all:
            self.skip_nonce_all = False
            return True
        if market_id in self.skip_nonce_markets:
            self.skip_nonce_markets.discard(market_id)
            return True
        return False

    def take_crossed(self, market_id: int) -> bool:
        if market_id in self.crossed_markets:
            self.crossed_markets.discard(market_id)
            return True
        return False

    def is_stalled(self, now_s: float) -> bool:
        return now_s < self.stalled_until_s

    def apply(self, kind: str, params: dict[str, Any], now_s: float) -> None:
        """Record a Lighter fault (everything but drop_connections, which the server acts on at once, and
        taker_sweep, which sim.taker_sweeps drives)."""
        if kind == "rate_limit":
            self.rate_limited_requests += _positive_int(params, "count", 1)
        elif kind == "reject_tx":
            count = _positive_int(params, "count", 1)
            code = _positive_int(params, "code", 21739)
            message = str(params.get("message", "not enough margin to create the order"))
            status = _positive_int(params, "http_status", 400)
            self.rejections.extend(TxRejection(code, message, status) for _ in range(count))
        elif kind == "delay_ack":
            delay = _positive_int(params, "delay_ms", 500)
            self.ack_delays_ms.extend([delay] * _positive_int(params, "count", 1))
        elif kind == "skip_nonce":
            if "market_id" in params:
                self.skip_nonce_markets.add(_non_negative_int(params, "market_id"))
            else:
                self.skip_nonce_all = True
        elif kind == "stall_feed":
            seconds = float(params.get("seconds", 5))
            if not 0 < seconds <= 3600:
                raise ValueError("seconds must be in (0, 3600]")
            self.stalled_until_s = max(self.stalled_until_s, now_s + seconds)
        elif kind == "crossed_book":
            self.crossed_markets.add(_non_negative_int(params, "market_id", 0))
        else:  # taker_sweep is scheduled by the server's TakerSweeps, never recorded here
            raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(FAULT_KINDS)}")


def _positive_int(params: dict[str, Any], name: str, default: int) -> int:
    value = params.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive integer")
    return value


def _non_negative_int(params: dict[str, Any], name: str, default: int | None = None) -> int:
    value = params.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer")
    return value
