"""The whole bot (the daemon's start-up, feeds, model, send loop, poller, shutdown) on the local venue in
virtual time: a 429 storm backs off and recovers, and a drained volume quota widens the requote threshold and
moves quota-consuming sends to the free slot (one every 15 s) while cancels still go at once."""
from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from venue_support import BTC, LocalBot, set_quota, venue_config, with_local_bot

from lmm.core.intents import QUOTA_CONSUMING_TX
from lmm.core.order_diff import effective_threshold_bps
from lmm.core.order_state import SlotState
from lmm.core.pacing import FREE_SLOT_SECONDS
from lmm.core.risk import BackoffParams, RateLimitBackoff
from lmm.venue.local.venue import LocalVenue
from sim.market_profile import kind_market_params

SEC = 1_000_000_000
AT_THE_TOUCH = {"vol_to_half_spread": 1e-6, "c1_ticks": 0, "min_half_spread_bps": 1.5}


def both_sides_live(bot: LocalBot) -> bool:
    return all(slot.state is SlotState.LIVE for slot in bot.rt.mm.orders.slots.values())


def idle_sides(bot: LocalBot) -> int:
    return sum(slot.state is SlotState.IDLE for slot in bot.rt.mm.orders.slots.values())


def test_429_storm_backs_off_and_recovers(tmp_path: Path) -> None:
    config = venue_config(tmp_path, vol_obi=AT_THE_TOUCH, trading={"default_quote_update_threshold_bps": 1.0})

    async def body(bot: LocalBot) -> None:
        rt, mm = bot.rt, bot.rt.mm
        mm.backoff = RateLimitBackoff(BackoffParams(base_ns=SEC // 2, max_ns=2 * SEC))  # short, same rules
        await bot.wait_until(lambda: both_sides_live(bot), "the bot to quote both sides")
        pacer = rt.send_loop._pacer
        bot.venue.inject_fault("rate_limit", count=6)
        await bot.wait_until(lambda: mm.stats.rate_limited >= 1, "a 429 to reach the bot")
        assert mm.backoff.level >= 1
        assert pacer.backoff_until > bot.clock.monotonic()  # the Pacer holds every send meanwhile
        await bot.wait_until(lambda: mm.backoff.level == 0, "the backoff to reset after clean sends")
        sent_after = rt.sender.stats.accepted
        await bot.wait_until(lambda: rt.sender.stats.accepted > sent_after + 1 and both_sides_live(bot),
                             "quoting to resume")
        assert not mm.breaker.tripped and mm.breaker.trips == 0  # 429s never count toward the breaker
        assert len(bot.venue.open_orders(BTC)) == 2

    with_local_bot(config, body)


def test_drained_quota_widens_threshold_and_uses_the_free_slot(tmp_path: Path) -> None:
    config = venue_config(tmp_path, vol_obi=AT_THE_TOUCH, trading={"default_quote_update_threshold_bps": 1.0},
                          quota_recovery={"enabled": False})
    sends: list[tuple[float, int, int, int | None]] = []  # (time, quota ops, cancels, quota before)

    async def drain(venue: LocalVenue) -> None:
        set_quota(venue, 3)

    async def body(bot: LocalBot) -> None:
        rt, mm, sender = bot.rt, bot.rt.mm, bot.rt.sender
        real_send = sender.send_holding_lock  # every writer's send goes through it

        async def spy(intents):  # type: ignore[no-untyped-def]
            quota_ops = sum(1 for i in intents if i.tx_type in QUOTA_CONSUMING_TX)
            sends.append((bot.clock.monotonic(), quota_ops, len(intents) - quota_ops,
                          sender.volume_quota_remaining))
            return await real_send(intents)

        sender.send_holding_lock = spy  # type: ignore[method-assign]
        assert sender.volume_quota_remaining == 3  # learned from the start-up's leverage update
        await bot.wait_until(lambda: both_sides_live(bot), "the bot to quote both sides")
        quota = mm.quota()
        assert quota is not None and quota < 10
        base = config.trading.default_quote_update_threshold_bps
        assert effective_threshold_bps(base, quota) > base  # the requote threshold widened
        pacer = rt.send_loop._pacer
        assert pacer.permit(bot.clock.monotonic(), quota).max_quota_ops <= 1

        mm.pause("test", "cancels go at once although the free slot is spent")
        paused_at = bot.clock.monotonic()
        await bot.wait_until(lambda: mm.orders.idle, "the cancels to settle", timeout_s=2)
        assert bot.venue.open_orders(BTC) == []
        assert bot.clock.monotonic() - paused_at < 1.0  # not held for the free slot
        resumed_at = bot.clock.monotonic()
        mm.resume("test")
        # both sides want an order again, but only one create per free slot may go out
        await bot.wait_until(lambda: pacer.last_quota_send > resumed_at and not sender.lock.locked(),
                             "one side re-created in the free slot", timeout_s=FREE_SLOT_SECONDS + 10)
        assert idle_sides(bot) == 1
        assert pacer.permit(bot.clock.monotonic(), mm.quota()).max_quota_ops == 0
        watch_until = bot.clock.monotonic() + 2.0  # watch a while: the other side must stay idle
        while bot.clock.monotonic() < watch_until:
            assert idle_sides(bot) == 1
            await asyncio.sleep(0.1)

    # the kind market: at the touch with 3 quota ops, the realistic market's snipers and rivals fill or pick off
    # a side before both are live, and this test is about the pacer, not about fills
    with_local_bot(config, body, prepare=drain, market_params=kind_market_params())
    drained = [(t, q, c) for t, q, c, before in sends if before is not None and before < 10]
    quota_times = [t for t, q, _ in drained if q]
    assert len(quota_times) >= 3 and all(q <= 1 for _, q, _ in drained), drained
    assert all(b - a >= FREE_SLOT_SECONDS for a, b in itertools.pairwise(quota_times)), quota_times
    assert any(c for _, _, c in drained), "no cancel went out while on the free slot"
