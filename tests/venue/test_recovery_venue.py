"""Quota recovery (quota_recovery.QuotaRecoveryRunner) and flatten (flatten.flatten_position) on the local venue
in virtual time, with the synthetic market: recovery never leaves a position it did not find, reduces (never
flips) one it found, and flatten closes a position and verifies it against the venue."""
from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from pathlib import Path

from params_support import default_params
from venue_support import BTC, LocalBot, set_quota, venue_config, with_local_bot

from lmm.config.config import Config
from lmm.core.ids import ClientOrderIndexAllocator
from lmm.core.intents import TIF_IOC, CreateOrder, UpdateLeverage
from lmm.core.pacing import Pacer
from lmm.core.quota_recovery_plan import Leg, RecoveryOrder, RecoveryParams
from lmm.core.quoting import max_position_usd
from lmm.daemon.flatten import FlattenParams, flatten_position
from lmm.daemon.quota_recovery import QuotaRecoveryRunner, RecoveryInputs
from lmm.venue.local.venue import LocalVenue

FAST = replace(default_params().recovery, trigger_threshold=5, target_quota=50, max_attempts=2, max_loss_usd=20.0,
               cooldown_ns=0, post_warmup_grace_ns=0)


def runner_for(bot: LocalBot, params: RecoveryParams) -> QuotaRecoveryRunner:
    rt, mm = bot.rt, bot.rt.mm

    def limit() -> float | None:
        book = mm.feed.book if mm.feed is not None else None
        if book is None or not book.valid:
            return None
        mid = (book.best_bid_tick + book.best_ask_tick) / 2
        return max_position_usd(mm.quoting, mm.rules, mm.capital(), bot.clock.monotonic_ns(),
                                mm.rules.min_base_lots, mid)

    inputs = RecoveryInputs(book=lambda: mm.feed.book if mm.feed is not None else None,
                            volatility_usd_per_sqrt_s=lambda: mm.model.volatility,
                            max_position_usd=limit, warmed_up=lambda: True)
    return QuotaRecoveryRunner(params, rt.market, mm.rules, rt.sender, Pacer(0.05, premium=True), mm.account,
                               ClientOrderIndexAllocator(lane=7), inputs, interval_s=0.1, clock=bot.clock)


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


def feeds_ready(bot: LocalBot) -> bool:
    """The account known and a two-sided book (the synthetic market takes a few seconds to fill it)."""
    book = bot.rt.mm.feed.book
    return book.valid and book.best_bid_tick > 0 and book.best_ask_tick > 0 and bot.rt.mm.account.position_known


def quiet_config(tmp_path: Path) -> Config:
    # the daemon's own recovery off: the tests drive their own runner
    return venue_config(tmp_path, quota_recovery={"enabled": False})


def test_recovery_from_flat_round_trips_back_to_flat(tmp_path: Path) -> None:
    async def drain(venue: LocalVenue) -> None:
        set_quota(venue, 2)

    async def body(bot: LocalBot) -> None:
        rt = bot.rt
        assert rt.sender.volume_quota_remaining == 2  # learned from the leverage update's reply
        rt.mm.pause("test", "recovery only: the bot does not quote")
        await bot.wait_until(lambda: feeds_ready(bot), "feeds")
        runner = runner_for(bot, FAST)
        decision = await first_order(runner)
        legs = [decision.leg]
        assert decision.leg is Leg.OPEN and runner.state.round_trip_open
        assert rt.mm.account.position_lots == bot.venue.position_lots(BTC) == decision.size_lots  # a bid
        while runner.stats.cycles == 0:  # round trips until the cycle ends (target quota or attempts)
            step = await runner.step()
            if isinstance(step, RecoveryOrder):
                legs.append(step.leg)
                # after each leg: flat, or exactly the opening leg's size (a round trip never adds to it)
                expected = 0 if step.leg is Leg.CLOSE else step.size_lots
                assert rt.mm.account.position_lots == bot.venue.position_lots(BTC) == expected, step
            assert len(legs) <= 2 * FAST.max_attempts
        assert not runner.state.round_trip_open
        assert bot.venue.position_lots(BTC) == 0
        # at 85 lots a round trip earns ~24 quota, short of the 50 target: both attempts are used
        assert legs == [Leg.OPEN, Leg.CLOSE] * FAST.max_attempts, legs
        assert runner.stats.legs_sent == 4 and runner.stats.last_idle_reason == "attempts exhausted"
        assert rt.sender.volume_quota_remaining > 2 + 40
        assert await runner.close_round_trip()

    with_local_bot(quiet_config(tmp_path), body, prepare=drain)


def test_recovery_reduces_a_found_position_and_never_flips_it(tmp_path: Path) -> None:
    async def body(bot: LocalBot) -> None:
        rt = bot.rt
        rt.mm.pause("test", "recovery only")
        await bot.wait_until(lambda: feeds_ready(bot), "feeds")
        book = rt.mm.feed.book
        buy = CreateOrder(BTC, 4242, 300, math.ceil(book.best_ask_tick * 1.003), is_ask=False,
                          time_in_force=TIF_IOC, order_expiry=0)
        assert (await rt.sender.send([buy]))[0].ok
        await bot.wait_until(lambda: rt.mm.account.position_lots > 0, "the long position")
        found = rt.mm.account.position_lots
        assert found == bot.venue.position_lots(BTC) == 300
        set_quota(bot.venue, 1)
        rt.sender.volume_quota_remaining = None
        assert (await rt.sender.send([UpdateLeverage(BTC, 2)]))[0].ok  # reports, never uses, quota
        assert rt.sender.volume_quota_remaining == 1
        runner = runner_for(bot, FAST)
        decision = await first_order(runner)
        assert decision.leg is Leg.REDUCE and decision.reduce_only
        await bot.wait_until(lambda: rt.mm.account.position_lots < found, "the reducing fill on the stream")
        assert 0 <= rt.mm.account.position_lots < found
        assert 0 <= bot.venue.position_lots(BTC) < found
        # the shutdown cancels orders; the position found stays (the runner never opened a round trip)
        assert not runner.state.round_trip_open

    with_local_bot(quiet_config(tmp_path), body)


def test_flatten_closes_a_short_position(tmp_path: Path) -> None:
    async def body(bot: LocalBot) -> None:
        rt = bot.rt
        rt.mm.pause("test", "flatten only")
        await bot.wait_until(lambda: feeds_ready(bot), "feeds")
        book = rt.mm.feed.book
        sell = CreateOrder(BTC, 4244, 400, math.floor(book.best_bid_tick * 0.997), is_ask=True,
                           time_in_force=TIF_IOC, order_expiry=0)
        assert (await rt.sender.send([sell]))[0].ok
        assert bot.venue.position_lots(BTC) == -400

        async def read_position() -> int:
            return bot.venue.position_lots(BTC)

        async def read_touch() -> tuple[int, int] | None:
            b = rt.mm.feed.book
            return (b.best_bid_tick, b.best_ask_tick) if b.valid else None

        result = await flatten_position(rt.sender, rt.market, read_position, read_touch,
                                        ClientOrderIndexAllocator(lane=6), FlattenParams(max_attempts=4),
                                        clock=bot.clock)
        assert result.flat and result.final_lots == 0 and result.start_lots == -400
        assert 1 <= result.attempts <= 4
        assert bot.venue.position_lots(BTC) == 0

    with_local_bot(quiet_config(tmp_path), body)
