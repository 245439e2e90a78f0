"""--paper end to end: the daemon on the simulator's public feeds (as a user points it at Lighter and Binance),
its orders filled by the in-process local venue; the simulator, the "exchange", receives no transaction."""
from __future__ import annotations

import re
import signal
from pathlib import Path

from e2e_support import FAST_TRADING_ENV, base_env, start_daemon

from sim.testing import start_simulator

SEED = 20261206


def test_paper_mode_fills_against_the_live_feeds_and_sends_nothing(tmp_path: Path):
    # the quick-filling market: this is a life-cycle test (paper fills, nothing sent), not one of realism
    with start_simulator(seed=SEED, profile="kind") as sim:
        env = base_env()
        env.update(FAST_TRADING_ENV)
        env.update({"LIGHTER_BASE_URL": sim.lighter_url, "LIGHTER_WS_URL": sim.lighter_ws_url,
                    "BINANCE_REST_URL": sim.binance_rest_url or "", "BINANCE_WS_URL": sim.binance_ws_url or ""})
        daemon = start_daemon(tmp_path, env, "--paper")
        try:
            daemon.wait_output(r"PAPER QUOTING", timeout=120)
            daemon.wait_output(r"fill (bid|ask) [0-9.]+ @ [0-9.]+ \(trade \d+, maker\)", timeout=180)
        finally:
            daemon.process.send_signal(signal.SIGTERM)
            status = daemon.process.wait(timeout=120)
        out = daemon.output()
        gateway = sim.simulator_thread.simulator.lighter.gateway
        assert gateway.received_count == 0, "paper mode sent a transaction to the venue"
    assert status == 0, out[-2000:]
    assert "=== PAPER MODE" in out
    assert "credentials" not in out.lower() or "no credentials" in out.lower()
    assert re.search(r"fills\s+[1-9]\d* \(", out), out[-2000:]  # the summary counts the paper fills
    assert "shutdown: no open order on BTC" in out
