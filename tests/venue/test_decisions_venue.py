"""Decisions on the local venue in virtual time (the socket tier keeps the protocol and life-cycle tests):
the position limit under fast one-sided sweeps, and a silent Lighter book."""
from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from venue_support import BTC, LOT_BTC, position_path, run_bot, venue_config

from lmm.daemon.run import EXIT_OK
from lmm.venue.clock import VirtualClock
from lmm.venue.local.venue import LocalVenue
from sim.market_params import BTC_INSTRUMENT, ETH_INSTRUMENT, MarketParams

COLLATERAL_USD = 2_000
LEVERAGE = 2
USAGE = 0.12
SAFETY = 0.9
# deeper synthetic levels (0.15 BTC): a 0.6 BTC sweep takes the top few and the bot's bid without emptying
# the book; the synthetic market maker 1.6 bp from fair, the bot 1.5 bp
SWEEP_MARKET = MarketParams(lighter_half_spread_bps=1.6,
                            instruments=(ETH_INSTRUMENT, replace(BTC_INSTRUMENT, lighter_level_size=0.15)))
AT_THE_TOUCH = {"vol_to_half_spread": 1e-6, "c1_ticks": 0, "skew": 0, "min_half_spread_bps": 1.5}


def test_fast_one_sided_sweeps_never_push_the_position_past_m_plus_one_order(tmp_path: Path):
    """Strategy-model §7: M = 0.9 * (E * leverage - 2 * levels * one order), one order = E * usage * leverage;
    the position may pass M by at most the one order in flight. E is the lowest equity seen."""
    config = venue_config(tmp_path, vol_obi=AT_THE_TOUCH, quota_recovery={"enabled": False},
                          trading={"leverage": LEVERAGE, "capital_usage_percent": USAGE, "levels_per_side": 1,
                                   "default_quote_update_threshold_bps": 0.7})
    equities: list[float] = []

    async def sweep_and_watch(venue: LocalVenue, clock: VirtualClock) -> None:
        await asyncio.sleep(15)
        venue.inject_fault("taker_sweep", side="sell", size="0.6", interval_ms=300, seconds=90, market_id=BTC,
                           slippage_bps=10)
        while True:
            equities.append(venue.engine.account(venue.account_index).total_asset_value / 1e6)
            await asyncio.sleep(0.1)

    run = run_bot(config, 120, scenario=sweep_and_watch, market_params=SWEEP_MARKET,
                  collateral_usd=COLLATERAL_USD)
    assert run.status == EXIT_OK
    equity = min(equities)
    one_order_usd = equity * USAGE * LEVERAGE
    limit_usd = SAFETY * (equity * LEVERAGE - 2 * one_order_usd)
    path = position_path(run.venue)
    price_usd = 100_000  # the synthetic BTC market trades near $100k; 10 % moves do not happen in 2 minutes
    peak_usd = max(abs(p) for p in path) * LOT_BTC * price_usd
    assert peak_usd >= limit_usd - one_order_usd, "the sweeps never drove the position to the limit"
    assert peak_usd <= (limit_usd + one_order_usd) * 1.1, (peak_usd, limit_usd, one_order_usd)
    assert run.venue.open_orders() == []


def test_a_silent_book_pulls_the_quotes_and_they_come_back_when_it_speaks(tmp_path: Path):
    """The book falls silent for 20 s (``stall_feed``): once past max(1 s, 20 x median interval) the bot has no
    order resting; after the book speaks again it quotes both sides again."""
    config = venue_config(tmp_path, vol_obi=AT_THE_TOUCH)
    seen: dict[str, int] = {}

    async def stall(venue: LocalVenue, clock: VirtualClock) -> None:
        await asyncio.sleep(20)
        seen["before"] = len(venue.open_orders(BTC))
        venue.inject_fault("stall_feed", seconds=20)
        await asyncio.sleep(5)  # well past the 1 s floor (the book updates every 50 ms)
        seen["during"] = len(venue.open_orders(BTC))
        await asyncio.sleep(25)  # the stall is over at 40 s
        seen["after"] = len(venue.open_orders(BTC))

    run = run_bot(config, 60, scenario=stall)
    assert run.status == EXIT_OK
    assert seen["before"] >= 2, seen
    assert seen["during"] == 0, seen
    assert seen["after"] >= 2, seen
