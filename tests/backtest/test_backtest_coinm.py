"""The backtester on the real inverse BTCUSD_PERP (COIN-M) tape in ../shared/data: its sizes in contracts are
replayed as bitcoin at each size's own price (``lmm.venue.local.inverse``), so the bot trades the linear market
it trades on Lighter, on a book that moves as the tape's did."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from backtest_support import demo_config

from lmm.daemon.backtest import run_backtest, tape_market
from lmm.venue.clock import VirtualClock, virtual_time_loop
from lmm.venue.local.inverse import BASE_DECIMALS, ContractsToBase
from lmm.venue.local.mirror import BookMirror
from lmm.venue.local.tape_market import BinanceTapeMarket
from lmm.venue.tape.hftbacktest import import_hftbacktest
from lmm.venue.tape.reader import open_tape
from sim.engine import Engine
from sim.markets import MarketSpec
from tests.backtest.test_backtest_eth import COINM, WINDOW_S, window

pytestmark = pytest.mark.skipif(not COINM.exists(), reason="real recordings not present")


@pytest.fixture(scope="module")
def btc_tape(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("btc") / "tape"
    import_hftbacktest(COINM, out)
    return out


def test_the_tape_is_traded_in_bitcoin_at_100_usd_a_contract(btc_tape: Path):
    info = tape_market(open_tape(btc_tape), None)
    assert (info.symbol, info.contract_usd, info.tape_size_decimals, info.size_decimals) == \
        ("BTCUSD_PERP", 100.0, 0, BASE_DECIMALS)


def test_an_inverse_backtest_runs_end_to_end_and_repeats_exactly(btc_tape: Path, tmp_path: Path):
    cfg, options = demo_config(tmp_path), window(btc_tape)
    first = run_backtest(cfg, options)
    assert first["exit_status"] == 0 and first["venue"] == "binance"
    assert first["replay"]["syncs"] == 1 and first["replay"]["gaps"] == 0
    assert first["fills"] > 0 and first["maker_fills"] == first["fills"]
    assert first["mirror"]["rejected"] == 0
    assert first["assumptions"]["contract_usd"] == 100.0
    # sizes are bitcoin: a fill of the demo's order size (in USD) is a fraction of a coin, not contracts
    sizes = first["series"]["fill_size"]
    prices = first["series"]["fill_price"]
    assert all(0 < size < 1 for size in sizes)
    assert first["volume_usd"] == pytest.approx(sum(s * p for s, p in zip(sizes, prices, strict=True)), rel=1e-9)
    assert first["markouts_bps"]["1s"]["all"]["count"] > 0
    assert json.dumps(run_backtest(cfg, options), sort_keys=True) == json.dumps(first, sort_keys=True)


def test_quotes_inside_the_spread_fill_and_quotes_100_bp_away_do_not(btc_tape: Path, tmp_path: Path):
    options = window(btc_tape)
    far = run_backtest(demo_config(tmp_path, min_half_spread_bps=100), options)
    assert far["orders"] >= 2, "the bot quoted"
    assert far["fills"] == 0
    near = run_backtest(demo_config(tmp_path), options)
    assert near["fills"] > 0


def test_the_mirrored_book_is_the_tapes_book_in_bitcoin(btc_tape: Path):
    """After every applied depth event, the engine's five best levels a side are the synced tape book's, each
    level's contracts converted at its own price."""
    tape = open_tape(btc_tape)
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
