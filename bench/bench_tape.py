"""Tape read rate: events decoded from Parquet to typed tuples per second, merged in local-time order.

    .venv/bin/python bench/bench_tape.py [--tape DIR] [--repeat 7]

Without --tape, the real USD-M recording in ../shared/data (hftbacktest format) is imported into a
temporary tape first. Prints `tape read: <N> events/s` (the best of --repeat passes over the whole tape
with `Tape.events()`, list columns as lazy `ListView`s, default GC), then the same with level lists as
numpy arrays, as plain Python lists built at once (`levels="plain"`, what the reader gave before the
views), in exchange-time order, and through `event_batches()`; plus the mean levels per depth event, and
the rate of a replay that reads every level of every diff and snapshot as the backtester does (zipped into
pairs), with views and with plain lists: a view defers its levels' Python ints to the reader that wants
them. CPU time of this process (time.process_time), so other load on a shared machine slows it less than
wall time would.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lmm.venue.tape import schema as s
from lmm.venue.tape.hftbacktest import import_hftbacktest
from lmm.venue.tape.reader import Tape, open_tape

ROOT = Path(__file__).resolve().parents[1]
USDM_NAME = "binance-usdm-ethusdt-20240808.gz"
# ../shared/data next to the project (a worktree sits one level deeper)
DEFAULT_SOURCE = next((d / "shared" / "data" / USDM_NAME for d in (ROOT.parent, ROOT.parent.parent)
                       if (d / "shared" / "data" / USDM_NAME).exists()), ROOT.parent / "shared" / "data" / USDM_NAME)


def rate(tape: Tape, repeat: int, **options: object) -> tuple[float, int]:
    best, count = 0.0, 0
    for _ in range(repeat):
        started = time.process_time()
        count = 0
        for _event in tape.events(**options):
            count += 1
        best = max(best, count / (time.process_time() - started))
    return best, count


def batch_rate(tape: Tape, repeat: int) -> float:
    best = 0.0
    for _ in range(repeat):
        started = time.process_time()
        count = 0
        for chunk in tape.event_batches():
            for _event in chunk:
                count += 1
        best = max(best, count / (time.process_time() - started))
    return best


def replay_rate(tape: Tape, repeat: int, levels: str) -> float:
    """Depth and snapshot events with their levels zipped into (tick, lots) pairs, as BinanceTapeMarket does."""
    best = 0.0
    kinds = (s.BINANCE_DEPTH, s.BINANCE_SNAPSHOT)
    for _ in range(repeat):
        started = time.process_time()
        count = 0
        for ev in tape.events(kinds=kinds, levels=levels):
            list(zip(ev[8], ev[9], strict=True))
            list(zip(ev[10], ev[11], strict=True))
            count += 1
        best = max(best, count / (time.process_time() - started))
    return best


def levels_per_depth_event(tape: Tape) -> float:
    levels = events = 0
    for ev in tape.events(kinds=[s.BINANCE_DEPTH, s.LIGHTER_BOOK], levels="numpy"):
        levels += len(ev[-4]) + len(ev[-2])
        events += 1
    return levels / events if events else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tape", help="tape directory (default: import the USD-M recording)")
    parser.add_argument("--source", default=str(DEFAULT_SOURCE), help="hftbacktest file imported without --tape")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.tape
        if directory is None:
            directory = str(Path(tmp) / "tape")
            import_hftbacktest(args.source, directory)
            print(f"tape: {Path(args.source).name} imported")
        tape = open_tape(directory)
        best, count = rate(tape, args.repeat)
        print(f"tape read: {best:.0f} events/s")
        numpy_rate, _ = rate(tape, args.repeat, levels="numpy")
        plain_rate, _ = rate(tape, args.repeat, levels="plain")
        exchange_rate, _ = rate(tape, args.repeat, order="exchange")
        print(f"  {count} events, {len(tape.streams)} streams, "
              f"{levels_per_depth_event(tape):.1f} levels per book event (diffs and Lighter frames, both sides)")
        print(f"  levels as numpy arrays: {numpy_rate:.0f} events/s")
        print(f"  levels as plain lists:  {plain_rate:.0f} events/s")
        print(f"  exchange-time order:    {exchange_rate:.0f} events/s")
        print(f"  event_batches():        {batch_rate(tape, args.repeat):.0f} events/s")
        views, plain = replay_rate(tape, args.repeat, "list"), replay_rate(tape, args.repeat, "plain")
        print(f"  depth events with every level read (zipped into pairs): views {views:.0f}/s, "
              f"plain lists {plain:.0f}/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
