"""The whole bot on the local venue in virtual time while the Lighter book feed stalls (``stall_feed``) and
sells keep hitting its bid (``taker_sweep``: the fills move its position, hence its wanted quotes, while the
book is silent): quotes are held, then cancelled once the silence passes the book's cadence threshold, nothing
is placed until the book resumes, no post-only order ever crosses, and quoting comes back.

Asserted in order, on the one clock: a fill during the stall is only ever on an order placed while the bot's
book was fresh by its own rule; no order is created or moved on a held book; once the stale pause has
cancelled the orders none is placed until the book resumes. Run twice: with the Lighter imbalance as the alpha,
and with the venue's in-process Binance feed moving the quotes during the stall (the socket tier's old test)."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from venue_support import BTC, LocalBot, venue_config, with_local_bot

from lmm.core.book_freshness import BookCadence, silence_thresholds
from lmm.core.intents import CreateOrder, ModifyOrder
from lmm.core.order_state import SlotState
from lmm.core.params import build_params
from sim.engine_types import OrderStatus
from sim.market_params import MarketParams

SEC = 1_000_000_000
STALL_S = 8.0  # well past the stale threshold of the venue's book (1 s floor at a 50 ms cadence)
# the synthetic market maker 1.6 bp from fair, the bot 1.5 bp (the demo spread): its quotes at the touch
MARKET = MarketParams(lighter_half_spread_bps=1.6)


@dataclass
class Record:
    """What the bot did and saw, on the run's monotonic clock (ns)."""

    frames: list[int] = field(default_factory=list)  # valid Lighter book frames, as received
    placements: dict[tuple[str, int], list[int]] = field(default_factory=dict)  # creates/modifies planned

    def placed(self, key: tuple[str, int], at_ns: int) -> None:
        self.placements.setdefault(key, []).append(at_ns)

    def last_placement(self, client_id: int, order_id: int, before_ns: int) -> int | None:
        times = self.placements.get(("client", client_id), []) + self.placements.get(("order", order_id), [])
        earlier = [t for t in times if t <= before_ns]
        return max(earlier) if earlier else None


@dataclass(frozen=True)
class OurFill:
    at_ns: int  # monotonic
    client_id: int
    order_id: int


@pytest.mark.parametrize("alpha_source", ["none", "binance"])
def test_stalled_book_holds_then_cancels_and_never_crosses(tmp_path: Path, alpha_source: str) -> None:
    config = venue_config(tmp_path, vol_obi={"vol_to_half_spread": 2, "min_half_spread_bps": 1.5},
                          trading={"default_quote_update_threshold_bps": 0.7}, alpha={"source": alpha_source})
    record = Record()

    async def body(bot: LocalBot) -> None:
        rt, venue, clock = bot.rt, bot.venue, bot.clock
        mm, feed, engine, account = rt.mm, rt.feed, bot.venue.engine, bot.venue.account_index
        real_tick, real_plan = mm.on_book_tick, mm.orders.plan

        def tick_spy(now_ns: int) -> None:
            if feed.book.valid and feed.stats.last_valid_ns == now_ns:
                record.frames.append(now_ns)
            real_tick(now_ns)

        def plan_spy(targets, **kwargs):  # type: ignore[no-untyped-def]  # the decision time is the plan's now_ns
            intents = real_plan(targets, **kwargs)
            for intent in intents:
                if isinstance(intent, CreateOrder):
                    record.placed(("client", intent.client_order_index), kwargs["now_ns"])
                elif isinstance(intent, ModifyOrder):
                    record.placed(("order", intent.order_index), kwargs["now_ns"])
            return intents

        mm.on_book_tick = tick_spy  # type: ignore[method-assign]
        mm.orders.plan = plan_spy  # type: ignore[method-assign]

        def post_only_crosses() -> int:
            inactive = engine.inactive_orders(account, BTC, limit=100_000)
            return sum(1 for order in inactive if order.status is OrderStatus.CANCELED_POST_ONLY)

        def resting() -> int:
            return len(venue.open_orders(BTC))

        await bot.wait_until(lambda: all(s.state is SlotState.LIVE for s in mm.orders.slots.values())
                             and len(record.frames) >= 40, "quoting both sides")
        crosses_before = post_only_crosses()
        stall_start = clock.monotonic_ns()
        venue.inject_fault("stall_feed", seconds=STALL_S)
        # sells hit the bid throughout the stall: the position moves, so the wanted quotes move with it
        venue.inject_fault("taker_sweep", side="sell", size="0.002", interval_ms=400, seconds=STALL_S,
                           market_id=BTC)
        stall_end = stall_start + int(STALL_S * SEC)
        polls: list[tuple[int, int, bool]] = []  # (time, resting orders, "book silent" pause on)
        while not any(t >= stall_end for t in record.frames):
            polls.append((clock.monotonic_ns(), resting(), "book silent" in mm.pauses))
            assert clock.monotonic_ns() < stall_end + 30 * SEC, "the book never resumed"
            await asyncio.sleep(0.05)
        resumed = min(t for t in record.frames if t >= stall_end)
        await bot.wait_until(lambda: all(s.state is SlotState.LIVE for s in mm.orders.slots.values())
                             and "book silent" not in mm.pauses, "quoting to resume after the stall")
        wall_offset_ns = clock.wall_ns() - clock.monotonic_ns()
        fills = [OurFill(trade.transaction_time_us * 1000 - wall_offset_ns,
                         *((trade.ask_client_id, trade.ask_id) if trade.is_maker_ask
                           else (trade.bid_client_id, trade.bid_id)))
                 for trade in engine.account_trades(account, n=10_000)
                 if trade.market_id == BTC and trade.maker_account_id == account]

        assert post_only_crosses() == crosses_before == 0 and mm.orders.stats.post_only_cancels == 0, \
            "a post-only order crossed"
        assert not mm.breaker.tripped and mm.breaker.trips == 0
        last_frame = max(t for t in record.frames if t < stall_end)
        paused = next((t for t, _, silent in polls if silent), None)
        emptied = next((t for t, count, _ in polls if count == 0 and paused is not None and t >= paused), None)
        stall_fills = [f for f in fills if stall_start <= f.at_ns < resumed]
        # the silence passed the threshold: the stale pause cancelled every order, long before the book came back
        assert paused is not None, f"no 'book silent' pause during the {STALL_S:.0f} s stall"
        assert emptied is not None, f"orders still resting throughout the {STALL_S:.0f} s stall"
        # ... and nothing was placed again while the book stayed silent: no order, so no fill either
        assert all(count == 0 for t, count, _ in polls if t >= emptied)
        assert not [f for f in stall_fills if f.at_ns > emptied]
        # while the book was held (silent beyond hold_ns) no order was created or moved, so every fill during
        # the stall is on an order placed while the bot's book was fresh by its own rule. The thresholds in
        # force during the stall come from replaying the frames the bot had received by then.
        cadence = BookCadence()
        for frame in record.frames:
            if frame <= last_frame:
                cadence.on_update(frame)
        thresholds = silence_thresholds(build_params(config).silence, cadence.median_ns)
        assert thresholds.hold_ns < thresholds.stale_ns < STALL_S * SEC
        held_from = last_frame + thresholds.hold_ns
        assert stall_start <= paused - thresholds.stale_ns <= last_frame + SEC // 10, "paused at the stale mark"
        late = [t for times in record.placements.values() for t in times if held_from < t < resumed]
        assert not late, f"{len(late)} order(s) created or moved on a held book"
        assert stall_fills, "no fill during the stall: the sweeps never moved the position"
        for fill in stall_fills:
            placed = record.last_placement(fill.client_id, fill.order_id, fill.at_ns)
            assert placed is not None and placed <= held_from, (fill, placed, held_from)
        # the fills did move what the bot wanted: it places again at once when the book is back
        assert any(resumed <= t for times in record.placements.values() for t in times)
        assert rt.status.sampler.source == ("binance" if alpha_source == "binance" else "lighter")

    with_local_bot(config, body, market_params=MARKET)
