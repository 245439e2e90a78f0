"""Writing a tape: cheap appends on the caller's thread, decoding and Parquet writing off the hot path.

Rules:
- `stream(kind, symbol).append(local_ns, raw, extra)` is all a producer pays: one tuple pushed onto a
  deque (thread-safe without a lock) with the tape-wide sequence number. `event(...)` records the
  recorder's own events the same way.
- Every `flush_seconds` a background thread (or the caller, with `background=False`) drains the deques,
  decodes the frames into typed columns (`decode.py`), and writes one closed segment file per stream and
  hour; frames that do not decode go to the `other` stream with the reason. A `kill -9` loses only what
  was appended since the last flush.
- Finished hours are merged into one file per stream (split at `max_file_bytes`); a long hour is merged
  every `compact_segments` segments so a killed run leaves few files. `close()` flushes and merges all.
- Within a stream rows are stored in recording order with `local_ns` non-decreasing: a receive time below
  the stream's previous one (a wall clock stepped back) is raised to it and counted (`clamped_rows` in
  the manifest), so readers can merge streams by (local_ns, seq) without reordering any stream.
- The manifest is rewritten after every flush that changed it.
- A failing write is logged and counted (`write_errors`); the producer is never blocked or raised at.
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from lmm.venue.tape import files
from lmm.venue.tape import schema as s
from lmm.venue.tape.decode import Grid, Item, decode_items
from lmm.venue.tape.manifest import MANIFEST_NAME, Manifest, SymbolInfo, write_manifest

log = logging.getLogger("lighter_mm.tape")

HOUR_NS = 3600 * 1_000_000_000


@dataclass(frozen=True)
class WriterSettings:
    flush_seconds: float = 2.0  # at most this much is lost to a kill -9
    max_file_bytes: int = 256 * 1024 * 1024  # merged files are split at about this size
    compact_segments: int = 150  # merge an unfinished hour's segments once this many have piled up


class StreamBuffer:
    """The pending rows of one stream (kind, symbol)."""

    __slots__ = ("_next_seq", "_queue", "grid", "kind", "last_local_ns", "number", "rows_written", "symbol")

    def __init__(self, kind: str, symbol: str, grid: Grid | None, next_seq: Any) -> None:
        self.kind = kind
        self.symbol = symbol
        self.grid = grid
        self._queue: deque[Item] = deque()
        self._next_seq = next_seq
        self.number = 0  # last segment number written
        self.rows_written = 0
        self.last_local_ns = 0

    def append(self, local_ns: int, raw: str | bytes | None, extra: Any = None) -> None:
        """Queue one frame as received (`raw`), stamped with its local receive time in ns."""
        self._queue.append((local_ns, self._next_seq(), raw, extra))

    def __len__(self) -> int:
        return len(self._queue)

    def drain(self) -> list[Item]:
        queue = self._queue
        return [queue.popleft() for _ in range(len(queue))]


class TapeWriter:
    def __init__(self, directory: str | Path, symbols: Sequence[SymbolInfo], source: dict[str, Any],
                 settings: WriterSettings | None = None, *, background: bool = True) -> None:
        self.directory = Path(directory)
        if (self.directory / MANIFEST_NAME).exists():
            raise FileExistsError(f"{self.directory} already holds a tape; choose another directory")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.settings = settings or WriterSettings()
        self._grids = {info.symbol: info.grid for info in symbols}
        self._manifest = Manifest(tuple(symbols), source=dict(source),
                                  writer={"flush_seconds": self.settings.flush_seconds,
                                          "max_file_bytes": self.settings.max_file_bytes})
        self._next_seq = itertools.count(1).__next__
        self._streams: dict[tuple[str, str], StreamBuffer] = {}
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._closed = False
        self.write_errors = 0
        self.clamped_rows = 0
        self.last_error: str | None = None
        self.bytes_written = 0
        self.flush_seconds_spent = 0.0
        write_manifest(self.directory, self._manifest)
        self._written_manifest = self._manifest
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name="tape-writer", daemon=True)
            self._thread.start()

    # ---- producer side --------------------------------------------------------------------------------

    def stream(self, kind: str, symbol: str = "") -> StreamBuffer:
        key = (kind, symbol)
        buffer = self._streams.get(key)
        if buffer is None:
            grid = None if kind in s.UNGRIDDED_KINDS else self._grids.get(symbol)
            if grid is None and kind not in s.UNGRIDDED_KINDS:
                raise KeyError(f"{symbol!r} has no grid in this tape's symbols")
            files.stream_dir_name(kind, symbol)  # validates
            buffer = self._streams.setdefault(key, StreamBuffer(kind, symbol, grid, self._next_seq))
        return buffer

    def event(self, venue: str, symbol: str, event: str, stream: str | None = None, detail: str | None = None,
              local_ns: int | None = None) -> None:
        """Record one of the recorder's own events (schema.EV_*)."""
        now = time.time_ns() if local_ns is None else local_ns
        self.stream(s.EVENT, symbol).append(now, None, (venue, event, stream, detail))

    def other(self, venue: str, stream: str, raw: str | bytes, local_ns: int, note: str | None = None) -> None:
        """Keep a frame that belongs to no typed kind (control replies, errors)."""
        self.stream(s.OTHER).append(local_ns, raw, (venue, stream, note))

    @property
    def streams(self) -> list[StreamBuffer]:
        return list(self._streams.values())

    @property
    def pending(self) -> int:
        return sum(len(b) for b in list(self._streams.values()))

    # ---- writing --------------------------------------------------------------------------------------

    def flush(self) -> int:
        """Write everything queued so far; returns the rows written. Safe from any thread."""
        with self._flush_lock:
            started = time.perf_counter()
            written = 0
            buffers = [b for b in list(self._streams.values()) if b.kind != s.OTHER]
            for buffer in buffers:
                items = buffer.drain()
                if items:
                    written += self._write_items(buffer, items)
            other = self._streams.get((s.OTHER, ""))  # last: it also receives this flush's rejects
            if other is not None and len(other):
                written += self._write_items(other, sorted(other.drain(), key=lambda item: item[1]))
            self._compact(final=False)
            self._update_manifest()
            self.flush_seconds_spent += time.perf_counter() - started
            return written

    def close(self) -> None:
        """Flush, merge every hour into its final files, write the manifest. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()
        with self._flush_lock:
            self._compact(final=True)

    def __enter__(self) -> TapeWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self) -> None:
        while not self._stop.wait(self.settings.flush_seconds):
            try:
                self.flush()
            except Exception as exc:  # keep recording: the next flush may succeed (disk freed, ...)
                self._note_error(exc)

    def _note_error(self, exc: BaseException) -> None:
        self.write_errors += 1
        self.last_error = repr(exc)
        log.exception("tape writer: flush failed")

    def _write_items(self, buffer: StreamBuffer, items: list[Item]) -> int:
        rows, rejects = decode_items(buffer.kind, items, buffer.grid)
        self._clamp(buffer, rows)
        if rejects:
            venue = s.VENUE_OF_KIND.get(buffer.kind, "")
            other = self.stream(s.OTHER)
            for local_ns, seq, raw, reason in rejects:
                other._queue.append((local_ns, seq, raw, (venue, buffer.symbol, reason)))
        written = 0
        for hour_rows in _split_by_hour(rows):
            try:
                self._write_segment(buffer, hour_rows)
            except Exception as exc:
                self._note_error(exc)
                continue
            written += len(hour_rows)
        return written

    def _clamp(self, buffer: StreamBuffer, rows: list[tuple]) -> None:
        """Keep local_ns non-decreasing within a stream (a wall clock that stepped back), in stored order."""
        last = buffer.last_local_ns
        for index, row in enumerate(rows):
            if row[0] < last:
                rows[index] = (last, *row[1:])
                self.clamped_rows += 1
            else:
                last = row[0]
        buffer.last_local_ns = last

    def _write_segment(self, buffer: StreamBuffer, rows: list[tuple]) -> None:
        schema = s.SCHEMAS[buffer.kind]
        columns = zip(*rows, strict=True)
        arrays = [pa.array(list(col), type=field.type) for col, field in zip(columns, schema, strict=True)]
        table = pa.Table.from_arrays(arrays, schema=schema)
        stream_dir = self.directory / files.stream_dir_name(buffer.kind, buffer.symbol)
        stream_dir.mkdir(exist_ok=True)
        buffer.number += 1
        path = files.write_segment(stream_dir, buffer.kind, buffer.symbol, buffer.number,
                                   files.hour_label(rows[0][0]), table)
        buffer.rows_written += len(rows)
        self.bytes_written += path.stat().st_size
        start, end = self._manifest.start_ns, self._manifest.end_ns
        first, last = rows[0][0], max(row[0] for row in rows)
        if start is None or first < start or end is None or last > end:
            self._manifest = replace(self._manifest, start_ns=first if start is None else min(start, first),
                                     end_ns=last if end is None else max(end, last))

    def _compact(self, final: bool) -> None:
        for buffer in list(self._streams.values()):
            stream_dir = self.directory / files.stream_dir_name(buffer.kind, buffer.symbol)
            if not stream_dir.is_dir():
                continue
            try:
                compact_stream(stream_dir, buffer.kind, buffer.symbol, self.settings, final)
            except Exception as exc:
                self._note_error(exc)

    def _update_manifest(self) -> None:
        manifest = self._manifest
        if self.clamped_rows:
            manifest = replace(manifest, writer={**manifest.writer, "clamped_rows": self.clamped_rows})
        if manifest != self._written_manifest:
            write_manifest(self.directory, manifest)
            self._written_manifest = manifest


def _split_by_hour(rows: list[tuple]) -> Iterable[list[tuple]]:
    if not rows:
        return
    start = 0
    hour = rows[0][0] // HOUR_NS
    for index, row in enumerate(rows):
        row_hour = row[0] // HOUR_NS
        if row_hour != hour:
            yield rows[start:index]
            start, hour = index, row_hour
    yield rows[start:]


def compact_stream(stream_dir: Path, kind: str, symbol: str, settings: WriterSettings, final: bool) -> int:
    """Merge finished hours (all hours when `final`), and long unfinished ones; returns files merged."""
    live, superseded = files.split_live(files.all_files(stream_dir))
    files.delete(superseded)
    by_hour: dict[str, list[files.SegmentFile]] = {}
    for f in live:
        by_hour.setdefault(f.hour, []).append(f)
    latest = max(by_hour) if by_hour else None
    merged = 0
    for hour, group in by_hour.items():
        if hour != latest or final:
            if len(group) > 1:
                merged += len(group)
                files.merge(stream_dir, kind, symbol, group, settings.max_file_bytes)
            continue
        singles = [f for f in group if f.first == f.last]
        if len(singles) >= settings.compact_segments:
            run = _trailing_contiguous(group, singles)
            merged += len(run)
            files.merge(stream_dir, kind, symbol, run, settings.max_file_bytes)
    return merged


def _trailing_contiguous(group: list[files.SegmentFile], singles: list[files.SegmentFile]
                         ) -> list[files.SegmentFile]:
    """The single segments at the end of the hour, contiguous in the live order (merged into one file)."""
    single_set = set(singles)
    run: list[files.SegmentFile] = []
    for f in reversed(group):
        if f not in single_set:
            break
        run.append(f)
    return list(reversed(run))
