"""Quoting comes back as soon as the socket does: the whole bot (daemon start-up, feeds, send loop, poller,
shutdown) against the simulator, quoting at a tight spread while every Lighter WebSocket is dropped three
times (`drop_connections`).

On each drop the bot cancels its quotes (the book is gone), the stream that would confirm the cancels is
down with it, and the slots stay waiting on the exchange. Asserted: the reconnect backoff is back at its
base after every connect-and-subscribe (however short-lived the connection), and the slots are freed by
the resync the order stream's return triggers, not by the periodic reconcile (its interval is set far
beyond the test here) nor by the order timeout (likewise). The recovery times are printed (`-s`)."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from exec_support import BTC, bot_config, running_bot, sim_orders, started_runtime, wait_until

from sim.testing import SimHandle, start_simulator

pytestmark = pytest.mark.timeout(240)

RECONNECT_BASE_S = 5.0  # websocket.reconnect_base_delay, the shipped default
DROPS = 3
# Generous: the freeing resync is one round of REST reads; without it nothing in this test would free the
# slots for minutes (periodic reconcile and order timeout both set to 600 s below).
RECOVERY_BOUND_S = 15.0


@dataclass
class Recovery:
    reconnect_delay_s: float  # the backoff slept before reconnecting
    socket_back_s: float  # drop -> the order stream's snapshot on the new connection
    quotes_back_s: float  # order stream back -> a fresh bid and ask resting on the venue


def resting_sides(orders: list[dict[str, Any]]) -> dict[bool, set[int]]:
    """Client order indexes of the resting orders of the market, per side (is_ask)."""
    sides: dict[bool, set[int]] = {False: set(), True: set()}
    for order in orders:
        if int(order["market_index"]) == BTC:
            sides[bool(order["is_ask"])].add(int(order["client_order_index"]))
    return sides


async def test_quoting_resumes_right_after_each_dropped_connection(tmp_path: Path) -> None:
    # the simulated market maker quotes 1.6 bp from its fair price: the bot's 1.5 bp quotes sit at the touch
    with start_simulator(seed=1010, with_market=True, lighter_half_spread_bps=1.6) as sim:
        await _run(sim, tmp_path)


async def _run(sim: SimHandle, tmp_path: Path) -> None:
    account = sim.create_account(collateral="5000")
    config = bot_config(
        sim, tmp_path,
        trading={"default_quote_update_threshold_bps": 0.7, "order_timeout_seconds": 600.0},
        vol_obi={"vol_to_half_spread": 2.0, "min_half_spread_bps": 1.5},
        safety={"stale_order_poller_interval_sec": 600.0},
        websocket={"reconnect_base_delay": RECONNECT_BASE_S, "reconnect_max_delay": 60.0},
    )
    async with started_runtime(config, account) as rt, running_bot(rt):
        mm, ws = rt.mm, rt.ws
        channel = f"account_all_orders/{account.account_index}"

        async def two_sided() -> dict[bool, set[int]] | None:
            sides = resting_sides(await sim_orders(sim, account))
            return sides if sides[False] and sides[True] else None

        await wait_until(two_sided, "the bot to quote both sides", timeout_s=60)
        recoveries: list[Recovery] = []
        for drop in range(1, DROPS + 1):
            before = await two_sided()
            assert before is not None
            old = before[False] | before[True]
            connects, messages, reconciles = (ws.connection_health().connects, ws.health(channel).messages,
                                              mm.stats.reconciles)
            dropped_at = time.monotonic()
            await asyncio.to_thread(sim.inject_fault, "drop_connections")

            def stream_back(c: int = connects, m: int = messages) -> bool:  # the snapshot on a new connection
                return ws.connection_health().connects > c and ws.health(channel).messages > m

            await wait_until(stream_back, f"the order stream back after drop {drop}",
                             timeout_s=3 * RECONNECT_BASE_S + 30, poll_s=0.005)
            back_at = time.monotonic()
            delay = ws.backoff_delays[-1]
            assert len(ws.backoff_delays) == drop
            # connect-and-subscribe reset the backoff: every drop waits a delay drawn from the base ceiling
            assert delay <= RECONNECT_BASE_S, (drop, ws.backoff_delays)

            async def fresh_quotes(o: set[int] = old) -> bool:
                sides = await two_sided()
                return sides is not None and not (sides[False] | sides[True]) & o

            await wait_until(fresh_quotes, f"fresh quotes on both sides after drop {drop}",
                             timeout_s=RECOVERY_BOUND_S, poll_s=0.01)
            quoted_at = time.monotonic()
            # Nothing but the resync on the stream's return reconciles in this configuration.
            assert mm.stats.reconciles > reconciles
            recoveries.append(Recovery(delay, back_at - dropped_at, quoted_at - back_at))
        print()
        for drop, rec in enumerate(recoveries, 1):
            print(f"drop {drop}: reconnect backoff {rec.reconnect_delay_s:.2f} s, order stream back "
                  f"{rec.socket_back_s:.2f} s after the drop, fresh quotes resting {rec.quotes_back_s * 1e3:.0f} ms "
                  "after that")
        assert ws.connection_health().reconnects == DROPS
