"""The backtester on the real inverse BTCUSD_PERP (COIN-M) tape in ../shared/data: its sizes in contracts are
replayed as bitcoin at each size's own price (``lmm.venue.local.inverse``), so the bot trades the linear market
it trades on Lighter, on a book that moves as the tape's did. The end-to-end tests (report, determinism, fills
inside the spread and none 100 bp away) run on both tapes in test_backtest_eth.py."""
from __future__ import annotations

from pathlib import Path

import pytest
from backtest_support import mirror_against_tape

from lmm.book.binance_depth import BinanceDepthSync
from lmm.daemon.backtest import tape_market
from lmm.venue.local.inverse import BASE_DECIMALS, ContractsToBase
from lmm.venue.tape.reader import open_tape
from sim.engine import Engine
from tests.backtest.test_backtest_eth import COINM, WINDOW_S

pytestmark = pytest.mark.skipif(not COINM.exists(), reason="real recordings not present")


def test_the_tape_is_traded_in_bitcoin_at_100_usd_a_contract(btc_tape_once: Path):
    info = tape_market(open_tape(btc_tape_once), None)
    assert (info.symbol, info.contract_usd, info.tape_size_decimals, info.size_decimals) == \
        ("BTCUSD_PERP", 100.0, 0, BASE_DECIMALS)


def test_the_mirrored_book_is_the_tapes_book_in_bitcoin(btc_tape_once: Path):
    """After every applied depth event, the engine's five best levels a side are the synced tape book's, each
    level's contracts converted at its own price."""
    to_base = ContractsToBase(100.0, 1, 0)

    def differs(engine: Engine, sync: BinanceDepthSync) -> bool:
        tape_book = tuple([(p, to_base(p, lots)) for p, lots in side.levels(5)] for side in (sync.bids, sync.asks))
        return engine.book_levels(1, depth=5) != tape_book

    counts = mirror_against_tape(btc_tape_once, "BTCUSD_PERP", 1, 0, WINDOW_S, differs,
                                 engine_size_decimals=BASE_DECIMALS, contracts=to_base)
    assert counts["checked"] > 2000
    assert counts["differ"] <= counts["checked"] // 100, counts
