# The worst case of each side against the position limit M, and the side-by-side decision it drives.
#
# Rules (issue 10: the limit holds against fills under any flow, however fast):
# - Worst case of the side that adds exposure = position (signed toward that side)
#     + fills of that side seen in order reports but not yet in the position (unsettled)
#     + for every slot of that side, the larger of what its order may still trade (resting, in flight,
#       either size of a pending modify, the full size until a cancel is confirmed) and its target
#     + orders of that side on the venue that no slot tracks (orphans), until they are proven gone.
#   A slot counts the larger of its order and its target, never the sum: a target only reaches the venue
#   as a modify of that order or as a create once the slot is empty.
# - A side is quotable only when that worst case, all filled at mid, stays within M: every fill that can
#   happen is counted before it happens, so |position| never passes M by more than price moves and M's
#   own movement with equity.
# Pure: no I/O, no clock; lots are integers, M is USD.
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lmm.core.order_state import Side
from lmm.core.orders import OrderSlot, slot_exposure_lots
from lmm.core.quoting import MarketRules, QuoteLevel


@dataclass(frozen=True, slots=True)
class SideExposure:
    """Lots that may still trade on one side, by source."""

    orders_lots: int  # per slot: max(order on the venue or in flight, target)
    unsettled_fill_lots: int
    orphan_lots: int

    @property
    def total_lots(self) -> int:
        return self.orders_lots + self.unsettled_fill_lots + self.orphan_lots


def side_exposure(side: Side, slots: Iterable[OrderSlot], targets: Sequence[QuoteLevel],
                  unsettled_fill_lots: int = 0, orphan_lots: int = 0) -> SideExposure:
    """The exposure of `side` with `targets` (index = level) about to be quoted."""
    per_level: dict[int, int] = {level: target.size_lots for level, target in enumerate(targets)}
    for slot in slots:
        if slot.side is side:
            per_level[slot.level] = max(per_level.get(slot.level, 0), slot_exposure_lots(slot))
    return SideExposure(sum(per_level.values()), max(0, unsettled_fill_lots), max(0, orphan_lots))


def worst_position_lots(position_lots: int, side: Side, exposure: SideExposure) -> int:
    """The position, in lots toward `side` (long for bids, short for asks), if everything counted fills."""
    toward = position_lots if side is Side.BID else -position_lots
    return toward + exposure.total_lots


def within_limit(position_lots: int, side: Side, exposure: SideExposure, limit_usd: float,
                 rules: MarketRules, mid_tick: float) -> bool:
    """True when the worst case of `side` stays within M at mid (a side that only reduces always does)."""
    worst = worst_position_lots(position_lots, side, exposure)
    return rules.notional_usd(max(0, worst), mid_tick) <= limit_usd
