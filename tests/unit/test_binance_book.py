"""Binance depth sync state machine, decoding and snapshot pacing: pure, no sockets and no clock."""
from __future__ import annotations

import json
import random

import msgspec
import pytest
from binance_samples import (
    EXPECTED_ASKS,
    EXPECTED_BIDS,
    FRAME1,
    FRAME2,
    FRAME3,
    FRAME4,
    SNAPSHOT,
    ev,
)

from lmm.book.binance_depth import BinanceDepthSync, DepthSnapshot, SyncAction
from lmm.book.book_side import PyBookSide
from lmm.core.backoff import BackoffPolicy
from lmm.venue.binance.market import BinanceMarket, binance_symbol, market_for
from lmm.venue.binance.obi_feed import decode_depth_frame
from lmm.venue.binance.snapshot import (
    PacerSettings,
    SnapshotError,
    SnapshotPacer,
    decode_snapshot,
    depth_weight,
    grid_decimals,
    market_from_exchange_info,
)


def new_sync() -> BinanceDepthSync:
    return BinanceDepthSync(price_decimals=1, size_decimals=3, side_factory=PyBookSide)


def synced_after_frame3() -> BinanceDepthSync:
    sync = new_sync()
    assert sync.feed(FRAME1) is SyncAction.FETCH_SNAPSHOT
    assert sync.feed(FRAME2) is SyncAction.NONE  # a snapshot is already on its way
    assert sync.on_snapshot(SNAPSHOT) is SyncAction.SYNCED
    assert sync.feed(FRAME3) is SyncAction.NONE
    return sync


# ---- the sync state machine ---------------------------------------------------------------------------


def test_reference_walkthrough_reproduces_the_oracle_book() -> None:
    sync = synced_after_frame3()
    assert sync.synced and not sync.crossed
    assert sync.bids.levels(10) == EXPECTED_BIDS
    assert sync.asks.levels(10) == EXPECTED_ASKS
    assert sync.last_final_id == 8123456789203
    assert sync.counters.resyncs == 1 and sync.counters.events_applied == 2


@pytest.mark.parametrize(("depth", "expected_lots"), [(0.025, 17550 - 27900), (0.0001, 5550 - 2900)])
def test_reference_band_sums(depth: float, expected_lots: int) -> None:
    assert synced_after_frame3().imbalance_lots(depth) == expected_lots


def test_pu_gap_unsyncs_and_asks_for_a_snapshot_keeping_the_breaking_event() -> None:
    sync = synced_after_frame3()
    assert sync.feed(FRAME4) is SyncAction.FETCH_SNAPSHOT
    assert not sync.synced and sync.counters.gaps == 1
    assert sync.buffered == 1
    # Levels are kept (to be replaced by the next snapshot's range), but the book is not usable.
    assert sync.bids.levels(1) == [(970001, 50)]


def test_replayed_old_event_is_ignored_without_resync() -> None:
    sync = synced_after_frame3()
    assert sync.feed(FRAME2) is SyncAction.NONE
    assert sync.synced and sync.counters.replayed_events == 1
    assert sync.bids.levels(10) == EXPECTED_BIDS


def test_snapshot_older_than_the_buffer_is_refetched() -> None:
    sync = new_sync()
    sync.feed(FRAME3)  # U = ...188 > L: no buffered event can straddle this snapshot
    assert sync.on_snapshot(SNAPSHOT) is SyncAction.FETCH_SNAPSHOT
    assert sync.counters.snapshots_too_old == 1 and not sync.synced


def test_snapshot_newer_than_the_buffer_waits_for_events() -> None:
    sync = new_sync()
    sync.feed(FRAME1)  # u < L: dropped when the snapshot comes
    assert sync.on_snapshot(SNAPSHOT) is SyncAction.NONE
    assert not sync.synced and sync.counters.snapshots_waiting == 1
    assert sync.feed(FRAME1) is SyncAction.NONE  # a replay older than the held snapshot
    assert sync.feed(FRAME2) is SyncAction.SYNCED
    assert sync.feed(FRAME3) is SyncAction.NONE
    assert sync.bids.levels(10) == EXPECTED_BIDS


def test_chain_break_inside_the_buffer_keeps_later_events_for_the_next_snapshot() -> None:
    sync = new_sync()
    for frame in (FRAME1, FRAME2, FRAME4):
        sync.feed(frame)
    assert sync.on_snapshot(SNAPSHOT) is SyncAction.FETCH_SNAPSHOT
    assert not sync.synced and sync.buffered == 1 and sync.counters.gaps == 1
    later = ev(8123456789250, 8123456789260, 8123456789244, [("97000.00", "2.000")])
    sync.feed(later)
    fresh = DepthSnapshot(8123456789240, [("96999.00", "1.000")], [("97001.00", "1.000")], limit=1000)
    assert sync.on_snapshot(fresh) is SyncAction.SYNCED
    assert sync.last_final_id == 8123456789260
    assert sync.bids.levels(5) == [(970000, 2000), (969990, 1000)]


def test_deletion_of_an_unknown_level_is_harmless() -> None:
    sync = synced_after_frame3()
    nxt = ev(8123456789210, 8123456789220, 8123456789203, [("90000.00", "0.000")])
    assert sync.feed(nxt) is SyncAction.NONE
    assert sync.bids.levels(10) == EXPECTED_BIDS


def test_crossed_book_forces_a_resync() -> None:
    sync = synced_after_frame3()
    crossing = ev(8123456789210, 8123456789220, 8123456789203, [("97000.50", "1.000")])
    assert sync.feed(crossing) is SyncAction.FETCH_SNAPSHOT
    assert not sync.synced and sync.counters.crossed == 1


def test_malformed_level_forces_a_resync() -> None:
    sync = synced_after_frame3()
    bad = ev(8123456789210, 8123456789220, 8123456789203, [("97000.05", "1.000")])  # off the 0.1 grid
    assert sync.feed(bad) is SyncAction.FETCH_SNAPSHOT
    assert sync.counters.malformed == 1


def test_resync_keeps_deep_levels_outside_the_snapshot_range() -> None:
    sync = synced_after_frame3()
    deep = ev(8123456789210, 8123456789220, 8123456789203, [("95000.00", "4.000")], [("99000.00", "6.000")])
    sync.feed(deep)
    sync.feed(FRAME4)  # gap
    fresh = DepthSnapshot(
        8123456789240,
        [("96999.00", "1.000"), ("96990.00", "2.000")],  # limit reached: covers 96990.00 .. up only
        [("97001.00", "1.000"), ("97005.00", "2.000")],
        limit=2,
    )
    sync.feed(ev(8123456789231, 8123456789250, 8123456789244))
    assert sync.on_snapshot(fresh) is SyncAction.SYNCED
    assert sync.bids.levels(10) == [(969990, 1000), (969900, 2000), (950000, 4000)]
    # FRAME4 straddles the new snapshot and deletes its 97001.00 ask.
    assert sync.asks.levels(10) == [(970050, 2000), (970100, 25000), (990000, 6000)]
    report = sync.last_report
    assert report is not None and report.retained_deep_levels == 3
    assert report.bid_coverage == pytest.approx(90 / 970000.0)  # snapshot mid 97000.00


def test_complete_snapshot_side_replaces_everything() -> None:
    sync = synced_after_frame3()
    sync.feed(FRAME4)
    sync.feed(ev(8123456789231, 8123456789250, 8123456789244))
    fresh = DepthSnapshot(8123456789240, [("96999.00", "1.000")], [("97002.00", "1.000")], limit=1000)
    assert sync.on_snapshot(fresh) is SyncAction.SYNCED
    assert sync.bids.levels(10) == [(969990, 1000)]
    assert sync.asks.levels(10) == [(970020, 1000)]


def test_reset_voids_the_chain_and_a_late_snapshot_is_ignored_when_synced() -> None:
    sync = synced_after_frame3()
    sync.reset()
    assert not sync.synced and sync.last_final_id is None and sync.buffered == 0
    synced = synced_after_frame3()
    assert synced.on_snapshot(SNAPSHOT) is SyncAction.NONE
    assert synced.bids.levels(10) == EXPECTED_BIDS


def test_failed_fetch_requests_again() -> None:
    sync = new_sync()
    assert sync.feed(FRAME2) is SyncAction.FETCH_SNAPSHOT
    assert sync.on_snapshot_failed() is SyncAction.FETCH_SNAPSHOT


# ---- decoding -------------------------------------------------------------------------------------------


def test_decode_combined_stream_frame() -> None:
    raw = json.dumps({"stream": "btcusdt@depth@100ms", "data": {
        "e": "depthUpdate", "E": 1732600000112, "T": 1732600000109, "s": "BTCUSDT", "U": 5, "u": 9, "pu": 4,
        "b": [["97000.00", "1.700"]], "a": [["97000.10", "1.900"]]}})
    symbol, event = decode_depth_frame(raw)
    assert symbol == "BTCUSDT"
    assert (event.first_id, event.final_id, event.prev_final_id, event.event_ms) == (5, 9, 4, 1732600000112)
    assert list(event.bids) == [("97000.00", "1.700")] and list(event.asks) == [("97000.10", "1.900")]
    with pytest.raises(msgspec.ValidationError):
        decode_depth_frame('{"result": null, "id": 1}')
    with pytest.raises(msgspec.DecodeError):
        decode_depth_frame("garbage")


def test_decode_snapshot_and_weights() -> None:
    body = b'{"lastUpdateId": 7, "E": 1, "T": 1, "bids": [["1.0", "2.000"]], "asks": []}'
    snapshot = decode_snapshot(body, 1000)
    assert snapshot.last_update_id == 7 and list(snapshot.bids) == [("1.0", "2.000")] and snapshot.limit == 1000
    with pytest.raises(SnapshotError):
        decode_snapshot(b"{}", 1000)
    assert depth_weight(1000) == 20 and depth_weight(100) == 5
    with pytest.raises(ValueError):
        depth_weight(7)


def test_symbol_mapping() -> None:
    assert binance_symbol("BTC") == "BTCUSDT"
    assert binance_symbol("eth") == "ETHUSDT"
    assert binance_symbol("BTC", override="btcusdc") == "BTCUSDC"
    assert market_for("btcusdt") == BinanceMarket("BTCUSDT", 1, 3)
    with pytest.raises(ValueError):
        market_for("NOPEUSDT")


def test_market_grid_from_exchange_info() -> None:
    assert [grid_decimals(x) for x in ("0.10", "0.001", "1", "0.50", "10")] == [1, 3, 0, 1, 0]
    body = json.dumps({"symbols": [
        {"symbol": "ETHUSDT", "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.01"},
                                          {"filterType": "LOT_SIZE", "stepSize": "0.001"}]},
        {"symbol": "SOLUSDT", "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.0100"},
                                          {"filterType": "LOT_SIZE", "stepSize": "1"}]},
    ]}).encode()
    assert market_from_exchange_info(body, "SOLUSDT") == BinanceMarket("SOLUSDT", 2, 0)
    with pytest.raises(SnapshotError):
        market_from_exchange_info(body, "XRPUSDT")


# ---- snapshot pacing ------------------------------------------------------------------------------------


def test_pacer_first_request_is_immediate_then_min_interval() -> None:
    pacer = SnapshotPacer(PacerSettings(limit=1000, min_interval_s=0.5, max_weight_per_minute=1000))
    assert pacer.delay(100.0) == 0.0
    pacer.on_request(100.0)
    assert pacer.delay(100.1) == pytest.approx(0.4)
    assert pacer.delay(101.0) == 0.0


def test_pacer_backs_off_on_failures_and_honours_retry_after() -> None:
    policy = BackoffPolicy(1.0, 8.0, jitter=0.0)
    pacer = SnapshotPacer(PacerSettings(min_interval_s=0.0, max_weight_per_minute=10_000, backoff=policy),
                          random.Random(3))
    pacer.on_failure(0.0)
    assert pacer.delay(0.0) == 1.0
    pacer.on_failure(1.0)
    assert pacer.delay(1.0) == 2.0
    pacer.on_failure(3.0, retry_after_s=30.0)
    assert pacer.delay(3.0) == 30.0
    pacer.on_success()
    pacer.on_failure(40.0)
    assert pacer.delay(40.0) == 1.0  # backoff restarted after the success


def test_pacer_waits_for_the_next_minute_when_the_ip_budget_is_nearly_spent() -> None:
    pacer = SnapshotPacer(PacerSettings(limit=1000, min_interval_s=0.0, ip_weight_per_minute=2400,
                                        ip_high_water=0.8))
    pacer.on_reported_weight(now=10.0, used_weight=1000, wall_s=125.0)
    assert pacer.delay(10.0) == 0.0  # plenty left
    pacer.on_reported_weight(now=10.0, used_weight=1910, wall_s=125.0)
    assert pacer.delay(10.0) == pytest.approx(55.0)  # until wall-clock second 180
    pacer.on_reported_weight(now=10.0, used_weight=None, wall_s=125.0)
    assert pacer.delay(10.0) == pytest.approx(55.0)


def test_pacer_keeps_snapshot_weight_within_the_rolling_minute() -> None:
    pacer = SnapshotPacer(PacerSettings(limit=1000, min_interval_s=0.0, max_weight_per_minute=60))
    for t in (0.0, 1.0, 2.0):  # 3 x 20 = 60: the budget is spent
        assert pacer.delay(t) == 0.0
        pacer.on_request(t)
    assert pacer.delay(3.0) == pytest.approx(57.0)  # until the request at t=0 leaves the minute
    assert pacer.delay(60.0) == 0.0
