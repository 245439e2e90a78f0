# Stale-order reconciliation: tracked slots versus the exchange's order list -> what to cancel, clear,
# update, and when mismatches in a row must pause quoting.
#
# Rules (strategy-model.md §11.2 E4, E10, E11; SPEC "Safety"):
# - A live exchange order that matches no tracked slot (by client order index, then exchange order index)
#   is unknown to us and is cancelled (by its exchange order index).
# - A tracked order the exchange reports terminal is cleared at once (proven).
# - A tracked order absent from the list is cleared only when the list was taken at least `grace_ns`
#   after the slot's last send or state change: a just-sent order may not be visible yet (E10).
# - Reports of tracked orders are returned as updates for orders.on_order_report (PLACING -> LIVE etc.).
# - A reconcile that cancels or clears anything is a mismatch; `debounce_count` mismatches in a row pause
#   quoting; a clean reconcile resets the count. Orders still inside the grace period are not mismatches.
# - After a gap in the order stream (reconnect), a lookup of the tracked orders by client index settles
#   them without the grace period: terminal answers at once, overdue sends by the lookup's answer. No
#   answer is proof only for a create whose send has returned and settled; a slot whose send was still in
#   flight when the lookup was requested is not judged, and a modify or cancel of a confirmed order missing
#   from the answer is left to the active-orders reconcile and its grace. Fills the answer reveals are
#   returned with the new slot, to be counted like those of the stream.
# - With `safety.cancel_foreign_orders` false the list is first narrowed by `without_foreign`: an order
#   that is neither of the bot's client-order-index shape nor tracked is someone else's and is not looked at,
#   so it is never cancelled and never counts as a mismatch.
# Pure: the exchange list comes in already parsed and filtered to this market.
from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from lmm.core.ids import ClientOrderIndex, OrderIndex
from lmm.core.order_state import SlotState, StatusClass, classify_status
from lmm.core.orders import (
    OrderReport,
    OrderSlot,
    SlotKey,
    fill_delta,
    match_report,
    on_lookup_result,
    on_order_report,
)

SEC = 1_000_000_000
DEFAULT_GRACE_NS = 10 * SEC  # well above the ~200 ms Standard maker latency (Hummingbot uses 10 s)


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    cancel_unknown: tuple[OrderIndex, ...]  # live on the exchange, not ours as far as we know
    clear: tuple[SlotKey, ...]  # gone: proven terminal, or absent beyond the grace period
    updates: tuple[tuple[SlotKey, OrderReport], ...]  # live reports of tracked orders, to apply
    within_grace: tuple[SlotKey, ...]  # absent but too recent to judge
    needs_lookup: tuple[SlotKey, ...]  # reported with an unknown status: treated as live, ask again

    @property
    def clean(self) -> bool:
        return not self.cancel_unknown and not self.clear


def reconcile_orders(
    slots: Mapping[SlotKey, OrderSlot],
    exchange_orders: Sequence[OrderReport],
    *,
    snapshot_ns: int,
    grace_ns: int = DEFAULT_GRACE_NS,
) -> ReconcileResult:
    """Compare tracked slots with the exchange's orders of this market, taken at `snapshot_ns`."""
    tracked = [slot for slot in slots.values() if slot.state is not SlotState.IDLE]
    seen: set[SlotKey] = set()
    cancel: list[OrderIndex] = []
    clear: list[SlotKey] = []
    updates: list[tuple[SlotKey, OrderReport]] = []
    lookups: list[SlotKey] = []
    for report in exchange_orders:
        status = classify_status(report.status)
        key = match_report(tracked, report)
        if key is None:
            if status is not StatusClass.TERMINAL and report.order_index not in cancel:
                cancel.append(report.order_index)
            continue
        seen.add(key)
        if status is StatusClass.TERMINAL:
            clear.append(key)
            continue
        updates.append((key, report))
        if status is StatusClass.UNKNOWN:
            lookups.append(key)
    within_grace: list[SlotKey] = []
    for slot in tracked:
        if slot.key in seen:
            continue
        if snapshot_ns - slot.since_ns >= grace_ns:
            clear.append(slot.key)
        else:
            within_grace.append(slot.key)
    return ReconcileResult(
        cancel_unknown=tuple(cancel),
        clear=tuple(clear),
        updates=tuple(updates),
        within_grace=tuple(within_grace),
        needs_lookup=tuple(lookups),
    )


def without_foreign(slots: Mapping[SlotKey, OrderSlot], exchange_orders: Sequence[OrderReport],
                    is_own: Callable[[ClientOrderIndex | None], bool]) -> list[OrderReport]:
    """The orders reconcile may act on when foreign orders are left alone: the bot's own by their client
    order index, and any that matches a tracked slot."""
    tracked = [slot for slot in slots.values() if slot.state is not SlotState.IDLE]
    return [report for report in exchange_orders
            if is_own(report.client_index) or match_report(tracked, report) is not None]


class MismatchDebouncer:
    """Counts mismatching reconciles in a row (`safety.stale_order_debounce_count`)."""

    def __init__(self, debounce_count: int) -> None:
        if debounce_count < 1:
            raise ValueError(f"debounce_count must be >= 1: {debounce_count}")
        self._limit = debounce_count
        self.consecutive = 0

    def observe(self, result: ReconcileResult) -> bool:
        """True when quoting must pause."""
        self.consecutive = 0 if result.clean else self.consecutive + 1
        return self.consecutive >= self._limit


def poll_interval_ns(base_interval_ns: int, order_channel_healthy: bool) -> int:
    """The poller runs faster while the account-orders channel is down: it is then the only source."""
    if order_channel_healthy:
        return base_interval_ns
    return max(SEC // 2, base_interval_ns // 3)


def lookup_client_indexes(slots: Mapping[SlotKey, OrderSlot], limit: int = 20) -> list[int]:
    """Client order indexes of the tracked orders (accountOrders takes at most 20), to look up by index."""
    indexes = [slot.client_index.value for slot in slots.values()
               if slot.state is not SlotState.IDLE and slot.client_index is not None]
    return indexes[:limit]


@dataclass(frozen=True, slots=True)
class GapLookup:
    """A lookup by client index made when the order stream came back from a gap, as it was requested: what
    was asked, the slots and the keys with a send in flight at that moment."""

    asked: tuple[int, ...]
    slots: Mapping[SlotKey, OrderSlot]
    in_flight: frozenset[SlotKey]
    requested_ns: int


@dataclass(frozen=True, slots=True)
class LookupUpdate:
    slot: OrderSlot  # the slot's new state
    filled_lots: int  # lots of its order the answer shows traded since the slot's last report
    order_index: OrderIndex | None = None  # the order the answer is about


def resolve_after_gap(
    slots: Mapping[SlotKey, OrderSlot],
    looked_up: Sequence[OrderReport],
    *,
    asked: Collection[int],
    requested_ns: int,
    settle_ns: int,
    now_ns: int,
    in_flight: Collection[SlotKey] = (),
) -> dict[SlotKey, LookupUpdate]:
    """New slot states from a lookup by client index (`asked`, requested at `requested_ns`) made when the
    order stream came back from a gap: the reports it would have carried are lost.

    - A terminal report frees its slot whatever the slot's age: a proven end.
    - A slot whose send was in flight at the request (`in_flight`) is not judged otherwise: the lookup may
      predate what the send does.
    - A slot waiting on the exchange since at least `settle_ns` before the request takes the lookup's answer
      (orders.on_lookup_result): its order resting unchanged means the modify or cancel was lost; no order
      under its client index means a create never landed. A modify or cancel of an order the venue confirmed
      is not freed for a missing answer (REST may lag): the active-orders reconcile and its grace decide.
    - Anything else is left to the stream and the active-orders reconcile.
    """
    reports: dict[int, OrderReport] = {}
    for report in looked_up:
        if report.client_index is None:
            continue
        known = reports.get(report.client_index.value)
        if known is None or classify_status(report.status) is StatusClass.TERMINAL:
            reports[report.client_index.value] = report
    updates: dict[SlotKey, LookupUpdate] = {}
    for key, slot in slots.items():
        if slot.state is SlotState.IDLE or slot.client_index is None or slot.client_index.value not in asked:
            continue
        report = reports.get(slot.client_index.value)
        if report is not None and classify_status(report.status) is StatusClass.TERMINAL:
            updates[key] = LookupUpdate(on_order_report(slot, report, now_ns), fill_delta(slot, report),
                                        report.order_index)
        elif key not in in_flight and slot.awaiting_exchange and requested_ns - slot.since_ns >= settle_ns:
            if report is None and slot.state is not SlotState.PLACING:
                continue
            filled = 0 if report is None else fill_delta(slot, report)
            updates[key] = LookupUpdate(on_lookup_result(slot, report, now_ns), filled,
                                        None if report is None else report.order_index)
    return updates
