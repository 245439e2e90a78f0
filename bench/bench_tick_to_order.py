"""Tick-to-order benchmark: the real daemon wiring against the simulator in a separate process.

Run from the project root:
    .venv/bin/python bench/bench_tick_to_order.py [--seconds 60] [--seed 7] [--alpha none|binance] [--record]
    .venv/bin/python bench/bench_tick_to_order.py --compare-record 4 --seconds 60   # --record overhead

Rules:
- ``python -m sim`` runs as its own process on free ports of 127.0.0.1 (so its CPU is not charged to the
  bot's event loop); a fresh premium account is registered through its control API.
- The bot is the daemon's own start-up, supervised tasks and shutdown (LighterWsManager + LighterFeed +
  model + MarketMaker + SendLoop + TxSender over the transaction WebSocket), with a short warm-up.
- Tick-to-order is what ``bot.MarketMaker.on_send_loop_results`` records: book frame received -> signed
  transaction written to the socket, for sends that pacing did not hold back (held sends are counted).
- ``--record`` runs the bot with ``--record`` (a tape in a temporary directory). ``--compare-record N``
  runs N rounds of two bots one after the other against the same simulator, each with a fresh account,
  one without and one with ``--record``, alternating which goes first (ABBA), and compares the pooled
  tick-to-order p50 (and each round's); its last line is ``--record overhead: p50 <A> ms without, <B> ms
  with (<P> %)``.
- Prints figures, never asserts; the last line is exactly ``tick-to-order p50: <X> ms, p99: <Y> ms``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

import lmm.daemon.run as daemon  # noqa: E402
from lmm.config.config import Config, load_config  # noqa: E402
from lmm.config.credentials import Credentials  # noqa: E402
from lmm.daemon.recording import RecordOptions, close_recorder  # noqa: E402

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def start_sim(seed: int) -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen([sys.executable, "-m", "sim", "--host", "127.0.0.1", "--seed", str(seed)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    urls: dict[str, str] = {}
    assert process.stdout is not None
    while len(urls) < 4:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"simulator exited early (status {process.poll()})")
        name, _, url = line.strip().partition(" ")
        urls[name] = url
    return process, urls


def create_account(lighter_url: str) -> Credentials:
    import lighter

    private_key, public_key, error = lighter.create_api_key()
    if error is not None:
        raise RuntimeError(f"create_api_key failed: {error}")
    public_hex = public_key.lower().removeprefix("0x")
    body = json.dumps({"public_key": public_hex, "api_key_index": 25, "collateral": "10000",
                       "tier": "premium"}).encode()
    request = urllib.request.Request(f"{lighter_url}/__sim/accounts", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with _opener.open(request, timeout=20) as response:
        account_index = int(json.loads(response.read())["account_index"])
    return Credentials(private_key, public_hex, 25, account_index)


def bench_config(urls: dict[str, str], alpha: str, directory: Path) -> Config:
    data: dict[str, dict[str, Any]] = {
        "vol_obi": {"window_steps": 600, "min_warmup_samples": 20, "warmup_seconds": 3},
        "alpha": {"source": alpha, "window_size": 600, "min_samples": 20},
        "trading": {"default_quote_update_threshold_bps": 1.0},
        "endpoints": {"lighter_base_url": urls["lighter_rest"], "lighter_ws_url": urls["lighter_ws"],
                      "binance_rest_url": urls["binance_rest"], "binance_ws_url": urls["binance_ws"]},
    }
    path = directory / "bench_config.json"
    path.write_text(json.dumps(data))
    return load_config(path, env={})


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def run_bot(config: Config, creds: Credentials, seconds: float, record: Path | None = None) -> daemon.Runtime:
    session = aiohttp.ClientSession()
    options = None if record is None else RecordOptions(record)
    runtime = await daemon._start(config, "BTC", creds, session, options)
    try:
        status = await daemon._supervise(runtime, asyncio.Event(), seconds)
        if status != daemon.EXIT_OK:
            raise RuntimeError("a supervised task failed; see the log")
    finally:
        if not await daemon._shutdown(runtime):
            print("warning: the shutdown did not confirm that no order was left", file=sys.stderr)
        if runtime.recorder is not None:
            await close_recorder(runtime.recorder, {})
    return runtime


def compare_record(args: argparse.Namespace, urls: dict[str, str], config: Config) -> None:
    """ABBA rounds without and with --record against one simulator; pooled and per-round p50."""
    pooled: dict[bool, list[float]] = {False: [], True: []}
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for round_index in range(args.compare_record):
            order = (False, True) if round_index % 2 == 0 else (True, False)
            figures: dict[bool, tuple[float, int]] = {}
            for recording in order:
                creds = create_account(urls["lighter_rest"])
                tape = Path(directory) / f"tape-{round_index}" if recording else None
                runtime = asyncio.run(run_bot(config, creds, args.seconds, tape))
                ticks = list(runtime.mm.stats.tick_to_order_ms)
                pooled[recording] += ticks
                figures[recording] = (percentile(ticks, 0.5) if ticks else math.nan, len(ticks))
            rows.append(figures)
            print(f"round {round_index + 1} ({'without first' if order[0] is False else 'with first'}): "
                  f"p50 {figures[False][0]:.3f} ms without ({figures[False][1]} samples), "
                  f"{figures[True][0]:.3f} ms with --record ({figures[True][1]} samples)", flush=True)
    without, with_record = (percentile(pooled[mode], 0.5) if pooled[mode] else math.nan for mode in (False, True))
    for mode, name in ((False, "without"), (True, "with --record")):
        ticks = pooled[mode]
        if ticks:
            print(f"pooled {name}: {len(ticks)} samples, p50 {percentile(ticks, 0.5):.3f} ms, "
                  f"p90 {percentile(ticks, 0.9):.3f} ms, p99 {percentile(ticks, 0.99):.3f} ms")
    ratios = [100 * (r[True][0] / r[False][0] - 1) for r in rows if r[False][0] > 0]
    if ratios:
        print(f"per-round p50 overhead: {', '.join(f'{x:+.1f} %' for x in ratios)}")
    print(f"--record overhead: p50 {without:.3f} ms without, {with_record:.3f} ms with "
          f"({100 * (with_record / without - 1):+.1f} %)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--alpha", choices=("none", "binance"), default="binance")
    parser.add_argument("--record", action="store_true", help="run the bot with --record (a temporary tape)")
    parser.add_argument("--compare-record", type=int, metavar="ROUNDS", default=0,
                        help="alternate runs without and with --record, ROUNDS pairs of --seconds each")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ["NO_PROXY"] = ",".join(filter(None, [os.environ.get("NO_PROXY", ""), "127.0.0.1", "localhost"]))

    process, urls = start_sim(args.seed)
    try:
        with tempfile.TemporaryDirectory() as directory:
            config = bench_config(urls, args.alpha, Path(directory))
        if args.compare_record:
            print(f"python {sys.version.split()[0]}, {args.compare_record} rounds of 2 x {args.seconds:.0f} s, "
                  f"alpha {args.alpha}, seed {args.seed}", flush=True)
            compare_record(args, urls, config)
            return
        creds = create_account(urls["lighter_rest"])
        with tempfile.TemporaryDirectory() as directory:
            tape = Path(directory) / "tape" if args.record else None
            runtime = asyncio.run(run_bot(config, creds, args.seconds, tape))
    finally:
        process.terminate()
        process.wait(timeout=20)

    stats = runtime.mm.stats
    ticks = stats.tick_to_order_ms
    sender = runtime.sender.stats
    print(f"python {sys.version.split()[0]}, {args.seconds:.0f} s, alpha {args.alpha}, seed {args.seed}"
          f"{', --record' if args.record else ''}")
    print(f"sends: {sender.sent} ({sender.accepted} accepted, {sender.rejected} rejected, "
          f"{sender.rate_limited} rate-limited); orders: {runtime.mm.orders.stats.creates} creates, "
          f"{runtime.mm.orders.stats.modifies} modifies, {runtime.mm.orders.stats.cancels} cancels")
    print(f"tick-to-order samples: {len(ticks)} (sends held by pacing, not measured: {stats.paced_sends})")
    if sender.send_latency_ms:
        print(f"send round trip (write -> reply) p50: {statistics.median(sender.send_latency_ms):.3f} ms")
    if not ticks:
        print("tick-to-order p50: nan ms, p99: nan ms")
        return
    print(f"tick-to-order min {min(ticks):.3f} ms, p90 {percentile(ticks, 0.9):.3f} ms, max {max(ticks):.3f} ms")
    print(f"tick-to-order p50: {percentile(ticks, 0.5):.3f} ms, p99: {percentile(ticks, 0.99):.3f} ms")


if __name__ == "__main__":
    main()
