"""Quoting comes back as soon as the connection does: the whole bot on the local venue in virtual time, quoting
at a tight spread while every Lighter connection is dropped three times (``drop_connections``).

On each drop the bot cancels its quotes (the book is gone), the stream that would confirm the cancels is down
with it, and the slots stay waiting on the exchange. Asserted: the reconnect backoff is back at its base after
every connect-and-subscribe (however short-lived the connection), and the slots are freed by the resync the
order stream's return triggers (one per drop), not by the periodic reconcile (its interval is set far beyond
the test) nor by the order timeout (likewise); fresh quotes rest within a second of the stream's return."""
from __future__ import annotations

from pathlib import Path

import pytest
from venue_support import BTC, LocalBot, venue_config, with_local_bot

import lmm.daemon.run as daemon
from lmm.venue.local.venue import LocalVenue
from sim.market_params import MarketParams

RECONNECT_BASE_S = 5.0  # websocket.reconnect_base_delay, the shipped default
DROPS = 3
MARKET = MarketParams(lighter_half_spread_bps=1.6)  # the bot's 1.5 bp quotes sit at the touch


def resting_sides(venue: LocalVenue) -> dict[bool, set[int]]:
    """Client order indexes of the resting orders of the market, per side (is_ask)."""
    sides: dict[bool, set[int]] = {False: set(), True: set()}
    for order in venue.open_orders(BTC):
        sides[order.is_ask].add(order.client_order_index)
    return sides


def test_quoting_resumes_right_after_each_dropped_connection(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    config = venue_config(
        tmp_path,
        trading={"default_quote_update_threshold_bps": 0.7, "order_timeout_seconds": 600.0},
        vol_obi={"vol_to_half_spread": 2.0, "min_half_spread_bps": 1.5},
        safety={"stale_order_poller_interval_sec": 600.0},
        websocket={"reconnect_base_delay": RECONNECT_BASE_S, "reconnect_max_delay": 60.0},
    )
    resyncs: list[float] = []  # when each resync finished
    real_resync = daemon._resync

    async def counting_resync(rt: daemon.Runtime) -> None:
        await real_resync(rt)
        resyncs.append(rt.clock.monotonic())

    monkeypatch.setattr(daemon, "_resync", counting_resync)

    async def body(bot: LocalBot) -> None:
        mm, ws, venue, clock = bot.rt.mm, bot.rt.ws, bot.venue, bot.clock
        channel = f"account_all_orders/{venue.account_index}"

        def two_sided() -> bool:
            sides = resting_sides(venue)
            return bool(sides[False] and sides[True])

        await bot.wait_until(two_sided, "the bot to quote both sides")
        for drop in range(1, DROPS + 1):
            before = resting_sides(venue)
            old = before[False] | before[True]
            connects, messages, reconciles = (ws.connection_health().connects, ws.health(channel).messages,
                                              mm.stats.reconciles)
            resynced = len(resyncs)  # the first subscription at start-up counts as a return too
            dropped_at = clock.monotonic()
            venue.inject_fault("drop_connections")

            def stream_back(c: int = connects, m: int = messages) -> bool:  # the snapshot on a new connection
                return ws.connection_health().connects > c and ws.health(channel).messages > m

            await bot.wait_until(stream_back, f"the order stream back after drop {drop}",
                                 timeout_s=RECONNECT_BASE_S + 5)
            assert len(ws.backoff_delays) == drop
            # connect-and-subscribe reset the backoff: every drop waits a delay drawn from the base ceiling
            assert ws.backoff_delays[-1] <= RECONNECT_BASE_S, (drop, ws.backoff_delays)

            def fresh_quotes(o: set[int] = old) -> bool:
                sides = resting_sides(venue)
                return bool(sides[False] and sides[True]) and not (sides[False] | sides[True]) & o

            await bot.wait_until(fresh_quotes, f"fresh quotes on both sides after drop {drop}", timeout_s=1.0)
            # nothing but the resync on the stream's return reconciles in this configuration: one per drop
            assert len(resyncs) == resynced + 1 and dropped_at < resyncs[-1] <= clock.monotonic()
            assert mm.stats.reconciles == reconciles + 1
        assert ws.connection_health().reconnects == DROPS

    with_local_bot(config, body, market_params=MARKET)
