"""Lighter WebSocket protocol of the simulator: frames, errors, private channels, account feeds and
transactions over WS (reference §6)."""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import lighter
import pytest
import websockets

from sim.testing import SimAccount, SimHandle, start_simulator

pytestmark = pytest.mark.timeout(120)
BTC = 1
WAIT_S = 15.0


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with start_simulator(seed=77, with_market=False) as handle:
        yield handle


class Conn:
    """A raw WS connection that keeps every frame it receives."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.frames.append(json.loads(raw))
        except websockets.ConnectionClosed:
            pass

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def expect(self, predicate: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_S
        while True:
            for frame in self.frames:
                if predicate(frame):
                    return frame
            if time.monotonic() > deadline:
                raise AssertionError(f"no frame {what}; got {self.frames[-5:]}")
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        await self.ws.close()
        await self._reader


async def connect(sim: SimHandle) -> Conn:
    conn = Conn(await websockets.connect(sim.lighter_ws_url))
    await conn.expect(lambda f: f.get("type") == "connected", "connected")
    return conn


def typed(kind: str, channel: str | None = None) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f.get("type") == kind and (channel is None or f.get("channel") == channel)


def error_code(code: int) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f.get("type") == "error" and f.get("code") == code


def signer(sim: SimHandle, account: SimAccount) -> lighter.SignerClient:
    return lighter.SignerClient(url=sim.lighter_url, account_index=account.account_index,
                                api_private_keys={account.api_key_index: account.private_key})


async def test_connected_first_then_ping_pong_and_error_frames(sim: SimHandle) -> None:
    conn = await connect(sim)
    try:
        assert conn.frames[0]["type"] == "connected" and conn.frames[0]["session_id"]
        await conn.send({"type": "ping"})
        await conn.expect(typed("pong"), "pong")
        await conn.ws.send("{not json")
        await conn.expect(error_code(30000), "invalid json")
        await conn.send({"type": "dance"})
        await conn.expect(error_code(30001), "invalid type")
        await conn.send({"type": "subscribe", "channel": "order_book/77"})
        await conn.expect(error_code(30005), "invalid channel")
        await conn.send({"type": "subscribe", "channel": "order_book/1"})
        snapshot = await conn.expect(typed("subscribed/order_book", "order_book:1"), "book snapshot")
        assert snapshot["order_book"]["begin_nonce"] == 0 and "offset" in snapshot
        await conn.send({"type": "subscribe", "channel": "order_book/1"})
        await conn.expect(error_code(30003), "already subscribed")
        await conn.send({"type": "unsubscribe", "channel": "ticker/1"})
        await conn.expect(error_code(30002), "not subscribed")
    finally:
        await conn.close()


async def test_server_pings_and_drops_silent_clients(sim: SimHandle) -> None:
    server = sim.simulator_thread.simulator.lighter
    assert server is not None
    conn = await connect(sim)
    try:
        async def ping_all() -> None:
            server.ws.keepalive()

        await sim.simulator_thread.call_async(ping_all)
        await conn.expect(typed("ping"), "server ping")

        async def age_sessions() -> None:
            for session in server.hub.sessions.values():
                session.last_received_s -= 121.0
            server.ws.keepalive()

        await sim.simulator_thread.call_async(age_sessions)
        await asyncio.wait_for(conn.ws.wait_closed(), WAIT_S)
    finally:
        await conn.close()


async def test_private_channels_need_a_token_of_the_same_account(sim: SimHandle) -> None:
    account, other = sim.create_account(), sim.create_account()
    client = signer(sim, account)
    conn = await connect(sim)
    try:
        channel = f"account_all_orders/{account.account_index}"
        await conn.send({"type": "subscribe", "channel": channel})
        await conn.expect(error_code(30012), "auth required")
        foreign = signer(sim, other)
        token_of_other, _ = foreign.create_auth_token_with_expiry(600, api_key_index=other.api_key_index)
        await foreign.close()
        conn.frames.clear()
        await conn.send({"type": "subscribe", "channel": channel, "auth": token_of_other})
        await conn.expect(error_code(30012), "foreign token rejected")
        token, _ = client.create_auth_token_with_expiry(600, api_key_index=account.api_key_index)
        await conn.send({"type": "subscribe", "channel": channel, "auth": token})
        frame = await conn.expect(typed("subscribed/account_all_orders"), "private snapshot")
        assert frame["channel"] == f"account_all_orders:{account.account_index}" and frame["orders"] == {}
        # public account channels need no token
        await conn.send({"type": "subscribe", "channel": f"account_all/{account.account_index}"})
        await conn.expect(typed("subscribed/account_all"), "account_all snapshot")
    finally:
        await conn.close()
        await client.close()


async def test_account_channels_report_the_order_lifecycle_and_fills(sim: SimHandle) -> None:
    maker_account, taker_account = sim.create_account(), sim.create_account()
    maker, taker = signer(sim, maker_account), signer(sim, taker_account)
    index = maker_account.account_index
    conn = await connect(sim)
    try:
        token, _ = maker.create_auth_token_with_expiry(600, api_key_index=maker_account.api_key_index)
        for channel in (f"account_all_orders/{index}", f"account_orders/{BTC}/{index}",
                        f"account_all_positions/{index}", f"account_all_trades/{index}"):
            await conn.send({"type": "subscribe", "channel": channel, "auth": token})
        for channel in (f"user_stats/{index}", f"trade/{BTC}", f"ticker/{BTC}"):
            await conn.send({"type": "subscribe", "channel": channel})
        await conn.expect(typed("subscribed/user_stats"), "user_stats snapshot")

        _, response, error = await maker.create_order(BTC, 11, 1000, 1_100_000, True, maker.ORDER_TYPE_LIMIT,
                                                       maker.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME)
        assert error is None and response.code == 200
        opened = await conn.expect(typed("update/account_all_orders"), "open order")
        order = opened["orders"][str(BTC)][0]
        assert (order["status"], order["client_order_index"], order["price"]) == ("open", 11, "110000.0")
        per_market = await conn.expect(typed("update/account_orders"), "account_orders update")
        assert per_market["channel"] == f"account_orders:{BTC}" and per_market["account"] == index
        await conn.expect(lambda f: f.get("type") == "update/ticker" and f["ticker"]["a"]["price"] == "110000.0",
                          "the ask on the ticker")

        _, response, error = await taker.create_order(BTC, 12, 1000, 1_100_000, False, taker.ORDER_TYPE_LIMIT,
                                                      taker.ORDER_TIME_IN_FORCE_IMMEDIATE_OR_CANCEL, order_expiry=0)
        assert error is None and response.code == 200
        await conn.expect(lambda f: f.get("type") == "update/account_all_orders"
                          and f["orders"][str(BTC)][0]["status"] == "filled", "filled order")
        positions = await conn.expect(typed("update/account_all_positions"), "position update")
        assert positions["positions"][str(BTC)]["sign"] == -1
        assert positions["positions"][str(BTC)]["position"] == "0.01000"
        fills = await conn.expect(typed("update/account_all_trades"), "fill")
        assert fills["trades"][str(BTC)][0]["price"] == "110000.0"
        stats = await conn.expect(typed("update/user_stats"), "user_stats update")
        assert stats["stats"]["collateral"] == "9999.956000"  # 0.4 bp maker fee on 1100 USDC
        trade = await conn.expect(typed("update/trade"), "public trade")
        assert trade["trades"][0]["size"] == "0.01000" and trade["trades"][0]["is_maker_ask"] is True
    finally:
        await conn.close()
        await maker.close()
        await taker.close()


async def test_transactions_over_ws_reply_with_the_request_id(sim: SimHandle) -> None:
    account = sim.create_account()
    client = signer(sim, account)
    key = account.api_key_index
    conn = await connect(sim)
    try:
        def signed(client_index: int, nonce: int) -> dict[str, Any]:
            tx_type, tx_info, _, error = client.sign_create_order(
                BTC, client_index, 1000, 900_000 - client_index, False, client.ORDER_TYPE_LIMIT,
                client.ORDER_TIME_IN_FORCE_POST_ONLY, nonce=nonce, api_key_index=key)
            assert error is None
            return {"tx_type": tx_type, "tx_info": tx_info}

        first = signed(1, 0)
        await conn.send({"type": "jsonapi/sendtx",
                         "data": {"id": "q-1", "tx_type": first["tx_type"], "tx_info": json.loads(first["tx_info"])}})
        reply = await conn.expect(lambda f: f.get("id") == "q-1", "reply q-1")
        assert reply["type"] == "jsonapi/sendtx" and reply["code"] == 200 and len(reply["tx_hash"]) == 80

        stale = signed(2, 0)
        await conn.send({"type": "jsonapi/sendtx",
                         "data": {"id": "q-2", "tx_type": stale["tx_type"], "tx_info": json.loads(stale["tx_info"])}})
        rejected = await conn.expect(lambda f: f.get("id") == "q-2", "reply q-2")
        assert rejected["error"] == {"code": 21104, "message": "invalid nonce"}

        batch = [signed(3, 1), signed(4, 2)]
        await conn.send({"type": "jsonapi/sendtxbatch", "data": {
            "id": "b-1", "tx_types": json.dumps([t["tx_type"] for t in batch]),
            "tx_infos": json.dumps([t["tx_info"] for t in batch])}})
        batch_reply = await conn.expect(lambda f: f.get("id") == "b-1", "batch reply")
        assert batch_reply["type"] == "jsonapi/sendtxbatch" and len(batch_reply["tx_hash"]) == 2

        # a delayed acknowledgement arrives after a later one; ids keep them apart
        sim.inject_fault("delay_ack", delay_ms=300, count=1)
        slow, fast = signed(5, 3), signed(6, 4)
        await conn.send({"type": "jsonapi/sendtx", "data": {"id": "slow", **slow}})
        await conn.send({"type": "jsonapi/sendtx", "data": {"id": "fast", **fast}})
        await conn.expect(lambda f: f.get("id") == "slow", "the delayed reply")
        ids = [f.get("id") for f in conn.frames if f.get("id") in ("slow", "fast")]
        assert ids == ["fast", "slow"]
        assert {o["client_order_index"] for o in sim.orders(account.account_index)} == {1, 3, 4, 5, 6}
    finally:
        await conn.close()
        await client.close()


async def test_rejected_transactions_fault_keeps_the_nonce() -> None:
    with start_simulator(seed=78, with_market=False) as sim:
        account = sim.create_account()
        client = signer(sim, account)
        try:
            sim.inject_fault("reject_tx", count=1, code=21739, message="not enough margin to create the order")
            _, response, error = await client.create_order(BTC, 1, 1000, 900_000, False, client.ORDER_TYPE_LIMIT,
                                                           client.ORDER_TIME_IN_FORCE_POST_ONLY)
            assert response is None and "code=21739" in error
            nonce = await lighter.TransactionApi(client.api_client).next_nonce(
                account_index=account.account_index, api_key_index=account.api_key_index)
            assert nonce.nonce == 0
            _, response, error = await client.create_order(BTC, 1, 1000, 900_000, False, client.ORDER_TYPE_LIMIT,
                                                           client.ORDER_TIME_IN_FORCE_POST_ONLY)
            assert error is None and response.code == 200
        finally:
            await client.close()
