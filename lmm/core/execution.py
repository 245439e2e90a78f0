"""The order slots of one market and the bridge between pure decisions and transactions.

Rules:
- ``plan`` turns target quotes into transaction intents through ``order_diff.diff_orders`` and moves the
  slots at once (PLACING / MODIFYING / CANCELING), so a second plan never resends for the same slot.
- At most ``max_quota_ops`` creates/modifies per plan (the free slot allows one); cancels always pass.
- Results settle the slots: a refusal (the venue said no, or nothing was sent) reverts the slot; an
  UNKNOWN outcome leaves it waiting for the exchange's report or the timeout lookup, never a blind clear.
- Exchange reports are matched by client order index first, then exchange order index (never mixed).
- A live order of ours that no slot tracks (an orphan: a create the venue took although its answer said
  no, a slot cleared while its order still rested, ...) is counted in exposure and cancelled at once by
  the next plan, which places nothing new on that side until it is proven gone (a terminal report, the
  venue saying the order is not active, or a REST listing that lacks it, requested at least the reconcile
  grace after its last sighting: a listing lags the order stream, so a younger one proves nothing).
- Fills read from order reports are handed to ``on_fill`` (side, lots, order index) as they are seen.
Pure: no I/O, time is passed in.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from lmm.core.ids import ClientOrderIndexAllocator, OrderIndex
from lmm.core.intents import TIF_POST_ONLY, CancelOrder, CreateOrder, ModifyOrder, TxIntent
from lmm.core.market import MarketInfo
from lmm.core.order_diff import CancelOp, CancelReason, CreateOp, DiffParams, ModifyOp, Op, diff_orders
from lmm.core.order_state import Side, SlotState, StatusClass, classify_status
from lmm.core.orders import (
    LookupRequest,
    OrderReport,
    OrderSlot,
    SlotKey,
    check_timeout,
    fill_delta,
    initial_slots,
    match_report,
    on_order_report,
    on_send_failed,
    on_sent_cancel,
    on_sent_create,
    on_sent_modify,
)
from lmm.core.outcomes import Outcome, SendResult
from lmm.core.quoting import TargetQuotes
from lmm.core.reconcile import DEFAULT_GRACE_NS
from lmm.core.risk import ErrorKind, classify_error

log = logging.getLogger("lighter_mm.execution")

ORPHAN_CANCEL_RETRY_NS = 1_000_000_000  # a cancel of an orphan not yet proven is sent again after this
_MAX_ORPHAN_CANCELS_TRACKED = 256
OnFill = Callable[[Side, int, OrderIndex], None]


@dataclass(frozen=True, slots=True)
class Orphan:
    """A live order of ours on the venue that no slot tracks."""

    report: OrderReport  # the newest report of it
    seen_ns: int  # first seen
    cancel_sent_ns: int | None = None
    reported_ns: int = 0  # its newest report

    @property
    def last_seen_ns(self) -> int:
        return max(self.seen_ns, self.reported_ns)

    @property
    def lots(self) -> int:
        return self.report.remaining_lots


@dataclass
class ExecutionStats:
    creates: int = 0
    modifies: int = 0
    cancels: int = 0
    refused: int = 0
    unknown: int = 0
    unmatched_reports: int = 0
    post_only_cancels: int = 0
    terminal_reports: list[str] = field(default_factory=list)


class OrderManager:
    def __init__(self, market: MarketInfo, diff_params: DiffParams, levels_per_side: int,
                 allocator: ClientOrderIndexAllocator, order_timeout_ns: int) -> None:
        self._market = market
        self._diff_params = diff_params
        self._allocator = allocator
        self._timeout_ns = order_timeout_ns
        self.slots: dict[SlotKey, OrderSlot] = initial_slots(levels_per_side)
        self._in_flight: dict[int, SlotKey] = {}  # id(intent) -> slot, for settling results
        self._orphan_cancels: dict[int, tuple[TxIntent, OrderIndex]] = {}  # id(intent) -> (intent, orphan)
        self.orphans: dict[OrderIndex, Orphan] = {}
        self.stats = ExecutionStats()

    # ---- planning ---------------------------------------------------------------------------------------

    def plan(self, targets: TargetQuotes | None, *, fair_tick: float, quota: int | None, position_lots: int,
             max_quota_ops: int, now_ns: int, now_ms: int) -> list[TxIntent]:
        """Orphan cancels first, then the diff; no create on a side that still has an orphan."""
        hold = frozenset(orphan.report.side for orphan in self.orphans.values())
        ops = diff_orders(targets, self.slots, fair_tick=fair_tick, quota_remaining=quota,
                          params=self._diff_params, position_lots=position_lots, hold_creates=hold)
        return self._orphan_cancel_intents(now_ns) + self._commit(self._cap_quota_ops(ops, max_quota_ops),
                                                                  now_ns, now_ms)

    def _orphan_cancel_intents(self, now_ns: int) -> list[TxIntent]:
        return self.cancel_orphans(list(self.orphans), now_ns)

    def cancel_orphans(self, indexes: Iterable[OrderIndex], now_ns: int,
                       reports: Iterable[OrderReport] = ()) -> list[TxIntent]:
        """Cancels for these orphans (adopted from `reports` when not known yet, e.g. from a REST listing),
        except those whose cancel went out less than ORPHAN_CANCEL_RETRY_NS ago."""
        by_index = {report.order_index: report for report in reports}
        intents: list[TxIntent] = []
        for index in indexes:
            orphan = self.orphans.get(index)
            if orphan is None:
                report = by_index.get(index)
                if report is None:
                    continue
                orphan = Orphan(report, now_ns)
            elif orphan.cancel_sent_ns is not None and now_ns - orphan.cancel_sent_ns < ORPHAN_CANCEL_RETRY_NS:
                continue
            self.orphans[index] = replace(orphan, cancel_sent_ns=now_ns)
            intent = CancelOrder(self._market.market_id, index.value)
            self._orphan_cancels[id(intent)] = (intent, index)
            while len(self._orphan_cancels) > _MAX_ORPHAN_CANCELS_TRACKED:  # results lost to a failed send
                del self._orphan_cancels[next(iter(self._orphan_cancels))]
            intents.append(intent)
        return intents

    def orphan_lots(self, side: Side) -> int:
        return sum(orphan.lots for orphan in self.orphans.values() if orphan.report.side is side)

    def on_listing(self, exchange_orders: Iterable[OrderReport], snapshot_ns: int,
                   grace_ns: int = DEFAULT_GRACE_NS) -> None:
        """A REST listing of the market's live orders requested at `snapshot_ns`: an orphan absent from it is
        gone when the listing was requested at least `grace_ns` after the orphan was last seen (the grace a
        tracked slot gets in reconcile_orders: the listing may lag the stream that reported it)."""
        listed = {report.order_index for report in exchange_orders}
        for index, orphan in list(self.orphans.items()):
            if index not in listed and snapshot_ns - orphan.last_seen_ns >= grace_ns:
                del self.orphans[index]

    def tracked_cancels(self) -> list[TxIntent]:
        """A cancel for every order the bot tracks, whatever its state: slots by exchange order index when
        known, else by client order index (a create may have landed unseen), and untracked orders. For the
        shutdown, which cannot rely on a REST listing that may not show an order just accepted."""
        intents: list[TxIntent] = []
        for slot in self.slots.values():
            if slot.state is SlotState.IDLE:
                continue
            index = slot.order_index or slot.client_index
            if index is not None:
                intents.append(CancelOrder(self._market.market_id, index.value))
        intents.extend(CancelOrder(self._market.market_id, index.value) for index in self.orphans)
        return intents

    def cancel_everything(self, now_ns: int) -> list[TxIntent]:
        """Cancels for every slot whose order is known to the exchange (pause and shutdown paths)."""
        ops: list[Op] = []
        for slot in self.slots.values():
            if slot.state in (SlotState.LIVE, SlotState.MODIFYING) and slot.order_index is not None:
                ops.append(CancelOp(slot.side, slot.level, slot.order_index, CancelReason.NO_TARGET))
        return self._commit(ops, now_ns, 0)

    @staticmethod
    def _cap_quota_ops(ops: Sequence[Op], max_quota_ops: int) -> list[Op]:
        kept: list[Op] = []
        budget = max_quota_ops
        for op in ops:
            if isinstance(op, CancelOp):
                kept.append(op)
            elif budget > 0:
                kept.append(op)
                budget -= 1
        return kept

    def _commit(self, ops: Iterable[Op], now_ns: int, now_ms: int) -> list[TxIntent]:
        intents: list[TxIntent] = []
        market_index = self._market.market_id
        for op in ops:
            key = (op.side, op.level)
            slot = self.slots[key]
            intent: TxIntent
            if isinstance(op, CreateOp):
                client_index = self._allocator.next(now_ms)
                intent = CreateOrder(market_index, client_index.value, op.size_lots, op.price_tick,
                                     op.side.is_ask, TIF_POST_ONLY, reduce_only=op.reduce_only)
                self.slots[key] = on_sent_create(slot, client_index, op.price_tick, op.size_lots, now_ns)
                self.stats.creates += 1
            elif isinstance(op, ModifyOp):
                intent = ModifyOrder(market_index, op.order_index.value, op.size_lots, op.price_tick)
                self.slots[key] = on_sent_modify(slot, op.price_tick, op.size_lots, now_ns)
                self.stats.modifies += 1
            else:
                intent = CancelOrder(market_index, op.order_index.value)
                self.slots[key] = on_sent_cancel(slot, now_ns)
                self.stats.cancels += 1
            self._in_flight[id(intent)] = key
            intents.append(intent)
        return intents

    # ---- settling -----------------------------------------------------------------------------------------

    def on_results(self, results: Sequence[SendResult], now_ns: int) -> None:
        for result in results:
            for intent in result.intents:
                orphan_cancel = self._orphan_cancels.pop(id(intent), None)
                if orphan_cancel is not None and orphan_cancel[0] is intent:
                    self._on_orphan_cancel_result(orphan_cancel[1], result)
                    continue
                key = self._in_flight.pop(id(intent), None)
                if key is None or result.outcome is Outcome.ACCEPTED:
                    continue
                if result.outcome is Outcome.UNKNOWN:
                    self.stats.unknown += 1
                    continue  # may have landed: wait for the report or the timeout lookup
                self.stats.refused += 1
                slot = self.slots[key]
                if slot.awaiting_exchange:
                    self.slots[key] = on_send_failed(slot, now_ns)

    def _on_orphan_cancel_result(self, index: OrderIndex, result: SendResult) -> None:
        orphan = self.orphans.get(index)
        if orphan is None or result.outcome in (Outcome.ACCEPTED, Outcome.UNKNOWN):
            return  # accepted or unknown: the terminal report (or a listing) will prove it gone
        if result.outcome is Outcome.REJECTED and classify_error(result.code, result.message) \
                is ErrorKind.ALREADY_GONE:
            del self.orphans[index]  # the venue says it is not active: proven gone
        else:
            self.orphans[index] = replace(orphan, cancel_sent_ns=None)  # not sent or refused: send again

    def on_reports(self, reports: Iterable[OrderReport], now_ns: int,
                   on_fill: OnFill | None = None) -> list[OrderReport]:
        """Apply exchange reports; returns the reports that match no slot. Unmatched live ones become
        orphans; fills are passed to `on_fill` as they are seen."""
        unmatched: list[OrderReport] = []
        for report in reports:
            key = match_report(self.slots.values(), report)
            if key is None:
                self.stats.unmatched_reports += 1
                unmatched.append(report)
                self._on_unmatched(report, now_ns, on_fill)
                continue
            if report.status == "canceled-post-only":
                self.stats.post_only_cancels += 1
            slot = self.slots[key]
            filled = fill_delta(slot, report)
            if filled and on_fill is not None:
                on_fill(slot.side, filled, report.order_index)
            self.slots[key] = on_order_report(slot, report, now_ns)
        return unmatched

    def _on_unmatched(self, report: OrderReport, now_ns: int, on_fill: OnFill | None) -> None:
        previous = self.orphans.get(report.order_index)
        if previous is not None and on_fill is not None:
            before = previous.report
            if report.filled_lots is not None and before.filled_lots is not None:
                filled = report.filled_lots - before.filled_lots
            else:
                filled = before.remaining_lots - (0 if report.status == "filled" else report.remaining_lots)
            if filled > 0:
                on_fill(report.side, filled, report.order_index)
        if classify_status(report.status) is StatusClass.TERMINAL:
            self.orphans.pop(report.order_index, None)
        elif previous is None:
            self.orphans[report.order_index] = Orphan(report, now_ns)
            log.warning("order %s (%s %s lots) is live but no slot tracks it", report.order_index.value,
                        report.side.value, report.remaining_lots)
        else:
            self.orphans[report.order_index] = replace(previous, report=report, reported_ns=now_ns)

    def check_timeouts(self, now_ns: int) -> list[LookupRequest]:
        lookups: list[LookupRequest] = []
        for key, slot in list(self.slots.items()):
            updated, lookup = check_timeout(slot, now_ns, self._timeout_ns)
            self.slots[key] = updated
            if lookup is not None:
                lookups.append(lookup)
        return lookups

    # ---- views ---------------------------------------------------------------------------------------------

    @property
    def allocator(self) -> ClientOrderIndexAllocator:
        """The one client-order-index allocator of this market (shared with recovery and flatten orders)."""
        return self._allocator

    def keys_in_flight(self) -> frozenset[SlotKey]:
        """Slots with a send whose result has not come back yet."""
        return frozenset(self._in_flight.values())

    def live_prices(self) -> dict[SlotKey, int]:
        return {key: slot.price_tick for key, slot in self.slots.items() if slot.state is not SlotState.IDLE}

    @property
    def idle(self) -> bool:
        return all(slot.state is SlotState.IDLE for slot in self.slots.values()) and not self.orphans
