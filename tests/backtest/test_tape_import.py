"""Importing the real hftbacktest recordings in ../shared/data and checking them with `tape info`."""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from tape_samples import arrow_rows, typed

import tape as tape_cli
from lmm.venue.tape import schema as s
from lmm.venue.tape.hftbacktest import ImportOptions, classify, import_hftbacktest
from lmm.venue.tape.integrity import check_tape
from lmm.venue.tape.reader import open_tape

ROOT = Path(__file__).resolve().parents[2]
# ../shared/data next to the project (a worktree sits one level deeper)
DATA = next((d / "shared" / "data" for d in (ROOT.parent, ROOT.parent.parent) if (d / "shared" / "data").is_dir()),
            ROOT.parent / "shared" / "data")
USDM = DATA / "binance-usdm-ethusdt-20240808.gz"
COINM = DATA / "binance-coinm-btcusd_perp-20240808.gz"

pytestmark = pytest.mark.skipif(not USDM.exists() or not COINM.exists(), reason="real recordings not present")


@pytest.fixture(scope="module")
def usdm_tape(tmp_path_factory):
    out = tmp_path_factory.mktemp("usdm") / "tape"
    report = import_hftbacktest(USDM, out)
    return out, report


@pytest.fixture(scope="module")
def coinm_tape(tmp_path_factory):
    out = tmp_path_factory.mktemp("coinm") / "tape"
    report = import_hftbacktest(COINM, out)
    return out, report


def _scaled(text: str, decimals: int) -> int:
    value = Decimal(text).scaleb(decimals)
    assert value == value.to_integral_value()
    return int(value)


def test_usdm_import_is_exact_and_info_is_clean(usdm_tape, capsys):
    out, report = usdm_tape
    info = report.symbol
    assert (info.symbol, info.market, info.price_decimals, info.size_decimals) == ("ETHUSDT", "usdm", 2, 3)
    assert info.contract_usd is None and "contract_usd" not in (out / "manifest.json").read_text()
    assert report.lines == report.rows == 74655 and report.bad_lines == 0
    assert report.by_kind == {s.BINANCE_DEPTH: 6586, s.BINANCE_BOOK_TICKER: 53992, s.BINANCE_TRADE: 14076,
                              s.BINANCE_SNAPSHOT: 1}
    tape = open_tape(out)
    checked = 0
    for ev in tape.events(kinds=[s.BINANCE_DEPTH, s.BINANCE_SNAPSHOT], with_raw=True):
        data = json.loads(ev[-1])
        data = data.get("data", data)
        bids = data["b"] if ev[2] == s.BINANCE_DEPTH else data["bids"]
        assert ev[-5] == [_scaled(p, 2) for p, _ in bids] and ev[-4] == [_scaled(q, 3) for _, q in bids]
        checked += 1
    assert checked == 6587
    report_ = check_tape(tape)
    replay = report_.binance["ETHUSDT"]
    print(f"USD-M: {replay.describe()}")
    assert report_.summary() == "tape: 74655 events, 344.8 s, venues: binance, gaps: 0, resyncs: 0"
    assert replay.syncs == 1 and replay.book_gaps == 0 and replay.diffs == 6586
    assert replay.tickers == 53992 and replay.tickers_checked > 500 and replay.mismatches == []


def test_reading_the_real_tape_gives_pyarrows_values_in_both_orders(usdm_tape):
    """On the real tape (many batches, 65 levels a diff): the bulk, lazy read is exactly pyarrow's `to_pylist`
    (values and types), in local order by (local_ns, seq), and in exchange order each stream keeps its own
    order under the running maximum of its exchange time."""
    tape = open_tape(usdm_tape[0])
    streams = {st.kind: arrow_rows(tape, st) for st in tape.streams}
    local = sorted((r for rows in streams.values() for r in rows), key=lambda r: (r[0], r[1]))
    assert [typed(e) for e in tape.events(with_raw=True)] == [typed(r) for r in local]
    keyed = []
    for rows in streams.values():
        running = -1
        for r in rows:
            running = max(running, r[4] if r[4] is not None else r[0])
            keyed.append((running, r[1], r))
    keyed.sort(key=lambda k: (k[0], k[1]))
    assert [e[1] for e in tape.events(order="exchange")] == [k[1] for k in keyed]


def test_coinm_import_contracts_and_info_is_clean(coinm_tape):
    out, report = coinm_tape
    info = report.symbol
    assert (info.symbol, info.market, info.price_decimals, info.size_decimals, info.size_unit, info.contract_usd) == (
        "BTCUSD_PERP", "coinm", 1, 0, "contracts", 100.0)
    tape = open_tape(out)
    assert tape.manifest.symbol("binance", "BTCUSD_PERP").contract_usd == 100.0  # kept in the manifest
    first_depth = next(tape.events(kinds=[s.BINANCE_DEPTH]))
    assert first_depth[8][:2] == [617736, 617764] and first_depth[9][:2] == [1001, 412]  # 61773.6, 1001 contracts
    report_ = check_tape(tape)
    replay = report_.binance["BTCUSD_PERP"]
    print(f"COIN-M: {replay.describe()}")
    assert report_.summary() == "tape: 48270 events, 343.8 s, venues: binance, gaps: 0, resyncs: 0"
    assert replay.syncs == 1 and replay.book_gaps == 0 and replay.mismatches == []


def _rewrite(source: Path, target: Path, edit) -> None:
    with gzip.open(source, "rt") as src, gzip.open(target, "wt") as dst:
        for number, line in enumerate(src):
            line = edit(number, line)
            if line is not None:
                dst.write(line)


def test_a_dropped_diff_is_a_gap_and_a_wrong_ticker_a_mismatch(tmp_path, usdm_tape, capsys):
    tape = open_tape(usdm_tape[0])
    diffs = list(tape.events(kinds=[s.BINANCE_DEPTH]))
    dropped = diffs[5000]  # late in the file; the wrong ticker comes well before it
    finals = {ev[6] for ev in diffs[100:4000]}
    ticker = next(ev for ev in tape.events(kinds=[s.BINANCE_BOOK_TICKER]) if ev[5] in finals)

    def edit(number: int, line: str) -> str | None:
        if f'"u":{dropped[6]},' in line and "depthUpdate" in line:
            return None
        if f'"u":{ticker[5]},' in line and "bookTicker" in line:
            return line.replace('"A":"', '"A":"9', 1)  # an ask size the book does not have
        return line

    broken = tmp_path / "broken.gz"
    _rewrite(USDM, broken, edit)
    assert tape_cli.main(["import", str(broken), "--format", "hftbacktest-binance", "--out", str(tmp_path / "t")]) == 0
    capsys.readouterr()
    assert tape_cli.main(["info", str(tmp_path / "t"), "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "tape: 74654 events, 344.8 s, venues: binance, gaps: 1, resyncs: 0" in out
    assert f"pu {diffs[5001][7]} != previous u {diffs[4999][6]}" in out and "gap: binance ETHUSDT at " in out
    assert "synced 1 times (1 book gaps" in out  # the product's sync saw it too (no later snapshot to resync)
    assert ", 1 mismatches" in out and f"mismatch: u {ticker[5]} at " in out


def test_grid_override_and_classification(tmp_path):
    head = tmp_path / "head.gz"
    _rewrite(COINM, head, lambda number, line: line if number < 500 else None)
    report = import_hftbacktest(head, tmp_path / "t", ImportOptions(price_decimals=2, size_decimals=1))
    assert (report.symbol.price_decimals, report.symbol.size_decimals) == (2, 1)
    first = next(open_tape(tmp_path / "t").events(kinds=[s.BINANCE_DEPTH]))
    assert first[8][0] == 6177360 and first[9][0] == 10010
    assert classify('{"stream":"ethusdt@depth5@100ms","data":{}}') == (s.OTHER, "ETHUSDT")
    assert classify('{"lastUpdateId":1,"bids":[],"asks":[]}') == (s.BINANCE_SNAPSHOT, None)


def test_entry_point_runs_as_a_program(usdm_tape):
    result = subprocess.run([sys.executable, str(ROOT / "tape.py"), "info", str(usdm_tape[0])], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert '"schema_version": 1' in result.stdout
    assert "gaps: 0, resyncs: 0" in result.stdout
