"""Soak: does the daemon's memory keep growing over a long run with the demo spread?

    .venv/bin/python bench/bench_soak.py --minutes 60
    .venv/bin/python bench/bench_soak.py --minutes 10 --tracemalloc /tmp/soak_snapshots

The simulator runs as ``python -m sim`` in its own process; the daemon runs ``--live`` against it as a
subprocess with a funded premium account created through the control API and the ``make run`` demo spread
(the Makefile's DEMO_ENV), so it is filled every few seconds. Helpers are ``bench_daemon.py``'s.
RSS (VmRSS of /proc/<pid>/status) is sampled every ``--interval`` seconds from the end of the daemon's
start-up (leverage set); the slope is the least-squares fit of RSS against time over the samples taken after
a warm-up of min(10 min, N/3), in MB per hour. CPU is (utime + stime) growth in /proc/<pid>/stat over the
same window in % of one core (noisy on a shared machine); tick-to-order p50 comes from the daemon's own
``perf:`` line at exit. ``--tracemalloc DIR`` runs the daemon under ``soak_probe.py``, which writes
tracemalloc snapshots into DIR (the daemon is slower then: use it to find what grows, not for figures).
Every sample goes to ``rss.csv`` next to the daemon's output under /tmp/bench_soak_*.
Prints figures only, ending with the line ``soak: rss slope <X> MB/h after warm-up, cpu <C> %,
tick-to-order p50 <T> ms``.
"""
from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_daemon import (
    PROGRAM,
    START_TIMEOUT_S,
    STOP_TIMEOUT_S,
    daemon_env,
    parse_perf_line,
    process_sample,
    register_account,
    start_simulator,
    stop_processes,
    wait_for_line,
)

PROBE = Path(__file__).resolve().parent / "soak_probe.py"
# The Makefile's DEMO_ENV: the tighter spread of `make run`, so that fills (and inventory) keep coming.
DEMO_ENV = {
    "LMM_VOL_OBI_VOL_TO_HALF_SPREAD": "2",
    "LMM_VOL_OBI_MIN_HALF_SPREAD_BPS": "1.5",
    "LMM_TRADING_DEFAULT_QUOTE_UPDATE_THRESHOLD_BPS": "0.7",
}
MAX_WARMUP_S = 600.0


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found")


def warmup_seconds(total_s: float) -> float:
    return min(MAX_WARMUP_S, total_s / 3)


def least_squares_slope(points: Sequence[tuple[float, float]]) -> float:
    """Slope of y against x by ordinary least squares (nan with fewer than two distinct x)."""
    n = len(points)
    if n < 2:
        return float("nan")
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    if sxx == 0:
        return float("nan")
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx


def run(minutes: float, seed: int, interval_s: float, warmup_model_s: float, snapshots: Path | None) -> int:
    total_s = minutes * 60
    warm_s = warmup_seconds(total_s)
    simulator, urls = start_simulator(seed)
    workdir = Path(tempfile.mkdtemp(prefix="bench_soak_"))
    output_path = workdir / "daemon.out"
    daemon: subprocess.Popen[bytes] | None = None
    try:
        env = daemon_env(urls, register_account(urls["lighter_rest"]), warmup_model_s)
        env.update(DEMO_ENV)
        command = [sys.executable, "-u", str(PROGRAM)]
        if snapshots is not None:
            snapshots.mkdir(parents=True, exist_ok=True)
            command = [sys.executable, "-u", str(PROBE), "--snapshots", str(snapshots),
                       "--every", str(max(60.0, total_s / 10)), "--"]
        command += ["--live", "--symbol", "BTC", "--log-dir", str(workdir / "logs")]
        with output_path.open("wb") as sink:
            daemon = subprocess.Popen(command, cwd=workdir, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL)
        # tracemalloc makes every import slow: allow the start-up more time under the probe
        wait_for_line(output_path, r"leverage (set|not set)", daemon, START_TIMEOUT_S * (1 if snapshots is None else 5))
        start = process_sample(daemon.pid)
        print(f"daemon pid {daemon.pid} started; soaking for {minutes:g} min, warm-up {warm_s / 60:.1f} min "
              f"(output: {output_path})", flush=True)
        samples: list[tuple[float, float]] = []  # (seconds since start, RSS MB)
        warm_cpu = None
        csv = (workdir / "rss.csv").open("w")
        csv.write("seconds,rss_mb\n")
        next_report = 300.0
        while (elapsed := time.monotonic() - start.wall_s) < total_s:
            if daemon.poll() is not None:
                raise RuntimeError(f"daemon exited ({daemon.returncode}) during the soak")
            rss = rss_mb(daemon.pid)
            samples.append((elapsed, rss))
            csv.write(f"{elapsed:.1f},{rss:.2f}\n")
            csv.flush()
            if warm_cpu is None and elapsed >= warm_s:
                warm_cpu = process_sample(daemon.pid)
            if elapsed >= next_report:
                print(f"  {elapsed / 60:5.1f} min: rss {rss:.1f} MB", flush=True)
                next_report += 300.0
            time.sleep(min(interval_s, max(0.0, total_s - elapsed)))
        end = process_sample(daemon.pid)
        rss_end = rss_mb(daemon.pid)
        daemon.send_signal(signal.SIGTERM)
        status = daemon.wait(timeout=STOP_TIMEOUT_S)
        csv.close()
        text = output_path.read_text(errors="replace")
        perf = parse_perf_line(text)
        after = [(t, rss) for t, rss in samples if t >= warm_s]
        slope_mb_h = least_squares_slope(after) * 3600
        begin = warm_cpu if warm_cpu is not None else start
        cpu_percent = 100 * (end.cpu_s - begin.cpu_s) / (end.wall_s - begin.wall_s)
        fills = re.findall(r"fills\s+(\d+ \(\d+ maker\))", text)
        print(f"{len(samples)} samples; rss at start {samples[0][1]:.1f} MB, at warm-up "
              f"{after[0][1] if after else float('nan'):.1f} MB, at end {rss_end:.1f} MB, max "
              f"{max(rss for _, rss in samples):.1f} MB; exit status {status}; fills "
              f"{fills[-1] if fills else '?'}")
        print(f"tick-to-order p50 {perf['tick_to_order_p50_ms']:.3f} ms, p99 {perf['tick_to_order_p99_ms']:.3f} ms "
              f"({perf['tick_to_order_samples']:.0f} samples); cpu over the window after warm-up (shared machine: "
              f"noisy)")
        print(f"soak: rss slope {slope_mb_h:.2f} MB/h after warm-up, cpu {cpu_percent:.1f} %, "
              f"tick-to-order p50 {perf['tick_to_order_p50_ms']:.2f} ms")
        return 0 if status == 0 else 1
    finally:
        stop_processes(daemon, simulator)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the soak (default 60)")
    parser.add_argument("--seed", type=int, default=1, help="simulator seed (default 1)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between RSS samples (default 5)")
    parser.add_argument("--warmup", type=float, default=15.0, help="vol_obi.warmup_seconds (default 15)")
    parser.add_argument("--tracemalloc", type=Path, metavar="DIR",
                        help="run the daemon under soak_probe.py, writing tracemalloc snapshots into DIR")
    args = parser.parse_args(argv)
    if not args.minutes > 0 or not args.interval > 0:
        parser.error("--minutes and --interval must be positive")
    return run(args.minutes, args.seed, args.interval, args.warmup, args.tracemalloc)


if __name__ == "__main__":
    sys.exit(main())
