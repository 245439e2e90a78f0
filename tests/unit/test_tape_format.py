"""Tape format: writer -> Parquet files -> reader, exact integers, ordering, kill safety, merging."""
from __future__ import annotations

import json
import os
import shutil
import time

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tape_samples import (
    AGG_TRADE,
    BINANCE,
    FRAME1,
    FRAME2,
    LIGHTER,
    LIGHTER_SNAPSHOT,
    LIGHTER_TRADES,
    LIGHTER_UPDATE,
    SNAPSHOT,
    T0,
    TICKER_OK,
    TRADE,
    arrow_rows,
    typed,
)

import lmm.book.book_side as book_side
from lmm.venue.tape import decode, files
from lmm.venue.tape import schema as s
from lmm.venue.tape.manifest import read_manifest
from lmm.venue.tape.reader import open_tape
from lmm.venue.tape.schema import as_dict
from lmm.venue.tape.writer import HOUR_NS, TapeWriter, WriterSettings

MS = 1_000_000


def _write_sample(directory, settings=None, background=False):
    writer = TapeWriter(directory, [BINANCE, LIGHTER], {"kind": "test"}, settings, background=background)
    depth = writer.stream(s.BINANCE_DEPTH, "BTCUSDT")
    depth.append(T0, FRAME1)
    writer.stream(s.BINANCE_SNAPSHOT, "BTCUSDT").append(T0 + 5 * MS, SNAPSHOT, (T0 + 1 * MS, 5))
    depth.append(T0 + 10 * MS, FRAME2.encode())  # bytes are accepted too
    writer.stream(s.BINANCE_BOOK_TICKER, "BTCUSDT").append(T0 + 10 * MS, TICKER_OK)  # same local time
    trades = writer.stream(s.BINANCE_TRADE, "BTCUSDT")
    trades.append(T0 + 20 * MS, TRADE)
    trades.append(T0 + 21 * MS, AGG_TRADE)
    lighter = writer.stream(s.LIGHTER_BOOK, "BTC")
    lighter.append(T0 + 2 * MS, LIGHTER_SNAPSHOT)
    lighter.append(T0 + 12 * MS, LIGHTER_UPDATE)
    writer.stream(s.LIGHTER_TRADE, "BTC").append(T0 + 13 * MS, LIGHTER_TRADES)
    writer.event("lighter", "BTC", s.EV_RESYNC, "order_book/1", '{"reason": "test"}', local_ns=T0 + 14 * MS)
    depth.append(T0 + 15 * MS, '{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate"}}')  # undecodable
    return writer


def test_round_trip_exact_integers_and_local_order(tmp_path):
    with _write_sample(tmp_path / "tape"):
        pass
    tape = open_tape(tmp_path / "tape")
    events = list(tape.events(with_raw=True))
    assert [e[0] for e in events] == sorted(e[0] for e in events)
    keys = [(e[0], e[1]) for e in events]
    assert keys == sorted(keys) and len({e[1] for e in events}) == len(events)
    by_kind = {}
    for event in events:
        by_kind.setdefault(event[2], []).append(as_dict(event))
    d1, d2 = by_kind[s.BINANCE_DEPTH]
    assert (d1["first_id"], d1["final_id"], d1["prev_final_id"]) == (8123456789101, 8123456789140, 8123456789077)
    assert d1["exch_ns"] == 1732600000011 * MS and d1["symbol"] == "BTCUSDT"
    assert (d2["bid_ticks"], d2["bid_lots"]) == ([970000, 969980], [1700, 0])
    assert (d2["ask_ticks"], d2["ask_lots"]) == ([970001, 970025], [1900, 300])
    assert d2["raw"] == FRAME2
    (snap,) = by_kind[s.BINANCE_SNAPSHOT]
    assert (snap["last_update_id"], snap["limit"], snap["request_ns"]) == (8123456789150, 5, T0 + MS)
    assert snap["bid_ticks"][0] == 970000 and snap["ask_lots"][-1] == 25000
    (ticker,) = by_kind[s.BINANCE_BOOK_TICKER]
    assert (ticker["update_id"], ticker["bid_tick"], ticker["bid_lots"], ticker["ask_tick"],
            ticker["ask_lots"]) == (8123456789203, 970001, 50, 970002, 900)
    trade, agg = by_kind[s.BINANCE_TRADE]
    assert (trade["trade_id"], trade["price_tick"], trade["qty_lots"], trade["buyer_is_maker"], trade["is_agg"]) == (
        77, 970001, 12, True, False)
    assert (agg["trade_id"], agg["price_tick"], agg["qty_lots"], agg["is_agg"], agg["trade_ns"]) == (
        5, 970002, 1500, True, 1732600000300 * MS)
    snap_l, update_l = by_kind[s.LIGHTER_BOOK]
    assert (snap_l["is_snapshot"], snap_l["nonce"], snap_l["begin_nonce"]) == (True, 1000, 0)
    assert snap_l["bid_ticks"] == [970000, 969995] and snap_l["bid_lots"] == [50000, 100000]
    assert (update_l["is_snapshot"], update_l["begin_nonce"], update_l["ask_ticks"]) == (False, 1000, [970010])
    assert update_l["exch_ns"] == 1732600000150000 * 1000
    (lt,) = by_kind[s.LIGHTER_TRADE]
    assert (lt["trade_ids"], lt["price_ticks"], lt["size_lots"], lt["is_maker_ask"]) == (
        [11, 12], [970005, 970005], [10000, 5000], [True, True])
    assert lt["trade_ns"] == [1732600000160123000, 1732600000161 * MS] and lt["exch_ns"] == lt["trade_ns"][-1]
    (ev,) = by_kind[s.EVENT]
    assert (ev["venue"], ev["event"], ev["stream"], ev["symbol"]) == ("lighter", "resync", "order_book/1", "BTC")
    (other,) = by_kind[s.OTHER]
    assert other["venue"] == "binance" and other["note"].startswith("binance_depth: ValidationError: Object missing")
    assert other["raw"].endswith('"depthUpdate"}}')
    # ties in local time are broken by the recording order
    assert [e[2] for e in events if e[0] == T0 + 10 * MS] == [s.BINANCE_DEPTH, s.BINANCE_BOOK_TICKER]
    assert tape.count() == len(events) == 11
    assert tape.span_ns() == (T0, T0 + 21 * MS)
    manifest = read_manifest(tmp_path / "tape")
    assert (manifest.start_ns, manifest.end_ns) == (T0, T0 + 21 * MS)
    assert manifest.symbol("lighter", "BTC").market_id == 1 and manifest.venues == ["binance", "lighter"]
    raw_manifest = json.loads((tmp_path / "tape" / "manifest.json").read_text())
    assert raw_manifest["symbols"]["binance"]["BTCUSDT"]["tick_size"] == "0.1"
    assert raw_manifest["schema_version"] == s.SCHEMA_VERSION


def test_filters_exchange_order_numpy_levels(tmp_path):
    with _write_sample(tmp_path / "tape"):
        pass
    tape = open_tape(tmp_path / "tape")
    only = list(tape.events(kinds=[s.LIGHTER_BOOK, s.LIGHTER_TRADE]))
    assert [e[2] for e in only] == [s.LIGHTER_BOOK, s.LIGHTER_BOOK, s.LIGHTER_TRADE]
    windowed = list(tape.events(start_ns=T0 + 10 * MS, end_ns=T0 + 20 * MS))
    assert {e[0] for e in windowed} == {T0 + 10 * MS, T0 + 12 * MS, T0 + 13 * MS, T0 + 14 * MS, T0 + 15 * MS}
    exchange = list(tape.events(order="exchange", kinds=[s.BINANCE_DEPTH, s.BINANCE_TRADE, s.LIGHTER_BOOK]))
    keys = [e[4] for e in exchange]
    assert keys == sorted(keys)
    assert [e[2] for e in exchange][:2] == [s.BINANCE_DEPTH, s.LIGHTER_BOOK]  # E 011 ms, then 100 ms
    (depth_np, _) = [e for e in tape.events(kinds=[s.BINANCE_DEPTH], levels="numpy")]
    assert depth_np[10].dtype.name == "int64" and depth_np[10].tolist() == [970002]
    _, depth2 = tape.events(kinds=[s.BINANCE_DEPTH], levels="numpy")
    assert depth2[8].tolist() == [970000, 969980]


@pytest.mark.parametrize("batch_rows", [1, 2, 1024])
def test_reader_tuples_are_pyarrows_values_and_types_in_every_mode(tmp_path, batch_rows):
    """Every kind of the sample (nulls, bool lists, strings) read in bulk, lazily or not, over batches of any
    size, is exactly what pyarrow's `to_pylist` gives; merged, they are the streams' union in (local_ns, seq)."""
    with _write_sample(tmp_path / "tape"):
        pass
    tape = open_tape(tmp_path / "tape")
    expected_all = []
    for stream in tape.streams:
        expected = [typed(r) for r in arrow_rows(tape, stream)]
        expected_all += expected
        for levels in ("list", "plain"):
            got = [typed(r) for rows in tape.stream_batches(stream, True, batch_rows, levels=levels) for r in rows]
            assert got == expected, (stream.kind, levels)
    merged = [typed(e) for e in tape.events(with_raw=True, batch_rows=batch_rows)]
    assert merged == sorted(expected_all, key=lambda r: (r[1][0][1], r[1][1][1]))
    exchange = list(tape.events(order="exchange", batch_rows=batch_rows))
    assert sorted(exchange, key=lambda e: e[1]) == sorted(tape.events(), key=lambda e: e[1])


def test_background_flush_and_kill_leaves_closed_files_readable(tmp_path):
    writer = TapeWriter(tmp_path / "t", [BINANCE], {}, WriterSettings(flush_seconds=0.05), background=True)
    depth = writer.stream(s.BINANCE_DEPTH, "BTCUSDT")
    depth.append(T0, FRAME1)
    stream_dir = tmp_path / "t" / "binance_depth.BTCUSDT"
    deadline = time.monotonic() + 30
    while not files.live_files(stream_dir) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(files.live_files(stream_dir)) == 1  # flushed by the thread, without close()
    # What a kill -9 in the middle of a write leaves: a temporary file without a footer.
    (stream_dir / ".20241126T05.00000002-00000002.parquet.tmp").write_bytes(b"PAR1 half a file")
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "t", copy)  # the tape as a killed process would leave it
    writer.close()
    tape = open_tape(copy)
    assert [e[6] for e in tape.events()] == [8123456789140]
    assert files.remove_temporaries(copy / "binance_depth.BTCUSDT") == 1


def test_hours_become_one_file_each_and_merges_survive_a_kill(tmp_path):
    settings = WriterSettings(flush_seconds=60, compact_segments=3)
    writer = TapeWriter(tmp_path / "t", [BINANCE], {}, settings, background=False)
    trades = writer.stream(s.BINANCE_TRADE, "BTCUSDT")
    hour0 = (T0 // HOUR_NS + 1) * HOUR_NS
    times = [hour0 - 3 * MS, hour0 - 2 * MS, hour0 + 1 * MS, hour0 + 2 * MS, hour0 + 3 * MS, hour0 + 4 * MS]
    for t in times[:2]:
        trades.append(t, TRADE)
        writer.flush()
    stream_dir = tmp_path / "t" / "binance_trade.BTCUSDT"
    assert len(files.live_files(stream_dir)) == 2  # the hour is still open
    trades.append(times[2], TRADE)
    writer.flush()  # a segment of the next hour closes the previous one: merged into one file
    live = files.live_files(stream_dir)
    assert [(f.first, f.last) for f in live] == [(1, 2), (3, 3)]
    for t in times[3:5]:
        trades.append(t, TRADE)
        writer.flush()
    live = files.live_files(stream_dir)
    assert [(f.first, f.last) for f in live] == [(1, 2), (3, 5)]  # compact_segments reached
    # A merge killed after writing its output but before deleting the sources: duplicates by range.
    for name in ("00000004-00000004", "00000005-00000005"):
        pq.write_table(pq.read_table(live[1].path), stream_dir / f"{live[1].hour}.{name}.parquet")
    tape = open_tape(tmp_path / "t")
    assert [e[0] for e in tape.events()] == times[:5]
    trades.append(times[5], TRADE)
    writer.close()
    assert [(f.first, f.last) for f in files.all_files(stream_dir)] == [(1, 2), (3, 6)]
    assert [e[0] for e in open_tape(tmp_path / "t").events()] == times
    assert {f.name[:11] for f in stream_dir.iterdir()} == {files.hour_label(times[0]), files.hour_label(times[2])}


def test_max_file_bytes_splits_a_merged_hour(tmp_path):
    writer = TapeWriter(tmp_path / "t", [BINANCE], {}, WriterSettings(max_file_bytes=1), background=False)
    depth = writer.stream(s.BINANCE_DEPTH, "BTCUSDT")
    for i in range(3):
        depth.append(T0 + i, FRAME1)
        writer.flush()
    writer.close()
    ranges = [(f.first, f.last) for f in files.live_files(tmp_path / "t" / "binance_depth.BTCUSDT")]
    assert ranges == [(1, 1), (2, 2), (3, 3)]
    assert len(list(open_tape(tmp_path / "t").events())) == 3


def test_clock_stepping_back_is_clamped_within_a_stream(tmp_path):
    with TapeWriter(tmp_path / "t", [BINANCE], {}, background=False) as writer:
        depth = writer.stream(s.BINANCE_DEPTH, "BTCUSDT")
        depth.append(T0 + 10, FRAME1)
        depth.append(T0 + 5, FRAME2)  # the wall clock stepped back
    events = list(open_tape(tmp_path / "t").events())
    assert [(e[0], e[6]) for e in events] == [(T0 + 10, 8123456789140), (T0 + 10, 8123456789171)]
    assert read_manifest(tmp_path / "t").writer["clamped_rows"] == 1


def test_refuses_an_existing_tape_and_overlapping_files(tmp_path):
    with TapeWriter(tmp_path / "t", [BINANCE], {}, background=False):
        pass
    with pytest.raises(FileExistsError):
        TapeWriter(tmp_path / "t", [BINANCE], {}, background=False)
    overlapping = [files.SegmentFile(1, 3, "h", tmp_path / "a"), files.SegmentFile(2, 4, "h", tmp_path / "b")]
    with pytest.raises(files.TapeError):
        files.split_live(overlapping)
    assert os.path.exists(tmp_path / "t" / "manifest.json")


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="0123456789.-+ _e²", min_size=0, max_size=24), st.integers(0, 12))
def test_fast_parser_agrees_with_the_products(text, decimals):
    try:
        expected = book_side.parse_scaled(text, decimals)
    except ValueError:
        with pytest.raises(ValueError):
            decode.parse_scaled(text, decimals)
    else:
        assert decode.parse_scaled(text, decimals) == expected


@pytest.mark.parametrize("text", ["97000.10", "0.000", "9223372036854775807", "9223372036854775808", "1.", ".5",
                                  "00012.3400", "12", "12.345"])
@pytest.mark.parametrize("decimals", [0, 1, 3])
def test_fast_parser_edges(text, decimals):
    try:
        expected = book_side.parse_scaled(text, decimals)
    except ValueError:
        with pytest.raises(ValueError):
            decode.parse_scaled(text, decimals)
    else:
        assert decode.parse_scaled(text, decimals) == expected


def test_the_memoised_parser_equals_the_parser_and_never_caches_a_refusal(monkeypatch):
    monkeypatch.setattr(decode, "CACHE_LIMIT", 3)
    cache = decode.ScaledCache(2)
    for text in ("97000.10", "97000.1", "0.05", "97000.10", "12", "0.050"):
        assert cache[text] == decode.parse_scaled(text, 2)
    assert len(cache) <= 3  # started over at the limit
    for _ in range(2):  # a refusal raises every time: nothing is stored for it
        with pytest.raises(ValueError):
            cache["97000.101"]
    assert "97000.101" not in cache
