"""Sweep speed: the wall time of a 4-point sweep (``backtest.py --sweep``) on one worker and on two.

    .venv/bin/python bench/bench_sweep.py [--tape DIR] [--seconds S] [--workers 1,2] [--dask]

Without --tape, the real USD-M recording in ../shared/data is imported into a temporary tape first. The sweep is a
2 x 2 grid (``vol_obi.c1_ticks`` 0/20, ``vol_obi.min_half_spread_bps`` 1.5/3) over the first --seconds (default
120) with the demonstration spread, run once per worker count (and on a Dask LocalCluster of two workers with
--dask). Prints the wall time of each, the speed-up over the first, and checks the rows are the same. The wall
time includes starting the worker processes (each imports the code afresh); on a machine shared with other
work the figures move with the load: the CPU seconds (this process and the local workers) show whether the
points got the cores.
"""
from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lmm.config.config import load_config
from lmm.daemon.backtest import BacktestOptions
from lmm.daemon.sweep import run_sweep, tasks_for
from lmm.daemon.sweep_grid import expand
from lmm.venue.tape.reader import open_tape

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_backtest import tape_or_default

GRID = {"grid": {"vol_obi.c1_ticks": [0, 20], "vol_obi.min_half_spread_bps": [1.5, 3]}}
DEMO = {"LMM_VOL_OBI_WARMUP_SECONDS": "30", "LMM_VOL_OBI_VOL_TO_HALF_SPREAD": "2",
        "LMM_TRADING_DEFAULT_QUOTE_UPDATE_THRESHOLD_BPS": "0.7"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tape", help="tape directory (default: the imported ../shared/data ETHUSDT recording)")
    parser.add_argument("--seconds", type=float, default=120.0, help="replay the first S seconds (default 120)")
    parser.add_argument("--workers", default="1,2", help="worker counts to time, comma-separated (default 1,2)")
    parser.add_argument("--dask", action="store_true", help="also time a Dask LocalCluster of two workers")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        tape_dir = tape_or_default(args.tape, Path(tmp))
        start = open_tape(tape_dir).span_ns()[0]
        options = BacktestOptions(tape_dir, start_ns=start, end_ns=start + int(args.seconds * 1e9))
        tasks = tasks_for(expand(GRID), load_config(None, env=DEMO), options, Path(tmp) / "out", False)
        runs = [(f"workers {n}", int(n), None) for n in args.workers.split(",")]
        if args.dask:
            runs.append(("dask local, 2 workers", 2, "local"))
        print(f"sweep: {len(tasks)} points of {args.seconds:g} s of tape; {os.cpu_count()} CPUs, load average "
              f"{os.getloadavg()[0]:.1f} at the start")
        first_wall, first_rows = None, None
        for name, workers, dask in runs:
            cpu = _cpu_s()
            wall = time.perf_counter()
            rows = run_sweep(tasks, workers, dask)
            wall = time.perf_counter() - wall
            cpu = _cpu_s() - cpu
            first_wall = first_wall or wall
            first_rows = first_rows or rows
            same = "same rows" if rows == first_rows else "ROWS DIFFER"
            cpu_text = "" if dask else f", {cpu:.1f} CPU s"
            print(f"sweep {name}: {wall:.1f} s wall{cpu_text}, speed-up {first_wall / wall:.2f}x ({same}; "
                  f"load average {os.getloadavg()[0]:.1f})")


def _cpu_s() -> float:
    """CPU seconds of this process and of its finished children (the local pool's workers; not Dask's)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    main()
