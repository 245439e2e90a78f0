"""``--record`` on the local venue: the tape is written in virtual time (local receive times are the run's
clock), holds both venues' frames and the bot's own events without a gap, and spans the run's market time."""
from __future__ import annotations

from pathlib import Path

from venue_support import EPOCH_NS, run_bot, venue_config

from lmm.daemon.recording import RecordOptions
from lmm.daemon.run import EXIT_OK
from lmm.venue.tape import schema as s
from lmm.venue.tape.integrity import check_tape
from lmm.venue.tape.manifest import read_manifest
from lmm.venue.tape.reader import open_tape

SECONDS = 40.0
TIGHT = {"vol_to_half_spread": 1e-6, "c1_ticks": 0, "min_half_spread_bps": 1.5}


def test_record_on_the_local_venue_writes_a_gapless_tape_on_the_virtual_clock(tmp_path: Path):
    config = venue_config(tmp_path, vol_obi=TIGHT, alpha={"source": "binance"})
    tape_dir = tmp_path / "tape"
    run = run_bot(config, SECONDS, record=RecordOptions(tape_dir, mode="local"))
    assert run.status == EXIT_OK

    manifest = read_manifest(tape_dir)
    assert manifest.venues == ["binance", "lighter"] and manifest.source["mode"] == "local"
    tape = open_tape(tape_dir)
    report = check_tape(tape)
    assert report.gaps == [] and report.resyncs <= 1  # the one at the stop, if any
    start, end = tape.span_ns()
    assert EPOCH_NS <= start < EPOCH_NS + 5 * 10**9  # virtual wall time, not the machine's
    assert SECONDS <= (end - EPOCH_NS) / 1e9 <= SECONDS + 30  # the run plus its shutdown
    lighter, binance = report.lighter["BTC"], report.binance["BTCUSDT"]
    assert lighter.snapshots >= 1 and lighter.applied > 100 and lighter.crossed == lighter.malformed == 0
    assert binance.syncs >= 1 and binance.book_gaps == 0 and binance.mismatches == []
    # the bot's own events: a state per sampler step after start-up, and every fill the venue made
    states = report.by_kind[s.BOT_STATE]
    assert states >= SECONDS / 0.05 * 0.8
    venue_trades = run.venue.engine.account_trades(run.venue.account_index, n=10**6)
    assert report.by_kind.get(s.BOT_FILL, 0) == len(venue_trades) > 0
