"""Find what grows: run the daemon under tracemalloc and compare snapshots.

    .venv/bin/python bench/soak_probe.py --snapshots DIR [--every 120] -- <market_maker_v2.py arguments>
    .venv/bin/python bench/soak_probe.py --compare DIR/snap_001.pickle DIR/snap_005.pickle [--top 30]

The first form is what ``bench_soak.py --tracemalloc DIR`` runs: ``market_maker_v2.main`` in this process,
with tracemalloc on (20 frames) and a thread dumping a snapshot every ``--every`` seconds (and one at exit).
The second prints the allocation sites whose live memory grew most between two snapshots, grouped by the
innermost frame of this project (so a growing list shows as the line that appends to it).
"""
from __future__ import annotations

import argparse
import sys
import threading
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FRAMES = 20


def _dump_every(directory: Path, every_s: float, stop: threading.Event) -> None:
    count = 0
    while not stop.wait(every_s):
        count += 1
        tracemalloc.take_snapshot().dump(str(directory / f"snap_{count:03d}.pickle"))


def probe(directory: Path, every_s: float, argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    tracemalloc.start(FRAMES)
    stop = threading.Event()
    thread = threading.Thread(target=_dump_every, args=(directory, every_s, stop), name="soak-probe", daemon=True)
    thread.start()
    import market_maker_v2

    try:
        return market_maker_v2.main(argv)
    finally:
        stop.set()
        tracemalloc.take_snapshot().dump(str(directory / "snap_exit.pickle"))


def _project_frame(trace: tracemalloc.Traceback) -> str:
    """The innermost frame inside this project (not the standard library or site-packages), else the first."""
    for frame in trace:  # most recent call first
        name = frame.filename
        if name.startswith(str(ROOT)) and "/.venv/" not in name and "soak_probe" not in name:
            return f"{Path(name).relative_to(ROOT)}:{frame.lineno}"
    return f"{trace[0].filename}:{trace[0].lineno}"


def compare(first: Path, second: Path, top: int) -> None:
    before = tracemalloc.Snapshot.load(str(first))
    after = tracemalloc.Snapshot.load(str(second))
    grouped: dict[str, list[int]] = {}
    for stat in after.compare_to(before, "traceback"):
        entry = grouped.setdefault(_project_frame(stat.traceback), [0, 0])
        entry[0] += stat.size_diff
        entry[1] += stat.count_diff
    total = sum(size for size, _ in grouped.values())
    print(f"live memory change {total / 1024:+.1f} KiB between {first.name} and {second.name}")
    for site, (size, count) in sorted(grouped.items(), key=lambda item: -item[1][0])[:top]:
        print(f"  {size / 1024:+10.1f} KiB {count:+8d} blocks  {site}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snapshots", type=Path, help="directory for the snapshots (probe mode)")
    parser.add_argument("--every", type=float, default=120.0, help="seconds between snapshots (default 120)")
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("BEFORE", "AFTER"))
    parser.add_argument("--top", type=int, default=30)
    args, rest = parser.parse_known_args(argv)
    if args.compare:
        compare(*args.compare, args.top)
        return 0
    if args.snapshots is None:
        parser.error("--snapshots DIR or --compare BEFORE AFTER")
    args.snapshots.mkdir(parents=True, exist_ok=True)
    return probe(args.snapshots, args.every, [a for a in rest if a != "--"])


if __name__ == "__main__":
    sys.exit(main())
