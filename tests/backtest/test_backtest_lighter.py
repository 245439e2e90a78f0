"""The backtester on a Lighter tape: the tape's ``order_book`` frames (applied by the product's LighterBook) and
``trade`` frames mirrored into the local venue's engine, the unchanged daemon quoting on it.

The tape is recorded in virtual time from the local venue's synthetic market by ``--record`` with a bot that
never quotes (its warm-up is longer than the run), so the recorded book holds no order of the recording bot. A
second tape gets a nonce gap injected into the Lighter feed while it records."""
from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from backtest_support import demo_config
from venue_support import run_bot, sleep_until, venue_config

from lmm.config.config import load_config
from lmm.daemon.backtest import BacktestError, BacktestOptions, run_backtest
from lmm.daemon.recording import RecordOptions
from lmm.venue.clock import VirtualClock, virtual_time_loop
from lmm.venue.local.lighter_tape_market import LighterTapeMarket
from lmm.venue.local.mirror import BookMirror
from lmm.venue.local.venue import LocalVenue
from lmm.venue.tape.integrity import check_tape
from lmm.venue.tape.reader import open_tape
from sim.engine import Engine
from sim.markets import MarketSpec

RECORD_S = 100.0
SILENT = {"warmup_seconds": 10_000}  # the recording bot never quotes


def record(directory: Path, tmp: Path, scenario=None) -> Path:
    config = venue_config(tmp, vol_obi=SILENT, alpha={"source": "binance"})
    run = run_bot(config, RECORD_S, record=RecordOptions(directory, mode="local"), scenario=scenario)
    assert run.status == 0
    return directory


@pytest.fixture(scope="module")
def lighter_tape(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("lighter")
    return record(tmp / "tape", tmp)




def test_the_tape_holds_no_order_of_the_recording_bot(lighter_tape: Path):
    report = check_tape(open_tape(lighter_tape))
    bot = report.bot["BTC"]
    assert bot.orders == bot.fills == 0  # its only sends: the start-up's leverage and cancel-all
    assert report.gaps == [] and report.lighter["BTC"].applied > 300


def test_a_lighter_backtest_trades_the_lighter_market_and_repeats_exactly(lighter_tape: Path, tmp_path: Path):
    cfg = demo_config(tmp_path)
    first = run_backtest(cfg, BacktestOptions(lighter_tape))  # a Lighter market on the tape: it is the default
    assert first["venue"] == "lighter" and first["symbol"] == "BTC" and first["exit_status"] == 0
    assert first["replay"]["syncs"] == 1 and first["replay"]["gaps"] == 0 and first["replay"]["trades"] > 0
    assert first["fills"] > 0 and first["maker_fills"] == first["fills"]
    assert first["mirror"]["rejected"] == 0
    assert json.dumps(run_backtest(cfg, BacktestOptions(lighter_tape)), sort_keys=True) == json.dumps(first,
                                                                                                    sort_keys=True)
    far = run_backtest(demo_config(tmp_path, min_half_spread_bps=100), BacktestOptions(lighter_tape))
    assert far["orders"] >= 2 and far["fills"] == 0


def test_the_venue_can_be_chosen_and_a_missing_one_is_a_clear_error(lighter_tape: Path, tmp_path: Path):
    binance = run_backtest(demo_config(tmp_path), BacktestOptions(lighter_tape, venue="binance"))
    assert binance["venue"] == "binance" and binance["symbol"] == "BTCUSDT" and binance["exit_status"] == 0
    with pytest.raises(BacktestError, match="no Lighter market ETH"):
        run_backtest(demo_config(tmp_path), BacktestOptions(lighter_tape, symbol="ETH"))


def replay_into_engine(tape_dir: Path, check) -> LighterTapeMarket:
    """The tape's Lighter market replayed alone into a fresh engine; ``check(market, engine)`` after each
    book frame."""
    tape = open_tape(tape_dir)
    meta = tape.manifest.symbols_of("lighter")[0]
    engine = Engine((MarketSpec(market_id=1, symbol="BTC", price_decimals=meta.price_decimals,
                                size_decimals=meta.size_decimals, min_base_amount=1, min_quote_amount=0),))
    clock = VirtualClock(wall_epoch_ns=tape.span_ns()[0])
    loop = virtual_time_loop(clock)

    class Checked(LighterTapeMarket):
        def _on_book(self, ev: tuple, now: int) -> None:
            super()._on_book(ev, now)
            check(self, engine)

    market = Checked(tape, "BTC", meta.market_id, meta.price_decimals, meta.size_decimals, BookMirror(engine, 1),
                     clock)
    try:
        loop.run_until_complete(asyncio.wait_for(market.run(), timeout=3600))
    finally:
        loop.close()
    return market


def test_the_mirrored_book_is_the_tapes_book(lighter_tape: Path):
    counts = {"checked": 0, "differ": 0}

    def check(market: LighterTapeMarket, engine: Engine) -> None:
        if market.synced:
            counts["checked"] += 1
            touch = tuple(None if tick < 0 else tick for tick in (market.book.best_bid_tick, market.book.best_ask_tick))
            counts["differ"] += engine.best_bid_ask(1) != touch

    replay_into_engine(lighter_tape, check)
    assert counts["checked"] > 300
    assert counts["differ"] == 0, counts


def test_a_nonce_gap_empties_the_mirror_until_the_next_snapshot(tmp_path: Path):
    async def gap(venue: LocalVenue, clock: VirtualClock) -> None:
        await sleep_until(clock, 60, clock.monotonic_ns())
        venue.inject_fault("skip_nonce", market_id=1)

    tape_dir = record(tmp_path / "gap", tmp_path, scenario=gap)
    assert len(check_tape(open_tape(tape_dir)).gaps) == 1
    seen = {"empty_while_invalid": 0, "invalid": 0}

    def check(market: LighterTapeMarket, engine: Engine) -> None:
        if not market.synced:
            seen["invalid"] += 1
            seen["empty_while_invalid"] += engine.best_bid_ask(1) == (None, None)

    market = replay_into_engine(tape_dir, check)
    assert market.stats.gaps == 1 and market.stats.syncs == 2  # the first snapshot, and the one after the gap
    assert seen["invalid"] >= 1 and seen["empty_while_invalid"] == seen["invalid"]
    assert market.synced  # rebuilt and still mirrored at the end


def test_the_tapes_binance_market_is_the_alpha_of_a_lighter_backtest(lighter_tape: Path, tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture):
    """The tape's Binance market, replayed on the tape's time (sim.replay), reaches the bot's own Binance feed:
    it syncs on the recorded ids and drives the alpha; without it the alpha is the Lighter book's."""
    caplog.set_level(logging.INFO)
    cfg = load_config(None, env={"LMM_VOL_OBI_WARMUP_SECONDS": "20", "LMM_ALPHA_SOURCE": "binance",
                                 "LMM_RISK_MAX_DRAWDOWN_USD": "0", "LMM_RISK_MAX_DAILY_LOSS_USD": "0"})
    with_alpha = run_backtest(cfg, BacktestOptions(lighter_tape))
    assert with_alpha["exit_status"] == 0 and with_alpha["binance_alpha"]["symbol"] == "BTCUSDT"
    assert with_alpha["binance_alpha"]["served"]["binance_depth"] > 500
    assert "binance BTCUSDT: synced at L=" in caplog.text
    assert "alpha source: lighter -> binance" in caplog.text or "alpha source: none -> binance" in caplog.text
    caplog.clear()
    without = run_backtest(cfg, BacktestOptions(lighter_tape, binance_alpha=False))
    assert without["binance_alpha"] is None and "-> binance" not in caplog.text
