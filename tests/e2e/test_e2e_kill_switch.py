"""End to end: the kill switch against the simulator (issue 14, item 2).

The daemon runs in live mode with a tiny position cap (``risk.max_position_usd`` $100, far below one order)
and ``risk.flatten_on_kill``; a taker sweep fills its bid. It must log one ``KILL SWITCH`` line, cancel every
order (confirmed), close the position, record the trip next to its logs and exit 3. A restart with the same
log directory refuses with exit 3 before it sends anything (the account's nonce does not move), and after
``--reset-kill-switch`` the state file is gone and a start quotes again.
"""
from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import live_env, position_and_volume, resting_quotes, run_cli, start_daemon, two_sided, wait_for

from sim.testing import SimAccount, SimHandle, start_simulator

pytestmark = pytest.mark.timeout(420)

MARKET_ID = 1  # BTC on the simulator
SEED = 1414
CAP_USD = 100.0  # one order of a $5,000 account is ~$1,200 (capital_usage_percent 0.12 x leverage 2)
KILL_LINE = re.compile(r"KILL SWITCH: position_usd (\d+\.\d\d) > 100\.00")
EXIT_KILL_SWITCH = 3


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with start_simulator(seed=SEED) as handle:
        yield handle


def _next_nonce(sim: SimHandle, account: SimAccount) -> int:
    url = (f"{sim.lighter_url}/api/v1/nextNonce?account_index={account.account_index}"
           f"&api_key_index={account.api_key_index}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as reply:
        return int(json.loads(reply.read())["nonce"])


def test_a_trip_cancels_flattens_exits_3_and_stays_tripped_until_reset(sim: SimHandle, tmp_path: Path) -> None:
    account = sim.create_account(collateral="5000", tier="premium")
    env = live_env(sim, account, {"LMM_RISK_MAX_POSITION_USD": str(CAP_USD), "LMM_RISK_FLATTEN_ON_KILL": "true"})
    log_dir = tmp_path / "first-logs"
    state_file = log_dir / "kill_switch.json"

    first = start_daemon(tmp_path, env, "--live", name="first")
    try:
        wait_for(lambda: two_sided(resting_quotes(sim, account.account_index, MARKET_ID)), 90, "quotes")
        # sell sweeps every second, each taking the bids within 50 bp: the bot's bid among them
        sweep = sim.inject_fault("taker_sweep", side="sell", size="0.5", interval_ms=1000, seconds=120,
                                 market_id=MARKET_ID, slippage_bps=50)
        assert sweep["ok"]
        try:
            status = first.process.wait(timeout=180)
        finally:
            sim.inject_fault("taker_sweep", stop=True)
    finally:
        first.kill()
    output = first.output()
    assert status == EXIT_KILL_SWITCH, first.tail()
    lines = [line for line in output.splitlines() if "KILL SWITCH:" in line]
    assert len(lines) == 1, lines
    match = KILL_LINE.search(lines[0])
    assert match is not None and float(match.group(1)) > CAP_USD, lines[0]
    assert "no open order on BTC (confirmed twice over REST)" in output
    assert "position flattened" in output
    assert "Traceback" not in output and "SHUTDOWN INCOMPLETE" not in output
    assert resting_quotes(sim, account.account_index, MARKET_ID) == []
    position, _, _ = position_and_volume(sim, account.account_index, MARKET_ID)
    assert position == 0.0
    recorded = json.loads(state_file.read_text())
    assert recorded["which"] == "position_usd" and recorded["line"] == lines[0][lines[0].index("KILL SWITCH:"):]

    # a restart in the same log directory refuses, and sends nothing
    nonce = _next_nonce(sim, account)
    refused = run_cli(tmp_path, env, "--symbol", "BTC", "--live", "--log-dir", str(log_dir), timeout=120)
    assert refused.returncode == EXIT_KILL_SWITCH, refused.stdout + refused.stderr
    stderr = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(stderr) == 1 and "--reset-kill-switch" in stderr[0] and "position_usd" in stderr[0], stderr
    assert "Traceback" not in refused.stdout + refused.stderr
    assert _next_nonce(sim, account) == nonce
    assert resting_quotes(sim, account.account_index, MARKET_ID) == []
    assert state_file.exists()

    reset = run_cli(tmp_path, env, "--reset-kill-switch", "--log-dir", str(log_dir), timeout=60)
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert "kill switch reset" in reset.stdout
    assert not state_file.exists()

    # cleared: the same command line quotes again (the cap lifted, so that no fill trips it meanwhile)
    env.pop("LMM_RISK_MAX_POSITION_USD")
    again = start_daemon(tmp_path, env, "--live", "--log-dir", str(log_dir), name="again")
    try:
        wait_for(lambda: two_sided(resting_quotes(sim, account.account_index, MARKET_ID)), 90, "quotes again")
        status = again.stop()
    finally:
        again.kill()
    assert status == 0, again.tail()
    assert resting_quotes(sim, account.account_index, MARKET_ID) == []
