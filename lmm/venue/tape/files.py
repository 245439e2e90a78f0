"""Where a tape's rows live on disk: stream directories of closed Parquet files, written atomically.

Layout: `<tape>/<kind>[.<symbol>]/<YYYYMMDDTHH>.<first>-<last>.parquet`. The writer closes one small
segment file per stream every flush (numbered per stream, `first == last`), then merges the segments of a
finished hour (or of a long-running hour, every `compact_segments`) into files covering a range of segment
numbers, split at `max_file_bytes`. Every file is written under a hidden temporary name and renamed when
complete, so a file with a final name always has its footer: a `kill -9` loses at most the rows not yet
flushed. A file whose range lies inside another file's range has been merged into it and is ignored by
readers (a merge killed before it deleted its sources leaves such duplicates; the next merge removes
them). Partially overlapping ranges never arise and are reported as corruption.
"""
from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lmm.venue.tape import schema as s

_NAME = re.compile(r"^(\d{8}T\d{2})\.(\d{8})-(\d{8})\.parquet$")
_SYMBOL = re.compile(r"^[A-Za-z0-9_\-]{0,40}$")
COMPRESSION = "zstd"
COMPRESSION_LEVEL = 3
MERGE_ROW_GROUP_BYTES = 16 * 1024 * 1024  # uncompressed bytes per row group in merged files


class TapeError(RuntimeError):
    pass


@dataclass(frozen=True, order=True)
class SegmentFile:
    first: int
    last: int
    hour: str
    path: Path

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def stream_dir_name(kind: str, symbol: str) -> str:
    if kind not in s.SCHEMAS:
        raise ValueError(f"unknown kind {kind!r}")
    if not _SYMBOL.match(symbol):
        raise ValueError(f"symbol {symbol!r} is not usable in a file name")
    return f"{kind}.{symbol}" if symbol else kind


def parse_stream_dir_name(name: str) -> tuple[str, str] | None:
    kind, _, symbol = name.partition(".")
    return (kind, symbol) if kind in s.SCHEMAS and _SYMBOL.match(symbol) else None


def hour_label(local_ns: int) -> str:
    return time.strftime("%Y%m%dT%H", time.gmtime(local_ns // 1_000_000_000))


def segment_name(hour: str, first: int, last: int) -> str:
    return f"{hour}.{first:08d}-{last:08d}.parquet"


def all_files(stream_dir: Path) -> list[SegmentFile]:
    """Every finished file of a stream directory (temporary files excluded), ordered by range."""
    found = []
    if stream_dir.is_dir():
        for entry in os.scandir(stream_dir):
            match = _NAME.match(entry.name)
            if match:
                found.append(SegmentFile(int(match[2]), int(match[3]), match[1], Path(entry.path)))
    found.sort(key=lambda f: (f.first, -f.last))
    return found


def split_live(files: Sequence[SegmentFile]) -> tuple[list[SegmentFile], list[SegmentFile]]:
    """(live files in order, superseded files whose range another file contains)."""
    live: list[SegmentFile] = []
    superseded: list[SegmentFile] = []
    reach = -1
    for f in files:  # sorted by first ascending, then widest first
        if f.last <= reach:
            superseded.append(f)
            continue
        if f.first <= reach:
            raise TapeError(f"{f.path}: segment range overlaps another file's without being inside it")
        live.append(f)
        reach = f.last
    return live, superseded


def live_files(stream_dir: Path) -> list[SegmentFile]:
    return split_live(all_files(stream_dir))[0]


def write_options(schema: pa.Schema) -> dict[str, object]:
    """Parquet options: zstd; integer columns (scalars and lists) delta-encoded, which keeps monotone
    times, ids and nearby prices small and decodes faster than dictionaries; strings dictionary-free."""
    delta = [f.name for f in schema
             if pa.types.is_integer(f.type) or (pa.types.is_list(f.type) and pa.types.is_integer(f.type.value_type))]
    return {"compression": COMPRESSION, "compression_level": COMPRESSION_LEVEL, "use_dictionary": False,
            "column_encoding": dict.fromkeys(delta, "DELTA_BINARY_PACKED")}


def file_metadata(kind: str, symbol: str) -> dict[bytes, bytes]:
    return {b"lmm.tape.schema_version": str(s.SCHEMA_VERSION).encode(), b"lmm.tape.kind": kind.encode(),
            b"lmm.tape.symbol": symbol.encode()}


def _tmp_path(target: Path, tag: str = "") -> Path:
    return target.with_name(f".{target.name}{tag}.tmp")


def write_segment(stream_dir: Path, kind: str, symbol: str, number: int, hour: str, table: pa.Table) -> Path:
    """One closed segment file holding `table` as a single row group."""
    target = stream_dir / segment_name(hour, number, number)
    tmp = _tmp_path(target)
    pq.write_table(table.replace_schema_metadata(file_metadata(kind, symbol)), tmp,
                   row_group_size=max(1, table.num_rows), **write_options(table.schema))
    os.replace(tmp, target)
    return target


def remove_temporaries(stream_dir: Path) -> int:
    """Delete temporary files a killed writer left behind; returns how many."""
    removed = 0
    if stream_dir.is_dir():
        for entry in os.scandir(stream_dir):
            if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                os.unlink(entry.path)
                removed += 1
    return removed


def merge(stream_dir: Path, kind: str, symbol: str, sources: Sequence[SegmentFile],
          max_file_bytes: int) -> list[Path]:
    """Merge contiguous live files into files of at most about `max_file_bytes`, then delete the sources.

    Streams row groups (constant memory). Each output covers the ranges of the sources it took, so a kill at
    any point leaves a readable set of files (see the module rules).
    """
    if len(sources) < 2:
        return []
    schema = s.SCHEMAS[kind].with_metadata(file_metadata(kind, symbol))
    outputs: list[Path] = []
    group: list[SegmentFile] = []
    writer: pq.ParquetWriter | None = None
    tmp: Path | None = None
    pending: list[pa.Table] = []
    pending_bytes = 0

    def flush_pending() -> None:
        nonlocal pending, pending_bytes
        if pending and writer is not None:
            writer.write_table(pa.concat_tables(pending))
        pending, pending_bytes = [], 0

    def finish() -> None:
        nonlocal writer, tmp, group
        if writer is None or tmp is None:
            return
        flush_pending()
        writer.close()
        target = stream_dir / segment_name(group[0].hour, group[0].first, group[-1].last)
        os.replace(tmp, target)
        outputs.append(target)
        writer, tmp, group = None, None, []

    for source in sources:
        if writer is not None and tmp is not None and tmp.stat().st_size + pending_bytes // 4 >= max_file_bytes:
            finish()
        if writer is None:
            tmp = _tmp_path(stream_dir / segment_name(source.hour, source.first, source.first), ".merge")
            writer = pq.ParquetWriter(tmp, schema, **write_options(schema))
        group.append(source)
        parquet = pq.ParquetFile(source.path)
        for index in range(parquet.num_row_groups):
            table = parquet.read_row_group(index).cast(schema)
            pending.append(table)
            pending_bytes += table.nbytes
            if pending_bytes >= MERGE_ROW_GROUP_BYTES:
                flush_pending()
    finish()
    for source in sources:
        if all(source.path != out for out in outputs):
            source.path.unlink(missing_ok=True)
    return outputs


def delete(files: Iterable[SegmentFile]) -> None:
    for f in files:
        f.path.unlink(missing_ok=True)
