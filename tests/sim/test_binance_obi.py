"""Binance OBI feed: sampling and alpha, the asyncio shell over sockets, and the simulator with its faults."""
from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from binance_samples import EXPECTED_ASKS, EXPECTED_BIDS, FRAME1, FRAME2, FRAME3, FRAME4, SNAPSHOT, ev
from ws_support import Running

from lmm.book.binance_depth import DepthEvent, DepthSnapshot
from lmm.book.book_side import PyBookSide, parse_scaled
from lmm.core.backoff import BackoffPolicy
from lmm.daemon.sampler import run_fixed_clock
from lmm.model.vol_obi import PyRollingStats
from lmm.venue.binance.market import BinanceMarket
from lmm.venue.binance.obi_feed import BinanceFeedSettings, BinanceObiFeed
from lmm.venue.binance.snapshot import PacerSettings

# ---- OBI sampling and alpha (no sockets: the sync is fed directly) ----------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now_ns = 1_000_000_000

    def __call__(self) -> int:
        return self.now_ns

    def advance(self, seconds: float) -> None:
        self.now_ns += round(seconds * 1e9)


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
    clock.advance(0.3)  # the last event (at the start) is now exactly stale_seconds old: still usable
    assert feed.alpha() is not None
    clock.now_ns += 1  # one nanosecond later it is withdrawn, and no sample is taken
    assert feed.alpha() is None and not feed.sample(clock())
    clock.advance(0.3)
    feed.on_frame(frame(ev(8123456789210, 8123456789220, 8123456789203, [("96999.00", "5.000")])), 0.0)
    assert feed.alpha() is None  # fresh again, but the last sample is older than stale_seconds
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
    values: dict[str, Any] = {
        "market": BinanceMarket("BTCUSDT", 1, 3), "ws_url": f"ws://{fake.base}", "rest_url": f"http://{fake.base}",
        "window_size": 50, "min_samples": 3, "stale_seconds": 0.5,
        "reconnect": BackoffPolicy(0.05, 0.2), "healthy_after_s": 0.0,
        "pacer": PacerSettings(limit=5, min_interval_s=0.0, max_weight_per_minute=1000,
                               backoff=BackoffPolicy(0.01, 0.05)),
    }
    values.update(overrides)
    return BinanceObiFeed(BinanceFeedSettings(**values), stats_factory=PyRollingStats, side_factory=PyBookSide,
                          rng=random.Random(9))


async def test_feed_syncs_resyncs_after_a_gap_and_reconnects(binance: ScriptedBinance) -> None:
    feed = live_feed(binance)
    task = asyncio.create_task(feed.run())
    clock = asyncio.create_task(run_fixed_clock(20_000_000, feed.sample))
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
        clock.cancel()
        await feed.close()
        await asyncio.wait_for(task, WAIT_S)


async def test_reconnect_backoff_back_at_base_once_depth_events_flow(binance: ScriptedBinance) -> None:
    base = 0.02
    feed = live_feed(binance, reconnect=BackoffPolicy(base, 1.0), healthy_after_s=3600.0)  # no uptime rule
    await binance.snapshots.put((200, snapshot_body(SNAPSHOT)))  # for the sync the depth event starts
    task = asyncio.create_task(feed.run())
    try:
        for connection in range(1, 4):
            await wait_until(lambda c=connection: len(binance.sockets) == c)
            if connection == 3:  # the only connection that delivers the subscribed stream
                await binance.push(FRAME1)
                await wait_until(lambda: feed.health().last_event_age_s is not None)
            await binance.sockets[-1].close()
        await wait_until(lambda: len(binance.sockets) == 4)
        first, second, third = feed.backoff_delays
        assert first <= base < second  # no event on the first two connections: the delay grows
        assert third <= base  # events flowed on the third: back at the base ceiling
    finally:
        await feed.close()
        await asyncio.wait_for(task, WAIT_S)


def test_settings_from_config(tmp_path: Any) -> None:
    from lmm.config.config import load_config

    path = tmp_path / "config.json"
    path.write_text("{}")
    config = load_config(path, env={})
    settings = BinanceFeedSettings.from_config(config, "BTC")
    assert settings is not None
    assert settings.market == BinanceMarket("BTCUSDT", 1, 3)
    assert (settings.window_size, settings.min_samples, settings.stale_seconds) == (6000, 150, 5.0)
    assert settings.looking_depth == 0.025
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


async def inject(venue: Any, kind: str, **params: Any) -> None:
    await asyncio.to_thread(venue.inject_fault, kind, **params)


async def test_sim_book_equals_truth_after_sync_and_after_each_fault(venue: Any) -> None:
    feed = sim_feed(venue)
    async with Running(feed):
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
        health = feed.health()
        assert health.resyncs == 5 and health.bad_frames == 0
        assert health.coverage is not None and min(health.coverage) > 0.025  # the sim book spans ±3 %


async def test_sim_exchange_info_gives_the_grid(venue: Any) -> None:
    import aiohttp

    from lmm.venue.binance.snapshot import fetch_market

    async with aiohttp.ClientSession() as session:
        assert await fetch_market(session, venue.binance_rest_url, "btcusdt") == BTC


class Sampled(Running):
    """Runs the feed with one owner of the fixed clock driving it, as the daemon does."""

    def __init__(self, feed: BinanceObiFeed, step_ns: int = 20_000_000) -> None:
        super().__init__(feed)
        self.ticks = 0
        self._step_ns = step_ns
        self._clock: asyncio.Task[None] | None = None

    def _tick(self, now_ns: int) -> None:
        self.ticks += 1
        self.manager.sample(now_ns)

    async def __aenter__(self) -> Sampled:
        await super().__aenter__()
        self._clock = asyncio.create_task(run_fixed_clock(self._step_ns, self._tick))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._clock is not None
        self._clock.cancel()
        await super().__aexit__(*exc)


async def test_the_feed_is_sampled_once_per_step_of_the_one_clock(venue: Any) -> None:
    feed = sim_feed(venue)
    async with Sampled(feed) as running:
        await wait_until(lambda: feed.alpha() is not None)
        await wait_until(lambda: running.ticks >= 100)
        # Each tick of the fixed clock samples exactly once; the feed never samples on a clock of its own
        # (it once did, so the z-score window covered half of its configured time).
        assert 0 < feed.health().samples <= running.ticks


async def test_sim_stall_withdraws_the_alpha_and_restores_it(venue: Any) -> None:
    feed = sim_feed(venue, recv_timeout=1.5)
    async with Sampled(feed):
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
