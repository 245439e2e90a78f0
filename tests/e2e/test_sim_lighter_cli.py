"""`python -m sim` runs both venues standalone, prints their URLs and stops cleanly on SIGTERM/SIGINT."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[2]
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get_json(url: str) -> dict:
    with _opener.open(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_python_m_sim_serves_both_venues_until_signalled(stop_signal: signal.Signals) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "sim", "--host", "127.0.0.1", "--seed", "3", "--lighter-lag-ms", "300",
         "--log-level", "WARNING"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        urls = dict(process.stdout.readline().split() for _ in range(4))
        assert set(urls) == {"lighter_rest", "lighter_ws", "binance_rest", "binance_ws"}
        assert urls["lighter_ws"] == urls["lighter_rest"].replace("http://", "ws://") + "/stream"
        books = get_json(urls["lighter_rest"] + "/api/v1/orderBooks")
        assert {b["symbol"] for b in books["order_books"]} == {"ETH", "BTC"}
        depth = get_json(urls["binance_rest"] + "/fapi/v1/depth?symbol=BTCUSDT&limit=5")
        assert len(depth["bids"]) == 5
        deadline = time.monotonic() + 20
        while not get_json(urls["lighter_rest"] + "/__sim/book?market_id=1")["bids"]:
            assert time.monotonic() < deadline, "the synthetic market never quoted on Lighter"
            time.sleep(0.05)
        process.send_signal(stop_signal)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_python_m_sim_rejects_invalid_market_parameters() -> None:
    result = subprocess.run([sys.executable, "-m", "sim", "--lighter-levels-per-side", "0"], cwd=ROOT,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "lighter_levels_per_side" in result.stderr
