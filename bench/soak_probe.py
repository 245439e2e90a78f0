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
import gc
import json
import sys
import threading
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FRAMES = 20


def _is_project(module: str | None) -> bool:
    file = getattr(sys.modules.get(module or ""), "__file__", None) or ""
    return file.startswith(str(ROOT)) and "/bench/" not in file


def container_sizes() -> dict[str, int]:
    """For every live object of a project class, the length of each attribute that has one (lists, dicts,
    deques, sets, the Cython book sides...): ``Class.attribute`` -> the largest length seen. Catches what
    tracemalloc cannot see (memory owned by C extensions)."""
    sizes: dict[str, int] = {}
    for obj in gc.get_objects():
        cls = type(obj)
        if not _is_project(cls.__module__):
            continue
        names = list(getattr(obj, "__dict__", {}))
        for klass in cls.__mro__:
            names.extend(n for n in getattr(klass, "__slots__", ()) if isinstance(n, str))
        for name in names:
            try:
                value = getattr(obj, name)
                length = len(value)
            except Exception:  # no such attribute, or no length
                continue
            if isinstance(value, str | bytes):
                continue
            key = f"{cls.__name__}.{name}"
            sizes[key] = max(sizes.get(key, 0), length)
    return sizes


def _dump_every(directory: Path, every_s: float, stop: threading.Event) -> None:
    count = 0
    with (directory / "sizes.jsonl").open("a") as sizes:
        while not stop.wait(every_s):
            count += 1
            tracemalloc.take_snapshot().dump(str(directory / f"snap_{count:03d}.pickle"))
            sizes.write(json.dumps({"snapshot": count, "sizes": container_sizes()}) + "\n")
            sizes.flush()


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
    """The innermost frame of the project's own code (not the standard library, site-packages or this probe),
    else the innermost frame; a snapshot taken from another checkout groups the same way."""
    for frame in reversed(trace):  # stored oldest call first
        name = frame.filename
        if not name.startswith("<") and "/lib/python3" not in name and not name.endswith("soak_probe.py"):
            return f"{Path(name).name}:{frame.lineno}"
    return f"{trace[-1].filename}:{trace[-1].lineno}"


def compare(first: Path, second: Path, top: int) -> None:
    before = tracemalloc.Snapshot.load(str(first))
    after = tracemalloc.Snapshot.load(str(second))
    grouped: dict[str, list[int]] = {}
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, __file__)]
    before, after = before.filter_traces(ignore), after.filter_traces(ignore)
    for stat in after.compare_to(before, "traceback"):
        entry = grouped.setdefault(_project_frame(stat.traceback), [0, 0])
        entry[0] += stat.size_diff
        entry[1] += stat.count_diff
    sizes_path = first.parent / "sizes.jsonl"
    if sizes_path.exists():
        rows = [json.loads(line)["sizes"] for line in sizes_path.read_text().splitlines() if line.strip()]
        if len(rows) >= 2:
            grown = sorted(((rows[-1].get(k, 0) - rows[0].get(k, 0), k) for k in rows[-1]), reverse=True)
            print(f"container lengths, first -> last of {len(rows)} probes (growing first):")
            for _delta, key in grown[:top]:
                print(f"  {rows[0].get(key, 0):8d} -> {rows[-1][key]:8d}  {key}")
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
