# Order identifiers: the two id spaces of Lighter and the bot's client-order-index scheme.
#
# Rules:
# - A client order index (ours, 1 .. 2^48 - 1) and an exchange order index (theirs, >= 2^48) are distinct
#   types. Each rejects a value from the other's range at construction, so a swap fails at runtime as well
#   as in the type checker (defect E12: never fall back from one to the other).
# - The allocator is pure: the wall clock comes in as `now_ms`; it keeps only the last index it issued.
#
# Client-order-index scheme (unique, < 2^48, monotonic across restarts):
#     index = counter * LANES + lane
#     counter = max(previous counter + 1, (now_ms - EPOCH_MS) * COUNTERS_PER_MS)
# The counter follows the wall clock, COUNTERS_PER_MS (4) indexes per millisecond, and only runs ahead of it
# during a burst of more than 4 orders in one millisecond, which the venue's rate limits make impossible
# to sustain. A restarted process therefore starts above everything the previous run issued, as long as
# the clock did not step back by more than the restart took. `lane` (0..LANES-1) separates bots that share
# one account (one process per market; e.g. market_id % LANES when that is distinct): Lighter requires
# uniqueness across all markets of the account. Range: 2^48 / (4 * 8) ms from EPOCH is about 278 years.
#
# Ownership (`issued`): an index in the allocator's lane whose counter encodes a time between OWN_FLOOR_MS
# and one hour from now is taken for one of ours, from this run or an earlier one. Orders placed by hand
# with a small client order index (below about 10^12) or none are never ours; an index of the bot's shape
# set by hand can't be told apart.
from __future__ import annotations

from dataclasses import dataclass

MAX_CLIENT_ORDER_INDEX = 2**48 - 1  # Lighter's MaxClientOrderIndex; exchange order indexes start above it
EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
COUNTERS_PER_MS = 4
LANES = 8
OWN_FLOOR_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z: no run of this bot issued an index before it
OWN_CLOCK_SLACK_MS = 3_600_000


@dataclass(frozen=True, slots=True, order=True)
class ClientOrderIndex:
    """The id the bot gives an order (Lighter `client_order_index`), 1 .. 2^48 - 1."""

    value: int

    def __post_init__(self) -> None:
        if type(self.value) is not int or not 1 <= self.value <= MAX_CLIENT_ORDER_INDEX:
            raise ValueError(f"client order index out of range 1..2^48-1: {self.value!r}")


@dataclass(frozen=True, slots=True, order=True)
class OrderIndex:
    """The id the exchange gives an order (Lighter `order_index`), always >= 2^48."""

    value: int

    def __post_init__(self) -> None:
        if type(self.value) is not int or self.value <= MAX_CLIENT_ORDER_INDEX:
            raise ValueError(f"exchange order index must be >= 2^48: {self.value!r}")


class ClientOrderIndexAllocator:
    """Issues client order indexes by the scheme in the module header."""

    def __init__(self, lane: int = 0, last_issued: ClientOrderIndex | None = None) -> None:
        if not 0 <= lane < LANES:
            raise ValueError(f"lane must be in 0..{LANES - 1}: {lane}")
        self._lane = lane
        self._last_counter = -1 if last_issued is None else last_issued.value // LANES

    def next(self, now_ms: int) -> ClientOrderIndex:
        clock_counter = max(0, now_ms - EPOCH_MS) * COUNTERS_PER_MS
        counter = max(self._last_counter + 1, clock_counter)
        index = counter * LANES + self._lane
        if index > MAX_CLIENT_ORDER_INDEX:
            raise OverflowError("client order index space exhausted")
        if index == 0:  # 0 means "no client index" on Lighter
            counter += 1
            index = counter * LANES + self._lane
        self._last_counter = counter
        return ClientOrderIndex(index)

    def issued(self, index: ClientOrderIndex | None, now_ms: int) -> bool:
        """Whether ``index`` has the shape of this allocator's indexes (see the module header)."""
        if index is None or index.value % LANES != self._lane:
            return False
        counter = index.value // LANES
        low = (OWN_FLOOR_MS - EPOCH_MS) * COUNTERS_PER_MS
        high = max(self._last_counter, (now_ms + OWN_CLOCK_SLACK_MS - EPOCH_MS) * COUNTERS_PER_MS)
        return low <= counter <= high
