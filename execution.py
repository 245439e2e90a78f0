"""The order slots of one market and the bridge between pure decisions and transactions.

Rules:
- ``plan`` turns target quotes into transaction intents through ``order_diff.diff_orders`` and moves the
  slots at once (PLACING / MODIFYING / CANCELING), so a second plan never resends for the same slot.
- At most ``max_quota_ops`` creates/modifies per plan (the free slot allows one); cancels always pass.
- Results settle the slots: a refusal (the venue said no, or nothing was sent) reverts the slot; an
  UNKNOWN outcome leaves it waiting for the exchange's report or the timeout lookup, never a blind clear.
- Exchange reports are matched by client order index first, then exchange order index (never mixed).
Pure: no I/O, time is passed in.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ids import ClientOrderIndexAllocator
from market_info import MarketInfo
from order_diff import CancelOp, CancelReason, CreateOp, DiffParams, ModifyOp, Op, diff_orders
from order_state import SlotState
from orders import (
    LookupRequest,
    OrderReport,
    OrderSlot,
    SlotKey,
    check_timeout,
    initial_slots,
    match_report,
    on_order_report,
    on_send_failed,
    on_sent_cancel,
    on_sent_create,
    on_sent_modify,
)
from quoting import TargetQuotes
from signing import TIF_POST_ONLY, CancelOrder, CreateOrder, ModifyOrder, TxIntent
from tx_sender import Outcome, SendResult

log = logging.getLogger("lighter_mm.execution")


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
        self.stats = ExecutionStats()

    # ---- planning ---------------------------------------------------------------------------------------

    def plan(self, targets: TargetQuotes | None, *, fair_tick: float, quota: int | None, position_lots: int,
             max_quota_ops: int, now_ns: int, now_ms: int) -> list[TxIntent]:
        ops = diff_orders(targets, self.slots, fair_tick=fair_tick, quota_remaining=quota,
                          params=self._diff_params, position_lots=position_lots)
        return self._commit(self._cap_quota_ops(ops, max_quota_ops), now_ns, now_ms)

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

    def on_reports(self, reports: Iterable[OrderReport], now_ns: int) -> list[OrderReport]:
        """Apply exchange reports; returns the live reports that match no slot (orphan candidates)."""
        unmatched: list[OrderReport] = []
        for report in reports:
            key = match_report(self.slots.values(), report)
            if key is None:
                self.stats.unmatched_reports += 1
                unmatched.append(report)
                continue
            if report.status == "canceled-post-only":
                self.stats.post_only_cancels += 1
            self.slots[key] = on_order_report(self.slots[key], report, now_ns)
        return unmatched

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

    def live_prices(self) -> dict[SlotKey, int]:
        return {key: slot.price_tick for key, slot in self.slots.items() if slot.state is not SlotState.IDLE}

    @property
    def idle(self) -> bool:
        return all(slot.state is SlotState.IDLE for slot in self.slots.values())
