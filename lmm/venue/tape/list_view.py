"""A row's list column as a read-only view of its batch's flat column, turned into a Python list on first use.

Why: a diff carries about 130 integers in its level lists; making a Python int of each costs more than all
the rest of the read, and a reader that only looks at some rows (one kind's counts, the ids, the top level)
should not pay it. A view is created per row for the price of one small object; reading one (iterating,
indexing, comparing) turns its batch's whole column into Python values at once with numpy's `tolist`
(exact Python ints and bools; cheaper than pyarrow's `to_pylist`), and each view then slices that list.

It behaves as the list it stands for when read: `len`, indexing (slices give lists), iteration, `in`,
`==` against lists and other views, `repr`, `list(view)`; it is not a `list` (`isinstance` says no) and
cannot be changed: `list(view)` and `view.tolist()` give a new list to own or change. A view keeps its batch's
column alive (about 1 MB for 1,024 diffs, a few MB once read): copy with `list(view)` to keep one row for long.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, SupportsIndex, overload

import numpy as np


class FlatColumn:
    """One batch's list column flattened: the values as a numpy array, as Python values once one is read."""

    __slots__ = ("array", "items")

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.items: list | None = None

    def values(self) -> list:
        items = self.items
        if items is None:
            items = self.items = self.array.tolist()  # the whole batch at once: cheaper than row by row
        return items


class ListView(Sequence[Any]):
    __slots__ = ("_column", "_start", "_stop")

    def __init__(self, column: FlatColumn, start: int, stop: int) -> None:
        self._column = column
        self._start = start
        self._stop = stop

    def tolist(self) -> list:
        """The row as a new plain list."""
        column = self._column
        items = column.items
        if items is None:
            items = column.values()
        return items[self._start:self._stop]

    def __len__(self) -> int:
        return self._stop - self._start

    @overload
    def __getitem__(self, index: SupportsIndex) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list: ...
    def __getitem__(self, index: SupportsIndex | slice) -> Any:
        if isinstance(index, slice):
            return self.tolist()[index]
        position = index.__index__()
        size = self._stop - self._start
        if position < 0:
            position += size
        if not 0 <= position < size:
            raise IndexError("list index out of range")
        return self._column.values()[self._start + position]

    def __iter__(self) -> Iterator[Any]:  # tolist() inlined: a replay iterates every level list
        items = self._column.items
        if items is None:
            items = self._column.values()
        return iter(items[self._start:self._stop])

    def __reversed__(self) -> Iterator[Any]:
        return reversed(self.tolist())

    def __contains__(self, value: object) -> bool:
        return value in self.tolist()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ListView):
            return self.tolist() == other.tolist()
        if isinstance(other, list):
            return self.tolist() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # like a list

    def __repr__(self) -> str:
        return repr(self.tolist())

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        view = self._column.array[self._start:self._stop]
        return view.astype(dtype) if dtype is not None else view.copy()

    def __reduce__(self) -> tuple:
        return list, (self.tolist(),)  # pickles (and copies) as the plain list
