"""The tape reader's bulk decoding: each Arrow column to Python values in one call, list columns as lazy
`ListView`s, giving exactly the values and types pyarrow's own `to_pylist` gives."""
from __future__ import annotations

import copy
import operator
import pickle
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pytest
from tape_samples import typed

from lmm.venue.tape.list_view import FlatColumn, ListView
from lmm.venue.tape.reader import LEVEL_MODES, _column


def test_a_list_view_reads_as_its_list():
    flat = np.array([5, 970000, 969980, 7, 9], dtype=np.int64)
    column = FlatColumn(flat)
    view = ListView(column, 1, 3)
    assert len(view) == 2 and bool(view) and not ListView(column, 2, 2)
    assert view == [970000, 969980] and operator.eq([970000, 969980], view)  # reflected: list == view
    assert view != [970000] and view != (970000, 969980)  # not equal to a tuple, as a list is not
    assert view == ListView(FlatColumn(flat.copy()), 1, 3) and (view, 1) == ([970000, 969980], 1)
    assert view[0] == 970000 and view[-1] == 969980 and type(view[0]) is int
    assert view[:1] == [970000] and type(view[:1]) is list
    assert list(view) == [970000, 969980] and list(reversed(view)) == [969980, 970000]
    assert 969980 in view and 5 not in view and view.index(969980) == 1 and view.count(970000) == 1
    assert repr(view) == "[970000, 969980]" and str(view) == "[970000, 969980]"
    assert isinstance(view, Sequence) and not isinstance(view, list)
    assert list(zip(view, ListView(column, 3, 5), strict=True)) == [(970000, 7), (969980, 9)]
    with pytest.raises(TypeError):
        hash(view)
    with pytest.raises(IndexError):
        view[2]
    with pytest.raises(IndexError):
        view[-3]
    assert view[-2] == 970000 and view[np.int64(1)] == 969980
    owned = view.tolist()
    owned.append(1)  # a new list each time: the view does not change
    assert view == [970000, 969980] and len(view) == 2
    assert pickle.loads(pickle.dumps(view)) == [970000, 969980] and copy.copy(view) == [970000, 969980]
    assert np.asarray(view).tolist() == [970000, 969980] and np.asarray(view).dtype == np.int64
    as_float = np.asarray(view, dtype=np.float64)
    assert as_float.dtype == np.float64 and as_float.tolist() == [970000.0, 969980.0]
    np.asarray(view)[0] = 1  # a copy: the batch's column is never written through a view
    assert flat[1] == 970000 and view[0] == 970000


ARRAYS = {
    "int64": pa.array([1, 2**62, -3], pa.int64()),
    "int64 with nulls": pa.array([1, None, 3], pa.int64()),
    "int32": pa.array([7, -8, 9], pa.int32()),
    "float64": pa.array([0.1, 1e300, -2.5], pa.float64()),
    "float64 with nulls": pa.array([0.1, None, float("nan")], pa.float64()),
    "bool": pa.array([True, False, True]),
    "bool with nulls": pa.array([True, None, False]),
    "string": pa.array(["a", None, "ç"]),
    "list<int64>": pa.array([[1, 2], [], [3, 2**62]], pa.list_(pa.int64())),
    "list<int64> with a null list": pa.array([[1], None, [2]], pa.list_(pa.int64())),
    "list<int64> with a null value": pa.array([[1, None], [2]], pa.list_(pa.int64())),
    "list<bool>": pa.array([[True, False], [True]], pa.list_(pa.bool_())),
    "list<string>": pa.array([["0xab"], []], pa.list_(pa.string())),
    "list<int64> sliced": pa.array([[9, 9], [1, 2], [3]], pa.list_(pa.int64())).slice(1),
}


@pytest.mark.parametrize("name", list(ARRAYS))
@pytest.mark.parametrize("levels", [m for m in LEVEL_MODES if m != "numpy"])
def test_bulk_columns_are_pyarrows_values_and_types(name: str, levels: str):
    array = ARRAYS[name]
    got = [typed(v) for v in _column(array, levels)]
    expected = [typed(v) for v in array.to_pylist()]
    if "float64 with nulls" in name:  # nan != nan: compare the representation
        assert repr(got) == repr(expected)
    else:
        assert got == expected


def test_numpy_levels_are_int64_arrays():
    array = pa.array([[1, 2], [], [3]], pa.list_(pa.int64())).slice(1)
    got = _column(array, "numpy")
    assert [a.dtype.name for a in got] == ["int64", "int64"] and [a.tolist() for a in got] == [[], [3]]
