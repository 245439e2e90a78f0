# Order slots: one per (side, level), their data, and the pure functions that move them through the
# lifecycle of order_state.TRANSITIONS.
#
# Rules:
# - Slots are frozen values; every function returns a new slot and never touches I/O or a clock
#   (`now_ns` comes in).
# - Exchange reports are matched to slots by client order index first, then by exchange order index;
#   the two are never interchanged (ids.py).
# - A slot waiting on the exchange (PLACING / MODIFYING / CANCELING) past the timeout yields a LookupRequest
#   (resolve by client order index over REST); it is never cleared blindly (defect E11).
# - Exposure counts what is in flight: resting plus sent-but-unacknowledged orders, per side.
# - Fills are read from the order's cumulative filled amount (``filled_base_amount``), so a report that
#   shrinks or ends an order also says how much of it traded (``fill_delta``), before any position update.
# The diff from target quotes to create / modify / cancel ops lives in order_diff.py.
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from lmm.core.ids import ClientOrderIndex, OrderIndex
from lmm.core.order_state import (
    Side,
    SlotEvent,
    SlotState,
    StatusClass,
    classify_status,
    next_state,
)

SlotKey = tuple[Side, int]  # (side, level)


@dataclass(frozen=True, slots=True)
class OrderReport:
    """An order as the exchange reports it (WS account_all_orders or REST), parsed at the edge."""

    order_index: OrderIndex
    client_index: ClientOrderIndex | None  # None when the exchange reports 0
    side: Side
    status: str
    price_tick: int
    remaining_lots: int
    filled_lots: int | None = None  # cumulative filled amount of the order; None when not reported


@dataclass(frozen=True, slots=True)
class OrderSlot:
    side: Side
    level: int
    state: SlotState = SlotState.IDLE
    client_index: ClientOrderIndex | None = None
    order_index: OrderIndex | None = None
    price_tick: int = 0  # where the order rests (PLACING: where it was sent)
    size_lots: int = 0  # remaining size as last known (PLACING: as sent)
    pending_price_tick: int = 0  # MODIFYING: the requested price
    pending_size_lots: int = 0  # MODIFYING: the requested size
    since_ns: int = 0  # when the slot last sent something or entered its state; drives the timeout
    lookups: int = 0  # timeouts in a row without an answer; the breaker force-clears after too many
    needs_reconcile: bool = False  # an unknown status was seen: treated as live, verify over REST
    filled_lots: int = 0  # cumulative filled amount of the current order, as last reported

    @property
    def key(self) -> SlotKey:
        return (self.side, self.level)

    @property
    def awaiting_exchange(self) -> bool:
        return self.state in (SlotState.PLACING, SlotState.MODIFYING, SlotState.CANCELING)


@dataclass(frozen=True, slots=True)
class LookupRequest:
    """Ask the exchange about an order whose outcome is overdue (`GET accountOrders` by client index)."""

    side: Side
    level: int
    client_index: ClientOrderIndex | None
    order_index: OrderIndex | None
    state: SlotState


@dataclass(frozen=True, slots=True)
class Exposure:
    """Lots that could still trade on each side: resting plus in flight."""

    bid_lots: int
    ask_lots: int

    def worst_long_lots(self, position_lots: int) -> int:
        return position_lots + self.bid_lots

    def worst_short_lots(self, position_lots: int) -> int:
        return -position_lots + self.ask_lots


def idle_slot(side: Side, level: int) -> OrderSlot:
    return OrderSlot(side=side, level=level)


def initial_slots(levels_per_side: int) -> dict[SlotKey, OrderSlot]:
    return {(side, level): idle_slot(side, level) for level in range(levels_per_side) for side in (Side.BID, Side.ASK)}


def _moved(slot: OrderSlot, event: SlotEvent) -> SlotState:
    return next_state(slot.state, event)


def on_sent_create(
    slot: OrderSlot, client_index: ClientOrderIndex, price_tick: int, size_lots: int, now_ns: int
) -> OrderSlot:
    state = _moved(slot, SlotEvent.SENT_CREATE)
    return replace(
        idle_slot(slot.side, slot.level),
        state=state,
        client_index=client_index,
        price_tick=price_tick,
        size_lots=size_lots,
        since_ns=now_ns,
    )


def on_sent_modify(slot: OrderSlot, price_tick: int, size_lots: int, now_ns: int) -> OrderSlot:
    state = _moved(slot, SlotEvent.SENT_MODIFY)
    return replace(
        slot, state=state, pending_price_tick=price_tick, pending_size_lots=size_lots, since_ns=now_ns, lookups=0
    )


def on_sent_cancel(slot: OrderSlot, now_ns: int) -> OrderSlot:
    state = _moved(slot, SlotEvent.SENT_CANCEL)
    return replace(slot, state=state, pending_price_tick=0, pending_size_lots=0, since_ns=now_ns, lookups=0)


def on_send_failed(slot: OrderSlot, now_ns: int) -> OrderSlot:
    """The venue refused the transaction (it did not happen). Not for ambiguous outcomes (timeouts)."""
    state = _moved(slot, SlotEvent.SEND_FAILED)
    if state is SlotState.IDLE:
        return idle_slot(slot.side, slot.level)
    return replace(slot, state=state, pending_price_tick=0, pending_size_lots=0, since_ns=now_ns, lookups=0)


def on_cleared(slot: OrderSlot) -> OrderSlot:
    _moved(slot, SlotEvent.CLEARED)
    return idle_slot(slot.side, slot.level)


def _modify_seen(slot: OrderSlot, report: OrderReport) -> bool:
    if report.price_tick != slot.pending_price_tick:
        return False
    # A price change is unambiguous; a size-only modify is seen when the size matches (fills may then
    # shrink it further, which the next LIVE report carries).
    return slot.pending_price_tick != slot.price_tick or report.remaining_lots == slot.pending_size_lots


def on_order_report(slot: OrderSlot, report: OrderReport, now_ns: int) -> OrderSlot:
    """Apply an exchange report already matched to this slot (see match_report)."""
    status_class = classify_status(report.status)
    if status_class is StatusClass.TERMINAL:
        _moved(slot, SlotEvent.TERMINAL)
        return idle_slot(slot.side, slot.level)
    unknown = status_class is StatusClass.UNKNOWN
    if slot.state is SlotState.MODIFYING and _modify_seen(slot, report):
        event = SlotEvent.MODIFY_CONFIRMED
    else:
        event = SlotEvent.EXCHANGE_LIVE
    state = _moved(slot, event)
    updated = replace(
        slot,
        state=state,
        order_index=report.order_index,
        client_index=slot.client_index or report.client_index,
        price_tick=report.price_tick,
        size_lots=report.remaining_lots,
        needs_reconcile=unknown,
        filled_lots=max(slot.filled_lots, report.filled_lots or 0),  # a stale REST report never lowers it
    )
    if state is not slot.state:  # a step forward: restart the timeout clock
        updated = replace(updated, since_ns=now_ns, lookups=0, pending_price_tick=0, pending_size_lots=0)
    return updated


def check_timeout(slot: OrderSlot, now_ns: int, timeout_ns: int) -> tuple[OrderSlot, LookupRequest | None]:
    """A slot overdue on the exchange asks for a lookup; the timer restarts so lookups repeat per timeout."""
    if not slot.awaiting_exchange or now_ns - slot.since_ns < timeout_ns:
        return slot, None
    state = _moved(slot, SlotEvent.TIMEOUT)
    lookup = LookupRequest(slot.side, slot.level, slot.client_index, slot.order_index, slot.state)
    return replace(slot, state=state, since_ns=now_ns, lookups=slot.lookups + 1), lookup


def on_lookup_result(slot: OrderSlot, report: OrderReport | None, now_ns: int) -> OrderSlot:
    """Apply the answer to a LookupRequest (`GET accountOrders?client_order_indexes=`, which lists the order
    whatever its status). No order under our client index means the create never landed, or the order is
    gone: the slot is cleared. A live order still at its old price/size after a modify, or still live after
    a cancel, means that request did not take effect: the slot returns to LIVE (the diff decides again)."""
    if report is None:
        return on_cleared(slot)
    still_live = classify_status(report.status) is not StatusClass.TERMINAL
    modify_lost = slot.state is SlotState.MODIFYING and not _modify_seen(slot, report)
    if still_live and (modify_lost or slot.state is SlotState.CANCELING):
        # a timeout later the order rests unchanged: the modify or cancel did not take effect
        slot = on_send_failed(slot, now_ns)
    return on_order_report(slot, report, now_ns)


def match_report(slots: Iterable[OrderSlot], report: OrderReport) -> SlotKey | None:
    """The slot a report belongs to: by client order index, else by exchange order index, else None."""
    candidates = [s for s in slots if s.state is not SlotState.IDLE]
    if report.client_index is not None:
        for slot in candidates:
            if slot.client_index == report.client_index:
                return slot.key
    for slot in candidates:
        if slot.order_index is not None and slot.order_index == report.order_index:
            return slot.key
    return None


def slot_exposure_lots(slot: OrderSlot) -> int:
    """What a slot's order may still trade: its remaining size, the larger of both sizes while a modify is
    pending (either may be the one resting), the full size until a cancel is confirmed; 0 when IDLE."""
    if slot.state is SlotState.IDLE:
        return 0
    if slot.state is SlotState.MODIFYING:
        return max(slot.size_lots, slot.pending_size_lots)
    return slot.size_lots


def fill_delta(slot: OrderSlot, report: OrderReport) -> int:
    """Lots of the slot's order that traded since its last report, read from the report matched to it.

    From the cumulative filled amount when the venue reports it; otherwise a terminal `filled` status means
    whatever the slot could still trade, and a live report at the same price with less remaining means the
    difference (a modify's new size is not a fill); a cancel is not a fill."""
    if report.filled_lots is not None:
        return max(0, report.filled_lots - slot.filled_lots)
    if report.status == "filled":
        return slot_exposure_lots(slot)
    live = classify_status(report.status) is not StatusClass.TERMINAL
    if live and slot.state is SlotState.LIVE and report.price_tick == slot.price_tick:
        return max(0, slot.size_lots - report.remaining_lots)
    return 0


def in_flight_exposure(slots: Iterable[OrderSlot]) -> Exposure:
    bid = ask = 0
    for slot in slots:
        lots = slot_exposure_lots(slot)
        if slot.side is Side.BID:
            bid += lots
        else:
            ask += lots
    return Exposure(bid_lots=bid, ask_lots=ask)


def count_active(slots: Mapping[SlotKey, OrderSlot]) -> int:
    """Orders that are live or may become live: everything not IDLE, cancels included until confirmed."""
    return sum(1 for slot in slots.values() if slot.state is not SlotState.IDLE)
