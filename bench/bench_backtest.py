"""Backtest speed: tape events replayed per second through the whole daemon on the local venue.

    .venv/bin/python bench/bench_backtest.py [--tape DIR] [--seconds S]

Without --tape, the real USD-M recording in ../shared/data is imported into a temporary tape first. Runs the
default configuration (with the warm-up cut to 30 s so the bot quotes) over the first --seconds of the tape
(default: all of it) and prints `backtest: <N> events/s` (tape events replayed / CPU seconds of this process: a
depth diff, a snapshot or a trade is one event), the same CPU time per row in hftbacktest's unit (a price level
of a diff is one row), then the fills and the mirror's engine transactions.
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lmm.config.config import load_config
from lmm.daemon.backtest import BacktestOptions, run_backtest
from lmm.venue.tape.hftbacktest import import_hftbacktest
from lmm.venue.tape.reader import open_tape
from lmm.venue.tape.schema import BINANCE_DEPTH, BINANCE_SNAPSHOT, BINANCE_TRADE

ROOT = Path(__file__).resolve().parents[1]
USDM_NAME = "binance-usdm-ethusdt-20240808.gz"
DEFAULT_SOURCE = next((d / "shared" / "data" / USDM_NAME for d in (ROOT.parent, ROOT.parent.parent)
                       if (d / "shared" / "data" / USDM_NAME).exists()), ROOT.parent / "shared" / "data" / USDM_NAME)


def tape_or_default(tape: str | None, tmp: Path) -> Path:
    """``--tape``, or the real ETHUSDT recording imported into ``tmp``."""
    if tape:
        return Path(tape)
    import_hftbacktest(DEFAULT_SOURCE, tmp / "eth")
    return tmp / "eth"


def tape_rows(tape_dir: Path, symbol: str, start_ns: int, end_ns: int | None) -> int:
    """The window's Binance market ``symbol`` as hftbacktest counts events: one row per level of a depth diff or
    snapshot, one per trade."""
    rows = 0
    for ev in open_tape(tape_dir).events(kinds=(BINANCE_DEPTH, BINANCE_SNAPSHOT, BINANCE_TRADE), symbols=(symbol,),
                                         start_ns=start_ns, end_ns=end_ns):
        rows += 1 if ev[2] == BINANCE_TRADE else len(ev[8]) + len(ev[10])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tape", help="tape directory (default: the imported ../shared/data ETHUSDT recording)")
    parser.add_argument("--seconds", type=float, help="replay only the first S seconds of the tape")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        tape_dir = tape_or_default(args.tape, Path(tmp))
        start = open_tape(tape_dir).span_ns()[0]
        end = None if args.seconds is None else start + int(args.seconds * 1e9)
        config = load_config(None, env={"LMM_VOL_OBI_WARMUP_SECONDS": "30"})
        cpu = time.process_time()
        report = run_backtest(config, BacktestOptions(tape_dir, start_ns=start, end_ns=end))
        cpu = time.process_time() - cpu
        rows = tape_rows(tape_dir, report["symbol"], start, end) if report["venue"] == "binance" else None
    events = report["replay"]["events"]
    print(f"backtest: {events / cpu:.0f} events/s")
    if rows is not None:  # a Binance market: hftbacktest's own format
        print(f"= {rows / cpu:.0f} rows/s in hftbacktest's unit ({rows} rows: one per price level of a depth event or "
              f"snapshot, one per trade)")
    print(f"{events} tape events ({report['seconds']:.0f} s of market) in {cpu:.1f} CPU s; fills {report['fills']}; "
          f"mirror: {report['mirror']['level_sets']} level updates, {report['mirror']['engine_txs']} engine txs")


if __name__ == "__main__":
    main()
