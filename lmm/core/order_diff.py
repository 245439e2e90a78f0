# Target quotes + order slots -> create / modify / cancel ops: one pure function, and the requote rules.
#
# Rules (strategy-model.md §8.1, §8.2):
# - Nothing is sent for a slot waiting on the exchange (PLACING, MODIFYING, CANCELING): no resend while a
#   create, modify or cancel is pending; except that a MODIFYING order whose target is gone is cancelled.
# - A LIVE order is modified (preferred over cancel + create: one quota unit, one nonce) when its price
#   moved by more than T_eff = base threshold x quota multiplier, or its size differs by >= 1 lot.
# - A LIVE order on the wrong side of the fair price F, or closer to F than b/2, is protected whatever
#   the quota: modified when quota is plentiful (multiplier 1x) and its target is safe, otherwise
#   cancelled (cancels cost no quota). A target that is itself that close to F is not quoted.
# - A LIVE or MODIFYING order whose target is gone (side suppressed, level dropped) is cancelled.
# - Creates respect max_live_orders_per_market counting every non-IDLE slot (in-flight orders and
#   unconfirmed cancels included); lower levels first, the position-reducing side first.
# - Cancel before placing: no create on a side while one of its orders is being cancelled (a cancel in
#   this plan or an unconfirmed one) or the caller holds the side (an untracked order of ours rests there).
# - Output order: cancels, then modifies, then creates. Client order indexes are assigned by the sender
#   at signing time, not here.
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from lmm.core.ids import OrderIndex
from lmm.core.order_state import Side, SlotState
from lmm.core.orders import OrderSlot, SlotKey, count_active, idle_slot
from lmm.core.quoting import QuoteLevel, TargetQuotes


class CancelReason(Enum):
    NO_TARGET = "no_target"  # side suppressed or level dropped
    TOO_CLOSE = "too_close"  # wrong side of F, or closer than b/2


@dataclass(frozen=True, slots=True)
class CreateOp:
    side: Side
    level: int
    price_tick: int
    size_lots: int
    reduce_only: bool = False


@dataclass(frozen=True, slots=True)
class ModifyOp:
    side: Side
    level: int
    order_index: OrderIndex
    price_tick: int
    size_lots: int


@dataclass(frozen=True, slots=True)
class CancelOp:
    side: Side
    level: int
    order_index: OrderIndex
    reason: CancelReason


Op = CreateOp | ModifyOp | CancelOp


@dataclass(frozen=True, slots=True)
class DiffParams:
    base_threshold_bps: float  # trading.default_quote_update_threshold_bps
    min_half_spread_bps: float  # vol_obi.min_half_spread_bps (b)
    max_live_orders: int  # safety.max_live_orders_per_market


# (lowest remaining quota, multiplier), checked from the top; unknown quota means 1x (Standard accounts).
_QUOTA_MULTIPLIERS: tuple[tuple[int, float], ...] = ((500, 1.0), (50, 2.0), (10, 3.5))
_EMPTY_QUOTA_MULTIPLIER = 5.0


def quota_multiplier(quota_remaining: int | None) -> float:
    if quota_remaining is None:
        return 1.0
    for lowest, multiplier in _QUOTA_MULTIPLIERS:
        if quota_remaining >= lowest:
            return multiplier
    return _EMPTY_QUOTA_MULTIPLIER


def effective_threshold_bps(base_threshold_bps: float, quota_remaining: int | None) -> float:
    return base_threshold_bps * quota_multiplier(quota_remaining)


def requote_threshold_warning(base_threshold_bps: float, min_half_spread_bps: float) -> str | None:
    """Start-up check (defect M6): the threshold must be below the minimum half-spread, ideally <= b/2."""
    if base_threshold_bps < min_half_spread_bps:
        return None
    return (
        f"trading.default_quote_update_threshold_bps ({base_threshold_bps:g}) is not below "
        f"vol_obi.min_half_spread_bps ({min_half_spread_bps:g}): a resting quote can drift through the fair "
        f"price before it is moved; use at most {min_half_spread_bps / 2:g} (b/2). Orders closer than b/2 to "
        f"the fair price are cancelled regardless."
    )


def too_close(side: Side, price_tick: float, fair_tick: float, min_half_spread_bps: float) -> bool:
    """On the wrong side of F, or closer to it than b/2."""
    distance = (fair_tick - price_tick) if side is Side.BID else (price_tick - fair_tick)
    return distance / fair_tick * 1e4 < min_half_spread_bps / 2


def _moved_bps(old_tick: int, new_tick: int) -> float:
    return abs(new_tick - old_tick) / old_tick * 1e4


def _target(targets: TargetQuotes | None, side: Side, level: int) -> QuoteLevel | None:
    if targets is None:
        return None
    ladder = targets.bids if side is Side.BID else targets.asks
    return ladder[level] if level < len(ladder) else None


def _reduce_only(targets: TargetQuotes | None, side: Side) -> bool:
    if targets is None:
        return False
    return targets.reduce_only_bids if side is Side.BID else targets.reduce_only_asks


def diff_orders(
    targets: TargetQuotes | None,
    slots: Mapping[SlotKey, OrderSlot],
    *,
    fair_tick: float,
    quota_remaining: int | None,
    params: DiffParams,
    position_lots: int = 0,
    hold_creates: frozenset[Side] = frozenset(),
) -> list[Op]:
    """The ops that move the live orders toward the targets (see the module rules)."""
    if fair_tick <= 0:
        raise ValueError(f"fair price must be positive: {fair_tick}")
    multiplier = quota_multiplier(quota_remaining)
    threshold = params.base_threshold_bps * multiplier
    b = params.min_half_spread_bps
    depth = max(
        [0, *(level + 1 for _, level in slots)]
        + ([len(targets.bids), len(targets.asks)] if targets is not None else [])
    )
    reducing_first = (Side.ASK, Side.BID) if position_lots > 0 else (Side.BID, Side.ASK)

    cancels: list[Op] = []
    modifies: list[Op] = []
    creates: list[Op] = []
    for level in range(depth):
        for side in reducing_first:
            slot = slots.get((side, level)) or idle_slot(side, level)
            target = _target(targets, side, level)
            if target is not None and too_close(side, target.price_tick, fair_tick, b):
                target = None
            if slot.state is SlotState.IDLE:
                if target is not None:
                    creates.append(
                        CreateOp(side, level, target.price_tick, target.size_lots, _reduce_only(targets, side))
                    )
                continue
            if slot.state is SlotState.MODIFYING and target is None and slot.order_index is not None:
                # no longer wanted: cancel it now rather than wait for the modify's confirmation (a modify
                # that a fill overtook may never be confirmed, and the order would go on trading)
                cancels.append(CancelOp(side, level, slot.order_index, CancelReason.NO_TARGET))
                continue
            if slot.state is not SlotState.LIVE:
                continue  # waiting on the exchange: never resend
            if slot.order_index is None:
                raise RuntimeError(f"LIVE slot without an exchange order index: {slot}")
            if target is None:
                cancels.append(CancelOp(side, level, slot.order_index, CancelReason.NO_TARGET))
                continue
            wants_move = (
                _moved_bps(slot.price_tick, target.price_tick) > threshold or slot.size_lots != target.size_lots
            )
            if too_close(side, slot.price_tick, fair_tick, b) and not (wants_move and multiplier == 1.0):
                cancels.append(CancelOp(side, level, slot.order_index, CancelReason.TOO_CLOSE))
            elif wants_move:
                modifies.append(ModifyOp(side, level, slot.order_index, target.price_tick, target.size_lots))

    cancelling = {op.side for op in cancels} | {
        slot.side for slot in slots.values() if slot.state is SlotState.CANCELING}
    held = cancelling | hold_creates
    creates = [op for op in creates if op.side not in held]
    room = max(0, params.max_live_orders - count_active(slots))
    return cancels + modifies + creates[:room]
