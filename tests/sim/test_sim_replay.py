# Replay mode (`python -m sim --binance-tape TAPE`) on the real tapes of ../shared/data: a client that syncs
# by the official futures procedure (REST snapshot, then WS diffs; the project's BinanceDepthSync) joins
# mid-tape and its book's top equals the tape's own bookTicker at every comparable update and the tape's
# book (replayed offline through the same book code) at every update it applied; the diffs carry the
# recorded U/u/pu; a REST snapshot is the tape's book at its lastUpdateId; the Lighter market follows
# the replayed mid with the configured lag.
# Rules: the simulator runs in its own thread on free ports; waits are on conditions with generous
# timeouts; everything random is seeded. Timings are measured and printed, never asserted.
from __future__ import annotations

import asyncio
import bisect
import contextlib
import importlib
import json
import queue
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from lmm.book.binance_depth import BinanceDepthSync, DepthEvent, DepthSnapshot, SyncAction
from lmm.venue.tape.hftbacktest import import_hftbacktest
from lmm.venue.tape.reader import open_tape
from sim.replay import ReplayConfig
from sim.replay_lighter import LighterLagParams
from sim.testing import SimHandle, start_simulator

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
if not DATA.is_dir():
    DATA = Path("/work/shared/data")
TAPES = {
    "usdm": ("binance-usdm-ethusdt-20240808.gz", "ETHUSDT", "/fapi/v1/depth"),
    "coinm": ("binance-coinm-btcusd_perp-20240808.gz", "BTCUSD_PERP", "/dapi/v1/depth"),
}
SPEED = 8.0
WINDOW_TAPE_S = 25.0  # compare over this much tape once synced
JOIN_AFTER_TAPE_S = 4.0  # the client connects this far into the replay (mid-tape)
TIMEOUT_S = 120.0

Top = tuple[int, int, int, int]  # best bid tick, its lots, best ask tick, its lots

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="the real tapes of ../shared/data are not here")


@pytest.fixture(scope="module")
def tape_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for name, (file_name, _, _) in TAPES.items():
        directory = tmp_path_factory.mktemp(f"tape-{name}") / "tape"
        import_hftbacktest(DATA / file_name, directory)
        out[name] = directory
    return out


# ---- the tape's own book, replayed offline through the project's book code -----------------------------


def _offline_tops(tape_dir: Path, symbol: str) -> Iterator[tuple[int, Top | None, BinanceDepthSync]]:
    """(u, top, book) after every diff applied on top of the tape's first snapshot."""
    tape = open_tape(tape_dir)
    info = next(i for i in tape.manifest.symbols if i.symbol == symbol)
    sync = BinanceDepthSync(info.price_decimals, info.size_decimals)
    for row in tape.events(kinds=["binance_depth", "binance_snapshot"], symbols=[symbol]):
        if row[2] == "binance_snapshot":
            if sync.synced:
                continue
            sync.on_snapshot(DepthSnapshot(row[6], list(zip(row[8], row[9], strict=True)),
                                           list(zip(row[10], row[11], strict=True)), 1000, in_ticks=True))
            continue
        before = sync.synced
        sync.feed(DepthEvent(row[5], row[6], row[7], row[4] // 1_000_000, list(zip(row[8], row[9], strict=True)),
                             list(zip(row[10], row[11], strict=True)), in_ticks=True))
        if sync.synced and before:
            yield row[6], _top(sync), sync


def _top(sync: BinanceDepthSync) -> Top | None:
    bid, ask = sync.bids.best(), sync.asks.best()
    if not sync.synced or sync.crossed:
        return None
    return bid, sync.bids.get(bid), ask, sync.asks.get(ask)


def _ticks(text: str, decimals: int) -> int:
    whole, _, fraction = text.partition(".")
    return int(whole + (fraction + "0" * decimals)[:decimals])


def _tape_diff_ids(tape_dir: Path, symbol: str) -> list[tuple[int, int, int]]:
    tape = open_tape(tape_dir)
    return [(r[5], r[6], r[7]) for r in tape.events(kinds=["binance_depth"], symbols=[symbol])]


# ---- the client -----------------------------------------------------------------------------------------


@dataclass
class SyncingClient:
    """REST snapshot + WS diffs by the official procedure (BinanceDepthSync), plus the bookTicker stream."""

    handle: SimHandle
    symbol: str
    depth_path: str
    diff_stream: str
    price_decimals: int
    size_decimals: int
    sync: BinanceDepthSync = field(init=False)
    tops: dict[int, Top | None] = field(default_factory=dict)  # u -> top, after every diff applied live
    tickers: dict[int, Top] = field(default_factory=dict)  # u -> the bookTicker's top
    diffs: list[tuple[int, int, int]] = field(default_factory=list)  # (U, u, pu) as received
    synced_e_ms: int | None = None
    last_e_ms: int = 0
    snapshots: int = 0

    def __post_init__(self) -> None:
        self.sync = BinanceDepthSync(self.price_decimals, self.size_decimals)

    def tape_seconds_synced(self) -> float:
        return 0.0 if self.synced_e_ms is None else (self.last_e_ms - self.synced_e_ms) / 1000 * SPEED

    async def run(self, session: aiohttp.ClientSession) -> None:
        lower = self.symbol.lower()
        url = f"{self.handle.binance_ws_url}/public/stream?streams={lower}@{self.diff_stream}/{lower}@bookTicker"
        fetch: asyncio.Task[None] | None = None
        async with session.ws_connect(url) as ws:
            async for message in ws:
                assert message.type is aiohttp.WSMsgType.TEXT, message
                frame = json.loads(message.data)
                data = frame["data"]
                if data["e"] == "bookTicker":
                    p, s = self.price_decimals, self.size_decimals
                    self.tickers[data["u"]] = (_ticks(data["b"], p), _ticks(data["B"], s), _ticks(data["a"], p),
                                               _ticks(data["A"], s))
                    continue
                self.diffs.append((data["U"], data["u"], data["pu"]))
                self.last_e_ms = data["E"]
                was_synced = self.sync.synced
                action = self.sync.feed(DepthEvent(data["U"], data["u"], data["pu"], data["E"], data["b"], data["a"]))
                if was_synced and self.sync.synced and self.sync.last_final_id == data["u"]:
                    self.tops[data["u"]] = _top(self.sync)
                if self.sync.synced and self.synced_e_ms is None:
                    self.synced_e_ms = data["E"]  # a snapshot newer than the buffer syncs on a later diff
                if action is SyncAction.FETCH_SNAPSHOT and (fetch is None or fetch.done()):
                    fetch = asyncio.get_running_loop().create_task(self._snapshot(session))
        if fetch is not None:
            fetch.cancel()

    async def _snapshot(self, session: aiohttp.ClientSession) -> None:
        self.snapshots += 1
        async with session.get(self.handle.binance_rest_url + self.depth_path,
                               params={"symbol": self.symbol, "limit": "1000"}) as response:
            assert response.status == 200, await response.text()
            body = await response.json()
        if self.sync.on_snapshot(DepthSnapshot(body["lastUpdateId"], body["bids"], body["asks"], 1000)) \
                is SyncAction.SYNCED:
            self.synced_e_ms = self.last_e_ms


async def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def _market(handle: SimHandle) -> Any:
    return handle.simulator_thread.simulator.market


# ---- tests ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("diff_stream", ["depth@0ms", "depth@100ms"])
@pytest.mark.parametrize("name", list(TAPES))
async def test_official_sync_mid_tape_equals_the_tapes_book_and_book_ticker(
        tape_dirs: dict[str, Path], name: str, diff_stream: str) -> None:
    _, symbol, depth_path = TAPES[name]
    tape_dir = tape_dirs[name]
    info = next(i for i in open_tape(tape_dir).manifest.symbols if i.symbol == symbol)
    config = ReplayConfig(str(tape_dir), speed=SPEED)
    with start_simulator(seed=5, with_market=True, replay=config) as handle:
        market = _market(handle)
        await wait_for(lambda: market.wall_ns(market.feed.local_anchor_ns + int(JOIN_AFTER_TAPE_S * 1e9))
                       <= time.time_ns(), "the replay to be under way")
        client = SyncingClient(handle, symbol, depth_path, diff_stream, info.price_decimals, info.size_decimals)
        async with aiohttp.ClientSession() as session:
            task = asyncio.get_running_loop().create_task(client.run(session))
            try:
                await wait_for(lambda: client.tape_seconds_synced() >= WINDOW_TAPE_S or task.done(),
                               f"{WINDOW_TAPE_S} s of tape after the sync")
                assert not task.done(), task.exception() if task.done() else None
                # one more snapshot: the tape's book as of its lastUpdateId (a diff's u)
                async with session.get(handle.binance_rest_url + depth_path,
                                       params={"symbol": symbol, "limit": "1000"}) as response:
                    snapshot = await response.json()
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    assert client.sync.counters.resyncs == 1 and client.sync.counters.gaps == 0
    assert client.snapshots == 1
    # the ids are the tape's: @0ms passes every diff unchanged, the batched stream merges consecutive ones
    tape_ids = _tape_diff_ids(tape_dir, symbol)
    finals = [u for _, u, _ in tape_ids]
    if diff_stream == "depth@0ms":
        start = tape_ids.index(client.diffs[0])
        assert client.diffs == tape_ids[start:start + len(client.diffs)]
    else:
        firsts = {first for first, _, _ in tape_ids}
        assert all(first in firsts and final in set(finals) for first, final, _ in client.diffs)
        assert all(prev[1] == cur[2] for prev, cur in zip(client.diffs, client.diffs[1:], strict=False))
    # the top of the synced book equals the tape's bookTicker where their u coincide ...
    comparable = sorted(set(client.tops) & set(client.tickers))
    mismatches = [(u, client.tops[u], client.tickers[u]) for u in comparable if client.tops[u] != client.tickers[u]]
    # ... and the tape's own book (offline, same book code) at every update the client applied
    reference: dict[int, Top | None] = {}
    snapshot_checked = False
    for u, top, sync in _offline_tops(tape_dir, symbol):
        if u in client.tops:
            reference[u] = top
        if u == snapshot["lastUpdateId"]:
            p, s = info.price_decimals, info.size_decimals
            for levels, side in ((snapshot["bids"], sync.bids), (snapshot["asks"], sync.asks)):
                assert [(_ticks(a, p), _ticks(b, s)) for a, b in levels] == [tuple(x) for x in side.levels(1000)]
            snapshot_checked = True
        if u >= max(max(client.tops), snapshot["lastUpdateId"]):
            break
    print(f"{name} {diff_stream}: {len(client.tops)} updates applied live, {len(comparable)} comparable bookTickers, "
          f"{len(mismatches)} mismatches, tape span {client.tape_seconds_synced():.1f} s")
    assert mismatches == []
    if diff_stream == "depth@0ms":  # a 100 ms batch ends on a bookTicker's u only now and then
        assert len(comparable) >= 10
    assert snapshot_checked
    assert set(reference) == set(client.tops)
    assert {u: client.tops[u] for u in reference} == reference
    assert snapshot["lastUpdateId"] in set(finals) | {tape_ids[0][1]}


def _lag_estimate_ms(samples: list[tuple[int, float, float]], max_ms: int = 1000, step_ms: int = 5) -> float:
    """The shift d minimising the mean squared gap between the Lighter mid at t and the Binance mid at
    t − d (the Binance mid read as a step function of the sampled times)."""
    times = [t for t, _, _ in samples]
    binance = [b for _, b, _ in samples]
    start = times[0] + max_ms * 1_000_000
    best_d, best_err = 0, float("inf")
    for d in range(0, max_ms + 1, step_ms):
        err = count = 0
        for t, _, lighter in samples:
            if t < start:
                continue
            index = bisect.bisect_right(times, t - d * 1_000_000) - 1
            err += (lighter - binance[index]) ** 2
            count += 1
        if err / count < best_err:
            best_d, best_err = d, err / count
    return best_d


async def _lighter_tracking(tape_dir: Path, lag_ms: float, seconds: float) -> tuple[float, list[int]]:
    lag = LighterLagParams(lag_mean_ms=lag_ms, lag_jitter_ms=lag_ms * 0.3, noise_bps=0.0)
    config = ReplayConfig(str(tape_dir), speed=4.0, lighter=lag)
    with start_simulator(seed=11, replay=config, lighter_touch_tolerance_bps=0.0, lighter_requote_interval_ms=20,
                         taker_informed_share=0.0) as handle:
        market = _market(handle)
        engine = handle.simulator_thread.simulator.engine
        market_id = market.lighter.market_id
        tick = 10.0 ** -engine.markets[market_id].price_decimals

        async def sample() -> tuple[list[tuple[int, float, float]], list[int]]:
            rows: list[tuple[int, float, float]] = []
            delivered: list[int] = []
            deadline = time.time_ns() + int(seconds * 1e9)
            while (now := time.time_ns()) < deadline:
                bid, ask = engine.best_bid_ask(market_id)
                if bid is not None and ask is not None:
                    rows.append((now, market.fair_price(market.feed.info.symbol), (bid + ask) * tick / 2))
                delivered.append(market.lighter.lagged.lag_ns)
                await asyncio.sleep(0.005)
            return rows, delivered

        rows, delivered = await handle.simulator_thread.call_async(sample)
    return _lag_estimate_ms(rows), delivered


async def test_lighter_follows_the_replayed_mid_with_the_configured_lag(tape_dirs: dict[str, Path]) -> None:
    short, short_delivered = await _lighter_tracking(tape_dirs["usdm"], 100.0, 12.0)
    long, _ = await _lighter_tracking(tape_dirs["usdm"], 400.0, 12.0)
    seen = sorted(short_delivered)
    print(f"Lighter lag estimate: {short:.0f} ms with lag 100 ms, {long:.0f} ms with lag 400 ms; lag in force "
          f"(lag 100 ms, jitter 30 ms): median {seen[len(seen) // 2] / 1e6:.0f} ms, 5-95 % "
          f"{seen[len(seen) // 20] / 1e6:.0f}-{seen[len(seen) * 19 // 20] / 1e6:.0f} ms over {len(seen)} samples")
    # the structure, not a timing: the Lighter book trails the Binance mid, by about the configured lag
    assert 50 <= short <= 250
    assert 300 <= long <= 650
    assert long - short >= 150


CONNECTORS = {"usdm": ("binance.um_futures", "UMFutures", "binance.websocket.um_futures.websocket_client",
                       "UMFuturesWebsocketClient"),
              "coinm": ("binance.cm_futures", "CMFutures", "binance.websocket.cm_futures.websocket_client",
                        "CMFuturesWebsocketClient")}


@pytest.mark.parametrize("name", list(TAPES))
def test_binances_own_connector_syncs_on_the_replay_and_its_top_is_the_tapes(tape_dirs: dict[str, Path],
                                                                             name: str) -> None:
    """Binance's official Python connector (binance-futures-connector: its WebSocket client subscribes with
    SUBSCRIBE on /ws, its REST client reads the depth snapshot), synced by the official procedure, on the
    replayed tape: the top of its book equals the tape's bookTicker at every comparable update and the tape's
    own book at every update it applied."""
    rest_module, rest_class, ws_module, ws_class = CONNECTORS[name]
    rest_client = getattr(importlib.import_module(rest_module), rest_class)
    ws_client = getattr(importlib.import_module(ws_module), ws_class)
    _, symbol, _ = TAPES[name]
    tape_dir = tape_dirs[name]
    info = next(i for i in open_tape(tape_dir).manifest.symbols if i.symbol == symbol)
    p, s = info.price_decimals, info.size_decimals
    frames: queue.Queue[str] = queue.Queue()
    sync = BinanceDepthSync(p, s)
    tops: dict[int, Top | None] = {}
    tickers: dict[int, Top] = {}
    with start_simulator(seed=5, with_market=True, replay=ReplayConfig(str(tape_dir), speed=SPEED)) as handle:
        client = ws_client(stream_url=handle.binance_ws_url, on_message=lambda _, text: frames.put(text))
        try:
            client.diff_book_depth(symbol=symbol.lower(), speed=0, id=1)
            client.book_ticker(symbol=symbol.lower(), id=2)
            synced_e_ms = last_e_ms = None
            deadline = time.monotonic() + TIMEOUT_S
            while synced_e_ms is None or (last_e_ms - synced_e_ms) / 1000 * SPEED < WINDOW_TAPE_S:
                assert time.monotonic() < deadline, "timed out waiting for the tape after the sync"
                try:
                    data = json.loads(frames.get(timeout=1.0))
                except queue.Empty:
                    continue
                if data.get("e") == "bookTicker":
                    tickers[data["u"]] = (_ticks(data["b"], p), _ticks(data["B"], s), _ticks(data["a"], p),
                                          _ticks(data["A"], s))
                elif data.get("e") == "depthUpdate":
                    last_e_ms = data["E"]
                    action = sync.feed(DepthEvent(data["U"], data["u"], data["pu"], data["E"], data["b"], data["a"]))
                    if action is SyncAction.FETCH_SNAPSHOT:
                        body = rest_client(base_url=handle.binance_rest_url).depth(symbol=symbol, limit=1000)
                        sync.on_snapshot(DepthSnapshot(body["lastUpdateId"], body["bids"], body["asks"], 1000))
                    if sync.synced and sync.last_final_id == data["u"]:
                        synced_e_ms = synced_e_ms or data["E"]
                        tops[data["u"]] = _top(sync)
        finally:
            client.stop()
    assert sync.counters.gaps == 0
    comparable = sorted(set(tops) & set(tickers))
    assert len(comparable) >= 10
    assert [(u, tops[u]) for u in comparable] == [(u, tickers[u]) for u in comparable]
    reference = {}
    for u, top, _ in _offline_tops(tape_dir, symbol):
        if u in tops:
            reference[u] = top
        if u >= max(tops):
            break
    assert reference == tops
