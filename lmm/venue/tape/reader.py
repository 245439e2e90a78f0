"""Reading a tape: every stream's rows as typed tuples, merged lazily in local (or exchange) time order.

Rules:
- A tuple is (local_ns, seq, kind, symbol, exch_ns, *the kind's columns) [+ raw], see schema.py and
  docs/tape.md. List columns (levels) read as Python lists of ints: by default each is a `ListView` over
  its batch's flat column, which builds the list on first use (list_view.py).
- Bulk decoding: each column of an Arrow batch becomes Python values in one call (numpy's `tolist`), the
  rows are zipped in C; nothing runs per event in Python.
- Local order: by (local_ns, seq), exact; each stream is stored in that order (the writer guarantees it).
- Exchange order: streams are merged by exchange time, each stream kept in its own arrival order (a
  venue's stream must never be reordered: diffs chain), i.e. by the running maximum of its exch_ns (rows
  without one, such as the recorder's events, use local_ns), ties by seq.
- Constant memory: one Arrow batch per stream is decoded at a time; a merge round takes, from every
  stream, the rows up to the smallest last key among the streams' current batches and sorts that union
  (already sorted runs: timsort merges them in C), so one stream's batch is used up per round.
"""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, islice, pairwise, repeat
from operator import itemgetter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lmm.venue.tape import files
from lmm.venue.tape import schema as s
from lmm.venue.tape.list_view import FlatColumn, ListView
from lmm.venue.tape.manifest import Manifest, read_manifest

DEFAULT_BATCH_ROWS = 1024  # small batches: their objects die young, so the GC scans them less
LOCAL, EXCHANGE = "local", "exchange"
LIST, PLAIN, NUMPY = "list", "plain", "numpy"  # list columns as ListViews, as plain lists, as numpy arrays
LEVEL_MODES = (LIST, PLAIN, NUMPY)


@dataclass(frozen=True)
class StreamFiles:
    kind: str
    symbol: str
    files: tuple[files.SegmentFile, ...]

    @property
    def rows(self) -> int:
        return sum(pq.ParquetFile(f.path).metadata.num_rows for f in self.files)


def _numpy_lists(array: pa.Array) -> list:
    """A list<int64> column as int64 numpy views of one flat buffer (no Python int per level)."""
    if array.null_count:
        return [None if v is None else np.asarray(v, dtype=np.int64) for v in array.to_pylist()]
    flat = array.flatten().to_numpy(zero_copy_only=False)
    offsets = array.offsets.to_numpy()
    offsets = (offsets - offsets[0]).tolist()
    return [flat[a:b] for a, b in pairwise(offsets)]


def _list_views(array: pa.ListArray) -> Iterable:
    """A list column of numbers or bools as one ListView per row over the batch's flat values (lazy lists)."""
    values = array.values
    if array.null_count or values.null_count or not (pa.types.is_integer(values.type)
                                                    or pa.types.is_boolean(values.type)):
        return array.to_pylist()
    column = FlatColumn(values.to_numpy(zero_copy_only=False))
    offsets = array.offsets.to_numpy().tolist()  # absolute positions in `values`, slices included
    return map(ListView, repeat(column), offsets, islice(offsets, 1, None))


def _column(array: pa.Array, levels: str) -> Iterable:
    """One column of a batch as its rows' Python values, in bulk (numpy's `tolist` where it is exact)."""
    kind = array.type
    if pa.types.is_list(kind):
        if levels == NUMPY and pa.types.is_integer(kind.value_type):
            return _numpy_lists(array)
        if levels == LIST:
            return _list_views(array)
        return array.to_pylist()
    if not array.null_count and (pa.types.is_integer(kind) or pa.types.is_floating(kind)
                                 or pa.types.is_boolean(kind)):
        return array.to_numpy(zero_copy_only=False).tolist()
    return array.to_pylist()


class Tape:
    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.manifest: Manifest = read_manifest(self.directory)
        streams = []
        for entry in sorted(self.directory.iterdir()):
            parsed = files.parse_stream_dir_name(entry.name) if entry.is_dir() else None
            if parsed is None:
                continue
            live = files.live_files(entry)
            if live:
                streams.append(StreamFiles(parsed[0], parsed[1], tuple(live)))
        self.streams: tuple[StreamFiles, ...] = tuple(streams)

    def select(self, kinds: Iterable[str] | None = None, symbols: Iterable[str] | None = None) -> list[StreamFiles]:
        kind_set = None if kinds is None else set(kinds)
        symbol_set = None if symbols is None else set(symbols)
        return [st for st in self.streams if (kind_set is None or st.kind in kind_set)
                and (symbol_set is None or st.symbol in symbol_set or not st.symbol)]

    def count(self, kinds: Iterable[str] | None = None) -> int:
        """Rows in the tape (from the files' footers, nothing decoded)."""
        return sum(st.rows for st in self.select(kinds))

    def span_ns(self) -> tuple[int, int] | None:
        """(first, last) local_ns over every stream, from the row-group statistics."""
        lows, highs = [], []
        for st in self.streams:
            for f in st.files:
                meta = pq.ParquetFile(f.path).metadata
                for index in range(meta.num_row_groups):
                    stats = meta.row_group(index).column(0).statistics
                    if stats is not None and stats.has_min_max:
                        lows.append(stats.min)
                        highs.append(stats.max)
        return (min(lows), max(highs)) if lows else None

    def stream_batches(self, stream: StreamFiles, with_raw: bool = False, batch_rows: int = DEFAULT_BATCH_ROWS,
                       start_ns: int | None = None, end_ns: int | None = None, levels: str = LIST
                       ) -> Iterator[list[tuple]]:
        """One stream's rows, in stored order, as lists of tuples (one list per Arrow batch).

        List columns (book levels, a Lighter frame's trades): `levels="list"` (default) gives each as a
        `ListView`, read as the Python list it stands for and built on first use; `"plain"` builds plain
        Python lists at once; `"numpy"` gives the integer ones as int64 numpy arrays.
        """
        for rows, _keys in self._stream_rows(stream, with_raw, batch_rows, start_ns, end_ns, _levels_mode(levels),
                                             keyed=False):
            yield rows

    def _stream_rows(self, stream: StreamFiles, with_raw: bool, batch_rows: int, start_ns: int | None,
                     end_ns: int | None, levels: str, keyed: bool) -> Iterator[tuple[list[tuple], list[int] | None]]:
        """(rows, exchange keys if `keyed`) per Arrow batch; columns are converted whole, rows zipped in C."""
        kind = stream.kind
        names = ["local_ns", "seq", "exch_ns", *s.BODY_COLUMNS[kind]]
        if with_raw and "raw" in s.SCHEMAS[kind].names:
            names.append("raw")
        symbol = stream.symbol
        running = -1
        for f in stream.files:
            parquet = pq.ParquetFile(f.path)
            for batch in parquet.iter_batches(batch_size=batch_rows, columns=names):
                if start_ns is not None or end_ns is not None:
                    batch = _time_filter(batch, start_ns, end_ns)
                n = batch.num_rows
                if n == 0:
                    continue
                cols = [_column(batch.column(i), levels) for i in range(batch.num_columns)]
                rows = list(zip(cols[0], cols[1], repeat(kind, n), repeat(symbol, n), *cols[2:]))  # noqa: B905
                keys = None
                if keyed:
                    keys = _exchange_keys(batch.column(0), batch.column(2), running)
                    running = keys[-1]
                yield rows, keys

    def event_batches(self, kinds: Iterable[str] | None = None, symbols: Iterable[str] | None = None,
                      order: str = LOCAL, with_raw: bool = False, batch_rows: int = DEFAULT_BATCH_ROWS,
                      start_ns: int | None = None, end_ns: int | None = None, levels: str = LIST
                      ) -> Iterator[list[tuple]]:
        """The merged event sequence as consecutive sorted lists (the fastest way to consume a tape)."""
        if order not in (LOCAL, EXCHANGE):
            raise ValueError(f"order must be {LOCAL!r} or {EXCHANGE!r}")
        mode = _levels_mode(levels)
        keyed = order == EXCHANGE
        sources = [self._stream_rows(st, with_raw, batch_rows, start_ns, end_ns, mode, keyed)
                   for st in self.select(kinds, symbols)]
        if keyed:  # rows decorated as (key, seq, row): the merge compares the first two fields
            decorated = [(list(zip(keys, map(_SEQ, rows), rows)) for rows, keys in src)  # noqa: B905
                         for src in sources]
            yield from (list(map(_ROW, chunk)) for chunk in _merge(decorated))
        else:
            yield from _merge([(rows for rows, _keys in src) for src in sources])

    def events(self, kinds: Iterable[str] | None = None, symbols: Iterable[str] | None = None,
               order: str = LOCAL, with_raw: bool = False, batch_rows: int = DEFAULT_BATCH_ROWS,
               start_ns: int | None = None, end_ns: int | None = None, levels: str = LIST) -> Iterator[tuple]:
        """Every event of the selected streams, merged in `order` ("local" or "exchange"), lazily."""
        # chain flattens the batches in C: a generator here would cost a Python resume per event
        return chain.from_iterable(self.event_batches(kinds, symbols, order, with_raw, batch_rows, start_ns, end_ns,
                                                      levels))


_SEQ = itemgetter(1)
_ROW = itemgetter(2)


def _levels_mode(levels: str) -> str:
    if levels not in LEVEL_MODES:
        raise ValueError(f"levels must be one of {', '.join(map(repr, LEVEL_MODES))}, got {levels!r}")
    return levels


def open_tape(directory: str | Path) -> Tape:
    return Tape(directory)


def _time_filter(batch: pa.RecordBatch, start_ns: int | None, end_ns: int | None) -> pa.RecordBatch:
    local = batch.column(0)
    mask = None
    if start_ns is not None:
        mask = pc.greater_equal(local, start_ns)
    if end_ns is not None:
        upper = pc.less(local, end_ns)
        mask = upper if mask is None else pc.and_(mask, upper)
    return batch.filter(mask)


def _exchange_keys(local: pa.Array, exch: pa.Array, running: int) -> list[int]:
    """Each row's exchange-order key: the running maximum of exch_ns (local_ns where it is missing),
    carried over from the stream's previous batches by `running`."""
    keys = (pc.coalesce(exch, local) if exch.null_count else exch).to_numpy(zero_copy_only=False)
    return np.maximum.accumulate(np.maximum(keys, running)).tolist()


def _merge(sources: Sequence[Iterator[list[tuple]]]) -> Iterator[list[tuple]]:
    """k-way merge of sorted batch streams (items compare on their first two fields: key, seq)."""
    buffers: list[list[tuple]] = []
    positions: list[int] = []
    iterators: list[Iterator[list[tuple]]] = []
    for source in sources:
        first = next(source, None)
        while first is not None and not first:
            first = next(source, None)
        if first is not None:
            buffers.append(first)
            positions.append(0)
            iterators.append(source)
    while buffers:
        if len(buffers) == 1:
            rest = buffers[0][positions[0]:]
            if rest:
                yield rest
            yield from (batch for batch in iterators[0] if batch)
            return
        watermark = min(buffer[-1] for buffer in buffers)
        union: list[tuple] = []
        for index, buffer in enumerate(buffers):
            start = positions[index]
            cut = bisect_right(buffer, watermark, start)
            if cut > start:
                union.extend(buffer[start:cut] if start or cut < len(buffer) else buffer)
                positions[index] = cut
        union.sort()
        yield union
        for index in reversed(range(len(buffers))):
            if positions[index] == len(buffers[index]):
                refill = next(iterators[index], None)
                while refill is not None and not refill:
                    refill = next(iterators[index], None)
                if refill is None:
                    del buffers[index], positions[index], iterators[index]
                else:
                    buffers[index] = refill
                    positions[index] = 0
