"""Tick-to-order benchmark: the real daemon wiring against the simulator in a separate process.

Run from the project root:
    .venv/bin/python bench/bench_tick_to_order.py [--seconds 60] [--seed 7] [--alpha none|binance]

Rules:
- ``python -m sim`` runs as its own process on free ports of 127.0.0.1 (so its CPU is not charged to the
  bot's event loop); a fresh premium account is registered through its control API.
- The bot is the daemon's own start-up, supervised tasks and shutdown (LighterWsManager + LighterFeed +
  model + MarketMaker + SendLoop + TxSender over the transaction WebSocket), with a short warm-up.
- Tick-to-order is what ``bot.MarketMaker.on_send_loop_results`` records: book frame received -> signed
  transaction written to the socket, for sends that pacing did not hold back (held sends are counted).
- Prints figures, never asserts; the last line is exactly ``tick-to-order p50: <X> ms, p99: <Y> ms``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
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
from lmm.config.config import Config, Credentials, load_config  # noqa: E402

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


async def run_bot(config: Config, creds: Credentials, seconds: float) -> daemon.Runtime:
    session = aiohttp.ClientSession()
    runtime = await daemon._start(config, "BTC", creds, session)
    try:
        status = await daemon._supervise(runtime, asyncio.Event(), seconds)
        if status != daemon.EXIT_OK:
            raise RuntimeError("a supervised task failed; see the log")
    finally:
        if not await daemon._shutdown(runtime):
            print("warning: the shutdown did not confirm that no order was left", file=sys.stderr)
    return runtime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--alpha", choices=("none", "binance"), default="binance")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ["NO_PROXY"] = ",".join(filter(None, [os.environ.get("NO_PROXY", ""), "127.0.0.1", "localhost"]))

    process, urls = start_sim(args.seed)
    try:
        creds = create_account(urls["lighter_rest"])
        with tempfile.TemporaryDirectory() as directory:
            config = bench_config(urls, args.alpha, Path(directory))
        runtime = asyncio.run(run_bot(config, creds, args.seconds))
    finally:
        process.terminate()
        process.wait(timeout=20)

    stats = runtime.mm.stats
    ticks = stats.tick_to_order_ms
    sender = runtime.client.sender.stats
    print(f"python {sys.version.split()[0]}, {args.seconds:.0f} s, alpha {args.alpha}, seed {args.seed}")
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
