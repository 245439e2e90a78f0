"""The whole bot (daemon start-up, feeds, model, send loop, poller, shutdown) against the simulator with
its synthetic market: quotes stay uncrossed and the position within the dynamic limit under one-sided
flow, a 429 storm backs off and recovers, and a drained quota moves quota-consuming sends to the free
slot while cancels still go. Shutdown leaves no order of the account on the exchange."""
from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from exec_support import (
    BTC,
    best_touch,
    bot_config,
    open_trader,
    running_bot,
    set_quota,
    sim_orders,
    sim_position_lots,
    started_runtime,
    wait_until,
)

from lmm.core.intents import QUOTA_CONSUMING_TX, TIF_IOC, CreateOrder
from lmm.core.order_diff import effective_threshold_bps
from lmm.core.order_state import Side, SlotState
from lmm.core.pacing import FREE_SLOT_SECONDS
from lmm.core.risk import BackoffParams, RateLimitBackoff
from sim.testing import SimHandle, start_simulator

pytestmark = pytest.mark.timeout(120)
SEC = 1_000_000_000
_taker_ids = itertools.count(50_000)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with start_simulator(seed=503, with_market=True) as handle:
        yield handle


def both_sides_live(rt) -> bool:
    return all(slot.state is SlotState.LIVE for slot in rt.mm.orders.slots.values())


async def test_one_sided_flow_respects_the_limit_and_quotes_never_cross(sim: SimHandle, tmp_path: Path) -> None:
    account = sim.create_account(collateral="150")  # small: the dynamic limit binds after a few fills
    taker = sim.create_account(collateral="1000000")
    config = bot_config(sim, tmp_path, trading={"leverage": 2, "default_quote_update_threshold_bps": 2.0})
    async with started_runtime(config, account) as rt, running_bot(rt), open_trader(sim, taker) as lifter:
        mm = rt.mm
        await wait_until(lambda: both_sides_live(rt), "the bot to quote both sides")
        capital = mm.capital()
        assert capital is not None
        limit_reached = False
        most_lots = 0.0
        samples = 0
        deadline = time.monotonic() + 12
        while time.monotonic() < deadline and not (limit_reached and samples > 40):
            ask = mm.orders.slots[(Side.ASK, 0)]
            if ask.state is SlotState.LIVE:  # sweep the asks well through ours (it may be requoting meanwhile)
                sweep = CreateOrder(BTC, next(_taker_ids), 200_000, ask.price_tick * 101 // 100, is_ask=False,
                                    time_in_force=TIF_IOC, order_expiry=0)
                await lifter.sender.send([sweep])
            orders = await sim_orders(sim, account)
            bids = [o["base_price"] for o in orders if not o["is_ask"]]
            asks = [o["base_price"] for o in orders if o["is_ask"]]
            if bids and asks:
                assert max(bids) < min(asks), f"our quotes crossed: {orders}"
            position = await sim_position_lots(sim, account)
            bid_tick, ask_tick = best_touch(sim)
            mid = (bid_tick + ask_tick) / 2
            now = time.monotonic_ns()
            size = max((o["base_size"] for o in orders), default=mm.rules.min_base_lots)
            limit = mm.position_limit_usd(now, mid)  # M as the bot computes it (its reserve sized from equity)
            assert limit is not None
            # Every adding order counts as filled against M when it is placed (bot._within_limit). The sweeps
            # push the simulator's price (and its last-trade mark, hence the equity and M) around, so compare
            # in lots with the most the limit ever allowed: a position can grow past today's M through price
            # and losses, never through new orders. 2 % slack for the mid moving between placement and check.
            lots_per_usd = abs(size) / max(mm.rules.notional_usd(abs(size), mid), 1e-9)
            most_lots = max(most_lots, limit * lots_per_usd)
            assert abs(position) <= most_lots * 1.02, (position, most_lots, limit, mid)
            # at the limit: one more adding order, filled, would exceed it
            exposure = mm.rules.notional_usd(abs(position), mid)
            limit_reached = limit_reached or exposure + mm.rules.notional_usd(size, mid) > limit
            samples += 1
            await asyncio.sleep(0.05)
        assert limit_reached, "the flow never drove the position to the limit: the test proved nothing"
        assert mm.account.position_lots < 0

        def adding_side_suppressed() -> bool:  # short at the limit: no ask that could add exposure
            mid = sum(best_touch(sim)) / 2
            size = mm.rules.min_base_lots
            exposure = mm.rules.notional_usd(abs(mm.account.position_lots), mid)
            limit = mm.position_limit_usd(time.monotonic_ns(), mid)
            asks = [o for o in sim.orders(account.account_index) if o["is_ask"] and not o["reduce_only"]]
            return limit is not None and exposure + mm.rules.notional_usd(size, mid) > limit and not asks

        await wait_until(adding_side_suppressed, "the ask side to be withdrawn at the limit")
    assert await sim_orders(sim, account) == []


async def test_429_storm_backs_off_and_recovers(sim: SimHandle, tmp_path: Path) -> None:
    account = sim.create_account(collateral="5000")
    config = bot_config(sim, tmp_path, trading={"default_quote_update_threshold_bps": 1.0})
    async with started_runtime(config, account) as rt:
        mm = rt.mm
        mm.backoff = RateLimitBackoff(BackoffParams(base_ns=SEC // 2, max_ns=2 * SEC))  # short, same rules
        async with running_bot(rt):
            await wait_until(lambda: both_sides_live(rt), "the bot to quote both sides")
            pacer = rt.send_loop._pacer
            sim.inject_fault("rate_limit", count=6)
            await wait_until(lambda: mm.stats.rate_limited >= 1, "a 429 to reach the bot")
            assert mm.backoff.level >= 1
            assert pacer.backoff_until > time.monotonic() - 0.5  # the Pacer holds every send
            await wait_until(lambda: mm.backoff.level == 0, "the backoff to reset after clean sends")
            sent_after = rt.sender.stats.accepted
            await wait_until(lambda: rt.sender.stats.accepted > sent_after + 1 and both_sides_live(rt),
                             "quoting to resume")
            assert not mm.breaker.tripped  # 429s never count toward the breaker
            assert len(await sim_orders(sim, account)) == 2
    assert await sim_orders(sim, account) == []


def idle_sides(rt) -> int:
    return sum(slot.state is SlotState.IDLE for slot in rt.mm.orders.slots.values())


async def test_drained_quota_widens_threshold_and_uses_the_free_slot(sim: SimHandle, tmp_path: Path) -> None:
    account = sim.create_account(collateral="5000", tier="premium")
    config = bot_config(sim, tmp_path, trading={"default_quote_update_threshold_bps": 1.0})
    async with started_runtime(config, account) as rt:
        mm, sender = rt.mm, rt.sender
        sends: list[tuple[float, int, int, int | None]] = []  # (time, quota ops, cancels, quota before)
        real_send = sender.send_holding_lock  # every writer's send goes through it

        async def spy(intents):
            quota_ops = sum(1 for i in intents if i.tx_type in QUOTA_CONSUMING_TX)
            sends.append((time.monotonic(), quota_ops, len(intents) - quota_ops, sender.volume_quota_remaining))
            return await real_send(intents)

        sender.send_holding_lock = spy  # type: ignore[method-assign]
        await set_quota(sim, account.account_index, 3)
        async with running_bot(rt):
            await wait_until(lambda: both_sides_live(rt), "the bot to quote both sides")
            await wait_until(lambda: sender.volume_quota_remaining is not None and sender.volume_quota_remaining
                             < 10, "a reply reporting the drained quota")
            quota = mm.quota()
            assert quota is not None and quota < 10
            base = config.trading.default_quote_update_threshold_bps
            assert effective_threshold_bps(base, quota) > base  # the requote threshold widened
            pacer = rt.send_loop._pacer
            assert pacer.permit(time.monotonic(), quota).max_quota_ops <= 1

            mm.pause("test", "cancels go at once although the free slot is spent")
            await wait_until(lambda: mm.orders.idle, "the cancels to settle")
            assert await sim_orders(sim, account) == []
            resumed_at = time.monotonic()
            mm.resume("test")
            # both sides want an order again, but only one create per free slot may go out
            await wait_until(lambda: pacer.last_quota_send > resumed_at and not sender.lock.locked(),
                             "one side re-created in the free slot", timeout_s=FREE_SLOT_SECONDS + 10)
            assert idle_sides(rt) == 1
            assert pacer.permit(time.monotonic(), mm.quota()).max_quota_ops == 0
            watch_until = time.monotonic() + 2.0  # watch a while: the other side must stay idle
            while time.monotonic() < watch_until:
                assert idle_sides(rt) == 1
                await asyncio.sleep(0.1)
        drained = [(t, q, c) for t, q, c, before in sends if before is not None and before < 10]
        quota_times = [t for t, q, _ in drained if q]
        assert quota_times and all(q <= 1 for _, q, _ in drained), drained
        assert all(b - a >= FREE_SLOT_SECONDS - 0.5 for a, b in itertools.pairwise(quota_times)), quota_times
        assert any(c for _, _, c in drained), "no cancel went out while on the free slot"
    assert await sim_orders(sim, account) == []
