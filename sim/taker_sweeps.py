# The `taker_sweep` fault: market orders of a fixed size, sent again and again from a separate synthetic
# account, so that they hit the best resting orders of one side of a market (whoever owns them, the
# account under test included).
#
# Rules: plain state driven by the Lighter server's beat (`run_due`), on the simulator's loop only; talks to
# the engine through its transaction API like the synthetic market does (never drains its outbox). The
# sweeping account is created on first use, funded so that margin never binds and exempt from the rate
# limit and the quota. A sweep's worst price is `slippage_bps` beyond the touch it meets; an empty side
# is skipped (counted), never an error. Bad parameters raise ValueError (the control API's HTTP 400).
from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sim.engine import Engine
from sim.engine_types import CreateOrderTx, OrderType, TimeInForce
from sim.lighter_flow import FlowStats, MarketAccount

SWEEPER_COLLATERAL_USDC = 1_000_000_000
_MAX_SWEEPS = 100_000
_MAX_SECONDS = 3600.0


@dataclass
class Sweep:
    """One injected `taker_sweep`: what to send, how often, and until when."""

    market_id: int
    is_ask: bool  # True: market sells that hit the bids; False: market buys that lift the asks
    size_lots: int
    interval_s: float
    slippage_bps: float
    next_s: float
    remaining: int | None  # sweeps still to send; None = until `until_s`
    until_s: float | None
    sent: int = 0
    skipped: int = 0  # the side was empty when the sweep was due


@dataclass
class SweepStats:
    sent: int = 0
    rejected: int = 0
    skipped: int = 0


class TakerSweeps:
    """The sweeps in force and the account that sends them."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._account: MarketAccount | None = None
        self.sweeps: list[Sweep] = []
        self.stats = SweepStats()

    @property
    def account_index(self) -> int:
        """The sweeping account (created on first use)."""
        if self._account is None:
            self._account = MarketAccount(self._engine, SWEEPER_COLLATERAL_USDC, FlowStats())
        return self._account.account_index

    def add(self, params: dict[str, Any], now_s: float) -> Sweep | None:
        """Validate `params` (side, size, interval_ms, count, seconds, market_id, slippage_bps) and schedule
        the first sweep at `now_s`; `{"stop": true}` alone ends every sweep in force (returns None)."""
        if "stop" in params:
            if params != {"stop": True}:
                raise ValueError("stop takes no other parameter and must be true")
            self.sweeps.clear()
            return None
        known = {"side", "size", "interval_ms", "count", "seconds", "market_id", "slippage_bps"}
        unknown = set(params) - known
        if unknown:
            raise ValueError(f"unknown taker_sweep params {sorted(unknown)}; known: {sorted(known)}")
        market_id = params.get("market_id", 0)
        if not isinstance(market_id, int) or isinstance(market_id, bool) or market_id not in self._engine.markets:
            raise ValueError(f"market_id must be one of {sorted(self._engine.markets)}")
        spec = self._engine.markets[market_id]
        side = params.get("side")
        if side not in ("sell", "buy"):
            raise ValueError("side must be 'sell' (hit the bids) or 'buy' (lift the asks)")
        size_lots = _size_lots(params.get("size"), spec.size_decimals)
        if size_lots < spec.min_base_amount:
            raise ValueError(f"size is below the market's minimum of {spec.min_base_amount} lots")
        interval_s = _number(params, "interval_ms", 300.0, 10.0, 3_600_000.0) / 1000
        slippage_bps = _number(params, "slippage_bps", 50.0, 0.1, 5000.0)
        seconds = params.get("seconds")
        count = params.get("count")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool)
                                  or not 1 <= count <= _MAX_SWEEPS):
            raise ValueError(f"count must be an integer in [1, {_MAX_SWEEPS}]")
        until_s = None
        if seconds is not None:
            until_s = now_s + _number(params, "seconds", 0.0, 0.001, _MAX_SECONDS)
        elif count is None:
            count = 1
        sweep = Sweep(market_id, side == "sell", size_lots, interval_s, slippage_bps, next_s=now_s,
                      remaining=count, until_s=until_s)
        self.account_index  # noqa: B018 -- create the account now, so the reply can name it
        self.sweeps.append(sweep)
        return sweep

    def run_due(self, now_s: float, now_ns: int) -> int:
        """Send every sweep whose time has come (at most one per sweep per call); returns how many were sent."""
        sent = 0
        for sweep in self.sweeps:
            if sweep.until_s is not None and now_s >= sweep.until_s:
                sweep.remaining = 0
            if sweep.remaining == 0 or now_s < sweep.next_s:
                continue
            sweep.next_s = max(sweep.next_s + sweep.interval_s, now_s)  # no burst after a stalled loop
            if sweep.remaining is not None:
                sweep.remaining -= 1
            sent += self._send(sweep, now_ns)
        self.sweeps = [s for s in self.sweeps if s.remaining != 0]
        return sent

    def _send(self, sweep: Sweep, now_ns: int) -> int:
        engine = self._engine
        best_bid, best_ask = engine.best_bid_ask(sweep.market_id)
        touch = best_bid if sweep.is_ask else best_ask
        if touch is None:
            sweep.skipped += 1
            self.stats.skipped += 1
            return 0
        spec = engine.markets[sweep.market_id]
        if sweep.is_ask:
            worst = max(1, math.floor(touch * (1 - sweep.slippage_bps * 1e-4)))
        else:
            worst = min(spec.max_price, math.ceil(touch * (1 + sweep.slippage_bps * 1e-4)))
        tx = CreateOrderTx(sweep.market_id, 0, sweep.size_lots, worst, sweep.is_ask, OrderType.MARKET,
                           TimeInForce.IMMEDIATE_OR_CANCEL)
        assert self._account is not None
        result = self._account.send(now_ns, tx)
        if not result.accepted:
            self.stats.rejected += 1
            return 0
        sweep.sent += 1
        self.stats.sent += 1
        return 1


def _size_lots(value: Any, size_decimals: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("size must be a positive number of base units, e.g. 0.6 or \"0.6\"")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError("size must be a positive number of base units") from None
    lots = amount.scaleb(size_decimals)
    if not amount.is_finite() or amount <= 0 or lots != lots.to_integral_value():
        raise ValueError(f"size must be a positive multiple of the lot (10^-{size_decimals})")
    return int(lots)


def _number(params: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValueError(f"{name} must be a number in [{low:g}, {high:g}]")
    return float(value)
