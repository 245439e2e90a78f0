# Quota recovery planner: whether to send an IOC order in the free transaction slot to earn volume quota,
# and which one. Pure: returns (new state, decision); the caller sends the order it is given.
#
# Rules (strategy-model.md §9, defect E8):
# - Never leaves open a position it did not find. With a position: one reduce-only IOC on the reducing
#   side. Flat: a round trip, an IOC opening leg and then a reduce-only IOC closing leg; while a round
#   trip is open the closing leg comes before anything else, in every later call, until flat again.
# - Runs only when enabled, never with a maker-only API key, only when the quota is known and below
#   `trigger_threshold`, after `post_warmup_grace`, `cooldown` after the previous cycle, and only when the
#   free slot is ready. A cycle ends at `target_quota`, after `max_attempts`, or once the realized cost
#   reaches `max_loss_usd`.
# - Size: enough notional to reach the target within the attempts left (one point per $7 of volume),
#   capped so that the worst case (limit prices crossed on each leg, taker fees, and for a round trip a
#   15 s adverse move of `adverse_move_sigmas` sigma) fits the loss budget left, and by the position
#   limit for an opening leg; never below the exchange minimum (then nothing is sent).
# - Orders are limit IOC (order_expiry 0) at the touch plus `ioc_slippage_bps`, not market orders.
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import Enum

from lmm.core.order_state import Side
from lmm.core.quoting import MarketRules, exchange_minimum_lots

SEC = 1_000_000_000
FREE_SLOT_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class RecoveryParams:
    """The ``quota_recovery`` section (built by ``lmm.core.params.build_params``) and fixed constants."""

    enabled: bool
    trigger_threshold: int
    target_quota: int
    max_attempts: int
    max_loss_usd: float
    cooldown_ns: int
    post_warmup_grace_ns: int
    taker_fee_bps: float = 2.8  # Premium, no staked LIT (lighter-api.md §7.6)
    ioc_slippage_bps: float = 3.0
    adverse_move_sigmas: float = 2.0
    usd_per_quota_point: float = 7.0


@dataclass(frozen=True, slots=True)
class RecoveryState:
    cycle_started_ns: int | None = None
    attempts: int = 0
    cost_usd: float = 0.0  # realized in this cycle (record_cost)
    last_cycle_end_ns: int | None = None
    round_trip_open: bool = False  # an opening leg was sent: close back to flat before anything else


@dataclass(frozen=True, slots=True)
class RecoveryMarket:
    quota_remaining: int | None
    position_lots: int
    best_bid_tick: int
    best_ask_tick: int
    volatility_usd_per_sqrt_s: float
    max_position_usd: float | None
    warmup_done_ns: int | None  # None while warming up
    free_slot_ready: bool
    maker_only_key: bool = False


class Leg(Enum):
    REDUCE = "reduce"  # reduces a position recovery found
    OPEN = "open"  # first leg of a round trip from flat
    CLOSE = "close"  # second leg: back to flat


@dataclass(frozen=True, slots=True)
class RecoveryOrder:
    leg: Leg
    side: Side
    size_lots: int
    price_tick: int  # limit price of the IOC order
    reduce_only: bool


@dataclass(frozen=True, slots=True)
class RecoveryIdle:
    reason: str


RecoveryDecision = RecoveryOrder | RecoveryIdle


def record_cost(state: RecoveryState, cost_usd: float) -> RecoveryState:
    """Add a realized cost (e.g. the drop in portfolio value across a leg)."""
    return replace(state, cost_usd=state.cost_usd + cost_usd)


def _ioc_price(side: Side, market: RecoveryMarket, slippage_bps: float) -> int:
    if side is Side.BID:
        return math.ceil(market.best_ask_tick * (1 + slippage_bps / 1e4) - 1e-9)
    return max(1, math.floor(market.best_bid_tick * (1 - slippage_bps / 1e4) + 1e-9))


def _leg_cost_fraction(side: Side, market: RecoveryMarket, params: RecoveryParams, mid: float) -> float:
    price = _ioc_price(side, market, params.ioc_slippage_bps)
    return abs(price - mid) / mid + params.taker_fee_bps / 1e4


def _end_cycle(state: RecoveryState, now_ns: int, reason: str) -> tuple[RecoveryState, RecoveryDecision]:
    return RecoveryState(last_cycle_end_ns=now_ns), RecoveryIdle(reason)


def _close_leg(
    state: RecoveryState, market: RecoveryMarket, params: RecoveryParams
) -> tuple[RecoveryState, RecoveryDecision]:
    paid_send_possible = market.quota_remaining is not None and market.quota_remaining > 0
    if not market.free_slot_ready and not paid_send_possible:
        return state, RecoveryIdle("round trip open: waiting for the free slot to close it")
    side = Side.ASK if market.position_lots > 0 else Side.BID
    price = _ioc_price(side, market, params.ioc_slippage_bps)
    return state, RecoveryOrder(Leg.CLOSE, side, abs(market.position_lots), price, reduce_only=True)


def plan_quota_recovery(
    params: RecoveryParams, state: RecoveryState, market: RecoveryMarket, rules: MarketRules, now_ns: int
) -> tuple[RecoveryState, RecoveryDecision]:
    """The next recovery step, and the state to keep assuming the returned order is sent."""
    if state.round_trip_open:
        if market.position_lots != 0:
            return _close_leg(state, market, params)
        state = replace(state, round_trip_open=False)
    if not params.enabled:
        return state, RecoveryIdle("disabled")
    if market.maker_only_key:
        return state, RecoveryIdle("maker-only API key: taker orders not allowed")
    if market.best_bid_tick <= 0 or market.best_ask_tick <= market.best_bid_tick:
        return state, RecoveryIdle("no usable book")
    quota = market.quota_remaining

    if state.cycle_started_ns is None:
        if quota is None or quota >= params.trigger_threshold:
            return state, RecoveryIdle("quota not below the trigger")
        if market.warmup_done_ns is None or now_ns - market.warmup_done_ns < params.post_warmup_grace_ns:
            return state, RecoveryIdle("post-warm-up grace")
        if state.last_cycle_end_ns is not None and now_ns - state.last_cycle_end_ns < params.cooldown_ns:
            return state, RecoveryIdle("cooldown")
        state = replace(state, cycle_started_ns=now_ns, attempts=0, cost_usd=0.0)
    if quota is not None and quota >= params.target_quota:
        return _end_cycle(state, now_ns, "target quota reached")
    if state.attempts >= params.max_attempts:
        return _end_cycle(state, now_ns, "attempts exhausted")
    budget = params.max_loss_usd - state.cost_usd
    if budget <= 0:
        return _end_cycle(state, now_ns, "loss limit reached")
    if not market.free_slot_ready:
        return state, RecoveryIdle("waiting for the free slot")

    mid = (market.best_bid_tick + market.best_ask_tick) / 2
    mid_usd = rules.notional_usd(10**rules.size_decimals, mid)
    points_needed = params.target_quota - (quota or 0)
    attempts_left = params.max_attempts - state.attempts
    position = market.position_lots

    if position != 0:
        side = Side.ASK if position > 0 else Side.BID
        notional = points_needed * params.usd_per_quota_point / attempts_left
        cost_fraction = _leg_cost_fraction(side, market, params, mid)
        leg, reduce_only = Leg.REDUCE, True
    else:
        side = Side.BID
        notional = points_needed * params.usd_per_quota_point / (2 * attempts_left)  # two legs earn
        adverse = params.adverse_move_sigmas * market.volatility_usd_per_sqrt_s * math.sqrt(FREE_SLOT_SECONDS)
        cost_fraction = (
            _leg_cost_fraction(Side.BID, market, params, mid)
            + _leg_cost_fraction(Side.ASK, market, params, mid)
            + adverse / mid_usd
        )
        leg, reduce_only = Leg.OPEN, False

    price = _ioc_price(side, market, params.ioc_slippage_bps)
    minimum = exchange_minimum_lots(rules, price)
    lots = max(rules.lots_for_usd(notional, mid, round_up=True), minimum)
    affordable = rules.lots_for_usd(budget / cost_fraction, mid, round_up=False)
    lots = min(lots, affordable)
    if leg is Leg.REDUCE:
        # a position below the exchange minimum is closed with a minimum-size reduce-only order, which the
        # exchange clips to the position
        lots = min(lots, max(abs(position), minimum))
    else:
        if market.max_position_usd is None or market.max_position_usd <= 0:
            return state, RecoveryIdle("no position room for a round trip")
        lots = min(lots, rules.lots_for_usd(market.max_position_usd, price, round_up=False))
    if lots < minimum:
        return state, RecoveryIdle("loss budget or position limit below the exchange minimum order")

    state = replace(state, attempts=state.attempts + 1, round_trip_open=leg is Leg.OPEN)
    return state, RecoveryOrder(leg, side, lots, price, reduce_only)
