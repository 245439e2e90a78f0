"""Quota recovery (quota_recovery.QuotaRecoveryRunner) and flatten (flatten.flatten_position) against the
simulator with its synthetic market: recovery never leaves a position it did not find, reduces (never
flips) one it found, and flatten closes a position and verifies it over REST."""
from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from exec_support import (
    BTC,
    bot_config,
    running_bot,
    set_quota,
    sim_position_lots,
    started_runtime,
    wait_until,
)
from params_support import default_params

import lmm.daemon.run as daemon
from lmm.core.ids import ClientOrderIndexAllocator
from lmm.core.intents import TIF_IOC, CreateOrder, UpdateLeverage
from lmm.core.pacing import Pacer
from lmm.core.quota_recovery_plan import Leg, RecoveryOrder, RecoveryParams
from lmm.core.quoting import max_position_usd
from lmm.daemon.flatten import FlattenParams, flatten_position, ioc_close_price
from lmm.daemon.quota_recovery import QuotaRecoveryRunner, RecoveryInputs
from sim.testing import SimHandle, start_simulator

pytestmark = pytest.mark.timeout(120)
SEC = 1_000_000_000


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with start_simulator(seed=504, with_market=True) as handle:
        yield handle


def runner_for(rt: daemon.Runtime, params: RecoveryParams) -> QuotaRecoveryRunner:
    mm = rt.mm

    def limit() -> float | None:
        book = mm.feed.book if mm.feed is not None else None
        if book is None or not book.valid:
            return None
        mid = (book.best_bid_tick + book.best_ask_tick) / 2
        return max_position_usd(mm.quoting, mm.rules, mm.capital(), time.monotonic_ns(), mm.rules.min_base_lots, mid)

    inputs = RecoveryInputs(book=lambda: mm.feed.book if mm.feed is not None else None,
                            volatility_usd_per_sqrt_s=lambda: mm.model.volatility,
                            max_position_usd=limit, warmed_up=lambda: True)
    return QuotaRecoveryRunner(params, rt.market, mm.rules, rt.sender, Pacer(0.05, premium=True),
                               mm.account, ClientOrderIndexAllocator(lane=7), inputs, interval_s=0.1)


async def first_order(runner: QuotaRecoveryRunner) -> RecoveryOrder:
    """Step until the planner sends something (a fresh synthetic book may be one-sided for a moment)."""
    reasons = []
    for _ in range(100):
        decision = await runner.step()
        if isinstance(decision, RecoveryOrder):
            return decision
        reasons.append(decision.reason)
        await asyncio.sleep(0.05)
    raise AssertionError(f"recovery never acted: {sorted(set(reasons))}")


FAST = replace(default_params().recovery, trigger_threshold=5, target_quota=50, max_attempts=2, max_loss_usd=20.0,
               cooldown_ns=0, post_warmup_grace_ns=0)


async def test_recovery_from_flat_round_trips_back_to_flat(sim: SimHandle, tmp_path: Path) -> None:
    account = sim.create_account(collateral="5000", tier="premium")
    await set_quota(sim, account.account_index, 2)
    async with started_runtime(bot_config(sim, tmp_path), account) as rt:
        assert rt.sender.volume_quota_remaining == 2  # learned from the leverage update's reply
        rt.mm.pause("test", "recovery only: the bot does not quote")
        async with running_bot(rt):
            await wait_until(lambda: rt.mm.feed.book.valid and rt.mm.account.position_known, "feeds")
            runner = runner_for(rt, FAST)
            decision = await first_order(runner)
            assert decision.leg is Leg.OPEN
            assert runner.state.round_trip_open and rt.mm.account.position_lots != 0
            seen_open = rt.mm.account.position_lots
            for _ in range(20):
                if not runner.state.round_trip_open:
                    break
                await runner.step()
            assert not runner.state.round_trip_open
            assert rt.mm.account.position_lots == 0
            assert await sim_position_lots(sim, account) == 0
            assert runner.stats.legs_sent == 2 and seen_open != 0
            assert await runner.close_round_trip()


async def test_recovery_reduces_a_found_position_and_never_flips_it(sim: SimHandle, tmp_path: Path) -> None:
    account = sim.create_account(collateral="5000", tier="premium")
    async with started_runtime(bot_config(sim, tmp_path), account) as rt:
        rt.mm.pause("test", "recovery only")
        async with running_bot(rt):
            await wait_until(lambda: rt.mm.feed.book.valid and rt.mm.account.position_known, "feeds")
            book = rt.mm.feed.book
            buy = CreateOrder(BTC, 4242, 300, math.ceil(book.best_ask_tick * 1.003), is_ask=False,
                              time_in_force=TIF_IOC, order_expiry=0)
            assert (await rt.sender.send([buy]))[0].ok
            await wait_until(lambda: rt.mm.account.position_lots > 0, "the long position")
            found = rt.mm.account.position_lots
            await set_quota(sim, account.account_index, 1)
            rt.sender.volume_quota_remaining = None
            assert (await rt.sender.send([UpdateLeverage(BTC, 2)]))[0].ok  # reports, never uses, quota
            await wait_until(lambda: rt.sender.volume_quota_remaining is not None, "quota report")
            runner = runner_for(rt, FAST)
            decision = await first_order(runner)
            assert decision.leg is Leg.REDUCE and decision.reduce_only
            assert 0 <= rt.mm.account.position_lots < found
            assert 0 <= await sim_position_lots(sim, account) < found


async def test_flatten_closes_a_short_position(sim: SimHandle, tmp_path: Path) -> None:
    account = sim.create_account(collateral="5000")
    async with started_runtime(bot_config(sim, tmp_path), account) as rt:
        rt.mm.pause("test", "flatten only")
        async with running_bot(rt):
            await wait_until(lambda: rt.mm.feed.book.valid and rt.mm.account.position_known, "feeds")
            book = rt.mm.feed.book
            sell = CreateOrder(BTC, 4244, 400, math.floor(book.best_bid_tick * 0.997), is_ask=True,
                               time_in_force=TIF_IOC, order_expiry=0)
            assert (await rt.sender.send([sell]))[0].ok
            await wait_until(lambda: rt.mm.account.position_lots < 0, "the short position")

            async def read_position() -> int:
                return await sim_position_lots(sim, account)

            async def read_touch() -> tuple[int, int] | None:
                b = rt.mm.feed.book
                return (b.best_bid_tick, b.best_ask_tick) if b.valid else None

            result = await flatten_position(rt.sender, rt.market, read_position, read_touch,
                                            ClientOrderIndexAllocator(lane=6), FlattenParams(max_attempts=4))
            assert result.flat and result.final_lots == 0 and result.start_lots < 0
            assert 1 <= result.attempts <= 4
            assert await sim_position_lots(sim, account) == 0


def test_close_price_moves_through_the_touch_in_proportion_to_price() -> None:
    assert ioc_close_price(5, (1_000_000, 1_000_100), 50.0) == 995_000  # long: sell 0.5 % under the bid
    assert ioc_close_price(-5, (1_000_000, 1_000_100), 50.0) == 1_005_101  # short: buy 0.5 % over the ask
    assert ioc_close_price(5, (3, 4), 50.0) == 2  # cheap market: still a positive price
