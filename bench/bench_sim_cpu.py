"""CPU share of the standalone simulator (`python -m sim`) while realistic clients read its feeds.

    python bench/bench_sim_cpu.py --seconds 600 [--profile kind]   # default: the `default` market profile

Clients: one Lighter WebSocket on order_book, trade and ticker of ETH and BTC (book updates every 50 ms) and
one Binance WebSocket on btcusdt@depth@100ms and ethusdt@depth@100ms. The simulator runs in its own process;
its CPU time (utime + stime from /proc) over the measured wall time is the figure. Target: < 30 % of one core.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def consume(url: str, frames: list[dict], counts: dict[str, int], key: str) -> None:
    async with websockets.connect(url, max_size=None) as ws:
        for frame in frames:
            await ws.send(json.dumps(frame))
        async for _ in ws:
            counts[key] += 1


async def measure(seconds: float, seed: int, profile: str) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "sim", "--seed", str(seed), "--log-level", "WARNING",
                             "--profile", profile],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        urls: dict[str, str] = {}
        while len(urls) < 4:
            name, url = proc.stdout.readline().split()
            urls[name] = url
        counts = {"lighter": 0, "binance": 0}
        lighter = [{"type": "subscribe", "channel": f"{c}/{m}"} for c in ("order_book", "trade", "ticker")
                   for m in (0, 1)]
        binance_url = urls["binance_ws"] + "/stream?streams=btcusdt@depth@100ms/ethusdt@depth@100ms"
        tasks = [asyncio.create_task(consume(urls["lighter_ws"], lighter, counts, "lighter")),
                 asyncio.create_task(consume(binance_url, [], counts, "binance"))]
        await asyncio.sleep(3)  # let the subscriptions settle
        cpu0, wall0, counts0 = cpu_seconds(proc.pid), time.monotonic(), dict(counts)
        await asyncio.sleep(seconds)
        cpu, wall = cpu_seconds(proc.pid) - cpu0, time.monotonic() - wall0
        for task in tasks:
            task.cancel()
        rates = {k: round((counts[k] - counts0[k]) / wall, 1) for k in counts}
        print(f"frames/s received: lighter {rates['lighter']}, binance {rates['binance']}")
        print(f"sim cpu: {100 * cpu / wall:.1f}% of one core ({cpu:.1f} s over {wall:.0f} s)")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", default="default", help="market profile (sim/profiles or a file)")
    args = parser.parse_args()
    asyncio.run(measure(args.seconds, args.seed, args.profile))


if __name__ == "__main__":
    main()
