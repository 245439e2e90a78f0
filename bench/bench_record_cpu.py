"""Recorder CPU at live rate against the simulator, and the tape's disk use per hour.

    python bench/bench_record_cpu.py --seconds 300 [--keep DIR]

Starts `python -m sim` in its own process, then `record.py --symbol BTC` in another, pointed at it through
the endpoint environment variables (as the bot would be). After a settling period the recorder's CPU time
(utime + stime from /proc) over the measured wall time is the figure (target: <= 3 % of one core). The
recorder is then stopped with SIGINT (flush and merge), and the tape's size and frame rates are printed,
with the size extrapolated to one hour. `--keep DIR` keeps the tape there (e.g. for bench_tape.py --tape).
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tape_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--settle", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", help="keep the tape in this directory")
    parser.add_argument("--flush-seconds", default="2", help="record.py --flush-seconds (default 2)")
    args = parser.parse_args()
    sim = subprocess.Popen([sys.executable, "-m", "sim", "--seed", str(args.seed), "--log-level", "WARNING"],
                           cwd=ROOT, stdout=subprocess.PIPE, text=True)
    tmp = Path(tempfile.mkdtemp())
    tape = tmp / "tape"
    try:
        urls: dict[str, str] = {}
        while len(urls) < 4:
            name, url = sim.stdout.readline().split()
            urls[name] = url
        env = {**os.environ, "LIGHTER_BASE_URL": urls["lighter_rest"], "LIGHTER_WS_URL": urls["lighter_ws"],
               "BINANCE_REST_URL": urls["binance_rest"], "BINANCE_WS_URL": urls["binance_ws"],
               "NO_PROXY": "127.0.0.1,localhost"}
        command = [sys.executable, str(ROOT / "record.py"), "--symbol", "BTC", "--out", str(tape),
                   "--flush-seconds", args.flush_seconds, "--log-level", "WARNING"]
        recorder = subprocess.Popen(command, cwd=ROOT, env=env)
        time.sleep(args.settle)
        cpu0, wall0 = cpu_seconds(recorder.pid), time.monotonic()
        time.sleep(args.seconds)
        cpu, wall = cpu_seconds(recorder.pid) - cpu0, time.monotonic() - wall0
        recorder.send_signal(signal.SIGINT)
        recorder.wait(120)
        print(f"recorder cpu: {100 * cpu / wall:.2f}% of one core ({cpu:.2f} s over {wall:.0f} s)")

        from lmm.venue.tape.integrity import check_tape
        from lmm.venue.tape.reader import open_tape

        report = check_tape(open_tape(tape))
        span = max(report.span_s, 1e-9)
        size = tape_bytes(tape)
        rates = ", ".join(f"{kind} {count / span:.1f}" for kind, count in sorted(report.by_kind.items()))
        print(f"rows/s: {rates}")
        print(f"tape: {size / 1e6:.2f} MB for {span:.0f} s -> {size / span * 3600 / 1e6:.0f} MB per hour (BTC, sim)")
        print(report.summary())
        if args.keep:
            shutil.copytree(tape, args.keep)
    finally:
        sim.send_signal(signal.SIGINT)
        sim.wait(15)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
