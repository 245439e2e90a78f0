# ids.py, order_state.py, orders.py, order_diff.py: id types, the lifecycle table, slot events, the diff.
from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmm.core.ids import (
    EPOCH_MS,
    LANES,
    MAX_CLIENT_ORDER_INDEX,
    ClientOrderIndex,
    ClientOrderIndexAllocator,
    OrderIndex,
)
from lmm.core.order_diff import (
    CancelOp,
    CancelReason,
    CreateOp,
    DiffParams,
    ModifyOp,
    diff_orders,
    effective_threshold_bps,
    quota_multiplier,
    requote_threshold_warning,
)
from lmm.core.order_state import (
    TRANSITIONS,
    IllegalTransition,
    Side,
    SlotEvent,
    SlotState,
    StatusClass,
    classify_status,
    is_live_status,
    next_state,
)
from lmm.core.orders import (
    OrderReport,
    OrderSlot,
    check_timeout,
    in_flight_exposure,
    initial_slots,
    match_report,
    on_cleared,
    on_lookup_result,
    on_order_report,
    on_send_failed,
    on_sent_cancel,
    on_sent_create,
    on_sent_modify,
)
from lmm.core.quoting import QuoteLevel, TargetQuotes

T0_MS = 1_780_000_000_000  # 2026
SEC = 10**9
CID = ClientOrderIndex(1234)
OID = OrderIndex(2**48 + 77)


# --- ids -------------------------------------------------------------------------------------------------


def test_id_types_reject_each_others_range():
    with pytest.raises(ValueError):
        OrderIndex(1234)  # a client order index passed as an exchange id
    with pytest.raises(ValueError):
        ClientOrderIndex(2**48)  # an exchange id passed as a client index
    with pytest.raises(ValueError):
        ClientOrderIndex(0)  # 0 means "none" on Lighter
    with pytest.raises(ValueError):
        ClientOrderIndex(True)  # not an int in disguise
    assert ClientOrderIndex(MAX_CLIENT_ORDER_INDEX).value == 2**48 - 1
    assert ClientOrderIndex(5) != OrderIndex(2**48 + 5)


def test_allocator_unique_and_monotonic_within_a_burst():
    allocator = ClientOrderIndexAllocator(lane=3)
    issued = [allocator.next(T0_MS) for _ in range(1000)]  # far more than 4 per ms
    values = [c.value for c in issued]
    assert values == sorted(set(values))
    assert all(v % LANES == 3 for v in values)
    assert all(v <= MAX_CLIENT_ORDER_INDEX for v in values)


def test_allocator_monotonic_across_restarts():
    first_run = ClientOrderIndexAllocator()
    last = None
    for i in range(5000):  # 5000 orders over 10 s
        last = first_run.next(T0_MS + i * 2)
    restarted = ClientOrderIndexAllocator()  # a new process, no memory of the previous one
    assert restarted.next(T0_MS + 10_001).value > last.value


def test_allocator_clock_stepping_back_stays_monotonic_in_process():
    allocator = ClientOrderIndexAllocator()
    a = allocator.next(T0_MS)
    b = allocator.next(T0_MS - 60_000)
    assert b.value > a.value


def test_allocator_lanes_never_collide_at_the_same_instant():
    lanes = [ClientOrderIndexAllocator(lane=lane) for lane in range(LANES)]
    values = {alloc.next(T0_MS).value for alloc in lanes for _ in range(3)}
    assert len(values) == LANES * 3


def test_allocator_stays_below_2_pow_48_for_centuries():
    year_ms = 365 * 86_400_000
    index = ClientOrderIndexAllocator(lane=LANES - 1).next(EPOCH_MS + 270 * year_ms)
    assert index.value < 2**48
    with pytest.raises(ValueError):
        ClientOrderIndexAllocator(lane=LANES)


# --- transition table ------------------------------------------------------------------------------------


def test_every_state_event_pair_follows_the_table_or_raises_naming_both():
    legal = 0
    for state, event in itertools.product(SlotState, SlotEvent):
        if (state, event) in TRANSITIONS:
            assert next_state(state, event) is TRANSITIONS[(state, event)]
            legal += 1
        else:
            with pytest.raises(IllegalTransition) as info:
                next_state(state, event)
            assert state.value in str(info.value) and event.value in str(info.value)
    assert legal == len(TRANSITIONS) == 24


def test_every_state_reachable_and_every_busy_state_can_return_to_idle():
    reachable = {SlotState.IDLE}
    frontier = [SlotState.IDLE]
    while frontier:
        state = frontier.pop()
        for (src, _), dst in TRANSITIONS.items():
            if src is state and dst not in reachable:
                reachable.add(dst)
                frontier.append(dst)
    assert reachable == set(SlotState)
    for state in SlotState:
        if state is not SlotState.IDLE:
            assert TRANSITIONS[(state, SlotEvent.CLEARED)] is SlotState.IDLE
            assert TRANSITIONS[(state, SlotEvent.TERMINAL)] is SlotState.IDLE


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("in-progress", StatusClass.LIVE),
        ("pending", StatusClass.LIVE),
        ("open", StatusClass.LIVE),
        ("filled", StatusClass.TERMINAL),
        ("canceled", StatusClass.TERMINAL),
        ("canceled-post-only", StatusClass.TERMINAL),
        ("canceled-reduce-only", StatusClass.TERMINAL),
        ("canceled-expired", StatusClass.TERMINAL),
        ("canceled-self-trade", StatusClass.TERMINAL),
        ("canceled-margin-not-allowed", StatusClass.TERMINAL),
        ("partial_filled", StatusClass.UNKNOWN),
        ("", StatusClass.UNKNOWN),
    ],
)
def test_lighter_statuses(status, expected):
    assert classify_status(status) is expected
    assert is_live_status(status) is (expected is not StatusClass.TERMINAL)


# --- slot events -----------------------------------------------------------------------------------------


def report(status="open", price=999_000, lots=20, cid=CID, oid=OID, side=Side.BID):
    return OrderReport(
        order_index=oid, client_index=cid, side=side, status=status, price_tick=price, remaining_lots=lots
    )


def test_create_stays_placing_until_the_exchange_reports_it():
    slot = on_sent_create(OrderSlot(Side.BID, 0), CID, 999_000, 20, now_ns=1 * SEC)
    assert slot.state is SlotState.PLACING and slot.order_index is None
    live = on_order_report(slot, report("in-progress"), now_ns=2 * SEC)  # in-progress is live (E4)
    assert live.state is SlotState.LIVE
    assert live.order_index == OID and live.client_index == CID
    assert (live.price_tick, live.size_lots) == (999_000, 20)


def test_unknown_status_counts_as_live_and_asks_for_reconcile():
    slot = on_sent_create(OrderSlot(Side.BID, 0), CID, 999_000, 20, now_ns=0)
    live = on_order_report(slot, report("mystery"), now_ns=SEC)
    assert live.state is SlotState.LIVE and live.needs_reconcile


def test_modify_confirmed_only_by_a_report_at_the_new_price():
    live = on_order_report(on_sent_create(OrderSlot(Side.BID, 0), CID, 999_000, 20, 0), report(), SEC)
    modifying = on_sent_modify(live, 998_000, 20, now_ns=2 * SEC)
    still = on_order_report(modifying, report(price=999_000), now_ns=3 * SEC)  # an older report
    assert still.state is SlotState.MODIFYING
    done = on_order_report(still, report(price=998_000, lots=15), now_ns=4 * SEC)  # moved, partly filled
    assert done.state is SlotState.LIVE
    assert (done.price_tick, done.size_lots) == (998_000, 15)


def test_size_only_modify_confirmed_by_the_new_size():
    live = on_order_report(on_sent_create(OrderSlot(Side.BID, 0), CID, 999_000, 20, 0), report(), SEC)
    modifying = on_sent_modify(live, 999_000, 30, now_ns=2 * SEC)
    assert on_order_report(modifying, report(lots=20), 3 * SEC).state is SlotState.MODIFYING
    assert on_order_report(modifying, report(lots=30), 3 * SEC).state is SlotState.LIVE


def test_cancel_then_terminal_returns_to_idle():
    live = on_order_report(on_sent_create(OrderSlot(Side.ASK, 1), CID, 1_001_000, 20, 0), report(side=Side.ASK), 1)
    canceling = on_sent_cancel(live, now_ns=2)
    assert on_order_report(canceling, report("open"), 3).state is SlotState.CANCELING  # late report
    idle = on_order_report(canceling, report("canceled"), 4)
    assert idle == OrderSlot(Side.ASK, 1)


def test_send_failed_rolls_back_per_state():
    placing = on_sent_create(OrderSlot(Side.BID, 0), CID, 999_000, 20, 0)
    assert on_send_failed(placing, 1) == OrderSlot(Side.BID, 0)
    live = on_order_report(placing, report(), 1)
    assert on_send_failed(on_sent_modify(live, 998_000, 20, 2), 3).state is SlotState.LIVE
    assert on_send_failed(on_sent_cancel(live, 2), 3).state is SlotState.LIVE


def test_illegal_moves_raise():
    with pytest.raises(IllegalTransition):
        on_sent_cancel(OrderSlot(Side.BID, 0), 0)  # nothing to cancel
    placing = on_sent_create(OrderSlot(Side.BID, 0), CID, 999_000, 20, 0)
    with pytest.raises(IllegalTransition):
        on_sent_create(placing, ClientOrderIndex(99), 999_000, 20, 1)  # a second create over a pending one
    with pytest.raises(IllegalTransition):
        on_sent_modify(placing, 998_000, 20, 1)


def test_placing_timeout_asks_for_a_lookup_never_clears():
    timeout = 30 * SEC
    placing = on_sent_create(OrderSlot(Side.BID, 0), CID, 999_000, 20, now_ns=100 * SEC)
    same, none = check_timeout(placing, 129 * SEC, timeout)
    assert none is None and same == placing
    after, lookup = check_timeout(placing, 130 * SEC, timeout)
    assert lookup is not None
    assert (lookup.client_index, lookup.order_index, lookup.state) == (CID, None, SlotState.PLACING)
    assert after.state is SlotState.PLACING and after.lookups == 1
    assert check_timeout(after, 159 * SEC, timeout)[1] is None  # the timer restarted
    again, lookup2 = check_timeout(after, 160 * SEC, timeout)
    assert lookup2 is not None and again.lookups == 2
    assert on_cleared(again) == OrderSlot(Side.BID, 0)  # only an explicit decision clears it


def test_lookup_answer_resolves_the_slot():
    placing = on_sent_create(OrderSlot(Side.BID, 0), CID, 999_000, 20, now_ns=0)
    assert on_lookup_result(placing, None, 31 * SEC) == OrderSlot(Side.BID, 0)  # never landed
    assert on_lookup_result(placing, report("open"), 31 * SEC).state is SlotState.LIVE
    assert on_lookup_result(placing, report("canceled-post-only"), 31 * SEC) == OrderSlot(Side.BID, 0)
    live = on_order_report(placing, report(), SEC)
    modifying = on_sent_modify(live, 998_000, 20, 2 * SEC)
    lost = on_lookup_result(modifying, report(price=999_000), 40 * SEC)  # modify never took effect
    assert (lost.state, lost.price_tick, lost.pending_price_tick) == (SlotState.LIVE, 999_000, 0)
    assert on_lookup_result(modifying, report(price=998_000), 40 * SEC).state is SlotState.LIVE
    canceling = on_sent_cancel(live, 2 * SEC)
    assert on_lookup_result(canceling, report("open"), 40 * SEC).state is SlotState.LIVE
    assert on_lookup_result(canceling, report("canceled"), 40 * SEC) == OrderSlot(Side.BID, 0)
    assert on_lookup_result(canceling, None, 40 * SEC) == OrderSlot(Side.BID, 0)


def test_live_slots_never_time_out():
    live = on_order_report(on_sent_create(OrderSlot(Side.BID, 0), CID, 999_000, 20, 0), report(), 0)
    assert check_timeout(live, 10**6 * SEC, 30 * SEC) == (live, None)


def test_reports_matched_by_client_index_then_order_index():
    slots = initial_slots(2)
    slots[(Side.BID, 0)] = on_sent_create(slots[(Side.BID, 0)], CID, 999_000, 20, 0)
    other = ClientOrderIndex(555)
    slots[(Side.ASK, 1)] = on_order_report(
        on_sent_create(slots[(Side.ASK, 1)], other, 1_002_000, 20, 0), report(cid=other, oid=OrderIndex(2**48 + 9)), 1
    )
    assert match_report(slots.values(), report()) == (Side.BID, 0)
    assert match_report(slots.values(), report(cid=None, oid=OrderIndex(2**48 + 9))) == (Side.ASK, 1)
    assert match_report(slots.values(), report(cid=ClientOrderIndex(7), oid=OrderIndex(2**48 + 1))) is None


def test_exposure_counts_resting_and_in_flight():
    slots = initial_slots(2)
    slots[(Side.BID, 0)] = on_sent_create(slots[(Side.BID, 0)], CID, 999_000, 20, 0)  # unacknowledged
    live_ask = on_order_report(
        on_sent_create(slots[(Side.ASK, 0)], ClientOrderIndex(9), 1_001_000, 25, 0), report(lots=25, side=Side.ASK), 0
    )
    slots[(Side.ASK, 0)] = on_sent_modify(live_ask, 1_001_500, 40, 1)  # either 25 or 40 may rest
    exposure = in_flight_exposure(slots.values())
    assert (exposure.bid_lots, exposure.ask_lots) == (20, 40)
    assert exposure.worst_long_lots(100) == 120
    assert exposure.worst_short_lots(100) == -60


# --- requote thresholds ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quota", "multiplier"),
    [(None, 1.0), (10_000, 1.0), (500, 1.0), (499, 2.0), (50, 2.0), (49, 3.5), (10, 3.5), (9, 5.0), (0, 5.0)],
)
def test_quota_multipliers(quota, multiplier):
    assert quota_multiplier(quota) == multiplier
    assert effective_threshold_bps(10.0, quota) == 10.0 * multiplier


def test_startup_warning_when_threshold_not_below_min_half_spread():
    warning = requote_threshold_warning(10.0, 8.0)
    assert warning is not None and "default_quote_update_threshold_bps" in warning and "4" in warning
    assert requote_threshold_warning(8.0, 8.0) is not None
    assert requote_threshold_warning(4.0, 8.0) is None


# --- diff ------------------------------------------------------------------------------------------------

FAIR = 1_000_000.0
PARAMS = DiffParams(base_threshold_bps=4.0, min_half_spread_bps=8.0, max_live_orders=4)
BID_OID = OrderIndex(2**48 + 1)
ASK_OID = OrderIndex(2**48 + 2)


def live(side, level, price, lots, oid):
    return OrderSlot(side, level, SlotState.LIVE, ClientOrderIndex(100 + level), oid, price, lots)


def two_live():
    return {
        (Side.BID, 0): live(Side.BID, 0, 999_000, 20, BID_OID),
        (Side.ASK, 0): live(Side.ASK, 0, 1_001_000, 20, ASK_OID),
    }


def targets(bids=((999_000, 20),), asks=((1_001_000, 20),), **flags):
    return TargetQuotes(
        bids=tuple(QuoteLevel(p, s) for p, s in bids), asks=tuple(QuoteLevel(p, s) for p, s in asks), **flags
    )


def diff(target, slots, quota=None, params=PARAMS, position_lots=0, fair=FAIR):
    return diff_orders(target, slots, fair_tick=fair, quota_remaining=quota, params=params, position_lots=position_lots)


def test_nothing_inside_tolerance():
    # bid moves 300 ticks = 3.0 bp < 4 bp; ask moves 399 ticks = 3.99 bp
    assert diff(targets(bids=((998_700, 20),), asks=((1_001_399, 20),)), two_live()) == []


def test_price_past_threshold_is_modified_not_recreated():
    ops = diff(targets(bids=((998_500, 20),)), two_live())  # 500 ticks / 999_000 = 5.005 bp > 4
    assert ops == [ModifyOp(Side.BID, 0, BID_OID, 998_500, 20)]


def test_size_change_of_one_lot_is_modified():
    ops = diff(targets(asks=((1_001_000, 21),)), two_live())
    assert ops == [ModifyOp(Side.ASK, 0, ASK_OID, 1_001_000, 21)]


def test_quota_widens_the_threshold():
    target = targets(bids=((998_500, 20),))  # 5.005 bp
    assert diff(target, two_live(), quota=500) == [ModifyOp(Side.BID, 0, BID_OID, 998_500, 20)]
    assert diff(target, two_live(), quota=499) == []  # 2x: 8 bp
    assert diff(targets(bids=((998_300, 20),)), two_live(), quota=50) == []  # 7.007 bp < 8
    assert diff(targets(bids=((998_100, 20),)), two_live(), quota=50) != []  # 9.009 bp > 8
    assert diff(targets(bids=((997_700, 20),)), two_live(), quota=49) == []  # 3.5x: 13.01 bp < 14
    assert diff(targets(bids=((997_500, 20),)), two_live(), quota=10) == [
        ModifyOp(Side.BID, 0, BID_OID, 997_500, 20)
    ]  # 15.02 bp > 14
    assert diff(targets(bids=((997_100, 20),)), two_live(), quota=9) == []  # 5x: 19.02 bp < 20
    assert diff(targets(bids=((996_900, 20),)), two_live(), quota=0) == [
        ModifyOp(Side.BID, 0, BID_OID, 996_900, 20)
    ]  # 21.02 bp > 20


def test_no_resend_while_a_cancel_or_create_or_modify_is_pending():
    slots = two_live()
    slots[(Side.BID, 0)] = replace(slots[(Side.BID, 0)], state=SlotState.CANCELING)
    slots[(Side.ASK, 0)] = OrderSlot(Side.ASK, 0, SlotState.PLACING, ClientOrderIndex(5), None, 1_001_000, 20)
    far = targets(bids=((990_000, 20),), asks=((1_010_000, 20),))
    assert diff(far, slots) == []
    assert diff(None, slots) == []  # not even a cancel on top of a pending create or cancel
    slots[(Side.BID, 0)] = replace(two_live()[(Side.BID, 0)], state=SlotState.MODIFYING)
    assert diff(far, slots) == []


def test_suppressed_side_is_cancelled_and_nothing_else_moves():
    ops = diff(targets(bids=()), two_live())
    assert ops == [CancelOp(Side.BID, 0, BID_OID, CancelReason.NO_TARGET)]
    assert diff(None, two_live()) == [
        CancelOp(Side.BID, 0, BID_OID, CancelReason.NO_TARGET),
        CancelOp(Side.ASK, 0, ASK_OID, CancelReason.NO_TARGET),
    ]


def test_wrong_side_of_fair_price_is_cancelled_whatever_the_quota():
    slots = two_live()
    # the fair price jumped up through the resting ask: the ask now sits 1 bp below F
    ops = diff(targets(bids=((1_000_000, 20),), asks=((1_003_000, 20),)), slots, quota=0, fair=1_001_100.0)
    assert ops == [CancelOp(Side.ASK, 0, ASK_OID, CancelReason.TOO_CLOSE)]  # bid moved 10 bp < 20 bp
    # with plentiful quota the same order is moved instead (one op, no gap in the book)
    ops = diff(targets(bids=((997_000, 20),), asks=((1_003_000, 20),)), slots, quota=None, fair=1_001_100.0)
    assert ops == [
        ModifyOp(Side.BID, 0, BID_OID, 997_000, 20),
        ModifyOp(Side.ASK, 0, ASK_OID, 1_003_000, 20),
    ]


def test_order_closer_than_half_min_spread_is_cancelled_when_quota_is_scarce():
    slots = {(Side.BID, 0): live(Side.BID, 0, 999_700, 20, BID_OID)}  # 3 bp below F, b/2 = 4 bp
    ops = diff(targets(bids=((999_200, 20),), asks=()), slots, quota=100)  # moved 5 bp < 8 bp threshold
    assert ops == [CancelOp(Side.BID, 0, BID_OID, CancelReason.TOO_CLOSE)]
    # a base threshold above b/2 (the M6 misconfiguration) still protects at 1x
    loose = DiffParams(base_threshold_bps=10.0, min_half_spread_bps=8.0, max_live_orders=4)
    assert diff(targets(bids=((999_200, 20),), asks=()), slots, params=loose) == [
        CancelOp(Side.BID, 0, BID_OID, CancelReason.TOO_CLOSE)
    ]


def test_target_too_close_to_fair_price_is_not_created():
    assert diff(targets(bids=((999_800, 20),), asks=((1_001_000, 20),)), {}) == [CreateOp(Side.ASK, 0, 1_001_000, 20)]


def test_creates_fill_empty_slots_lowest_level_first_within_the_cap():
    two_levels = targets(bids=((999_000, 20), (998_000, 20)), asks=((1_001_000, 20), (1_002_000, 20)))
    capped = DiffParams(base_threshold_bps=4.0, min_half_spread_bps=8.0, max_live_orders=3)
    assert diff(two_levels, initial_slots(2), params=capped) == [
        CreateOp(Side.BID, 0, 999_000, 20),
        CreateOp(Side.ASK, 0, 1_001_000, 20),
        CreateOp(Side.BID, 1, 998_000, 20),
    ]
    # long: the reducing side (asks) first
    assert diff(two_levels, initial_slots(2), params=capped, position_lots=50) == [
        CreateOp(Side.ASK, 0, 1_001_000, 20),
        CreateOp(Side.BID, 0, 999_000, 20),
        CreateOp(Side.ASK, 1, 1_002_000, 20),
    ]


def test_cap_counts_in_flight_and_unconfirmed_cancels():
    slots = initial_slots(2)
    slots[(Side.BID, 1)] = replace(live(Side.BID, 1, 998_000, 20, BID_OID), state=SlotState.CANCELING)
    slots[(Side.ASK, 1)] = OrderSlot(Side.ASK, 1, SlotState.PLACING, ClientOrderIndex(3), None, 1_002_000, 20)
    one_level = targets()
    capped = DiffParams(base_threshold_bps=4.0, min_half_spread_bps=8.0, max_live_orders=3)
    # room for one create; the bid side waits for its cancel to be confirmed, so the ask gets it
    assert diff(one_level, slots, params=capped) == [CreateOp(Side.ASK, 0, 1_001_000, 20)]
    full = DiffParams(base_threshold_bps=4.0, min_half_spread_bps=8.0, max_live_orders=2)
    assert diff(one_level, slots, params=full) == []


def test_reduce_only_flag_carried_to_creates():
    target = targets(bids=(), asks=((1_001_000, 20),), reduce_only_asks=True)
    assert diff(target, {}) == [CreateOp(Side.ASK, 0, 1_001_000, 20, reduce_only=True)]


def test_diff_orders_cancels_before_modifies_before_creates():
    slots = two_live()
    slots[(Side.BID, 1)] = live(Side.BID, 1, 997_000, 20, OrderIndex(2**48 + 3))
    target = targets(bids=((998_000, 20),), asks=((1_001_000, 20), (1_002_000, 20)))
    assert diff(target, slots) == [
        CancelOp(Side.BID, 1, OrderIndex(2**48 + 3), CancelReason.NO_TARGET),
        ModifyOp(Side.BID, 0, BID_OID, 998_000, 20),
        CreateOp(Side.ASK, 1, 1_002_000, 20),
    ]


_STATES = [SlotState.IDLE, SlotState.PLACING, SlotState.LIVE, SlotState.MODIFYING, SlotState.CANCELING]


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(
    states=st.lists(st.sampled_from(_STATES), min_size=6, max_size=6),
    offsets=st.lists(st.integers(min_value=-3_000, max_value=3_000), min_size=6, max_size=6),
    target_depth=st.integers(min_value=0, max_value=3),
    quota=st.one_of(st.none(), st.integers(min_value=0, max_value=1_000)),
    max_live=st.integers(min_value=1, max_value=6),
)
def test_diff_invariants(states, offsets, target_depth, quota, max_live):
    slots = {}
    for i, (state, offset) in enumerate(zip(states, offsets, strict=True)):
        side, level = (Side.BID, i // 2) if i % 2 == 0 else (Side.ASK, i // 2)
        base = 999_000 - 1000 * level if side is Side.BID else 1_001_000 + 1000 * level
        oid = OrderIndex(2**48 + i) if state in (SlotState.LIVE, SlotState.MODIFYING, SlotState.CANCELING) else None
        cid = None if state is SlotState.IDLE else ClientOrderIndex(10 + i)
        slots[(side, level)] = OrderSlot(side, level, state, cid, oid, base + offset, 20)
    target = targets(
        bids=tuple((999_000 - 1000 * k, 20) for k in range(target_depth)),
        asks=tuple((1_001_000 + 1000 * k, 20) for k in range(target_depth)),
    )
    params = DiffParams(base_threshold_bps=4.0, min_half_spread_bps=8.0, max_live_orders=max_live)
    ops = diff(target, slots, quota=quota, params=params)
    active = sum(1 for s in slots.values() if s.state is not SlotState.IDLE)
    touched = [(op.side, op.level) for op in ops]
    assert len(touched) == len(set(touched))  # at most one op per slot
    for op in ops:
        slot = slots[(op.side, op.level)]
        if isinstance(op, CreateOp):
            assert slot.state is SlotState.IDLE
        elif isinstance(op, CancelOp) and slot.state is SlotState.MODIFYING:
            assert op.level >= target_depth and op.order_index == slot.order_index  # unwanted: cancelled
        else:
            assert slot.state is SlotState.LIVE and op.order_index == slot.order_index  # never resend
    creates = [op for op in ops if isinstance(op, CreateOp)]
    cancelling = {op.side for op in ops if isinstance(op, CancelOp)} | {
        s.side for s in slots.values() if s.state is SlotState.CANCELING}
    assert not any(op.side in cancelling for op in creates)  # cancel first, then place on that side
    assert active + len(creates) <= max(max_live, active)
    kinds = [type(op) for op in ops]
    assert kinds == sorted(kinds, key=[CancelOp, ModifyOp, CreateOp].index)
