"""A book rebuilt from the Lighter WS order_book stream equals the simulator's true book (/__sim/book):
after thousands of updates, after each injected fault and its resync, and with the synthetic market.

The client below is a small reference book-builder (not the bot's orderbook.py): it checks the
begin_nonce chain and crossed books, and resubscribes or reconnects as a client must.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import websockets

from sim.engine_types import CancelOrderTx, CreateOrderTx, Tier, TimeInForce, TxMeta
from sim.lighter_server import LighterServer
from sim.testing import SimHandle, start_simulator

pytestmark = pytest.mark.timeout(120)
BTC = 1
WAIT_S = 20.0


class ReferenceBookClient:
    """Subscribes to order_book/{market}, keeps the book and resyncs on gaps, crossed books and drops."""

    def __init__(self, ws_url: str, market_id: int) -> None:
        self.ws_url = ws_url
        self.market_id = market_id
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.nonce: int | None = None
        self.synced = False
        self.updates = self.snapshots = self.gaps = self.crossed = self.connections = 0
        self.update_nonces: list[tuple[int, int]] = []
        self._ws: Any = None

    async def run(self) -> None:
        channel = f"order_book/{self.market_id}"
        while True:
            try:
                async with websockets.connect(self.ws_url, max_size=None) as ws:
                    self._ws = ws
                    self.connections += 1
                    self.synced = False
                    async for raw in ws:
                        frame = json.loads(raw)
                        if frame.get("type") == "connected":
                            await ws.send(json.dumps({"type": "subscribe", "channel": channel}))
                        elif str(frame.get("type", "")).endswith("/order_book") and not self._apply(frame):
                            await self._resubscribe(ws, channel)
            except websockets.ConnectionClosed:
                await asyncio.sleep(0.05)  # the server dropped us: reconnect

    async def _resubscribe(self, ws: Any, channel: str) -> None:
        self.synced = False
        await ws.send(json.dumps({"type": "unsubscribe", "channel": channel}))
        await ws.send(json.dumps({"type": "subscribe", "channel": channel}))

    def _apply(self, frame: dict[str, Any]) -> bool:
        """Returns False when the book must be resynced."""
        book = frame["order_book"]
        if frame["type"] == "subscribed/order_book":
            assert book["begin_nonce"] == 0
            self.bids = {Decimal(level["price"]): Decimal(level["size"]) for level in book["bids"]}
            self.asks = {Decimal(level["price"]): Decimal(level["size"]) for level in book["asks"]}
            self.nonce, self.synced = book["nonce"], True
            self.snapshots += 1
            return True
        if not self.synced:
            return True  # updates still in flight from before the resubscription
        if book["begin_nonce"] != self.nonce:
            self.gaps += 1
            return False
        assert book["nonce"] > book["begin_nonce"]
        for side, levels in ((self.bids, book["bids"]), (self.asks, book["asks"])):
            for level in levels:
                price, size = Decimal(level["price"]), Decimal(level["size"])
                if size == 0:
                    side.pop(price, None)
                else:
                    side[price] = size
        self.update_nonces.append((book["begin_nonce"], book["nonce"]))
        self.nonce = book["nonce"]
        self.updates += 1
        if self.bids and self.asks and max(self.bids) >= min(self.asks):
            self.crossed += 1
            return False
        return True

    def levels(self) -> tuple[list[list[Decimal]], list[list[Decimal]]]:
        bids = [[p, self.bids[p]] for p in sorted(self.bids, reverse=True)]
        asks = [[p, self.asks[p]] for p in sorted(self.asks)]
        return bids, asks


def decimal_levels(levels: list[list[str]]) -> list[list[Decimal]]:
    return [[Decimal(price), Decimal(size)] for price, size in levels]


async def wait_for(predicate: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def assert_book_matches_truth(sim: SimHandle, client: ReferenceBookClient) -> dict[str, Any]:
    """The truth is taken at rest (nothing trades meanwhile); the client must reach its nonce and agree."""
    truth = await asyncio.to_thread(sim.book, client.market_id)
    await wait_for(lambda: client.synced and client.nonce == truth["nonce"], f"client at nonce {truth['nonce']}")
    bids, asks = client.levels()
    assert bids == decimal_levels(truth["bids"])
    assert asks == decimal_levels(truth["asks"])
    return truth


class Churn:
    """Seeded random resting-order flow of a few premium accounts, driven on the simulator's loop.

    Each step sends one to three creates/cancels straight to the engine and then publishes one book
    update (LighterFeeds.tick), so thousands of updates take seconds instead of minutes at 50 ms.
    """

    def __init__(self, server: LighterServer, seed: int, accounts: int = 8) -> None:
        self.server = server
        self.engine = server.engine
        self.rng = random.Random(seed)
        self.accounts = [self.engine.create_account(10**15, Tier.PREMIUM) for _ in range(accounts)]
        for account in self.accounts:
            self.engine.register_api_key(account, 0, "ab" * 40)
        self.live: list[tuple[int, int]] = []  # (account, order index)
        self.turn = 0

    def _meta(self, account: int) -> TxMeta:
        return TxMeta(account, 0, self.engine.next_nonce(account, 0))

    def _action(self, now_ns: int) -> None:
        account = self.accounts[self.turn % len(self.accounts)]
        self.turn += 1
        if self.live and self.rng.random() < 0.45:
            owner, order_index = self.live.pop(self.rng.randrange(len(self.live)))
            self.engine.cancel_order(now_ns, self._meta(owner), CancelOrderTx(BTC, order_index))
            return
        is_ask = self.rng.random() < 0.5
        distance = self.rng.randint(1, 80)
        price = 1_000_000 + distance if is_ask else 1_000_000 - distance
        tx = CreateOrderTx(market_index=BTC, client_order_index=0, base_amount=self.rng.randint(20, 400),
                           price=price, is_ask=is_ask, time_in_force=TimeInForce.GOOD_TILL_TIME,
                           order_expiry_ms=now_ns // 1_000_000 + 3_600_000)
        result = self.engine.create_order(now_ns, self._meta(account), tx)
        assert result.accepted, result
        assert result.order_index is not None
        self.live.append((account, result.order_index))

    async def run(self, steps: int) -> None:
        for step in range(steps):
            now_ns = time.time_ns()
            for _ in range(self.rng.randint(1, 3)):
                self._action(now_ns)
            self.server.feeds.tick()
            if step % 10 == 0:
                await asyncio.sleep(0.001)  # let the WS writers drain


@pytest.fixture()
def quiet_sim() -> Iterator[SimHandle]:
    with start_simulator(seed=11, with_market=False, with_binance=False) as handle:
        yield handle


def lighter_server(sim: SimHandle) -> LighterServer:
    server = sim.simulator_thread.simulator.lighter
    assert server is not None
    return server


async def start_client(sim: SimHandle) -> tuple[ReferenceBookClient, asyncio.Task[None]]:
    client = ReferenceBookClient(sim.lighter_ws_url, BTC)
    task = asyncio.get_running_loop().create_task(client.run())
    await wait_for(lambda: client.synced, "the first snapshot")
    return client, task


async def stop_client(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_book_rebuilt_from_thousands_of_updates_equals_the_truth(quiet_sim: SimHandle) -> None:
    server = lighter_server(quiet_sim)
    churn: Churn = await quiet_sim.simulator_thread.call_async(lambda: _make_churn(server, seed=1))
    client, task = await start_client(quiet_sim)
    try:
        await quiet_sim.simulator_thread.call_async(lambda: churn.run(2500))
        truth = await assert_book_matches_truth(quiet_sim, client)
        assert client.updates >= 2000 and client.gaps == 0 and client.crossed == 0
        assert truth["bids"] and truth["asks"]
        steps = {nonce - begin for begin, nonce in client.update_nonces}
        assert len(steps) > 5  # nonces advance by irregular steps
    finally:
        await stop_client(task)


async def _make_churn(server: LighterServer, seed: int) -> Churn:
    return Churn(server, seed)


async def test_book_resyncs_after_each_fault_and_equals_the_truth(quiet_sim: SimHandle) -> None:
    server = lighter_server(quiet_sim)
    thread = quiet_sim.simulator_thread
    churn: Churn = await thread.call_async(lambda: _make_churn(server, seed=2))
    client, task = await start_client(quiet_sim)
    try:
        await thread.call_async(lambda: churn.run(300))
        await assert_book_matches_truth(quiet_sim, client)

        # a skipped nonce: the next update does not chain; the client resubscribes
        quiet_sim.inject_fault("skip_nonce", market_id=BTC)
        await thread.call_async(lambda: churn.run(200))
        await assert_book_matches_truth(quiet_sim, client)
        assert client.gaps == 1 and client.snapshots == 2

        # a crossed book: the client notices and resubscribes
        quiet_sim.inject_fault("crossed_book", market_id=BTC)
        await thread.call_async(lambda: churn.run(200))
        await assert_book_matches_truth(quiet_sim, client)
        assert client.crossed == 1 and client.snapshots == 3

        # dropped connections: the client reconnects and gets a fresh snapshot
        quiet_sim.inject_fault("drop_connections")
        await wait_for(lambda: client.connections == 2 and client.synced, "the reconnection")
        await thread.call_async(lambda: churn.run(200))
        await assert_book_matches_truth(quiet_sim, client)

        # a stalled feed: silence, then the chain continues where it stopped (no gap)
        quiet_sim.inject_fault("stall_feed", seconds=1.5)
        nonce_before = client.nonce
        await thread.call_async(lambda: churn.run(50))
        assert client.nonce == nonce_before
        await wait_for(lambda: client.nonce != nonce_before, "the feed to resume after the stall")
        assert client.update_nonces[-1][0] == nonce_before  # one update carries the stalled changes
        await assert_book_matches_truth(quiet_sim, client)
        assert client.gaps == 1 and client.crossed == 1
    finally:
        await stop_client(task)


async def test_book_rebuilt_with_the_synthetic_market_equals_the_truth_when_frozen() -> None:
    with start_simulator(seed=21, with_market=True, with_binance=False) as sim:
        client, task = await start_client(sim)
        try:
            await wait_for(lambda: client.updates >= 10, "market-driven updates")
            await asyncio.to_thread(sim.set_market_running, False)
            await assert_book_matches_truth(sim, client)
            await asyncio.to_thread(sim.set_market_running, True)
            await wait_for(lambda: client.updates >= 20, "updates after resuming")
            await asyncio.to_thread(sim.set_market_running, False)
            await assert_book_matches_truth(sim, client)
            assert client.gaps == 0 and client.crossed == 0
        finally:
            await stop_client(task)
