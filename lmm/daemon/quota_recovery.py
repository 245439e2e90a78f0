"""Quota recovery runner: the async loop around ``risk_quota_recovery.plan_quota_recovery``.

Rules (strategy-model.md §9, defect E8):
- The planner decides; this module only gathers its inputs, sends the order it returns and learns the
  outcome. Every order is a limit IOC (order_expiry 0) through the one TxSender, so nonces stay in order
  with the quoting loop, the reconciler and shutdown.
- The free slot is shared with the send loop through the same ``Pacer``: the slot is taken (``on_sent``)
  before the send is awaited and only while the sender's lock is free, so the quoting loop can never spend
  the same slot; a closing leg may also use paid quota, as the planner allows.
- After a leg the runner waits until the position moved (or a timeout), records the drop in portfolio
  value as the leg's cost, and only then plans again.
- A 429 feeds the bot's backoff (``on_rate_limited``, e.g. ``MarketMaker.rate_limited_delay_s``) and holds
  the shared Pacer, as the send loop does.
- Never leaves open a position it did not find: ``round_trip_started`` is set before an opening leg is
  sent and cleared once flat again, so the daemon's shutdown closes it (over REST, the feeds being gone);
  ``close_round_trip`` does the same from the live feeds while they still run, sending the
  closing leg of an open round trip at once.
"""
from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from lmm.core.account import AccountState
from lmm.core.ids import ClientOrderIndexAllocator
from lmm.core.intents import ORDER_TYPE_LIMIT, TIF_IOC, CreateOrder
from lmm.core.market import MarketInfo
from lmm.core.order_state import Side
from lmm.core.outcomes import Outcome, SendResult
from lmm.core.pacing import Pacer
from lmm.core.quota_recovery_plan import (
    Leg,
    RecoveryIdle,
    RecoveryMarket,
    RecoveryOrder,
    RecoveryParams,
    RecoveryState,
    plan_quota_recovery,
    record_cost,
)
from lmm.core.quoting import MarketRules
from lmm.venue.clock import SYSTEM_CLOCK, Clock
from lmm.venue.lighter.tx_sender import TxSender

log = logging.getLogger("lighter_mm.quota_recovery")

SEC = 1_000_000_000


class Touch(Protocol):
    @property
    def valid(self) -> bool: ...
    @property
    def best_bid_tick(self) -> int: ...
    @property
    def best_ask_tick(self) -> int: ...


@dataclass(frozen=True, slots=True)
class RecoveryInputs:
    """What the runner reads from the bot each round (callables, so it always sees the newest state)."""

    book: Callable[[], Touch | None]
    volatility_usd_per_sqrt_s: Callable[[], float]
    max_position_usd: Callable[[], float | None]
    warmed_up: Callable[[], bool]


@dataclass
class RecoveryStats:
    legs_sent: int = 0
    legs_failed: int = 0
    cycles: int = 0
    cost_usd: float = 0.0
    quota_gained: int = 0
    last_idle_reason: str = ""


class QuotaRecoveryRunner:
    def __init__(self, params: RecoveryParams, market: MarketInfo, rules: MarketRules, sender: TxSender,
                 pacer: Pacer, account: AccountState, allocator: ClientOrderIndexAllocator,
                 inputs: RecoveryInputs, *, maker_only_key: bool = False, interval_s: float = 1.0,
                 settle_timeout_s: float = 5.0, on_rate_limited: Callable[[], float] | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self._params = params
        self._market = market
        self._rules = rules
        self._sender = sender
        self._pacer = pacer
        self._account = account
        self._allocator = allocator
        self._inputs = inputs
        self._maker_only = maker_only_key
        self._interval_s = interval_s
        self._settle_timeout_s = settle_timeout_s
        self._on_rate_limited = on_rate_limited
        self._clock = clock
        self._clock_ns = clock.monotonic_ns
        self.state = RecoveryState()
        self.stats = RecoveryStats()
        self._warmup_done_ns: int | None = None
        # True from the moment an opening leg is sent until the account is flat again with no round trip
        # open: shutdown then closes the position back to flat (the runner itself may be cancelled mid-leg)
        self.round_trip_started = False

    async def run(self) -> None:
        """Plan and act once per ``interval_s``, forever (cancel to stop, then call ``close_round_trip``)."""
        while True:
            await self.step()
            await asyncio.sleep(self._interval_s)

    def _free_slot_ready(self, now_s: float) -> bool:
        if self._sender.lock.locked():
            return False  # the quoting loop is mid-send: its quota use is not recorded yet
        permit = self._pacer.permit(now_s, self._sender.volume_quota_remaining)
        return permit.wait <= 0 and permit.max_quota_ops >= 1

    def _market_view(self, now_ns: int) -> RecoveryMarket | None:
        book = self._inputs.book()
        if book is None or not book.valid or not self._account.position_known:
            return None
        if self._warmup_done_ns is None and self._inputs.warmed_up():
            self._warmup_done_ns = now_ns
        return RecoveryMarket(
            quota_remaining=self._sender.volume_quota_remaining,
            position_lots=self._account.position_lots,
            best_bid_tick=book.best_bid_tick,
            best_ask_tick=book.best_ask_tick,
            volatility_usd_per_sqrt_s=self._inputs.volatility_usd_per_sqrt_s(),
            max_position_usd=self._inputs.max_position_usd(),
            warmup_done_ns=self._warmup_done_ns,
            free_slot_ready=self._free_slot_ready(now_ns / SEC),
            maker_only_key=self._maker_only,
        )

    async def step(self) -> RecoveryOrder | RecoveryIdle:
        """One planning round; sends at most one IOC leg and waits for it to settle."""
        if self.round_trip_started and not self.state.round_trip_open and self._account.position_lots == 0:
            self.round_trip_started = False  # closed back to flat
        now = self._clock_ns()
        view = self._market_view(now)
        if view is None:
            return RecoveryIdle("book or position unknown")
        in_cycle = self.state.cycle_started_ns is not None
        new_state, decision = plan_quota_recovery(self._params, self.state, view, self._rules, now)
        if in_cycle and new_state.cycle_started_ns is None:
            self.stats.cycles += 1
            log.info("quota recovery cycle ended: %s (cost $%.2f)", getattr(decision, "reason", ""),
                     self.state.cost_usd)
        if isinstance(decision, RecoveryIdle):
            self.state = new_state
            self.stats.last_idle_reason = decision.reason
            return decision
        if decision.leg is Leg.OPEN:
            self.round_trip_started = True  # before the send: a cancellation mid-send must still close it
        sent = await self._send_leg(decision, view)
        if sent:
            self.state = new_state
        else:
            self.stats.legs_failed += 1  # the planner's state stays as it was: the leg did not happen
        return decision

    async def _send_leg(self, order: RecoveryOrder, view: RecoveryMarket) -> bool:
        quota_before = view.quota_remaining
        equity_before = self._account.equity
        position_before = self._account.position_lots
        intent = CreateOrder(
            market_index=self._market.market_id,
            client_order_index=self._allocator.next(self._clock.wall_ms()).value,
            base_amount=order.size_lots,
            price=order.price_tick,
            is_ask=order.side is Side.ASK,
            time_in_force=TIF_IOC,
            order_type=ORDER_TYPE_LIMIT,
            reduce_only=order.reduce_only,
            order_expiry=0,
        )
        if view.free_slot_ready:
            self._pacer.on_sent(self._clock_ns() / SEC, 1)  # take the slot before awaiting the send
        log.info("quota recovery %s leg: %s %d lots IOC at %d (quota %s)", order.leg.value, order.side.value,
                 order.size_lots, order.price_tick, quota_before)
        results: list[SendResult] = await self._sender.send([intent])
        result = results[0]
        if result.outcome is Outcome.RATE_LIMITED and self._on_rate_limited is not None:
            self._pacer.hold_until(self._clock_ns() / SEC + self._on_rate_limited())  # holds the quoting too
        if result.outcome is not Outcome.ACCEPTED:
            log.warning("quota recovery leg not accepted: %s %s %s", result.outcome.value, result.code,
                        result.message)
            return result.outcome is Outcome.UNKNOWN and await self._settled(position_before)
        self.stats.legs_sent += 1
        await self._settled(position_before)
        if equity_before is not None and self._account.equity is not None:
            cost = max(0.0, equity_before - self._account.equity)
            self.state = record_cost(self.state, cost)
            self.stats.cost_usd += cost
        quota_after = self._sender.volume_quota_remaining
        if quota_before is not None and quota_after is not None:
            self.stats.quota_gained += quota_after - quota_before
        return True

    async def _settled(self, position_before: int) -> bool:
        """Wait until the account feed shows the position moved; False on timeout (IOC found no liquidity)."""
        deadline = self._clock.monotonic() + self._settle_timeout_s
        while self._clock.monotonic() < deadline:
            if self._account.position_lots != position_before:
                return True
            await asyncio.sleep(0.05)
        return False

    async def close_round_trip(self) -> bool:
        """Close an open round trip now (shutdown path); True when nothing is left open by recovery."""
        if not self.state.round_trip_open:
            return True
        for _ in range(self._params.max_attempts + 2):
            position = self._account.position_lots
            if position == 0:
                self.state = RecoveryState(last_cycle_end_ns=self._clock_ns())
                return True
            book = self._inputs.book()
            if book is None or not book.valid:
                await asyncio.sleep(0.5)
                continue
            view = self._market_view(self._clock_ns())
            if view is None:
                await asyncio.sleep(0.5)
                continue
            side = Side.ASK if position > 0 else Side.BID
            slippage = self._params.ioc_slippage_bps / 1e4
            price = (max(1, math.floor(book.best_bid_tick * (1 - slippage))) if side is Side.ASK
                     else math.ceil(book.best_ask_tick * (1 + slippage)))
            await self._send_leg(RecoveryOrder(Leg.CLOSE, side, abs(position), price, True), view)
        done = self._account.position_lots == 0
        if not done:
            log.error("quota recovery left a round trip open: %d lots; close by hand or with --flatten",
                      self._account.position_lots)
        return done
