"""record.py against the simulator: a kill -9 mid-run leaves readable files and a consistent tape; injected
chain faults are recorded as gaps with resyncs; the recorders' chain logic on literal frames."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tape_samples import FRAME1, FRAME2, FRAME3, FRAME4, LIGHTER_SNAPSHOT, LIGHTER_UPDATE, LIGHTER_UPDATE_GAP

from lmm.venue.binance.market import KNOWN_MARKETS
from lmm.venue.tape import schema as s
from lmm.venue.tape.binance_recorder import BinanceRecorder, BinanceRecorderSettings
from lmm.venue.tape.integrity import check_tape
from lmm.venue.tape.lighter_recorder import LighterRecorder, LighterRecorderSettings
from lmm.venue.tape.manifest import SymbolInfo, read_manifest
from lmm.venue.tape.reader import open_tape
from lmm.venue.tape.writer import TapeWriter
from lmm.venue.ws.reconnect import WatchdogTimeout
from sim.testing import start_simulator

ROOT = Path(__file__).resolve().parents[2]
RECORD_SECONDS = 30.0
WAIT_S = 90.0


def _env(sim) -> dict[str, str]:
    env = dict(os.environ)
    env.update(LIGHTER_BASE_URL=sim.lighter_url, LIGHTER_WS_URL=sim.lighter_ws_url,
               BINANCE_REST_URL=sim.binance_rest_url, BINANCE_WS_URL=sim.binance_ws_url,
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost", PYTHONUNBUFFERED="1")
    return env


def _events_so_far(directory: Path) -> list[tuple]:
    """Events of a tape being written (a file may be merged away while we read: try again)."""
    for _ in range(50):
        try:
            return list(open_tape(directory).events(kinds=[s.EVENT, s.LIGHTER_BOOK, s.BINANCE_SNAPSHOT]))
        except (FileNotFoundError, OSError):
            time.sleep(0.1)
    raise AssertionError("tape unreadable while recording")


def _wait_for(directory: Path, proc: subprocess.Popen, what: str, predicate) -> list[tuple]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"recorder exited early with {proc.returncode}"
        if (directory / "manifest.json").exists():
            events = _events_so_far(directory)
            if predicate(events):
                return events
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _count(events: list[tuple], kind: str, name: str | None = None, venue: str | None = None) -> int:
    return sum(1 for e in events if e[2] == kind and (name is None or e[6] == name)
               and (venue is None or e[5] == venue))


def _snapshots(events: list[tuple]) -> tuple[int, int]:
    lighter = sum(1 for e in events if e[2] == s.LIGHTER_BOOK and e[5])
    return lighter, _count(events, s.BINANCE_SNAPSHOT)


def test_kill_9_mid_run_leaves_a_readable_consistent_tape_with_the_injected_gaps(tmp_path):
    tape_dir = tmp_path / "tape"
    with start_simulator(seed=7) as sim:
        proc = subprocess.Popen([sys.executable, str(ROOT / "record.py"), "--symbol", "BTC", "--out", str(tape_dir),
                                 "--flush-seconds", "0.5", "--log-level", "WARNING"],
                                cwd=ROOT, env=_env(sim), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        started = time.monotonic()
        try:
            _wait_for(tape_dir, proc, "both books synced", lambda ev: _snapshots(ev) >= (1, 1))
            sim.inject_fault("skip_nonce", market_id=1)
            sim.inject_fault("binance_pu_gap", symbol="BTCUSDT")
            _wait_for(tape_dir, proc, "both gaps recorded and both books resynced",
                      lambda ev: _count(ev, s.EVENT, s.EV_GAP) >= 2 and _snapshots(ev) >= (2, 2))
            time.sleep(max(0.0, RECORD_SECONDS - (time.monotonic() - started)))  # record for ~30 s in all
            assert proc.poll() is None
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    finished = [p for p in tape_dir.rglob("*.parquet")]
    assert finished and all(not p.name.startswith(".") for p in finished)
    rows = sum(pq.read_table(p).num_rows for p in finished)  # every closed file has its footer
    manifest = read_manifest(tape_dir)
    assert manifest.venues == ["binance", "lighter"] and manifest.source["mode"] == "live"
    assert manifest.symbol("lighter", "BTC").market_id == 1 and manifest.end_ns is not None

    tape = open_tape(tape_dir)
    report = check_tape(tape)
    events = list(tape.events(kinds=[s.EVENT]))
    print(report.summary(), "|", " | ".join(r.describe() for r in [*report.binance.values(),
                                                                   *report.lighter.values()]))
    assert report.events == tape.count() <= rows and report.span_s >= RECORD_SECONDS * 0.5
    assert sorted((g.venue, g.symbol) for g in report.gaps) == [("binance", "BTCUSDT"), ("lighter", "BTC")]
    assert report.resyncs == _count(events, s.EVENT, s.EV_RESYNC) == 2  # one per gap, no reconnect
    assert [json.loads(e[8])["reason"] for e in events if e[6] == s.EV_RESYNC] == ["gap", "gap"]
    assert _count(events, s.EVENT, s.EV_STOP) == 0  # killed: no clean stop
    binance, lighter = report.binance["BTCUSDT"], report.lighter["BTC"]
    assert binance.syncs >= 2 and binance.book_gaps == 1 and binance.mismatches == [] and binance.crossed == 0
    assert binance.tickers_checked > 0
    assert lighter.snapshots >= 2 and lighter.book_gaps == 1 and lighter.crossed == lighter.malformed == 0
    lighter_gap = next(g for g in report.gaps if g.venue == "lighter")
    recorded = json.loads(next(e[8] for e in events if e[6] == s.EV_GAP and e[5] == "lighter"))
    assert (lighter_gap.expected, lighter_gap.received) == (recorded["expected"], recorded["received"])

    assert subprocess.run([sys.executable, str(ROOT / "tape.py"), "compact", str(tape_dir)], cwd=ROOT,
                          capture_output=True, timeout=120).returncode == 0
    after = check_tape(open_tape(tape_dir))
    assert (after.events, len(after.gaps), after.resyncs) == (report.events, 2, 2)
    assert all(len(list(d.glob("*.parquet"))) == 1 for d in tape_dir.iterdir() if d.is_dir())


def test_record_sim_stops_cleanly_with_a_gapless_tape(tmp_path):
    tape_dir = tmp_path / "tape"
    result = subprocess.run([sys.executable, str(ROOT / "record.py"), "--sim", "--symbol", "BTC", "--duration", "5",
                             "--out", str(tape_dir), "--log-level", "WARNING"], cwd=ROOT, capture_output=True,
                            text=True, timeout=180, env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"})
    assert result.returncode == 0, result.stderr[-2000:]
    tape = open_tape(tape_dir)
    report = check_tape(tape)
    assert report.gaps == [] and report.resyncs == 0
    assert {s.LIGHTER_BOOK, s.BINANCE_DEPTH, s.BINANCE_SNAPSHOT, s.BINANCE_BOOK_TICKER} <= set(report.by_kind)
    names = [e[6] for e in tape.events(kinds=[s.EVENT])]
    assert names[0] == s.EV_START and names[-1] == s.EV_STOP
    assert tape.manifest.source["mode"] == "sim"
    assert all(len(list(d.glob("*.parquet"))) == 1 for d in tape_dir.iterdir() if d.is_dir())  # merged at close


def _writer(tmp_path: Path) -> TapeWriter:
    symbols = [SymbolInfo("lighter", "BTC", 1, 5, market_id=1), SymbolInfo("binance", "BTCUSDT", 1, 3)]
    return TapeWriter(tmp_path / "t", symbols, {}, background=False)


@pytest.mark.asyncio
async def test_lighter_recorder_chain_and_protocol(tmp_path):
    writer = _writer(tmp_path)
    clock = iter(range(1, 1000)).__next__
    rec = LighterRecorder(LighterRecorderSettings("ws://x", 1, "BTC"), writer, clock)
    assert await rec.on_open(0.0) == ()
    subscribe = rec.on_frame('{"type":"connected","session_id":"a"}', 0.1)
    assert [json.loads(f) for f in subscribe] == [{"type": "subscribe", "channel": "order_book/1"},
                                                  {"type": "subscribe", "channel": "trade/1"}]
    assert rec.on_frame('{"type":"ping"}', 0.2) == ('{"type":"pong"}',)
    assert rec.on_frame(LIGHTER_SNAPSHOT, 0.3) is None and rec.on_frame(LIGHTER_UPDATE, 0.4) is None
    resubscribe = rec.on_frame(LIGHTER_UPDATE_GAP, 0.5)  # begin_nonce 1012 after nonce 1007
    assert [json.loads(f)["type"] for f in resubscribe] == ["unsubscribe", "subscribe"]
    assert rec.on_frame(LIGHTER_UPDATE_GAP.replace('"begin_nonce": 1012', '"begin_nonce": 1'), 0.6) is None
    rec.on_close(None, 1.0)
    await rec.on_open(2.0)
    writer.close()
    events = [(e[6], e[7]) for e in open_tape(tmp_path / "t").events(kinds=[s.EVENT])]
    assert events == [("connect", "ws"), ("subscribe", "order_book/1"), ("subscribe", "trade/1"),
                      ("gap", "order_book/1"), ("resync", "order_book/1"), ("disconnect", "ws"), ("connect", "ws"),
                      ("resync", "order_book/1")]
    assert rec.gaps == 1 and open_tape(tmp_path / "t").count([s.LIGHTER_BOOK]) == 4
    assert open_tape(tmp_path / "t").count([s.OTHER]) == 1  # the greeting; pings are answered, not kept


def test_binance_recorder_routes_frames_and_records_pu_gaps(tmp_path):
    writer = _writer(tmp_path)
    clock = iter(range(1, 1000)).__next__
    rec = BinanceRecorder(BinanceRecorderSettings(KNOWN_MARKETS["BTCUSDT"], "ws://x", "http://x"), writer, clock)
    assert rec.public.url() == "ws://x/public/stream?streams=btcusdt@depth@100ms/btcusdt@bookTicker"
    assert rec.market.url() == "ws://x/market/stream?streams=btcusdt@trade/btcusdt@aggTrade"
    for frame in (FRAME1, FRAME2, FRAME3):
        rec.on_frame(frame)
    assert rec._snapshot_wanted.is_set()  # the sync asked for a snapshot, as the bot's feed would
    rec.on_frame(FRAME4)  # pu 215 after u 203
    rec.on_frame('{"result":null,"id":1}')
    writer.close()
    tape = open_tape(tmp_path / "t")
    assert tape.count([s.BINANCE_DEPTH]) == 4 and tape.count([s.OTHER]) == 1
    events = [(e[6], json.loads(e[8]) if e[8] else None) for e in tape.events(kinds=[s.EVENT])]
    assert events == [("gap", {"expected": 8123456789203, "received": 8123456789215}), ("resync", {"reason": "gap"})]


@pytest.mark.asyncio
async def test_lighter_recorder_watchdog_covers_a_silent_book_channel(tmp_path):
    writer = _writer(tmp_path)
    rec = LighterRecorder(LighterRecorderSettings("ws://x", 1, "BTC", recv_timeout=5.0), writer, lambda: 1)
    await rec.on_open(0.0)
    rec.on_frame('{"type":"connected"}', 1.0)  # subscribed at 1.0
    for t in (2.0, 4.0, 6.0):
        assert rec.on_frame('{"type":"ping"}', t) == ('{"type":"pong"}',)  # the socket is alive, the book is not
    assert rec.next_deadline() == 6.0
    with pytest.raises(WatchdogTimeout):
        await rec.on_deadline(6.0)
    writer.close()
