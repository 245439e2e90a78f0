"""risk_reconcile's resync after a gap in the order stream, pure: which tracked orders to look up by client
index, and what the lookup's answers do to the slots."""
from __future__ import annotations

from lmm.core.ids import ClientOrderIndex, OrderIndex
from lmm.core.order_state import Side, SlotState
from lmm.core.orders import OrderReport, OrderSlot, initial_slots
from lmm.core.reconcile import lookup_client_indexes, resolve_after_gap

SEC = 10**9
SETTLE = 2 * SEC
REQUESTED = 103 * SEC
NOW = REQUESTED + SEC // 10
BID, ASK = (Side.BID, 0), (Side.ASK, 0)


def slot(side: Side, state: SlotState, cid: int, since_s: float, *, oid: int | None = 1, price: int = 999_000,
         pending_price: int = 0) -> OrderSlot:
    return OrderSlot(side, 0, state, ClientOrderIndex(cid), None if oid is None else OrderIndex(2**48 + oid),
                     price, 20, pending_price_tick=pending_price, pending_size_lots=20 if pending_price else 0,
                     since_ns=int(since_s * SEC))


def report(cid: int, status: str, *, oid: int = 1, side: Side = Side.BID, price: int = 999_000) -> OrderReport:
    return OrderReport(OrderIndex(2**48 + oid), ClientOrderIndex(cid), side, status, price, 20)


def resolve(slots: dict, reports: list[OrderReport], asked: set[int] | None = None) -> dict:
    asked = {s.client_index.value for s in slots.values() if s.client_index is not None} if asked is None else asked
    return resolve_after_gap(slots, reports, asked=asked, requested_ns=REQUESTED, settle_ns=SETTLE, now_ns=NOW)


def test_lookup_asks_for_every_tracked_order_within_the_venue_limit() -> None:
    slots = initial_slots(2)
    slots[BID] = slot(Side.BID, SlotState.CANCELING, 11, 100)
    slots[(Side.ASK, 1)] = slot(Side.ASK, SlotState.LIVE, 12, 90)
    assert sorted(lookup_client_indexes(slots)) == [11, 12]
    assert len(lookup_client_indexes(slots, limit=1)) == 1
    assert lookup_client_indexes(initial_slots(1)) == []


def test_a_terminal_answer_frees_the_slot_at_once_whatever_its_age() -> None:
    slots = {BID: slot(Side.BID, SlotState.CANCELING, 11, 102.9),  # cancel sent 0.1 s before the lookup
             ASK: slot(Side.ASK, SlotState.LIVE, 12, 102.9, oid=2, price=1_001_000)}
    updates = resolve(slots, [report(11, "canceled"), report(12, "filled", oid=2, side=Side.ASK)])
    assert {key: s.state for key, s in updates.items()} == {BID: SlotState.IDLE, ASK: SlotState.IDLE}


def test_a_settled_send_takes_the_lookups_answer() -> None:
    slots = {
        BID: slot(Side.BID, SlotState.MODIFYING, 11, 100, pending_price=999_500),  # the modify was lost
        ASK: slot(Side.ASK, SlotState.PLACING, 12, 100, oid=None, price=1_001_000),  # the create never landed
    }
    updates = resolve(slots, [report(11, "open")])
    assert updates[BID].state is SlotState.LIVE and updates[BID].price_tick == 999_000
    assert updates[ASK].state is SlotState.IDLE


def test_a_create_that_landed_goes_live() -> None:
    slots = {ASK: slot(Side.ASK, SlotState.PLACING, 12, 100, oid=None, price=1_001_000)}
    updates = resolve(slots, [report(12, "open", oid=7, side=Side.ASK, price=1_001_000)])
    assert updates[ASK].state is SlotState.LIVE and updates[ASK].order_index == OrderIndex(2**48 + 7)


def test_recent_sends_and_live_orders_are_left_to_the_stream() -> None:
    slots = {
        BID: slot(Side.BID, SlotState.CANCELING, 11, 101.5),  # within the settle time: may not show yet
        ASK: slot(Side.ASK, SlotState.LIVE, 12, 50, oid=2, price=1_001_000),
    }
    assert resolve(slots, [report(11, "open"), report(12, "open", oid=2, side=Side.ASK)]) == {}
    assert resolve(slots, []) == {}  # absent: the active-orders reconcile and its grace period decide


def test_only_what_was_asked_is_judged_absent() -> None:
    slots = {ASK: slot(Side.ASK, SlotState.PLACING, 12, 100, oid=None)}
    assert resolve(slots, [], asked={99}) == {}  # not looked up (beyond the limit): no answer, no change
    assert resolve(slots, [], asked={12})[ASK].state is SlotState.IDLE


def test_a_terminal_report_wins_over_a_live_one_for_the_same_order() -> None:
    slots = {BID: slot(Side.BID, SlotState.CANCELING, 11, 102.9)}
    assert resolve(slots, [report(11, "canceled"), report(11, "open")])[BID].state is SlotState.IDLE
    assert resolve(slots, [report(11, "open"), report(11, "canceled")])[BID].state is SlotState.IDLE
