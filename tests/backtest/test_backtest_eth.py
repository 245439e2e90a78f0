"""The backtester on the real tapes in ../shared/data (ETHUSDT; the end-to-end tests on the inverse BTCUSD_PERP
too, see test_backtest_coinm.py): the unchanged daemon on the local venue, the tape's book mirrored into the
engine, on a virtual clock that follows the tape."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from backtest_support import demo_config, mirror_against_tape

from lmm.daemon.backtest import BacktestOptions, run_backtest
from lmm.venue.tape.reader import open_tape

ROOT = Path(__file__).resolve().parents[2]
DATA = next((d / "shared" / "data" for d in (ROOT.parent, ROOT.parent.parent) if (d / "shared" / "data").is_dir()),
            ROOT.parent / "shared" / "data")
USDM = DATA / "binance-usdm-ethusdt-20240808.gz"
COINM = DATA / "binance-coinm-btcusd_perp-20240808.gz"
pytestmark = pytest.mark.skipif(not USDM.exists(), reason="real recordings not present")
WINDOW_S = 60  # a minute of the tape: 40 s of quoting after the 20 s warm-up


@pytest.fixture(scope="module")
def eth_tape(eth_tape_once: Path) -> Path:
    return eth_tape_once


@pytest.fixture(scope="module", params=["ETHUSDT", "BTCUSD_PERP"])
def real_tape(request: pytest.FixtureRequest, eth_tape: Path) -> Path:
    """Each real tape: the linear ETHUSDT and the inverse BTCUSD_PERP (its contracts traded as bitcoin)."""
    return eth_tape if request.param == "ETHUSDT" else request.getfixturevalue("btc_tape_once")




def window(tape: Path) -> BacktestOptions:
    start = open_tape(tape).span_ns()[0]
    return BacktestOptions(tape, start_ns=start, end_ns=start + WINDOW_S * 10**9)


def test_a_backtest_runs_end_to_end_and_repeats_exactly(real_tape: Path, tmp_path: Path):
    cfg, options = demo_config(tmp_path), window(real_tape)
    first = run_backtest(cfg, options)
    assert first["exit_status"] == 0
    assert first["replay"]["syncs"] == 1 and first["replay"]["gaps"] == 0
    assert first["fills"] > 0 and first["maker_fills"] == first["fills"]  # post-only quotes: maker fills only
    assert first["mirror"]["rejected"] == 0
    for key in ("fills", "pnl_net_usd", "markouts_bps"):
        assert key in first
    assert first["markouts_bps"]["1s"]["all"]["count"] > 0
    # sizes in the base asset (an inverse tape's contracts converted): the volume is their value at the fill prices
    assert first["assumptions"]["contract_usd"] == (100.0 if first["symbol"] == "BTCUSD_PERP" else None)
    sizes, prices = first["series"]["fill_size"], first["series"]["fill_price"]
    assert all(0 < size < 1 for size in sizes)  # the demo's order size: a fraction of a coin, not contracts
    assert first["volume_usd"] == pytest.approx(sum(s * p for s, p in zip(sizes, prices, strict=True)), rel=1e-9)
    assert json.dumps(run_backtest(cfg, options), sort_keys=True) == json.dumps(first, sort_keys=True)


def test_quotes_inside_the_spread_fill_and_quotes_100_bp_away_do_not(real_tape: Path, tmp_path: Path):
    options = window(real_tape)
    far = run_backtest(demo_config(tmp_path, min_half_spread_bps=100), options)
    assert far["orders"] >= 2, "the bot quoted"
    assert far["fills"] == 0
    near = run_backtest(demo_config(tmp_path), options)
    assert near["fills"] > 0


def test_the_mirrored_book_is_the_tapes_book(eth_tape: Path):
    """After every applied depth event, the engine's touch is the synced tape book's touch (the product's own
    Binance sync); a trade applied just before the diff that reports it may leave it one event behind."""
    counts = mirror_against_tape(eth_tape, "ETHUSDT", 2, 3, 2 * WINDOW_S, lambda engine, sync:
                                 engine.best_bid_ask(1) != (sync.bids.best(), sync.asks.best()))
    assert counts["checked"] > 2000
    assert counts["differ"] <= counts["checked"] // 1000, counts


def test_the_tapes_level_columns_are_the_raw_frames_parsed_as_the_sync_parses_them(eth_tape: Path):
    """The replay feeds the depth sync the tape's integer level columns (``in_ticks``) instead of parsing the
    raw JSON again: on the real tape they must be exactly the raw frames' levels, parsed by the book's parser."""
    from lmm.book.book_side import parse_scaled
    from lmm.venue.tape.schema import BINANCE_DEPTH, BINANCE_SNAPSHOT

    tape = open_tape(eth_tape)
    meta = next(info for info in tape.manifest.symbols if info.venue == "binance")
    checked = 0
    for ev in tape.events(kinds=(BINANCE_DEPTH, BINANCE_SNAPSHOT), with_raw=True):
        body = json.loads(ev[-1])
        data = body.get("data", body)
        bids, asks = (data["b"], data["a"]) if ev[2] == BINANCE_DEPTH else (data["bids"], data["asks"])
        for raw, ticks, lots in ((bids, ev[8], ev[9]), (asks, ev[10], ev[11])):
            assert [(parse_scaled(p, meta.price_decimals), parse_scaled(s, meta.size_decimals)) for p, s in raw] \
                == list(zip(ticks, lots, strict=True))
        if ev[2] == BINANCE_DEPTH:
            assert ev[4] == data["E"] * 1_000_000
        checked += 1
    assert checked > 6000
