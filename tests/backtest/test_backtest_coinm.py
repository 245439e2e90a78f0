"""The backtester on the real inverse BTCUSD_PERP (COIN-M) tape in ../shared/data: its sizes in contracts are
replayed as bitcoin at each size's own price (``lmm.venue.local.inverse``), so the bot trades the linear market
it trades on Lighter, on a book that moves as the tape's did. The end-to-end tests (report, determinism, fills
inside the spread and none 100 bp away) run on both tapes in test_backtest_eth.py."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lmm.daemon.backtest import tape_market
from lmm.venue.clock import VirtualClock, virtual_time_loop
from lmm.venue.local.inverse import BASE_DECIMALS, ContractsToBase
from lmm.venue.local.mirror import BookMirror
from lmm.venue.local.tape_market import BinanceTapeMarket
from lmm.venue.tape.reader import open_tape
from sim.engine import Engine
from sim.markets import MarketSpec
from tests.backtest.test_backtest_eth import COINM, WINDOW_S

pytestmark = pytest.mark.skipif(not COINM.exists(), reason="real recordings not present")


def test_the_tape_is_traded_in_bitcoin_at_100_usd_a_contract(btc_tape_once: Path):
    info = tape_market(open_tape(btc_tape_once), None)
    assert (info.symbol, info.contract_usd, info.tape_size_decimals, info.size_decimals) == \
        ("BTCUSD_PERP", 100.0, 0, BASE_DECIMALS)


def test_the_mirrored_book_is_the_tapes_book_in_bitcoin(btc_tape_once: Path):
    """After every applied depth event, the engine's five best levels a side are the synced tape book's, each
    level's contracts converted at its own price."""
    tape = open_tape(btc_tape_once)
    spec = MarketSpec(market_id=1, symbol="BTCUSD_PERP", price_decimals=1, size_decimals=BASE_DECIMALS,
                      min_base_amount=1, min_quote_amount=0)
    engine = Engine((spec,))
    clock = VirtualClock(wall_epoch_ns=tape.span_ns()[0])
    loop = virtual_time_loop(clock)
    to_base = ContractsToBase(100.0, 1, 0)
    counts = {"checked": 0, "differ": 0}

    class Checked(BinanceTapeMarket):
        def _on_depth(self, ev: tuple, now: int) -> None:
            super()._on_depth(ev, now)
            if self.sync.synced:
                counts["checked"] += 1
                tape_book = tuple([(p, to_base(p, lots)) for p, lots in side.levels(5)]
                                  for side in (self.sync.bids, self.sync.asks))
                counts["differ"] += engine.book_levels(1, depth=5) != tape_book

    start = tape.span_ns()[0]
    market = Checked(tape, "BTCUSD_PERP", 1, 0, BookMirror(engine, 1), clock, end_ns=start + WINDOW_S * 10**9,
                     contracts=to_base)
    try:
        loop.run_until_complete(asyncio.wait_for(market.run(), timeout=3600))
    finally:
        loop.close()
    assert counts["checked"] > 2000
    assert counts["differ"] <= counts["checked"] // 100, counts
