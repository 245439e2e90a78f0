"""End to end: how the daemon starts and ends against the simulator in live mode: ``--duration`` ends it
cleanly, and after ``kill -9`` a restart cancels the orders the killed run left behind, then quotes again.
"""
from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import live_env, resting_quotes, start_daemon, two_sided, wait_for

from sim.testing import SimHandle, start_simulator

MARKET_ID = 1  # BTC on the simulator
SEED = 777


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with start_simulator(seed=SEED) as handle:
        yield handle


def test_duration_ends_cleanly_with_status_zero(sim: SimHandle, tmp_path: Path) -> None:
    account = sim.create_account(collateral="5000", tier="premium")
    daemon = start_daemon(tmp_path, live_env(sim, account), "--live", "--duration", "8")
    try:
        wait_for(lambda: two_sided(resting_quotes(sim, account.account_index, MARKET_ID)), 30, "quotes")
        status = daemon.process.wait(timeout=60)
    finally:
        daemon.kill()
    output = daemon.output()
    assert status == 0, daemon.tail()
    assert "duration of 8s reached" in output
    assert "summary:" in output and "Traceback" not in output
    assert resting_quotes(sim, account.account_index, MARKET_ID) == []


def test_restart_after_kill_cancels_the_orphans_and_quotes_again(sim: SimHandle, tmp_path: Path) -> None:
    account = sim.create_account(collateral="5000", tier="premium")
    env = live_env(sim, account)
    first = start_daemon(tmp_path, env, "--live", name="first")
    try:
        wait_for(lambda: two_sided(resting_quotes(sim, account.account_index, MARKET_ID)), 30, "first quotes")
        sim.set_market_running(False)  # nothing trades against the orphans while no bot is running
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=10)
    finally:
        first.kill()
    orphans = {q.client_order_index for q in resting_quotes(sim, account.account_index, MARKET_ID)}
    assert len(orphans) == 2, "kill -9 leaves the quotes of the first run on the exchange"

    second = start_daemon(tmp_path, env, "--live", name="second")
    try:
        wait_for(lambda: not orphans & {q.client_order_index
                                        for q in resting_quotes(sim, account.account_index, MARKET_ID)},
                 20, "orphans cancelled")
        second.wait_output(r"start-up: 2 open order\(s\) on BTC: cancelling")  # by the start-up, not by chance
        sim.set_market_running(True)

        def new_quotes() -> bool:
            quotes = resting_quotes(sim, account.account_index, MARKET_ID)
            return two_sided(quotes) is not None and not orphans & {q.client_order_index for q in quotes}

        wait_for(new_quotes, 30, "the second run quoting")
        status = second.stop(signal.SIGTERM)
    finally:
        sim.set_market_running(True)
        second.kill()
    assert status == 0, second.tail()
    assert resting_quotes(sim, account.account_index, MARKET_ID) == []
