# Tests of the simulated Binance USD-M depth server: a client following the official futures sync
# procedure rebuilds the true book (also after each injected fault), REST limits/weights/errors, routes,
# the combined-stream wrapper, method frames, server pings, and the U/u/pu chaining invariants.
# Rules: servers on 127.0.0.1 port 0; the market runs on the test's loop in simulated time (fast, seeded);
# waits are on conditions with generous timeouts, never on sleeps that hope.
from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from sim.binance_book import BinanceBook, BinanceEvent, BinanceSymbolSpec, DepthDiff
from sim.binance_server import BinanceServer, BinanceServerConfig, start_binance_server
from sim.market import SyntheticMarket
from sim.market_params import BTC_INSTRUMENT, MarketParams

SYMBOL = "BTCUSDT"
DIFF_STREAM = "btcusdt@depth@100ms"
SIM_STEP_NS = 100_000_000
TIMEOUT_S = 20.0
PARAMS = MarketParams(instruments=(BTC_INSTRUMENT,))


# ---- a client that follows the official futures procedure (binance-depth.md §4.1) ----------------------


def _ticks(price: str, decimals: int = 1) -> int:
    return round(float(price) * 10**decimals)


def _lots(qty: str) -> int:
    return round(float(qty) * 1000)


@dataclass
class LocalBook:
    """Sans-I/O local book: buffer, snapshot, straddle, pu chain. Levels keyed by integer ticks."""

    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)
    synced: bool = False
    buffer: list[dict[str, Any]] = field(default_factory=list)
    snapshot: dict[str, Any] | None = None
    want_snapshot: bool = False
    last_u: int | None = None
    applied: int = 0
    gaps: int = 0
    stale_snapshots: int = 0
    event_times: list[int] = field(default_factory=list)  # E of every event received

    def on_event(self, event: dict[str, Any]) -> None:
        self.event_times.append(event["E"])
        if self.synced:
            if event["pu"] != self.last_u:
                self.gaps += 1
                self.synced, self.buffer, self.snapshot, self.want_snapshot = False, [event], None, True
                return
            self._apply(event)
            return
        self.buffer.append(event)
        if self.snapshot is None:
            self.want_snapshot = True
        self._try_sync()

    def on_snapshot(self, snapshot: dict[str, Any]) -> None:
        self.snapshot = snapshot
        self._try_sync()

    def _try_sync(self) -> None:
        if self.snapshot is None:
            return
        last_id = self.snapshot["lastUpdateId"]
        self.buffer = [e for e in self.buffer if e["u"] >= last_id]
        if not self.buffer:
            return  # snapshot newer than every buffered event: wait for more events
        if self.buffer[0]["U"] > last_id:
            self.stale_snapshots += 1  # snapshot older than the buffer: fetch again
            self.snapshot, self.want_snapshot = None, True
            return
        self.bids = {_ticks(p): _lots(q) for p, q in self.snapshot["bids"]}
        self.asks = {_ticks(p): _lots(q) for p, q in self.snapshot["asks"]}
        first, *rest = self.buffer
        self.buffer, self.snapshot = [], None
        self.synced = True
        self._apply(first)
        for event in rest:
            self.on_event(event)

    def _apply(self, event: dict[str, Any]) -> None:
        for side, levels in ((self.bids, event["b"]), (self.asks, event["a"])):
            for price, qty in levels:
                lots = _lots(qty)
                if lots:
                    side[_ticks(price)] = lots
                else:
                    side.pop(_ticks(price), None)
        self.last_u = event["u"]
        self.applied += 1


class SyncClient:
    """The async shell around LocalBook: reads the stream, fetches snapshots, reconnects on close."""

    def __init__(self, session: aiohttp.ClientSession, server: BinanceServer) -> None:
        self._session = session
        self._server = server
        self.book = LocalBook()
        self.reconnects = 0
        self.snapshot_fetches = 0
        self._task: asyncio.Task[None] | None = None
        self._fetch: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        for task in (self._task, self._fetch):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _run(self) -> None:
        url = f"{self._server.ws_url}/public/stream?streams={DIFF_STREAM}"
        while True:
            async with self._session.ws_connect(url) as ws:
                async for message in ws:
                    if message.type is not aiohttp.WSMsgType.TEXT:
                        break
                    self.book.on_event(json.loads(message.data)["data"])
                    if self.book.want_snapshot and (self._fetch is None or self._fetch.done()):
                        self.book.want_snapshot = False
                        self._fetch = asyncio.get_running_loop().create_task(self._fetch_snapshot(self.book))
            self.reconnects += 1
            self.book = LocalBook()  # any reconnect invalidates everything: full resync

    async def _fetch_snapshot(self, book: LocalBook) -> None:
        self.snapshot_fetches += 1
        async with self._session.get(f"{self._server.url}/fapi/v1/depth",
                                     params={"symbol": SYMBOL, "limit": "1000"}) as response:
            assert response.status == 200, await response.text()
            snapshot = await response.json()
        if book is self.book:
            book.on_snapshot(snapshot)


# ---- fixtures -------------------------------------------------------------------------------------------


class MarketDriver:
    """Steps the market in simulated time as fast as the loop allows (100 ms of market time per turn)."""

    def __init__(self, market: SyntheticMarket, start_ns: int) -> None:
        self.market = market
        self.now_ns = start_ns
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            self.now_ns += SIM_STEP_NS
            self.market.step(self.now_ns)
            await asyncio.sleep(0)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@dataclass
class Venue:
    market: SyntheticMarket
    server: BinanceServer
    driver: MarketDriver
    session: aiohttp.ClientSession

    async def true_book(self) -> dict[str, Any]:
        async with self.session.get(f"{self.server.url}/__sim/book", params={"symbol": SYMBOL}) as response:
            assert response.status == 200
            return await response.json()


VenueFactory = Callable[..., Awaitable[Venue]]


@pytest.fixture
async def make_venue() -> AsyncIterator[VenueFactory]:
    created: list[Venue] = []

    async def factory(config: BinanceServerConfig | None = None, seed: int = 7, drive: bool = True) -> Venue:
        start_ns = time.time_ns()
        market = SyntheticMarket(None, PARAMS, seed=seed, start_ns=start_ns)
        server = await start_binance_server("127.0.0.1", 0, market, config)
        driver = MarketDriver(market, start_ns)
        if drive:
            driver.start()
        venue = Venue(market, server, driver, aiohttp.ClientSession())
        created.append(venue)
        return venue

    yield factory
    for venue in created:
        await venue.driver.stop()
        await venue.server.stop()
        await venue.session.close()


async def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def assert_rebuilt_equals_truth(venue: Venue, client: SyncClient) -> None:
    """Freeze the market, let the last batch arrive, and compare the client's book with the truth."""
    venue.market.running = False
    truth_id = venue.market.binance_books[SYMBOL].last_update_id
    await wait_for(lambda: client.book.synced and client.book.last_u == truth_id, "the client to catch up")
    truth = await venue.true_book()
    assert truth["lastUpdateId"] == client.book.last_u
    assert client.book.bids == {_ticks(p): _lots(q) for p, q in truth["bids"]}
    assert client.book.asks == {_ticks(p): _lots(q) for p, q in truth["asks"]}
    venue.market.running = True


# ---- sync and faults ------------------------------------------------------------------------------------


async def test_client_rebuilds_the_true_book_after_thousands_of_events(make_venue: VenueFactory) -> None:
    venue = await make_venue()
    client = SyncClient(venue.session, venue.server)
    client.start()
    try:
        await wait_for(lambda: client.book.synced and client.book.applied >= 2000, "2000 applied events", 60)
        await assert_rebuilt_equals_truth(venue, client)
        assert client.book.gaps == 0 and client.reconnects == 0
    finally:
        await client.stop()


@pytest.mark.parametrize("fault", ["binance_pu_gap", "binance_stale_snapshot", "binance_stall", "binance_close"])
async def test_client_resyncs_to_the_truth_after_fault(make_venue: VenueFactory, fault: str) -> None:
    venue = await make_venue()
    client = SyncClient(venue.session, venue.server)
    if fault == "binance_stale_snapshot":
        # the fault acts on the next snapshot a client fetches: arm it before the client connects
        book = venue.market.binance_books[SYMBOL]
        history_from_ns = book.now_ns
        await wait_for(lambda: book.now_ns > history_from_ns + 5 * 10**9, "a few seconds of book history")
        venue.server.inject_fault(fault, {"age_s": 3})
    client.start()
    try:
        await wait_for(lambda: client.book.synced and client.book.applied >= 50, "a first sync")
        if fault == "binance_pu_gap":
            venue.server.inject_fault(fault, {"symbol": SYMBOL})
            await wait_for(lambda: client.book.gaps == 1 and client.book.synced, "gap detection and resync")
        elif fault == "binance_stale_snapshot":
            assert client.book.stale_snapshots == 1 and client.snapshot_fetches >= 2
        elif fault == "binance_stall":
            book = venue.market.binance_books[SYMBOL]
            stall_end_ms = (book.now_ns + 5 * 10**9) // 10**6
            venue.server.inject_fault(fault, {"seconds": 5})
            await wait_for(lambda: client.book.event_times[-1] > stall_end_ms + 500, "events after the stall")
            times = client.book.event_times
            assert max(b - a for a, b in itertools.pairwise(times)) >= 5000  # silence, in event time
            assert client.book.gaps == 0  # the chain survives a stall
        else:
            venue.server.inject_fault(fault, {"code": 1001})
            await wait_for(lambda: client.reconnects == 1 and client.book.synced, "reconnect and resync")
        await assert_rebuilt_equals_truth(venue, client)
    finally:
        await client.stop()


# ---- REST -----------------------------------------------------------------------------------------------


async def test_depth_snapshot_limits_weights_and_order(make_venue: VenueFactory) -> None:
    venue = await make_venue(BinanceServerConfig(clock=lambda: 6000.5, weight_limit_per_minute=60))
    used = 0
    for limit, weight in ((5, 2), (10, 2), (20, 2), (50, 2), (100, 5), (1000, 20)):
        async with venue.session.get(f"{venue.server.url}/fapi/v1/depth",
                                     params={"symbol": SYMBOL, "limit": str(limit)}) as response:
            assert response.status == 200
            used += weight
            assert response.headers["X-MBX-USED-WEIGHT-1M"] == str(used)
            body = await response.json()
        assert set(body) == {"lastUpdateId", "E", "T", "bids", "asks"}
        assert 0 < len(body["bids"]) <= limit and 0 < len(body["asks"]) <= limit
        bid_prices = [float(p) for p, _ in body["bids"]]
        ask_prices = [float(p) for p, _ in body["asks"]]
        assert bid_prices == sorted(bid_prices, reverse=True) and ask_prices == sorted(ask_prices)
        assert bid_prices[0] < ask_prices[0]
        assert all(p.count(".") == 1 and len(p.split(".")[1]) == 2 for p, _ in body["bids"])
        assert body["T"] <= body["E"]
    # used = 33; the default limit (500) costs 10, then the next 1000-level request exceeds 60
    async with venue.session.get(f"{venue.server.url}/fapi/v1/depth", params={"symbol": SYMBOL}) as response:
        assert response.status == 200 and response.headers["X-MBX-USED-WEIGHT-1M"] == "43"
        assert len((await response.json())["bids"]) <= 500
    async with venue.session.get(f"{venue.server.url}/fapi/v1/depth",
                                 params={"symbol": SYMBOL, "limit": "1000"}) as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "60"  # the clock sits 0.5 s into its minute
        assert (await response.json())["code"] == -1003


@pytest.mark.parametrize(("query", "code"), [
    ({"symbol": SYMBOL, "limit": "7"}, -1130),
    ({"symbol": SYMBOL, "limit": "abc"}, -1100),
    ({"limit": "5"}, -1102),
    ({"symbol": "NOPEUSDT", "limit": "5"}, -1121),
])
async def test_depth_errors(make_venue: VenueFactory, query: dict[str, str], code: int) -> None:
    venue = await make_venue(drive=False)
    async with venue.session.get(f"{venue.server.url}/fapi/v1/depth", params=query) as response:
        assert response.status == 400
        assert (await response.json())["code"] == code


async def test_rest_429_fault(make_venue: VenueFactory) -> None:
    venue = await make_venue(drive=False)
    venue.server.inject_fault("binance_rest_429", {"count": 1, "retry_after_s": 7})
    url = f"{venue.server.url}/fapi/v1/depth"
    async with venue.session.get(url, params={"symbol": SYMBOL, "limit": "5"}) as response:
        assert response.status == 429 and response.headers["Retry-After"] == "7"
    async with venue.session.get(url, params={"symbol": SYMBOL, "limit": "5"}) as response:
        assert response.status == 200


async def test_unknown_fault_kind_is_rejected(make_venue: VenueFactory) -> None:
    venue = await make_venue(drive=False)
    with pytest.raises(ValueError, match="unknown Binance fault"):
        venue.server.inject_fault("binance_meteor", {})
    with pytest.raises(ValueError, match="seconds"):
        venue.server.inject_fault("binance_stall", {})


# ---- WebSocket routes, wrapper, methods -----------------------------------------------------------------


async def _next_text(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    message = await ws.receive(timeout=TIMEOUT_S)
    assert message.type is aiohttp.WSMsgType.TEXT, message
    return json.loads(message.data)


async def test_combined_stream_wrapper_and_raw_route(make_venue: VenueFactory) -> None:
    venue = await make_venue()
    url = f"{venue.server.ws_url}/public/stream?streams={DIFF_STREAM}/btcusdt@bookTicker/btcusdt@depth5@100ms"
    seen: set[str] = set()
    async with venue.session.ws_connect(url) as ws:
        while len(seen) < 3:
            frame = await _next_text(ws)
            assert set(frame) == {"stream", "data"}
            seen.add(frame["stream"])
            data = frame["data"]
            if frame["stream"] == "btcusdt@bookTicker":
                assert data["e"] == "bookTicker" and float(data["b"]) < float(data["a"])
            else:
                assert data["e"] == "depthUpdate" and data["s"] == SYMBOL and data["U"] <= data["u"]
            if frame["stream"] == "btcusdt@depth5@100ms":
                assert len(data["b"]) <= 5 and len(data["a"]) <= 5
    async with venue.session.ws_connect(f"{venue.server.ws_url}/ws/{DIFF_STREAM}") as ws:
        data = await _next_text(ws)
        assert data["e"] == "depthUpdate" and "pu" in data  # raw payload, no wrapper


async def test_subscribe_list_unsubscribe_and_errors(make_venue: VenueFactory) -> None:
    venue = await make_venue()
    async with venue.session.ws_connect(f"{venue.server.ws_url}/public/ws") as ws:
        await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": [DIFF_STREAM], "id": 1}))
        assert await _next_text(ws) == {"result": None, "id": 1}
        data = await _next_text(ws)
        assert data["e"] == "depthUpdate"
        await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
        reply = await _next_text(ws)
        while "id" not in reply:
            reply = await _next_text(ws)
        assert reply == {"result": [DIFF_STREAM], "id": 2}
        await ws.send_str(json.dumps({"method": "UNSUBSCRIBE", "params": [DIFF_STREAM], "id": 3}))
        reply = await _next_text(ws)
        while "id" not in reply:
            reply = await _next_text(ws)
        assert reply == {"result": None, "id": 3}
        await ws.send_str("not json")
        assert (await _next_text(ws))["code"] == 3  # nothing else is subscribed any more
        await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["no-at-sign"], "id": 4}))
        assert await _next_text(ws) == {"code": 2, "msg": "Invalid request: invalid stream name 'no-at-sign'",
                                        "id": 4}
        await ws.send_str(json.dumps({"method": "GET_PROPERTY", "params": ["combined"], "id": 5}))
        assert await _next_text(ws) == {"result": False, "id": 5}


async def test_wrong_route_is_acknowledged_then_silent(make_venue: VenueFactory) -> None:
    venue = await make_venue()
    async with venue.session.ws_connect(f"{venue.server.ws_url}/market/ws") as wrong, \
            venue.session.ws_connect(f"{venue.server.ws_url}/public/ws/{DIFF_STREAM}") as right:
        await wrong.send_str(json.dumps({"method": "SUBSCRIBE", "params": [DIFF_STREAM], "id": 9}))
        assert await _next_text(wrong) == {"result": None, "id": 9}
        for _ in range(10):  # ten events reach the right route meanwhile
            await _next_text(right)
        with pytest.raises(asyncio.TimeoutError):
            await wrong.receive(timeout=0.05)


async def test_server_pings_and_drops_clients_that_never_pong(make_venue: VenueFactory) -> None:
    venue = await make_venue(BinanceServerConfig(ping_interval_s=0.1, pong_timeout_s=0.5), drive=False)
    async with venue.session.ws_connect(f"{venue.server.ws_url}/public/ws", autoping=False) as ws:
        message = await ws.receive(timeout=TIMEOUT_S)
        assert message.type is aiohttp.WSMsgType.PING
        while message.type is aiohttp.WSMsgType.PING:  # never answered
            message = await ws.receive(timeout=TIMEOUT_S)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    async with venue.session.ws_connect(f"{venue.server.ws_url}/public/ws", autoping=True) as ws:
        # an answering client stays connected past several timeouts
        await wait_for(lambda: venue.server.connection_count == 1, "the connection")
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            with contextlib.suppress(asyncio.TimeoutError):
                message = await ws.receive(timeout=0.1)
                assert message.type is not aiohttp.WSMsgType.CLOSE
        assert not ws.closed


async def test_more_than_ten_messages_per_second_disconnects(make_venue: VenueFactory) -> None:
    venue = await make_venue(drive=False)
    async with venue.session.ws_connect(f"{venue.server.ws_url}/public/ws") as ws:
        for request_id in range(11):
            await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": request_id}))
        replies = 0
        while True:
            message = await ws.receive(timeout=TIMEOUT_S)
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            replies += 1
        assert replies == 10
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == 1008


# ---- the update-id engine, without sockets --------------------------------------------------------------


def test_diff_chains_snapshot_straddling_and_replay() -> None:
    start_ns = 1_800_000_000 * 10**9
    market = SyntheticMarket(None, PARAMS, seed=3, start_ns=start_ns)
    book = market.binance_books[SYMBOL]
    events: list[BinanceEvent] = []
    book.add_listener(events.append)
    rng = random.Random(5)
    snapshots = []
    now = start_ns
    for _ in range(3000):
        now += rng.randrange(3, 40) * 1_000_000
        market.step(now)
        if rng.random() < 0.02:
            snapshots.append((len(events), book.snapshot()))
    for cadence in (100, 250, 500):
        diffs = [e for e in events if isinstance(e, DepthDiff) and e.cadence_ms == cadence]
        assert len(diffs) > 100
        gaps = []
        for previous, event in itertools.pairwise(diffs):
            assert event.prev_final_update_id == previous.final_update_id
            assert previous.final_update_id < event.first_update_id <= event.final_update_id
            assert event.transaction_time_ms <= event.event_time_ms
            gaps.append(event.first_update_id - event.prev_final_update_id)
        assert min(gaps) >= 1 and max(gaps) > 1  # ids are not contiguous between events
        # every snapshot is straddled by the first event of the stream that reaches its id (U <= L <= u)
        for _, snapshot in snapshots:
            reaching = [e for e in diffs if e.final_update_id >= snapshot.last_update_id]
            if reaching:
                assert reaching[0].first_update_id <= snapshot.last_update_id
    market.running = False
    market.step(now + 10**9)  # a frozen market changes nothing but still flushes the pending batches
    position, snapshot = snapshots[0]
    bids, asks = dict(snapshot.bids), dict(snapshot.asks)
    for event in events[position:]:
        is_applicable = isinstance(event, DepthDiff) and event.final_update_id >= snapshot.last_update_id
        if is_applicable and event.cadence_ms == 100:
            for side, levels in ((bids, event.bids), (asks, event.asks)):
                for tick, lots in levels:
                    if lots:
                        side[tick] = lots
                    else:
                        side.pop(tick, None)
    truth = book.snapshot()
    last_diff = [e for e in events if isinstance(e, DepthDiff) and e.cadence_ms == 100][-1]
    assert last_diff.final_update_id == truth.last_update_id
    assert bids == dict(truth.bids) and asks == dict(truth.asks)


async def test_true_book_endpoint_with_band_sums(make_venue: VenueFactory) -> None:
    venue = await make_venue(drive=False)
    book = venue.market.binance_books[SYMBOL]
    async with venue.session.get(f"{venue.server.url}/__sim/book",
                                 params={"symbol": SYMBOL, "looking_depth": "0.025"}) as response:
        assert response.status == 200
        body = await response.json()
    band = book.band_sums(0.025)
    assert band is not None
    assert body["lastUpdateId"] == book.last_update_id
    assert len(body["bids"]) == len(book.bid_ticks()) and len(body["asks"]) == len(book.ask_ticks())
    assert body["band"] == {"lo": book.spec.format_price(band.lo_tick), "hi": book.spec.format_price(band.hi_tick),
                            "sum_bid": book.spec.format_qty(band.sum_bid),
                            "sum_ask": book.spec.format_qty(band.sum_ask)}
    async with venue.session.get(f"{venue.server.url}/__sim/book", params={"symbol": "XUSDT"}) as response:
        assert response.status == 400


def test_book_formats_prices_with_two_decimals_and_quantities_with_three() -> None:
    spec = BinanceSymbolSpec("BTCUSDT", price_decimals=1, qty_decimals=3)
    assert spec.format_price(970001) == "97000.10"
    assert spec.format_qty(1700) == "1.700"
    assert spec.format_qty(0) == "0.000"
    eth = BinanceSymbolSpec("ETHUSDT", price_decimals=2, qty_decimals=3)
    assert eth.format_price(300012) == "3000.12"


def test_band_sums_match_the_reference_example() -> None:
    """binance-depth.md §9.8: the book after frame 3 and its band sums."""
    spec = BinanceSymbolSpec("BTCUSDT", price_decimals=1, qty_decimals=3)
    book = BinanceBook(spec, first_update_id=100, start_ns=0)
    book.apply(1, 1, {970001: 50, 970000: 1700, 969999: 800, 969995: 3000, 969901: 12000},
               {970002: 900, 970010: 1100, 970025: 300, 970034: 600, 970100: 25000})
    wide = book.band_sums(0.025)
    assert wide is not None and (wide.lo_tick, wide.hi_tick, wide.sum_bid, wide.sum_ask) == (
        945752, 994251, 17550, 27900)
    narrow = book.band_sums(0.0001)
    assert narrow is not None and (narrow.lo_tick, narrow.hi_tick, narrow.sum_bid, narrow.sum_ask) == (
        969905, 970098, 5550, 2900)


async def test_partial_depth_is_the_true_top_of_book(make_venue: VenueFactory) -> None:
    venue = await make_venue()
    book = venue.market.binance_books[SYMBOL]
    async with venue.session.ws_connect(f"{venue.server.ws_url}/public/ws/btcusdt@depth5@100ms") as ws:
        await _next_text(ws)
        venue.market.running = False
        truth_id = book.last_update_id
        frame = await _next_text(ws)
        while frame["u"] < truth_id:
            frame = await _next_text(ws)
        top = book.snapshot(5)
        assert frame["u"] == truth_id
        assert frame["b"] == [[book.spec.format_price(t), book.spec.format_qty(q)] for t, q in top.bids]
        assert frame["a"] == [[book.spec.format_price(t), book.spec.format_qty(q)] for t, q in top.asks]


async def test_agg_trades_flow_on_the_market_route_only(make_venue: VenueFactory) -> None:
    venue = await make_venue()
    async with venue.session.ws_connect(f"{venue.server.ws_url}/market/ws/btcusdt@aggTrade") as market_ws, \
            venue.session.ws_connect(f"{venue.server.ws_url}/public/stream?streams=btcusdt@aggTrade/"
                                     f"{DIFF_STREAM}") as public_ws:
        trade = await _next_text(market_ws)
        assert trade["e"] == "aggTrade" and trade["s"] == SYMBOL and float(trade["q"]) > 0
        assert isinstance(trade["m"], bool)
        for _ in range(5):
            assert (await _next_text(public_ws))["stream"] == DIFF_STREAM  # aggTrade is silent on /public


async def test_connections_are_cut_at_the_end_of_their_lifetime(make_venue: VenueFactory) -> None:
    venue = await make_venue(BinanceServerConfig(max_connection_s=0.3), drive=False)
    async with venue.session.ws_connect(f"{venue.server.ws_url}/public/ws") as ws:
        message = await ws.receive(timeout=TIMEOUT_S)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == 1000
