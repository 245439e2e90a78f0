"""The local venue on a recorded Binance market (``--local --binance-tape``): the real ETHUSDT tape of
../shared/data replayed on the virtual clock (sim.replay), the Lighter ETH market derived from its mid. The
daemon's own Binance feed syncs on the tape's ids and drives the alpha; the bot quotes around the tape's price;
the same seed gives the same run."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
from venue_support import run_bot, venue_config

from lmm.venue.tape.hftbacktest import import_hftbacktest

ROOT = Path(__file__).resolve().parents[2]
DATA = next((d / "shared" / "data" for d in (ROOT.parent, ROOT.parent.parent) if (d / "shared" / "data").is_dir()),
            ROOT.parent / "shared" / "data")
USDM = DATA / "binance-usdm-ethusdt-20240808.gz"
pytestmark = pytest.mark.skipif(not USDM.exists(), reason="real recordings not present")
TIGHT = {"vol_to_half_spread": 1e-6, "c1_ticks": 0, "min_half_spread_bps": 1.5}
SECONDS = 60.0


@pytest.fixture(scope="module")
def eth_tape(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eth") / "tape"
    import_hftbacktest(USDM, out)
    return out


def trade_list(run) -> list[tuple]:
    trades = run.venue.engine.account_trades(run.venue.account_index, n=10**6)
    return sorted((t.trade_id, t.price, t.size, t.bid_account_id == run.venue.account_index) for t in trades)


def test_the_bot_trades_the_market_derived_from_a_real_tape_and_repeats(eth_tape: Path, tmp_path: Path,
                                                                       caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO)
    config = venue_config(tmp_path, vol_obi=TIGHT, alpha={"source": "binance"},
                          trading={"default_quote_update_threshold_bps": 0.7})
    first = run_bot(config, SECONDS, symbol="ETH", binance_tape=str(eth_tape))
    assert first.status == 0
    market = first.venue.market
    assert market.served["binance_depth"] > 1000 and market.served["binance_book_ticker"] > 0
    assert "binance ETHUSDT: synced at L=" in caplog.text  # the tape's own update ids
    assert "-> binance" in caplog.text  # the alpha came from the replayed Binance book
    tape_mid = market.fair_price("ETHUSDT")
    bid, ask = first.venue.engine.best_bid_ask(market.lighter.market_id)
    lighter_mid = (bid + ask) / 2 * 10 ** -first.venue.engine.markets[market.lighter.market_id].price_decimals
    assert abs(lighter_mid / tape_mid - 1) < 0.002  # the derived market sits at the tape's price
    trades = trade_list(first)
    assert trades, "the bot quoted at the touch and was filled"
    again = run_bot(config, SECONDS, symbol="ETH", binance_tape=str(eth_tape))
    assert trade_list(again) == trades
