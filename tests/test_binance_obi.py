"""Binance depth sync (pure), snapshot pacing (pure), OBI sampling and alpha, and the feed over sockets."""
from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import msgspec
import pytest
from aiohttp import web

from binance_book import BinanceDepthSync, DepthEvent, DepthSnapshot, SyncAction
from binance_obi import (
    BinanceFeedSettings,
    BinanceMarket,
    BinanceObiFeed,
    binance_symbol,
    decode_depth_frame,
    market_for,
)
from binance_snapshot import PacerSettings, SnapshotError, SnapshotPacer, decode_snapshot, depth_weight
from book_side import PyBookSide, parse_scaled
from reconnect import BackoffPolicy
from vol_obi import PyRollingStats

L = 8123456789150

SNAPSHOT = DepthSnapshot(
    last_update_id=L,
    bids=[("97000.00", "1.512"), ("96999.90", "0.800"), ("96999.50", "3.000"), ("96998.00", "0.250"),
          ("96990.10", "12.000")],
    asks=[("97000.10", "2.031"), ("97000.20", "0.004"), ("97001.00", "1.100"), ("97003.40", "0.600"),
          ("97010.00", "25.000")],
    limit=5,
)


def ev(first: int, final: int, prev: int, bids: Sequence[tuple[str, str]] = (),
       asks: Sequence[tuple[str, str]] = ()) -> DepthEvent:
    return DepthEvent(first, final, prev, 0, list(bids), list(asks))


# binance-depth.md §9.8: frame 1 is older than L, frame 2 straddles, frame 3 chains, frame 4 is a gap.
FRAME1 = ev(8123456789101, 8123456789140, 8123456789077, [("96999.90", "0.800")], [("97000.20", "0.004")])
FRAME2 = ev(8123456789146, 8123456789171, 8123456789140, [("97000.00", "1.700"), ("96998.00", "0.000")],
            [("97000.10", "1.900"), ("97002.50", "0.300")])
FRAME3 = ev(8123456789188, 8123456789203, 8123456789171, [("97000.10", "0.050")],
            [("97000.10", "0.000"), ("97000.20", "0.900")])
FRAME4 = ev(8123456789230, 8123456789244, 8123456789215, [], [("97001.00", "0.000")])

EXPECTED_BIDS = [(970001, 50), (970000, 1700), (969999, 800), (969995, 3000), (969901, 12000)]
EXPECTED_ASKS = [(970002, 900), (970010, 1100), (970025, 300), (970034, 600), (970100, 25000)]


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


def test_pacer_keeps_snapshot_weight_within_the_rolling_minute() -> None:
    pacer = SnapshotPacer(PacerSettings(limit=1000, min_interval_s=0.0, max_weight_per_minute=60))
    for t in (0.0, 1.0, 2.0):  # 3 x 20 = 60: the budget is spent
        assert pacer.delay(t) == 0.0
        pacer.on_request(t)
    assert pacer.delay(3.0) == pytest.approx(57.0)  # until the request at t=0 leaves the minute
    assert pacer.delay(60.0) == 0.0


# ---- OBI sampling and alpha (no sockets: the sync is fed directly) ----------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now_ns = 1_000_000_000

    def __call__(self) -> int:
        return self.now_ns

    def advance(self, seconds: float) -> None:
        self.now_ns += int(seconds * 1e9)


def offline_feed(clock: FakeClock, min_samples: int = 3, reset_on_resync: bool = True) -> BinanceObiFeed:
    settings = BinanceFeedSettings(
        market=BinanceMarket("BTCUSDT", 1, 3), ws_url="ws://127.0.0.1:9", rest_url="http://127.0.0.1:9",
        looking_depth=0.025, window_size=50, min_samples=min_samples, stale_seconds=0.5,
        reset_stats_on_resync=reset_on_resync,
    )
    return BinanceObiFeed(settings, stats_factory=PyRollingStats, side_factory=PyBookSide, clock_ns=clock)


def frame(event: DepthEvent) -> str:
    return json.dumps({"stream": "btcusdt@depth@100ms", "data": {
        "e": "depthUpdate", "E": 1, "T": 1, "s": "BTCUSDT", "U": event.first_id, "u": event.final_id,
        "pu": event.prev_final_id, "b": [list(x) for x in event.bids], "a": [list(x) for x in event.asks]}})


def drive_to_sync(feed: BinanceObiFeed) -> None:
    feed.on_frame(frame(FRAME1), 0.0)
    feed.on_frame(frame(FRAME2), 0.0)
    feed._act(feed.sync.on_snapshot(SNAPSHOT))
    feed.on_frame(frame(FRAME3), 0.0)


def test_alpha_needs_sync_warmup_and_freshness() -> None:
    clock = FakeClock()
    feed = offline_feed(clock)
    assert feed.alpha() is None and not feed.sample(clock())
    drive_to_sync(feed)
    for _ in range(2):
        assert feed.sample(clock())
        clock.advance(0.1)
    assert feed.alpha() is None  # two samples < min_samples
    assert feed.sample(clock())
    z, sample_ns = feed.alpha()  # type: ignore[misc]
    assert sample_ns == clock() and z == 0.0  # a constant imbalance has std 0: neutral alpha
    clock.advance(0.6)  # no event for longer than stale_seconds
    assert feed.alpha() is None and not feed.sample(clock())
    feed.on_frame(frame(ev(8123456789210, 8123456789220, 8123456789203, [("96999.00", "5.000")])), 0.0)
    assert feed.alpha() is None  # fresh again, but the last sample is old
    assert feed.sample(clock())
    z, _ = feed.alpha()  # type: ignore[misc]
    assert z > 0  # more bid depth than the window's mean


def test_gap_withdraws_alpha_and_resync_resets_the_window() -> None:
    clock = FakeClock()
    feed = offline_feed(clock, min_samples=2)
    drive_to_sync(feed)
    feed.sample(clock())
    clock.advance(0.1)
    feed.sample(clock())
    assert feed.alpha() is not None
    feed.on_frame(frame(FRAME4), 0.0)  # pu gap
    assert feed.alpha() is None and feed.health().gaps == 1 and feed._snapshot_wanted.is_set()
    feed.on_frame(frame(ev(8123456789245, 8123456789250, 8123456789244)), 0.0)
    fresh = DepthSnapshot(8123456789246, SNAPSHOT.bids, SNAPSHOT.asks, limit=1000)
    feed._act(feed.sync.on_snapshot(fresh))
    assert feed.sync.synced and feed.health().resyncs == 2
    assert feed.alpha() is None  # window reset: re-warming
    feed.sample(clock())
    clock.advance(0.1)
    feed.sample(clock())
    assert feed.alpha() is not None


def test_sample_value_is_the_band_imbalance_in_base_units() -> None:
    clock = FakeClock()
    pushed: list[float] = []

    class Spy(PyRollingStats):
        def push(self, x: float) -> bool:
            pushed.append(x)
            return super().push(x)

    settings = BinanceFeedSettings(market=BinanceMarket("BTCUSDT", 1, 3), ws_url="ws://x", rest_url="http://x",
                                   looking_depth=0.0001, stale_seconds=1.0)
    feed = BinanceObiFeed(settings, stats_factory=Spy, side_factory=PyBookSide, clock_ns=clock)
    drive_to_sync(feed)
    feed.sample(clock())
    assert pushed == [pytest.approx(2.65)]


def test_bad_and_control_frames_are_counted() -> None:
    feed = offline_feed(FakeClock())
    feed.on_frame("not json", 0.0)
    feed.on_frame('{"result": null, "id": 1}', 0.0)
    feed.on_frame('{"code": 2, "msg": "Invalid request"}', 0.0)
    health = feed.health()
    assert health.bad_frames == 1 and health.error_frames == 1
    assert feed.url() == "ws://127.0.0.1:9/public/stream?streams=btcusdt@depth@100ms"


# ---- the feed's asyncio shell against a scripted local Binance (aiohttp REST + WebSocket) ---------------

WAIT_S = 15.0


async def wait_until(predicate: Callable[[], bool], timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def snapshot_body(snapshot: DepthSnapshot) -> dict[str, Any]:
    return {"lastUpdateId": snapshot.last_update_id, "E": 1, "T": 1,
            "bids": [list(x) for x in snapshot.bids], "asks": [list(x) for x in snapshot.asks]}


class ScriptedBinance:
    """REST snapshots served from a queue; WS frames pushed by the test; every request recorded."""

    def __init__(self) -> None:
        self.snapshots: asyncio.Queue[tuple[int, dict[str, Any]]] = asyncio.Queue()
        self.snapshot_requests: list[dict[str, str]] = []
        self.sockets: list[web.WebSocketResponse] = []
        self.ws_paths: list[str] = []
        self.base = ""

    async def depth(self, request: web.Request) -> web.Response:
        self.snapshot_requests.append(dict(request.query))
        status, body = await self.snapshots.get()
        headers = {"Retry-After": "0"} if status == 429 else {}
        return web.json_response(body, status=status, headers=headers)

    async def stream(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.ws_paths.append(request.path_qs)
        self.sockets.append(ws)
        async for _ in ws:
            pass
        return ws

    async def push(self, event: DepthEvent) -> None:
        await self.sockets[-1].send_str(frame(event))


@pytest.fixture
async def binance() -> AsyncIterator[ScriptedBinance]:
    fake = ScriptedBinance()
    app = web.Application()
    app.router.add_get("/fapi/v1/depth", fake.depth)
    app.router.add_get("/public/stream", fake.stream)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.base = f"127.0.0.1:{port}"
    yield fake
    await runner.cleanup()


def live_feed(fake: ScriptedBinance, **overrides: Any) -> BinanceObiFeed:
    settings = BinanceFeedSettings(
        market=BinanceMarket("BTCUSDT", 1, 3), ws_url=f"ws://{fake.base}", rest_url=f"http://{fake.base}",
        window_size=50, min_samples=3, stale_seconds=0.5, step_ns=20_000_000,
        reconnect=BackoffPolicy(0.05, 0.2), healthy_after_s=0.0,
        pacer=PacerSettings(limit=5, min_interval_s=0.0, max_weight_per_minute=1000,
                            backoff=BackoffPolicy(0.01, 0.05)),
        **overrides,
    )
    return BinanceObiFeed(settings, stats_factory=PyRollingStats, side_factory=PyBookSide, rng=random.Random(9))


async def test_feed_syncs_resyncs_after_a_gap_and_reconnects(binance: ScriptedBinance) -> None:
    feed = live_feed(binance)
    task = asyncio.create_task(feed.run())
    try:
        await wait_until(lambda: len(binance.sockets) == 1)
        assert binance.ws_paths[0] == "/public/stream?streams=btcusdt@depth@100ms"
        await binance.push(FRAME1)
        await binance.push(FRAME2)
        await binance.snapshots.put((200, snapshot_body(SNAPSHOT)))
        await wait_until(lambda: feed.sync.synced)
        assert binance.snapshot_requests == [{"symbol": "BTCUSDT", "limit": "5"}]
        await binance.push(FRAME3)
        await wait_until(lambda: feed.sync.last_final_id == FRAME3.final_id)
        assert feed.sync.bids.levels(10) == EXPECTED_BIDS and feed.sync.asks.levels(10) == EXPECTED_ASKS

        # Keep events flowing so the book stays fresh, and wait for the alpha to warm up.
        u = FRAME3.final_id

        async def tick() -> None:
            nonlocal u
            await binance.push(ev(u + 1, u + 5, u))
            u += 5

        while feed.alpha() is None:
            await tick()
            await asyncio.sleep(0.02)
        assert feed.health().warm

        # A pu gap: the alpha goes at once; a throttled (429) snapshot, then a good one, resync.
        await binance.push(ev(u + 10, u + 20, u + 7))
        await wait_until(lambda: not feed.sync.synced)
        assert feed.alpha() is None
        await binance.snapshots.put((429, {"code": -1003, "msg": "too many requests"}))
        await wait_until(lambda: feed.health().snapshot_failures == 1)
        await binance.snapshots.put((200, snapshot_body(DepthSnapshot(u + 15, SNAPSHOT.bids, SNAPSHOT.asks, 5))))
        await wait_until(lambda: feed.sync.synced)
        assert feed.health().gaps == 1 and feed.health().resyncs == 2
        u += 20

        # A dropped connection: full resync on the new one.
        await binance.sockets[-1].close()
        await wait_until(lambda: len(binance.sockets) == 2)
        assert not feed.sync.synced and feed.alpha() is None
        await binance.push(ev(u + 100, u + 110, u + 90))
        await binance.snapshots.put((200, snapshot_body(DepthSnapshot(u + 105, SNAPSHOT.bids, SNAPSHOT.asks, 5))))
        await wait_until(lambda: feed.sync.synced)
        assert feed.health().reconnects == 1 and feed.health().resyncs == 3
    finally:
        await feed.close()
        await asyncio.wait_for(task, WAIT_S)


def test_settings_from_config(tmp_path: Any) -> None:
    from utils import load_config

    path = tmp_path / "config.json"
    path.write_text("{}")
    config = load_config(path, env={})
    settings = BinanceFeedSettings.from_config(config, "BTC")
    assert settings is not None
    assert settings.market == BinanceMarket("BTCUSDT", 1, 3)
    assert (settings.window_size, settings.min_samples, settings.stale_seconds) == (6000, 150, 5.0)
    assert settings.looking_depth == 0.025 and settings.step_ns == 100_000_000
    assert settings.stream_url() == "wss://fstream.binance.com/public/stream?streams=btcusdt@depth@100ms"
    assert settings.reconnect == BackoffPolicy(5.0, 60.0)
    off = load_config(path, env={"LMM_ALPHA_SOURCE": "none"})
    assert BinanceFeedSettings.from_config(off, "BTC") is None



# ---- against the simulator (sim/binance_server.py): truth oracle and faults --------------------------------

BTC = BinanceMarket("BTCUSDT", 1, 3)


@pytest.fixture
def venue() -> Any:
    from sim.testing import start_simulator

    with start_simulator(seed=2024, with_market=True) as handle:
        yield handle


def sim_feed(venue: Any, **overrides: Any) -> BinanceObiFeed:
    values: dict[str, Any] = {
        "market": BTC, "ws_url": venue.binance_ws_url, "rest_url": venue.binance_rest_url,
        "window_size": 200, "min_samples": 5, "stale_seconds": 0.5, "recv_timeout": 5.0,
        "reconnect": BackoffPolicy(0.05, 0.2), "healthy_after_s": 0.0,
        "pacer": PacerSettings(limit=1000, min_interval_s=0.0, max_weight_per_minute=2000,
                               backoff=BackoffPolicy(0.05, 0.2)),
    }
    values.update(overrides)
    return BinanceObiFeed(BinanceFeedSettings(**values), stats_factory=PyRollingStats, rng=random.Random(17))


async def true_book(venue: Any) -> dict[str, Any]:
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    url = f"{venue.binance_rest_url}/__sim/book?symbol=BTCUSDT"

    def get() -> dict[str, Any]:
        with opener.open(url, timeout=10) as response:
            return json.loads(response.read())

    return await asyncio.to_thread(get)


def as_levels(levels: list[list[str]]) -> list[tuple[int, int]]:
    return [(parse_scaled(price, BTC.price_decimals), parse_scaled(qty, BTC.size_decimals)) for price, qty in levels]


async def assert_book_matches_truth(venue: Any, feed: BinanceObiFeed) -> None:
    """Freeze the market, let the last events arrive, compare every level, then let the market run."""
    await asyncio.to_thread(venue.set_market_running, False)
    try:
        truth: dict[str, Any] = {}

        async def caught_up() -> bool:
            truth.update(await true_book(venue))
            return feed.sync.synced and feed.sync.last_final_id == truth["lastUpdateId"]

        deadline = time.monotonic() + WAIT_S
        while not await caught_up():
            assert time.monotonic() < deadline, "the feed never caught up with the frozen book"
            await asyncio.sleep(0.05)
        sync = feed.sync
        assert sync.bids.levels(len(sync.bids)) == as_levels(truth["bids"])
        assert sync.asks.levels(len(sync.asks)) == as_levels(truth["asks"])
    finally:
        await asyncio.to_thread(venue.set_market_running, True)


class RunningFeed:
    def __init__(self, feed: BinanceObiFeed) -> None:
        self.feed = feed
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> BinanceObiFeed:
        self.task = asyncio.create_task(self.feed.run())
        return self.feed

    async def __aexit__(self, *exc: object) -> None:
        await self.feed.close()
        assert self.task is not None
        await asyncio.wait_for(self.task, WAIT_S)


async def inject(venue: Any, kind: str, **params: Any) -> None:
    await asyncio.to_thread(venue.inject_fault, kind, **params)


async def test_sim_book_equals_truth_after_sync_and_after_each_fault(venue: Any) -> None:
    feed = sim_feed(venue)
    async with RunningFeed(feed):
        await wait_until(lambda: feed.sync.synced)
        await assert_book_matches_truth(venue, feed)

        # pu gap: detected, repaired within 2 s, book true again.
        await inject(venue, "binance_pu_gap")
        await wait_until(lambda: feed.health().gaps == 1)
        await wait_until(lambda: feed.sync.synced, timeout=2.0)
        await assert_book_matches_truth(venue, feed)

        # Stale snapshot on the resync after the next gap: refused (older than the buffer), fetched again.
        await inject(venue, "binance_stale_snapshot")
        await inject(venue, "binance_pu_gap")
        await wait_until(lambda: feed.health().gaps == 2)
        await wait_until(lambda: feed.health().snapshots_too_old == 1 and feed.sync.synced)
        await assert_book_matches_truth(venue, feed)

        # Throttled snapshot (HTTP 429 with Retry-After): counted, retried after the wait, synced.
        await inject(venue, "binance_rest_429", count=1, retry_after_s=1)
        await inject(venue, "binance_pu_gap")
        await wait_until(lambda: feed.health().snapshot_failures == 1 and feed.sync.synced)
        await assert_book_matches_truth(venue, feed)

        # Dropped connection: reconnect with backoff and a full resync.
        await inject(venue, "binance_close")
        await wait_until(lambda: feed.health().reconnects == 1 and feed.sync.synced)
        await assert_book_matches_truth(venue, feed)
        assert feed.health().resyncs == 5
        assert feed.health().bad_frames == 0


async def test_sim_stall_withdraws_the_alpha_and_restores_it(venue: Any) -> None:
    feed = sim_feed(venue, recv_timeout=1.5)
    async with RunningFeed(feed):
        await wait_until(lambda: feed.alpha() is not None)

        # Shorter than recv_timeout: the alpha goes once the last event is older than stale_seconds and
        # comes back with the next event; the chain is intact, so no resync and no reconnect.
        await inject(venue, "binance_stall", seconds=1.0)
        await wait_until(lambda: feed.alpha() is None)
        age = feed.health().last_event_age_s
        assert age is not None and age > feed.settings.stale_seconds
        await wait_until(lambda: feed.alpha() is not None)
        assert feed.health().reconnects == 0 and feed.health().gaps == 0

        # Longer than recv_timeout: the socket is deemed dead, reconnect, full resync, re-warm.
        await inject(venue, "binance_stall", seconds=2.5)
        await wait_until(lambda: feed.alpha() is None)
        await wait_until(lambda: feed.health().reconnects >= 1)
        await wait_until(lambda: feed.alpha() is not None)
        assert feed.health().resyncs >= 2 and feed.health().gaps == 0
