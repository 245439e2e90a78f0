"""TxSender with the real signer against the simulator: order lifecycle, nonce order under races, and
nonce recovery on every error path (rejection, 429, unknown outcome by timeout or lost connection)."""
from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import pytest
from exec_support import exchange_nonce, open_trader, sim_orders, wait_until

from lmm.core.intents import CancelOrder, CreateOrder, ModifyOrder
from lmm.core.outcomes import Outcome
from sim.testing import SimHandle, start_simulator

pytestmark = pytest.mark.timeout(120)

FAR_BID = 5_000_000  # $500,000.0 on a quiet book: far from anything, never fills
_client_ids = itertools.count(1_000)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with start_simulator(seed=501, with_market=False) as handle:
        yield handle


def bid(market_id: int, price: int = FAR_BID, size: int = 20) -> CreateOrder:
    return CreateOrder(market_id, next(_client_ids), size, price, is_ask=False)


@pytest.mark.parametrize("use_ws", [True, False], ids=["ws", "rest"])
async def test_create_modify_cancel_end_to_end(sim: SimHandle, use_ws: bool) -> None:
    account = sim.create_account(collateral="5000")
    async with open_trader(sim, account, use_ws=use_ws) as trader:
        market = trader.market.market_id
        create = CreateOrder(market, next(_client_ids), 20, 600_000, is_ask=False)
        [result] = await trader.sender.send([create])
        assert result.ok and result.via == ("ws" if use_ws else "rest")
        [order] = await sim_orders(sim, account)
        assert (order["client_order_index"], order["base_price"], order["base_size"]) == (
            create.client_order_index, 600_000, 20)

        modify = ModifyOrder(market, order["order_index"], 30, 590_000)
        [result] = await trader.sender.send([modify])
        assert result.ok
        [order] = await sim_orders(sim, account)
        assert (order["base_price"], order["base_size"]) == (590_000, 30)

        [result] = await trader.sender.send([CancelOrder(market, order["order_index"])])
        assert result.ok
        assert await sim_orders(sim, account) == []
        assert trader.nonces.next == await exchange_nonce(trader.session, sim, account)


async def test_many_concurrent_senders_reach_the_exchange_in_nonce_order(sim: SimHandle) -> None:
    account = sim.create_account(collateral="100000")
    async with open_trader(sim, account) as trader:
        market = trader.market.market_id
        start = trader.nonces.next
        creates = [bid(market, FAR_BID - i) for i in range(40)]
        batches = await asyncio.gather(*(trader.sender.send([c]) for c in creates))
        assert all(r.ok for batch in batches for r in batch), [r for b in batches for r in b if not r.ok]
        assert trader.sender.stats.nonce_refreshes == 0  # no invalid nonce forced a re-seed
        orders = await sim_orders(sim, account)
        assert {o["client_order_index"] for o in orders} == {c.client_order_index for c in creates}
        # the exchange executed them in the order the sender assigned nonces
        assert sorted(o["nonce"] for o in orders) == list(range(start, start + 40))

        # mixed batches and singles racing: cancels of half, modifies of the rest
        by_client = {o["client_order_index"]: o["order_index"] for o in orders}
        cancels = [[CancelOrder(market, by_client[c.client_order_index])] for c in creates[:20]]
        modifies = [[ModifyOrder(market, by_client[c.client_order_index], 25, c.price - 1)] for c in creates[20:30]]
        batch = [[ModifyOrder(market, by_client[c.client_order_index], 25, c.price - 1) for c in creates[30:]]]
        results = await asyncio.gather(*(trader.sender.send(ops) for ops in cancels + modifies + batch))
        assert all(r.ok for rs in results for r in rs)
        left = await sim_orders(sim, account)
        assert len(left) == 20 and all(o["base_size"] == 25 for o in left)
        assert trader.nonces.next == await exchange_nonce(trader.session, sim, account) == start + 40 + 40


async def test_rejected_transaction_gives_its_nonce_back(sim: SimHandle) -> None:
    account = sim.create_account(collateral="5000")
    async with open_trader(sim, account) as trader:
        market = trader.market.market_id
        before = trader.nonces.next
        sim.inject_fault("reject_tx", count=1, code=21739, message="not enough margin")
        [result] = await trader.sender.send([bid(market)])
        assert result.outcome is Outcome.REJECTED and result.code == 21739
        assert trader.nonces.next == before == await exchange_nonce(trader.session, sim, account)
        [result] = await trader.sender.send([bid(market)])
        assert result.ok
        assert len(await sim_orders(sim, account)) == 1


async def test_rate_limited_send_reseeds_the_nonce_and_the_next_send_succeeds(sim: SimHandle) -> None:
    account = sim.create_account(collateral="5000")
    async with open_trader(sim, account) as trader:
        market = trader.market.market_id
        sim.inject_fault("rate_limit", count=1)
        [result] = await trader.sender.send([bid(market)])
        assert result.outcome is Outcome.RATE_LIMITED and result.code == 23000
        assert trader.nonces.needs_refresh
        [result] = await trader.sender.send([bid(market)])
        assert result.ok
        assert trader.sender.stats.nonce_refreshes == 1
        assert len(await sim_orders(sim, account)) == 1
        assert trader.nonces.next == await exchange_nonce(trader.session, sim, account)


async def test_reply_after_the_timeout_is_unknown_then_the_nonce_is_reseeded(sim: SimHandle) -> None:
    account = sim.create_account(collateral="5000")
    async with open_trader(sim, account, timeout_s=0.3) as trader:
        market = trader.market.market_id
        sim.inject_fault("delay_ack", delay_ms=1500, count=1)
        landed = bid(market)
        [result] = await trader.sender.send([landed])
        assert result.outcome is Outcome.UNKNOWN
        assert trader.nonces.needs_refresh
        # the transaction did land: only a reconcile could tell
        assert [o["client_order_index"] for o in await sim_orders(sim, account)] == [landed.client_order_index]
        [result] = await trader.sender.send([bid(market)])
        assert result.ok and result.via == "ws"
        assert len(await sim_orders(sim, account)) == 2
        assert trader.ws is not None
        await wait_until(lambda: trader.ws.late_replies == 1, "the late reply to be dropped")
        [result] = await trader.sender.send([bid(market)])  # the late reply was not taken as this answer
        assert result.ok and len(await sim_orders(sim, account)) == 3


async def test_connection_lost_in_flight_is_unknown_and_rest_takes_over(sim: SimHandle) -> None:
    account = sim.create_account(collateral="5000")
    async with open_trader(sim, account, timeout_s=10.0) as trader:
        market = trader.market.market_id
        sim.inject_fault("delay_ack", delay_ms=8000, count=1)
        in_flight = asyncio.create_task(trader.sender.send([bid(market)]))
        await wait_until(lambda: trader.sender.lock.locked() and trader.ws is not None
                         and trader.ws.last_write_ns is not None, "the transaction to be written")
        await asyncio.to_thread(sim.inject_fault, "drop_connections")
        [result] = await asyncio.wait_for(in_flight, 5)
        assert result.outcome is Outcome.UNKNOWN
        [result] = await trader.sender.send([bid(market)])
        assert result.ok and result.via == "rest"
        assert len(await sim_orders(sim, account)) == 2
        assert trader.nonces.next == await exchange_nonce(trader.session, sim, account)
