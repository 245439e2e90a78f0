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
from lmm.venue.local.mirror import BookMirror
from lmm.venue.tape.reader import open_tape
from lmm.venue.tape.schema import BINANCE_TRADE
from sim.engine import Engine
from tests.backtest.test_backtest_eth import COINM, WINDOW_S

pytestmark = pytest.mark.skipif(not COINM.exists(), reason="real recordings not present")


def test_the_tape_is_traded_in_bitcoin_at_100_usd_a_contract(btc_tape_once: Path):
    info = tape_market(open_tape(btc_tape_once), None)
    assert (info.symbol, info.contract_usd, info.tape_size_decimals, info.size_decimals) == \
        ("BTCUSD_PERP", 100.0, 0, BASE_DECIMALS)


def test_the_mirrored_book_and_trades_are_the_tapes_in_bitcoin(btc_tape_once: Path):
    """After every applied depth event, the engine's five best levels a side are the synced tape book's, each
    level's contracts converted at its own price; every tape trade reaches the mirror converted at its price."""
    to_base = ContractsToBase(100.0, 1, 0)
    mirrored_trades: list[tuple[int, int, int]] = []  # (ns, price, lots): one contract at 62,000 is 161,290 lots

    class RecordingMirror(BookMirror):
        def trade(self, price: int, size: int, aggressor_is_buy: bool, now_ns: int) -> None:
            mirrored_trades.append((now_ns, price, size))
            super().trade(price, size, aggressor_is_buy, now_ns)

    def differs(engine: Engine, sync: BinanceDepthSync) -> bool:
        tape_book = tuple([(p, to_base(p, lots)) for p, lots in side.levels(5)] for side in (sync.bids, sync.asks))
        return engine.book_levels(1, depth=5) != tape_book

    counts = mirror_against_tape(btc_tape_once, "BTCUSD_PERP", 1, 0, WINDOW_S, differs,
                                 engine_size_decimals=BASE_DECIMALS, contracts=to_base, mirror_class=RecordingMirror)
    assert counts["checked"] > 2000
    assert counts["differ"] <= counts["checked"] // 100, counts

    tape = open_tape(btc_tape_once)
    start = tape.span_ns()[0]
    window_trades = [(ev[6], to_base(ev[6], ev[7])) for ev in tape.events(kinds=(BINANCE_TRADE,), start_ns=start,
                                                                           end_ns=start + WINDOW_S * 10**9)]
    assert len(mirrored_trades) > 100
    # the mirror gets every trade from the sync on (no gap in this window): the window's last ones, in order
    assert [(price, size) for _, price, size in mirrored_trades] == window_trades[-len(mirrored_trades):]
