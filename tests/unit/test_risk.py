# risk.py, risk_reconcile.py, risk_quota_recovery.py: breaker, 429 backoff, reconciliation, quota recovery.
from __future__ import annotations

import random
from dataclasses import replace

import pytest
from params_support import default_params

from lmm.core.ids import ClientOrderIndex, OrderIndex
from lmm.core.order_state import Side, SlotState
from lmm.core.orders import OrderReport, OrderSlot, initial_slots, on_order_report
from lmm.core.quota_recovery_plan import (
    Leg,
    RecoveryIdle,
    RecoveryMarket,
    RecoveryOrder,
    RecoveryState,
    plan_quota_recovery,
    record_cost,
)
from lmm.core.quoting import MarketRules
from lmm.core.reconcile import MismatchDebouncer, ReconcileResult, poll_interval_ns, reconcile_orders
from lmm.core.risk import (
    BackoffParams,
    BreakerParams,
    CircuitBreaker,
    ErrorKind,
    RateLimitBackoff,
    classify_error,
    stuck_slots,
)

SEC = 10**9

# --- error classification --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "message", "http", "kind"),
    [
        (None, "(429) Reason: Too Many Requests", 429, ErrorKind.RATE_LIMITED),
        (23000, "Too Many Requests!", 400, ErrorKind.RATE_LIMITED),
        (30010, "Too Many Inflight Messages!", None, ErrorKind.RATE_LIMITED),
        (21104, "invalid nonce", 400, ErrorKind.NONCE),
        (21105, "batch transaction nonce is not increasing", 400, ErrorKind.NONCE),
        (None, "volume quota exhausted", 400, ErrorKind.QUOTA),
        (21600, "given order is not an active limit order", 400, ErrorKind.ALREADY_GONE),
        (21715, "given order is not an active order", 400, ErrorKind.ALREADY_GONE),
        (21706, "invalid order base or quote amount", 400, ErrorKind.REJECTED),
        (21739, "not enough margin to create the order", 400, ErrorKind.REJECTED),
        (21728, "client order index already exists", 400, ErrorKind.REJECTED),
    ],
)
def test_classify_error(code, message, http, kind):
    assert classify_error(code, message, http) is kind
    assert kind.counts_toward_breaker is (kind is ErrorKind.REJECTED)


# --- circuit breaker -------------------------------------------------------------------------------------

BREAKER = BreakerParams(
    max_consecutive_rejections=5, cooldown_ns=60 * SEC, post_only_cancels_max=5, post_only_window_ns=30 * SEC
)


def test_breaker_trips_on_consecutive_rejections_only():
    breaker = CircuitBreaker(BREAKER)
    for i in range(4):
        breaker.on_send_error(ErrorKind.REJECTED, i * SEC)
    breaker.on_send_ok(5 * SEC)  # a success breaks the run
    for i in range(4):
        breaker.on_send_error(ErrorKind.REJECTED, (6 + i) * SEC)
    assert not breaker.tripped
    for kind in (ErrorKind.RATE_LIMITED, ErrorKind.QUOTA, ErrorKind.NONCE, ErrorKind.ALREADY_GONE) * 5:
        breaker.on_send_error(kind, 11 * SEC)  # transient: neither counts nor resets
    assert not breaker.tripped and breaker.consecutive_rejections == 4
    breaker.on_send_error(ErrorKind.REJECTED, 12 * SEC)
    assert breaker.tripped and breaker.trips == 1
    status = breaker.status(12 * SEC, feeds_healthy=True)
    assert status.paused and status.reason == "5 consecutive order rejections"


def test_breaker_resumes_only_after_cooldown_clean_reconcile_and_healthy_feeds():
    breaker = CircuitBreaker(BREAKER)
    breaker.on_reconcile(clean=True, snapshot_ns=50 * SEC)  # before the trip: does not count
    for _ in range(5):
        breaker.on_send_error(ErrorKind.REJECTED, 100 * SEC)
    assert breaker.status(170 * SEC, True).waiting_for == ("clean reconcile",)
    breaker.on_reconcile(clean=True, snapshot_ns=110 * SEC)
    assert breaker.status(159 * SEC, True).waiting_for == ("cooldown",)
    assert breaker.status(160 * SEC, False).waiting_for == ("feeds",)
    breaker.on_reconcile(clean=False, snapshot_ns=161 * SEC)  # a dirty one cancels the earlier clean one
    assert breaker.status(162 * SEC, True).waiting_for == ("clean reconcile",)
    breaker.on_reconcile(clean=True, snapshot_ns=163 * SEC)
    status = breaker.status(163 * SEC, True)
    assert not status.paused and status.reason is None
    assert not breaker.tripped and breaker.consecutive_rejections == 0
    breaker.on_send_error(ErrorKind.REJECTED, 164 * SEC)  # counting starts afresh
    assert not breaker.tripped


def test_new_failure_while_tripped_restarts_the_cooldown():
    breaker = CircuitBreaker(BREAKER)
    for _ in range(5):
        breaker.on_send_error(ErrorKind.REJECTED, 0)
    breaker.on_send_error(ErrorKind.REJECTED, 50 * SEC)
    breaker.on_reconcile(clean=True, snapshot_ns=60 * SEC)
    assert breaker.status(70 * SEC, True).waiting_for == ("cooldown",)
    assert not breaker.status(110 * SEC, True).paused
    assert breaker.trips == 1


def test_post_only_cancels_counted_per_window():
    breaker = CircuitBreaker(BREAKER)
    for t in (0, 10, 20, 31, 45, 70):  # never 5 within 30 s
        breaker.on_post_only_cancel(t * SEC)
    assert not breaker.tripped
    for t in (71, 72):  # 45, 70, 71, 72: four within 30 s
        breaker.on_post_only_cancel(t * SEC)
    assert not breaker.tripped
    breaker.on_post_only_cancel(73 * SEC)  # the fifth
    assert breaker.tripped
    assert "post-only" in breaker.status(73 * SEC, True).reason


def test_stuck_slots_force_cleared_after_five_lookups():
    slots = initial_slots(2)
    slots[(Side.BID, 0)] = OrderSlot(Side.BID, 0, SlotState.PLACING, ClientOrderIndex(8), lookups=5)
    slots[(Side.ASK, 0)] = OrderSlot(Side.ASK, 0, SlotState.PLACING, ClientOrderIndex(9), lookups=4)
    slots[(Side.ASK, 1)] = OrderSlot(
        Side.ASK, 1, SlotState.CANCELING, ClientOrderIndex(10), OrderIndex(2**48), 1, 1, lookups=7
    )
    assert stuck_slots(slots) == [(Side.BID, 0), (Side.ASK, 1)]


# --- 429 backoff -----------------------------------------------------------------------------------------


def test_backoff_sequence_doubles_from_15_to_120():
    backoff = RateLimitBackoff(BackoffParams())
    delays = []
    now = 0
    for _ in range(6):
        until = backoff.on_rate_limited(now)
        delays.append((until - now) // SEC)
        assert not backoff.may_send(until - 1)
        assert backoff.may_send(until)
        now = until
    assert delays == [15, 30, 60, 120, 120, 120]


def test_backoff_resets_after_two_consecutive_successes():
    backoff = RateLimitBackoff()
    backoff.on_rate_limited(0)
    backoff.on_rate_limited(15 * SEC)  # level 2
    backoff.on_success(50 * SEC)
    assert backoff.level == 2
    backoff.on_rate_limited(51 * SEC)  # a 429 between successes: the run starts over, level 3
    assert backoff.blocked_until_ns == 51 * SEC + 60 * SEC
    backoff.on_success(120 * SEC)
    backoff.on_success(121 * SEC)
    assert backoff.level == 0
    assert backoff.on_rate_limited(200 * SEC) == 215 * SEC


def test_backoff_decays_at_first_success_five_minutes_after_the_last_429():
    backoff = RateLimitBackoff()
    for t in (0, 15, 45):
        backoff.on_rate_limited(t * SEC)
    backoff.on_success(345 * SEC)  # exactly 300 s: not yet
    assert backoff.level == 3
    backoff = RateLimitBackoff()
    for t in (0, 15, 45):
        backoff.on_rate_limited(t * SEC)
    backoff.on_success(346 * SEC)
    assert backoff.level == 0


# --- reconciliation --------------------------------------------------------------------------------------


def exchange(oid, cid, status="open", side=Side.BID, price=999_000, lots=20):
    return OrderReport(
        OrderIndex(2**48 + oid), None if cid is None else ClientOrderIndex(cid), side, status, price, lots
    )


def tracked():
    slots = initial_slots(1)
    slots[(Side.BID, 0)] = OrderSlot(
        Side.BID, 0, SlotState.LIVE, ClientOrderIndex(11), OrderIndex(2**48 + 1), 999_000, 20, since_ns=0
    )
    slots[(Side.ASK, 0)] = OrderSlot(
        Side.ASK, 0, SlotState.PLACING, ClientOrderIndex(12), None, 1_001_000, 20, since_ns=100 * SEC
    )
    return slots


def test_reconcile_clean_when_exchange_matches():
    orders = [exchange(1, 11), exchange(2, 12, "in-progress", Side.ASK, 1_001_000)]
    result = reconcile_orders(tracked(), orders, snapshot_ns=101 * SEC)
    assert result.clean
    assert result.cancel_unknown == () and result.clear == ()
    assert [key for key, _ in result.updates] == [(Side.BID, 0), (Side.ASK, 0)]
    placed = on_order_report(tracked()[(Side.ASK, 0)], result.updates[1][1], 101 * SEC)
    assert placed.state is SlotState.LIVE and placed.order_index == OrderIndex(2**48 + 2)


def test_reconcile_cancels_live_orders_we_do_not_track():
    orders = [exchange(1, 11), exchange(7, 999), exchange(8, None), exchange(9, 555, "canceled")]
    result = reconcile_orders(tracked(), orders, snapshot_ns=101 * SEC)
    assert result.cancel_unknown == (OrderIndex(2**48 + 7), OrderIndex(2**48 + 8))
    assert not result.clean


def test_reconcile_grace_for_just_sent_orders():
    only_bid = [exchange(1, 11)]
    within = reconcile_orders(tracked(), only_bid, snapshot_ns=109 * SEC)  # PLACING sent at 100 s
    assert within.clean and within.within_grace == ((Side.ASK, 0),)
    beyond = reconcile_orders(tracked(), only_bid, snapshot_ns=110 * SEC)
    assert beyond.clear == ((Side.ASK, 0),) and not beyond.clean
    # a snapshot taken before the send can never clear it
    before = reconcile_orders(tracked(), only_bid, snapshot_ns=99 * SEC)
    assert before.within_grace == ((Side.ASK, 0),)


def test_reconcile_clears_vanished_and_terminal_orders():
    vanished = reconcile_orders(tracked(), [], snapshot_ns=105 * SEC)
    assert vanished.clear == ((Side.BID, 0),)  # LIVE since 0 s: absent long past the grace
    assert vanished.within_grace == ((Side.ASK, 0),)
    proven = reconcile_orders(
        tracked(), [exchange(1, 11, "filled"), exchange(2, 12, "canceled-post-only")], snapshot_ns=101 * SEC
    )
    assert proven.clear == ((Side.BID, 0), (Side.ASK, 0))


def test_reconcile_unknown_status_is_live_and_looked_up():
    result = reconcile_orders(tracked(), [exchange(1, 11, "weird")], snapshot_ns=101 * SEC)
    assert result.needs_lookup == ((Side.BID, 0),)
    assert result.updates[0][0] == (Side.BID, 0)
    assert result.clear == () and result.cancel_unknown == ()


def test_mismatch_debounce_pauses_after_n_in_a_row():
    dirty = ReconcileResult((OrderIndex(2**48 + 5),), (), (), (), ())
    clean = ReconcileResult((), (), (), ((Side.BID, 0),), ())
    debounce = MismatchDebouncer(2)
    assert debounce.observe(dirty) is False
    assert debounce.observe(clean) is False  # reset
    assert debounce.observe(dirty) is False
    assert debounce.observe(dirty) is True
    with pytest.raises(ValueError):
        MismatchDebouncer(0)


def test_poller_faster_while_order_channel_down():
    assert poll_interval_ns(3 * SEC, True) == 3 * SEC
    assert poll_interval_ns(3 * SEC, False) == 1 * SEC
    assert poll_interval_ns(1 * SEC, False) == SEC // 2


# --- quota recovery --------------------------------------------------------------------------------------

BTC = MarketRules(price_decimals=1, size_decimals=5, min_base_lots=20, min_quote_amount_usd=10.0)
NOW = 1000 * SEC
MARKET = RecoveryMarket(
    quota_remaining=4,
    position_lots=0,
    best_bid_tick=1_000_000,
    best_ask_tick=1_000_002,
    volatility_usd_per_sqrt_s=3.16,
    max_position_usd=1000.0,
    warmup_done_ns=0,
    free_slot_ready=True,
)
PARAMS = default_params().recovery


def plan(state=RecoveryState(), now=NOW, params=PARAMS, **market):  # noqa: B008
    return plan_quota_recovery(params, state, replace(MARKET, **market), BTC, now)


def test_recovery_gates():
    assert plan(quota_remaining=None)[1] == RecoveryIdle("quota not below the trigger")
    assert plan(quota_remaining=5)[1] == RecoveryIdle("quota not below the trigger")
    assert plan(params=replace(PARAMS, enabled=False))[1] == RecoveryIdle("disabled")
    assert isinstance(plan(maker_only_key=True)[1], RecoveryIdle)
    assert plan(warmup_done_ns=None)[1] == RecoveryIdle("post-warm-up grace")
    assert plan(warmup_done_ns=NOW - 119 * SEC)[1] == RecoveryIdle("post-warm-up grace")
    recent = RecoveryState(last_cycle_end_ns=NOW - 100 * SEC)
    assert plan(recent)[1] == RecoveryIdle("cooldown")
    assert plan(free_slot_ready=False)[1] == RecoveryIdle("waiting for the free slot")
    assert plan(max_position_usd=None)[1] == RecoveryIdle("no position room for a round trip")
    assert plan(max_position_usd=0.0)[1] == RecoveryIdle("no position room for a round trip")


def test_flat_recovery_is_a_round_trip_sized_for_the_target():
    state, order = plan()
    # 46 points * $7 / (2 legs * 3 attempts) = $53.67 -> 54 lots; buy IOC at ask + 3 bp = 1_000_302.0006 -> up
    assert order == RecoveryOrder(Leg.OPEN, Side.BID, 54, 1_000_303, reduce_only=False)
    assert state.round_trip_open and state.attempts == 1 and state.cycle_started_ns == NOW
    # the closing leg comes next, whatever else holds (even with recovery disabled meanwhile)
    closing_state, close = plan(state, now=NOW + 15 * SEC, position_lots=54, params=replace(PARAMS, enabled=False))
    assert close == RecoveryOrder(Leg.CLOSE, Side.ASK, 54, 999_700, reduce_only=True)
    assert closing_state == state  # still open until the position is back to flat
    # a partial fill is closed by what was filled
    assert plan(state, position_lots=30)[1] == RecoveryOrder(Leg.CLOSE, Side.ASK, 30, 999_700, True)
    # no free slot and no quota: wait, but send nothing else
    assert plan(state, position_lots=30, free_slot_ready=False, quota_remaining=0)[1] == RecoveryIdle(
        "round trip open: waiting for the free slot to close it"
    )
    # flat again: the next attempt may start
    after, next_order = plan(state, now=NOW + 30 * SEC, position_lots=0)
    assert isinstance(next_order, RecoveryOrder) and next_order.leg is Leg.OPEN and after.attempts == 2


def test_round_trip_capped_by_the_position_limit():
    _, order = plan(max_position_usd=30.0)  # $30 / $100_030.3 -> 29 lots
    assert order == RecoveryOrder(Leg.OPEN, Side.BID, 29, 1_000_303, reduce_only=False)
    assert plan(max_position_usd=15.0)[1] == RecoveryIdle(
        "loss budget or position limit below the exchange minimum order"
    )


def test_positioned_recovery_only_reduces():
    state, order = plan(position_lots=500, quota_remaining=0)
    # 50 points * $7 / 3 attempts = $116.67 -> 117 lots, sell reduce-only at bid - 3 bp
    assert order == RecoveryOrder(Leg.REDUCE, Side.ASK, 117, 999_700, reduce_only=True)
    assert not state.round_trip_open
    _, short = plan(position_lots=-60, quota_remaining=0)
    assert short == RecoveryOrder(Leg.REDUCE, Side.BID, 60, 1_000_303, reduce_only=True)
    # a position below the exchange minimum: a minimum-size reduce-only order, clipped by the exchange
    _, tiny = plan(position_lots=5, quota_remaining=0)
    assert tiny == RecoveryOrder(Leg.REDUCE, Side.ASK, 20, 999_700, reduce_only=True)


def test_loss_budget_caps_the_size():
    # worst case of a round trip ~ 14.07 bp of notional: $0.10 affords ~$71 -> 71 lots; $0.02 -> 14 < 20
    _, order = plan(params=replace(PARAMS, max_loss_usd=0.10, target_quota=200))
    assert order.size_lots == 71
    assert plan(params=replace(PARAMS, max_loss_usd=0.02))[1] == RecoveryIdle(
        "loss budget or position limit below the exchange minimum order"
    )


def test_cycle_ends_on_target_attempts_or_loss():
    started = RecoveryState(cycle_started_ns=NOW - 60 * SEC, attempts=1)
    state, decision = plan(started, quota_remaining=50)
    assert decision == RecoveryIdle("target quota reached") and state == RecoveryState(last_cycle_end_ns=NOW)
    state, decision = plan(replace(started, attempts=3))
    assert decision == RecoveryIdle("attempts exhausted") and state.last_cycle_end_ns == NOW
    assert plan(state, now=NOW + 119 * SEC)[1] == RecoveryIdle("cooldown")
    assert isinstance(plan(state, now=NOW + 120 * SEC)[1], RecoveryOrder)
    spent = record_cost(record_cost(started, 1.5), 0.5)
    assert plan(spent)[1] == RecoveryIdle("loss limit reached")


def test_recovery_never_leaves_open_a_position_it_did_not_find():
    rng = random.Random(7)
    legs_seen: set[Leg] = set()
    for trial in range(200):
        found = rng.choice([0, 0, 0, 5, 300, -300])
        position = found
        state = RecoveryState()
        now = NOW
        quota = rng.randint(0, 4)
        for _ in range(12):
            now += 15 * SEC
            state, decision = plan(
                state, now=now, position_lots=position, quota_remaining=quota, free_slot_ready=rng.random() < 0.8
            )
            if not isinstance(decision, RecoveryOrder):
                continue
            legs_seen.add(decision.leg)
            filled = rng.randint(0, decision.size_lots)  # IOC: anything from nothing to all
            signed = filled if decision.side is Side.BID else -filled
            if decision.reduce_only:  # the exchange never lets a reduce-only order flip the position
                assert decision.side is (Side.ASK if position > 0 else Side.BID), (trial, decision)
                signed = max(signed, -position) if position > 0 else min(signed, -position)
            else:
                assert position == 0 and decision.leg is Leg.OPEN, (trial, decision)
            position += signed
            quota += filled // 7  # a lot is ~$1 here: +1 point per $7
        # finish any open round trip, as the caller must
        if state.round_trip_open and position != 0:
            state, decision = plan(state, now=now + 15 * SEC, position_lots=position, quota_remaining=quota)
            assert isinstance(decision, RecoveryOrder) and decision.leg is Leg.CLOSE and decision.reduce_only
            assert decision.size_lots == abs(position) and (decision.side is Side.ASK) == (position > 0)
            position = 0
        assert abs(position) <= abs(found), (trial, found, position)
        assert position == 0 or (position > 0) == (found > 0)
    assert legs_seen == set(Leg)  # the simulation exercised every kind of leg
