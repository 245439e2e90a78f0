"""End to end: the shutdown against a venue that refuses every transaction.

The daemon quotes in live mode against the simulator; the market is frozen (nothing trades against the quotes)
and every transaction from then on is refused (fault ``reject_tx``); SIGTERM. The shutdown cannot cancel:
it must exit 1, space its cancel-all retries with a backoff instead of hammering the venue (counted on the
simulator: the refusals it handed out), and end the console output with one line naming every order that
may remain, as the venue lists them.
"""
from __future__ import annotations

import re
import signal
from pathlib import Path

from e2e_support import live_env, resting_quotes, start_daemon, two_sided, wait_for

from sim.testing import SimHandle, start_simulator

MARKET_ID = 1  # BTC on the simulator
SEED = 515
BUDGET_S = 10  # safety.shutdown_cancel_budget_sec for this run (60 by default)
REJECTIONS = 100_000  # "every transaction"
MAX_ATTEMPTS_IN_BUDGET = 20
STOP_TIMEOUT_S = 120.0  # generous: the budget, the listing and closing the sockets on a loaded machine
LEFTOVER = re.compile(r"(?P<side>bid|ask) (?P<size>[\d.]+) @ (?P<price>[\d.]+) "
                      r"\(client order index (?P<client>\d+), order index (?P<order>\d+)\)")


def rejections_left(sim: SimHandle) -> int:
    """White box: how many of the injected refusals the simulator has not handed out yet."""
    faults = sim.simulator_thread.simulator.lighter.faults

    async def read() -> int:
        return len(faults.rejections)

    return sim.simulator_thread.call(read)


def test_shutdown_against_a_refusing_venue_backs_off_and_names_the_orders_left(tmp_path: Path) -> None:
    with start_simulator(seed=SEED) as sim:
        account = sim.create_account(collateral="5000", tier="premium")
        env = live_env(sim, account, {"LMM_SAFETY_SHUTDOWN_CANCEL_BUDGET_SEC": str(BUDGET_S)})
        daemon = start_daemon(tmp_path, env, "--live")
        try:
            wait_for(lambda: two_sided(resting_quotes(sim, account.account_index, MARKET_ID)), 60, "quotes")
            sim.set_market_running(False)
            sim.inject_fault("reject_tx", count=REJECTIONS, code=21739, message="refused by the test")
            status = daemon.stop(signal.SIGTERM, timeout=STOP_TIMEOUT_S)
        finally:
            daemon.kill()
        refused = REJECTIONS - rejections_left(sim)
        left = sim.orders(account.account_index)
    output = daemon.output()
    lines = [line for line in output.splitlines() if line.strip()]

    assert status == 1, daemon.tail()
    assert left, "every transaction was refused: the quotes must still rest on the venue"
    # Every transaction the daemon tried after the fault was refused and counted by the simulator: the
    # shutdown's cancel-alls (and at most a send or two of the quoting loop before SIGTERM landed).
    assert 2 <= refused <= MAX_ATTEMPTS_IN_BUDGET, (refused, daemon.tail())
    assert output.count("shutdown: cancel-all rejected") >= 2, "the refused cancel-all was retried"

    final = lines[-1]
    assert "SHUTDOWN INCOMPLETE" in final, daemon.tail()
    named = {(m["side"], float(m["price"]), float(m["size"]), int(m["client"]), int(m["order"]))
             for m in LEFTOVER.finditer(final)}
    expected = {("ask" if order["is_ask"] else "bid", float(order["price"]), float(order["remaining_base_amount"]),
                 int(order["client_order_index"]), int(order["order_index"])) for order in left}
    assert named == expected, (final, left)
    assert "Traceback" not in output
