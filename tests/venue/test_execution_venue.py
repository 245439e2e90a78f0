"""The MarketMaker's reconcile path on the local venue in virtual time (an empty book, no synthetic market):
unknown orders are cancelled, vanished orders cleared, an unknown send outcome pauses quoting until a
reconcile resolves it, repeated venue rejections trip the breaker, which resumes after the cooldown; the
shutdown's cancel confirmation waits the configured settle time, and an unconfirmed shutdown is exit 1.

The bot is built by the daemon's own start-up (its supervised tasks are not run: nothing else acts); its slots
are driven through OrderManager.plan with explicit targets, every transaction through the real TxSender."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
from venue_support import BTC, LocalBot, run_bot, venue_config, with_local_bot

import lmm.daemon.run as daemon
from lmm.core.intents import CancelOrder, CreateOrder
from lmm.core.market_maker import SEC, MarketMaker
from lmm.core.order_state import Side, SlotState
from lmm.core.outcomes import Outcome
from lmm.core.quoting import QuoteLevel, TargetQuotes
from lmm.venue.clock import VirtualClock

GRACE_PASSED_NS = 11 * SEC  # beyond risk_reconcile.DEFAULT_GRACE_NS
QUIET = {"with_market": False, "collateral_usd": 5_000}


def targets(bid: int = 600_000, ask: int = 9_000_000, size: int = 20) -> TargetQuotes:
    return TargetQuotes(bids=(QuoteLevel(bid, size),), asks=(QuoteLevel(ask, size),))


def plan(mm: MarketMaker, clock: VirtualClock, quotes: TargetQuotes | None) -> list:
    return mm.orders.plan(quotes, fair_tick=(600_000 + 9_000_000) / 2, quota=None, position_lots=0,
                          max_quota_ops=100, now_ns=clock.monotonic_ns(), now_ms=clock.wall_ms())


async def reconcile(bot: LocalBot, after_ns: int = 0) -> list:
    rt = bot.rt
    raw = await rt.reader.active_orders(rt.market.market_id)
    cancels = rt.mm.reconcile(rt.mm.account.parse_orders(raw), bot.clock.monotonic_ns() + after_ns)
    if cancels:
        rt.mm.on_results(await rt.sender.send(cancels))
    return cancels


def test_unknown_order_is_cancelled_and_vanished_order_cleared(tmp_path: Path) -> None:
    async def body(bot: LocalBot) -> None:
        rt, mm = bot.rt, bot.rt.mm
        mm.on_results(await rt.sender.send(plan(mm, bot.clock, targets())))
        assert {s.state for s in mm.orders.slots.values()} == {SlotState.PLACING}
        assert await reconcile(bot) == []  # both found by client order index: PLACING -> LIVE
        assert {s.state for s in mm.orders.slots.values()} == {SlotState.LIVE}

        stray = CreateOrder(BTC, 777, 20, 610_000, is_ask=False)  # not the bot's
        assert (await rt.sender.send([stray]))[0].ok
        cancels = await reconcile(bot)
        assert len(cancels) == 1
        remaining = bot.venue.open_orders(BTC)
        assert 777 not in {o.client_order_index for o in remaining} and len(remaining) == 2

        # the bid vanishes behind the bot's back (no order feed is running to tell it)
        bid_slot = mm.orders.slots[(Side.BID, 0)]
        assert bid_slot.order_index is not None
        assert (await rt.sender.send([CancelOrder(BTC, bid_slot.order_index.value)]))[0].ok
        assert await reconcile(bot) == []
        assert mm.orders.slots[(Side.BID, 0)].state is SlotState.LIVE  # within the grace period: not judged
        await reconcile(bot, after_ns=GRACE_PASSED_NS)
        assert mm.orders.slots[(Side.BID, 0)].state is SlotState.IDLE
        assert mm.orders.slots[(Side.ASK, 0)].state is SlotState.LIVE
        assert mm.stats.slots_cleared == 1 and mm.stats.orphans_cancelled == 1

    with_local_bot(venue_config(tmp_path), body, run_tasks=False, **QUIET)  # its shutdown confirms nothing is left


def test_unknown_outcome_pauses_quoting_until_reconciled(tmp_path: Path) -> None:
    async def body(bot: LocalBot) -> None:
        mm, sender = bot.rt.mm, bot.rt.sender
        sender._timeout = 0.3  # a send timeout shorter than the delayed acknowledgement below
        bot.venue.inject_fault("delay_ack", delay_ms=1500, count=1)
        results = await sender.send(plan(mm, bot.clock, targets()))
        assert results[0].outcome is Outcome.UNKNOWN
        mm.on_results(results)
        assert "unknown outcome" in mm.pauses
        assert mm.compute_ops(1) == []  # paused (and nothing known to cancel): no new order goes out
        assert all(s.state is SlotState.PLACING for s in mm.orders.slots.values())
        assert await reconcile(bot) == []  # the orders did land: the reconcile adopts them
        assert {s.state for s in mm.orders.slots.values()} == {SlotState.LIVE}
        assert "unknown outcome" not in mm.pauses
        assert len(bot.venue.open_orders(BTC)) == 2
        [result] = await sender.send([CreateOrder(BTC, 778, 20, 610_000, is_ask=False)])
        assert result.ok  # the nonce was re-seeded after the unknown outcome

    with_local_bot(venue_config(tmp_path), body, run_tasks=False, **QUIET)


def test_repeated_rejections_trip_the_breaker_which_recovers(tmp_path: Path) -> None:
    config = venue_config(tmp_path)
    assert config.safety.max_consecutive_order_rejections == 3
    assert config.safety.circuit_breaker_cooldown_sec == 1.0

    async def body(bot: LocalBot) -> None:
        rt, mm = bot.rt, bot.rt.mm
        # the two creates of a plan go as one batch on the local venue: three refusals cover three plans
        bot.venue.inject_fault("reject_tx", count=3, code=21701, message="invalid order price")
        for _ in range(3):
            results = await rt.sender.send(plan(mm, bot.clock, targets()))
            assert results[0].outcome is Outcome.REJECTED
            mm.on_results(results)
            assert mm.orders.idle  # a refusal reverts the slots
        assert mm.breaker.trips == 1
        tripped_at = bot.clock.monotonic_ns()
        assert mm.breaker.status(tripped_at, feeds_healthy=True).paused
        await reconcile(bot)  # clean, but still inside the cooldown
        assert mm.breaker.status(bot.clock.monotonic_ns(), feeds_healthy=True).waiting_for == ("cooldown",)
        await bot.wait_until(lambda: not mm.breaker.status(bot.clock.monotonic_ns(), feeds_healthy=True).paused,
                             "the cooldown to pass", timeout_s=10)
        waited_s = (bot.clock.monotonic_ns() - tripped_at) / SEC
        assert 1.0 <= waited_s < 1.1, waited_s  # the configured cooldown, in virtual time
        assert not mm.breaker.tripped
        mm.on_results(await rt.sender.send(plan(mm, bot.clock, targets())))
        assert len(bot.venue.open_orders(BTC)) == 2

    with_local_bot(config, body, run_tasks=False, **QUIET)


def test_cancel_confirmation_waits_the_configured_settle_time(tmp_path: Path) -> None:
    config = venue_config(tmp_path, safety={"order_reconcile_timeout_sec": 3.5})

    async def body(bot: LocalBot) -> float:
        rt = bot.rt
        rt.mm.on_results(await rt.sender.send(plan(rt.mm, bot.clock, targets())))
        assert len(bot.venue.open_orders(BTC)) == 2
        started = bot.clock.monotonic()
        assert await daemon._cancel_leftovers(rt, "test", always_cancel=True, budget_s=30)
        assert bot.venue.open_orders(BTC) == []
        return bot.clock.monotonic() - started

    # Listings come once a second; the one that confirms must be 3.5 s or more after the cancel-all (accepted
    # 50 ms after it was sent, the order entry latency): the fifth listing, 4 s and a few latencies later.
    elapsed = with_local_bot(config, body, run_tasks=False, **QUIET)
    assert 3.5 <= elapsed < 4.5, elapsed


def test_unconfirmed_shutdown_makes_the_exit_status_nonzero(tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    assert run_bot(venue_config(tmp_path), 10).status == daemon.EXIT_OK
    # A budget shorter than one confirmation round (two empty listings a second apart): the cancel-all goes
    # out but is never confirmed.
    short = venue_config(tmp_path, safety={"shutdown_cancel_budget_sec": 1.0})
    with caplog.at_level(logging.ERROR):
        run = run_bot(short, 10)
    assert run.status == daemon.EXIT_FATAL
    assert "SHUTDOWN INCOMPLETE" in caplog.text
    assert run.venue.open_orders() == []  # the cancel-all did go out
