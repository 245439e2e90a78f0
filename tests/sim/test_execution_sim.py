"""MarketMaker's reconcile path against the simulator (quiet book): unknown orders are cancelled, vanished
orders cleared, an unknown send outcome pauses quoting until a reconcile resolves it, and repeated
venue rejections trip the breaker, which resumes after the cooldown and a clean reconcile.

The bot is built by the daemon's own start-up; its slots are driven through OrderManager.plan with
explicit targets (no model needed), and every transaction goes through the real TxSender."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from exec_support import bot_config, credentials, sim_orders, started_runtime, wait_until

import lmm.daemon.run as daemon
from lmm.core.intents import CancelOrder, CreateOrder
from lmm.core.market_maker import SEC, MarketMaker
from lmm.core.order_state import Side, SlotState
from lmm.core.outcomes import Outcome
from lmm.core.quoting import QuoteLevel, TargetQuotes
from sim.testing import SimHandle, start_simulator

pytestmark = pytest.mark.timeout(120)

GRACE_PASSED_NS = 11 * SEC  # beyond risk_reconcile.DEFAULT_GRACE_NS


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with start_simulator(seed=502, with_market=False) as handle:
        yield handle


def targets(bid: int = 600_000, ask: int = 9_000_000, size: int = 20) -> TargetQuotes:
    return TargetQuotes(bids=(QuoteLevel(bid, size),), asks=(QuoteLevel(ask, size),))


def plan(mm: MarketMaker, quotes: TargetQuotes | None) -> list:
    now = time.monotonic_ns()
    return mm.orders.plan(quotes, fair_tick=(600_000 + 9_000_000) / 2, quota=None, position_lots=0,
                          max_quota_ops=100, now_ns=now, now_ms=time.time_ns() // 1_000_000)


async def reconcile(rt: daemon.Runtime, after_ns: int = 0) -> list:
    raw = await rt.reader.active_orders(rt.market.market_id)
    cancels = rt.mm.reconcile(rt.mm.account.parse_orders(raw), time.monotonic_ns() + after_ns)
    if cancels:
        rt.mm.on_results(await rt.sender.send(cancels))
    return cancels


async def test_unknown_order_is_cancelled_and_vanished_order_cleared(sim: SimHandle, tmp_path: Path) -> None:
    account = sim.create_account(collateral="5000")
    async with started_runtime(bot_config(sim, tmp_path), account) as rt:
        mm = rt.mm
        intents = plan(mm, targets())
        mm.on_results(await rt.sender.send(intents))
        assert {s.state for s in mm.orders.slots.values()} == {SlotState.PLACING}
        assert await reconcile(rt) == []  # both found by client order index: PLACING -> LIVE
        assert {s.state for s in mm.orders.slots.values()} == {SlotState.LIVE}

        stray = CreateOrder(rt.market.market_id, 777, 20, 610_000, is_ask=False)  # not the bot's
        assert (await rt.sender.send([stray]))[0].ok
        cancels = await reconcile(rt)
        assert len(cancels) == 1
        remaining = await sim_orders(sim, account)
        assert 777 not in {o["client_order_index"] for o in remaining} and len(remaining) == 2

        # the bid vanishes behind the bot's back (no order feed is running to tell it)
        bid_slot = mm.orders.slots[(Side.BID, 0)]
        assert bid_slot.order_index is not None
        assert (await rt.sender.send([CancelOrder(rt.market.market_id, bid_slot.order_index.value)]))[0].ok
        assert await reconcile(rt) == []
        assert mm.orders.slots[(Side.BID, 0)].state is SlotState.LIVE  # within the grace period: not judged
        await reconcile(rt, after_ns=GRACE_PASSED_NS)
        assert mm.orders.slots[(Side.BID, 0)].state is SlotState.IDLE
        assert mm.orders.slots[(Side.ASK, 0)].state is SlotState.LIVE
        assert mm.stats.slots_cleared == 1 and mm.stats.orphans_cancelled == 1
    assert await sim_orders(sim, account) == []  # the daemon's shutdown path left nothing


async def test_unknown_outcome_pauses_quoting_until_reconciled(sim: SimHandle, tmp_path: Path) -> None:
    account = sim.create_account(collateral="5000")
    async with started_runtime(bot_config(sim, tmp_path), account) as rt:
        mm, sender = rt.mm, rt.sender
        sender._timeout = 0.3  # a send timeout shorter than the delayed acknowledgement below
        sim.inject_fault("delay_ack", delay_ms=1500, count=1)
        results = await sender.send(plan(mm, targets()))
        assert results[0].outcome is Outcome.UNKNOWN
        mm.on_results(results)
        assert "unknown outcome" in mm.pauses
        assert mm.compute_ops(1) == []  # paused (and nothing known to cancel): no new order goes out
        assert all(s.state is SlotState.PLACING for s in mm.orders.slots.values())
        assert await reconcile(rt) == []  # the orders did land: the reconcile adopts them
        assert {s.state for s in mm.orders.slots.values()} == {SlotState.LIVE}
        assert "unknown outcome" not in mm.pauses
        assert len(await sim_orders(sim, account)) == 2
        [result] = await sender.send([CreateOrder(rt.market.market_id, 778, 20, 610_000, is_ask=False)])
        assert result.ok  # the nonce was re-seeded after the unknown outcome


async def test_repeated_rejections_trip_the_breaker_which_recovers(sim: SimHandle, tmp_path: Path) -> None:
    account = sim.create_account(collateral="5000")
    config = bot_config(sim, tmp_path)
    async with started_runtime(config, account) as rt:
        mm = rt.mm
        assert config.safety.max_consecutive_order_rejections == 3
        # two creates per plan, each its own request over the WebSocket: six refusals cover three plans
        sim.inject_fault("reject_tx", count=6, code=21701, message="invalid order price")
        for _ in range(3):
            results = await rt.sender.send(plan(mm, targets()))
            assert results[0].outcome is Outcome.REJECTED
            mm.on_results(results)
            assert mm.orders.idle  # a refusal reverts the slots
        assert mm.breaker.trips == 1
        assert mm.breaker.status(time.monotonic_ns(), feeds_healthy=True).paused
        await reconcile(rt)  # clean, but still inside the cooldown
        assert mm.breaker.status(time.monotonic_ns(), feeds_healthy=True).waiting_for == ("cooldown",)
        await wait_until(lambda: not mm.breaker.status(time.monotonic_ns(), feeds_healthy=True).paused,
                         "the cooldown to pass", timeout_s=10)
        assert not mm.breaker.tripped
        mm.on_results(await rt.sender.send(plan(mm, targets())))
        assert len(await sim_orders(sim, account)) == 2


async def test_cancel_confirmation_waits_the_configured_settle_time(sim: SimHandle, tmp_path: Path) -> None:
    account = sim.create_account(collateral="5000")
    config = bot_config(sim, tmp_path, safety={"order_reconcile_timeout_sec": 3.5})
    async with started_runtime(config, account) as rt:
        rt.mm.on_results(await rt.sender.send(plan(rt.mm, targets())))
        assert len(await sim_orders(sim, account)) == 2
        started = time.monotonic()
        assert await daemon._cancel_leftovers(rt, "test", always_cancel=True, budget_s=30)
        # Listings come once a second; the one that confirms must be 3.5 s or more after the cancel-all.
        assert time.monotonic() - started >= 3.5
        assert await sim_orders(sim, account) == []


async def test_unconfirmed_shutdown_makes_the_exit_status_nonzero(
    sim: SimHandle, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    account = sim.create_account(collateral="5000")
    config = bot_config(sim, tmp_path)
    creds = credentials(account)
    assert await daemon.run_daemon(config, "BTC", creds, duration=0.5, stop=asyncio.Event()) == daemon.EXIT_OK
    # A budget shorter than one confirmation round: the cancel-all goes out but is never confirmed.
    short = bot_config(sim, tmp_path, safety={"shutdown_cancel_budget_sec": 1.0})
    status = await daemon.run_daemon(short, "BTC", creds, duration=0.5, stop=asyncio.Event())
    assert status == daemon.EXIT_FATAL
    assert "SHUTDOWN INCOMPLETE" in caplog.text
