"""A row's list column as a read-only view of its batch's flat column, turned into a Python list on first use.

Why: a diff carries about 130 integers in its level lists; making a Python int of each costs more than all
the rest of the read, and a replay that only looks at some rows (a window, one side, the counts) should not
pay it. A view is created per row for the price of one small object; reading it (iterating, indexing,
comparing) builds the row's list once, with numpy's `tolist` (exact Python ints and bools), and keeps it.

It behaves as the list it stands for when read: `len`, indexing (slices give lists), iteration, `in`,
`==` against lists and other views, `repr`, `list(view)`; it is not a `list` (`isinstance` says no) and
cannot be changed: take `list(view)` to own or change one. A view keeps its batch's flat column alive
(about 1 MB for 1,024 diffs): copy with `list(view)` to keep one row for long.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, SupportsIndex, overload

import numpy as np


class ListView(Sequence[Any]):
    __slots__ = ("_flat", "_items", "_start", "_stop")

    def __init__(self, flat: np.ndarray, start: int, stop: int) -> None:
        self._flat = flat
        self._start = start
        self._stop = stop
        self._items: list | None = None

    def tolist(self) -> list:
        items = self._items
        if items is None:
            items = self._items = self._flat[self._start:self._stop].tolist()
        return items

    def __len__(self) -> int:
        return self._stop - self._start

    @overload
    def __getitem__(self, index: SupportsIndex) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list: ...
    def __getitem__(self, index: SupportsIndex | slice) -> Any:
        return self.tolist()[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.tolist())

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
        view = self._flat[self._start:self._stop]
        return view.astype(dtype) if dtype is not None else view.copy()

    def __reduce__(self) -> tuple:
        return list, (self.tolist(),)  # pickles (and copies) as the plain list
