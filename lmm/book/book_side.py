"""One side of a price-level book in pure Python: the twin of the Cython ``CBookSide``.

Rules (identical in ``_book_side_fast.pxi``; one test suite runs against both):
- a level is an integer price tick (>= 0) with an integer size in lots (> 0); size 0 deletes;
  ``set`` takes absolute sizes, as Lighter's updates do;
- storage is two parallel lists sorted ascending by key, with key = tick for bids and -tick for asks,
  so the best level is always LAST and changes near the touch move few elements;
- ``best()`` returns ``EMPTY_TICK`` (-1) on an empty side and ``best_size()`` returns 0;
- ``band_sum(outer_excl)`` sums from the touch out to an exclusive outer edge: bids with
  tick > outer_excl, asks with tick < outer_excl (strategy-model.md 5.3);
- decimal strings are parsed exactly into scaled integers (no float): only ASCII digits with an optional
  single '.', no precision finer than the grid (non-zero digits beyond ``decimals``), at most 2**63 - 1;
  anything else raises ValueError.
"""

from __future__ import annotations

import operator
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from typing import Any, Protocol

EMPTY_TICK = -1
MAX_DECIMALS = 18
_INT64_MAX = 2**63 - 1


class BookSide(Protocol):
    """The API shared by CBookSide and PyBookSide."""

    is_bid: bool

    def set(self, price_tick: int, size_lots: int) -> None: ...
    def get(self, price_tick: int) -> int: ...
    def clear(self) -> None: ...
    def __len__(self) -> int: ...
    def best(self) -> int: ...
    def best_size(self) -> int: ...
    def band_sum(self, outer_excl: int) -> int: ...
    def sum_between(self, lo_excl: int, hi_excl: int) -> int: ...
    def levels(self, depth: int) -> list[tuple[int, int]]: ...
    def apply_levels(self, levels: Iterable[Any], price_decimals: int, size_decimals: int) -> None: ...
    def replace_levels(self, levels: Iterable[Any], price_decimals: int, size_decimals: int) -> None: ...


def _check_decimals(decimals: int) -> int:
    """The number of decimals as an int; TypeError for non-integers, ValueError outside [0, 18]."""
    whole = operator.index(decimals)
    if not 0 <= whole <= MAX_DECIMALS:
        raise ValueError(f"decimals must be in [0, {MAX_DECIMALS}], got {decimals}")
    return whole


def parse_scaled(text: str, decimals: int) -> int:
    """Exact value of a plain decimal string times 10**decimals: parse_scaled("97000.7", 1) == 970007."""
    return _parse_scaled(text, _check_decimals(decimals))


def _parse_scaled(text: str, decimals: int) -> int:
    if type(text) is not str:
        raise ValueError(f"expected a decimal string, got {text!r}")
    whole, dot, fraction = text.partition(".")
    # isdigit() alone accepts non-ASCII digits such as '²'; isascii() rules them out.
    if not (text.isascii() and whole.isdigit() and (not dot or fraction.isdigit())):
        raise ValueError(f"malformed decimal {text!r}")
    if len(fraction) > decimals:
        if fraction[decimals:].strip("0"):
            raise ValueError(f"{text!r} is finer than {decimals} decimals")
        fraction = fraction[:decimals]
    value = int(whole + fraction) * 10 ** (decimals - len(fraction))
    if value > _INT64_MAX:
        raise ValueError(f"{text!r} overflows int64 at {decimals} decimals")
    return value


def _read_level(level: Any, price_decimals: int, size_decimals: int) -> tuple[int, int]:
    """Parse one venue level: a {"price", "size"} mapping or a (price, size) pair of strings."""
    if isinstance(level, dict):
        price_text, size_text = level.get("price"), level.get("size")
    elif isinstance(level, (tuple, list)) and len(level) == 2:
        price_text, size_text = level
    else:
        raise ValueError(f"malformed level {level!r}")
    return _parse_scaled(price_text, price_decimals), _parse_scaled(size_text, size_decimals)


def _as_int64(value: int) -> int:
    """The integer value of `value` (TypeError for floats), OverflowError outside int64, as Cython does."""
    value = operator.index(value)
    if not -_INT64_MAX - 1 <= value <= _INT64_MAX:
        raise OverflowError(f"{value} does not fit in int64")
    return value


def _checked_total(total: int) -> int:
    if total > _INT64_MAX:
        raise OverflowError("band sum overflows int64")
    return total


class PyBookSide:
    """One side of a book: price tick -> size in lots, best level first on every read."""

    __slots__ = ("_keys", "_sign", "_sizes", "is_bid")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = bool(is_bid)
        self._sign = 1 if self.is_bid else -1
        self._keys: list[int] = []
        self._sizes: list[int] = []

    def _store(self, tick: int, lots: int) -> None:
        key = tick * self._sign
        keys = self._keys
        index = bisect_left(keys, key)
        if index < len(keys) and keys[index] == key:
            if lots:
                self._sizes[index] = lots
            else:
                del keys[index]
                del self._sizes[index]
        elif lots:
            keys.insert(index, key)
            self._sizes.insert(index, lots)

    def set(self, price_tick: int, size_lots: int) -> None:
        """Set the absolute size at price_tick; 0 deletes the level."""
        price_tick, size_lots = _as_int64(price_tick), _as_int64(size_lots)
        if price_tick < 0 or size_lots < 0:
            raise ValueError(f"negative tick or size: ({price_tick}, {size_lots})")
        self._store(price_tick, size_lots)

    def get(self, price_tick: int) -> int:
        """Size in lots at price_tick, 0 when there is no level."""
        price_tick = _as_int64(price_tick)
        if price_tick < 0:
            return 0
        key = price_tick * self._sign
        index = bisect_left(self._keys, key)
        if index < len(self._keys) and self._keys[index] == key:
            return self._sizes[index]
        return 0

    def clear(self) -> None:
        self._keys.clear()
        self._sizes.clear()

    def __len__(self) -> int:
        return len(self._keys)

    def best(self) -> int:
        """Best price tick (highest bid, lowest ask), or EMPTY_TICK (-1) when the side is empty."""
        return self._keys[-1] * self._sign if self._keys else EMPTY_TICK

    def best_size(self) -> int:
        """Size at the best tick, 0 when the side is empty."""
        return self._sizes[-1] if self._sizes else 0

    def band_sum(self, outer_excl: int) -> int:
        """Sum of sizes from the touch out to outer_excl, exclusive (bids: tick > it; asks: tick < it)."""
        outer_excl = max(_as_int64(outer_excl), -1)  # every tick is >= 0, so all lower edges are equivalent to -1
        return _checked_total(sum(self._sizes[bisect_right(self._keys, outer_excl * self._sign) :]))

    def sum_between(self, lo_excl: int, hi_excl: int) -> int:
        """Sum of sizes at ticks t with lo_excl < t < hi_excl, on either side."""
        lo_excl, hi_excl = max(_as_int64(lo_excl), -1), _as_int64(hi_excl)
        if hi_excl <= lo_excl + 1:
            return 0
        if self.is_bid:
            start, stop = bisect_right(self._keys, lo_excl), bisect_left(self._keys, hi_excl)
        else:
            start, stop = bisect_right(self._keys, -hi_excl), bisect_left(self._keys, -lo_excl)
        return _checked_total(sum(self._sizes[start:stop]))

    def levels(self, depth: int) -> list[tuple[int, int]]:
        """Up to `depth` levels as (tick, lots), best first."""
        depth = operator.index(depth)
        if depth < 0:
            raise ValueError(f"depth must be >= 0, got {depth}")
        if depth == 0:
            return []
        sign = self._sign
        pairs = zip(self._keys[-depth:], self._sizes[-depth:], strict=True)
        return [(key * sign, lots) for key, lots in pairs][::-1]

    def apply_levels(self, levels: Iterable[Any], price_decimals: int, size_decimals: int) -> None:
        """Apply venue levels ({"price", "size"} dicts or pairs of decimal strings) with absolute sizes.

        On a malformed level ValueError is raised and the levels before it stay applied: the caller must
        drop the side (LighterBook does).
        """
        price_decimals, size_decimals = _check_decimals(price_decimals), _check_decimals(size_decimals)
        store = self._store
        for level in levels:
            tick, lots = _read_level(level, price_decimals, size_decimals)
            store(tick, lots)

    def replace_levels(self, levels: Iterable[Any], price_decimals: int, size_decimals: int) -> None:
        """Replace the whole side with venue levels (a snapshot), in any order; zero sizes are skipped.

        On any error the side is left empty.
        """
        self.clear()
        price_decimals, size_decimals = _check_decimals(price_decimals), _check_decimals(size_decimals)
        by_key: dict[int, int] = {}
        sign = self._sign
        for level in levels:
            tick, lots = _read_level(level, price_decimals, size_decimals)
            by_key[tick * sign] = lots  # a later duplicate wins, as with set()
        ordered = sorted((key, lots) for key, lots in by_key.items() if lots)
        self._keys = [key for key, _ in ordered]
        self._sizes = [lots for _, lots in ordered]

    def __repr__(self) -> str:
        return f"PyBookSide(is_bid={self.is_bid}, levels={len(self)}, best={self.best()})"
