"""The whole bot against the simulator while the Lighter book feed stalls (``stall_feed``) and the Binance
alpha keeps moving: quotes are held, then cancelled once the silence passes the book's cadence threshold,
nothing is placed until the book resumes, no post-only order ever crosses, and quoting comes back.

Timings are measured and printed (run with ``-s``); the assertions are about what happened, in order:
a fill during the stall is only ever on an order placed while the bot's book was fresh by its own rule,
and once the stale pause has cancelled the orders none is placed until the book resumes."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from exec_support import BTC, bot_config, running_bot, sim_orders, started_runtime, wait_until

from lmm.core.book_freshness import BookCadence, silence_thresholds
from lmm.core.intents import CreateOrder, ModifyOrder
from lmm.core.order_state import SlotState
from lmm.core.params import build_params
from sim.engine_types import OrderStatus
from sim.testing import SimAccount, SimHandle, start_simulator

pytestmark = pytest.mark.timeout(180)
SEC = 1_000_000_000
STALL_S = 8.0  # well past the stale threshold of the simulator's book (about 4 s at a 0.2 s median cadence)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    # the simulated market maker quotes 1.6 bp from its fair price: the demo spread (1.5 bp) sits at the touch
    with start_simulator(seed=7311, lighter_half_spread_bps=1.6) as handle:
        yield handle


@dataclass
class Record:
    """What the bot did and saw, on the monotonic clock (ns)."""

    frames: list[int] = field(default_factory=list)  # valid Lighter book frames, as received
    placements: dict[tuple[str, int], list[int]] = field(default_factory=dict)  # creates/modifies planned
    wall_offset_ns: int = field(default_factory=lambda: time.time_ns() - time.monotonic_ns())

    def placed(self, key: tuple[str, int], at_ns: int) -> None:
        self.placements.setdefault(key, []).append(at_ns)

    def last_placement(self, client_id: int, order_id: int, before_ns: int) -> int | None:
        times = self.placements.get(("client", client_id), []) + self.placements.get(("order", order_id), [])
        earlier = [t for t in times if t <= before_ns]
        return max(earlier) if earlier else None


@dataclass(frozen=True)
class OurFill:
    at_ns: int  # monotonic, from the simulator's wall-clock trade time
    client_id: int
    order_id: int


async def account_fills(sim: SimHandle, account: SimAccount, record: Record) -> list[OurFill]:
    engine = sim.simulator_thread.simulator.engine

    async def read() -> list[OurFill]:
        fills = []
        for trade in engine.account_trades(account.account_index, n=10_000):
            if trade.market_id != BTC or trade.maker_account_id != account.account_index:
                continue
            client_id, order_id = ((trade.ask_client_id, trade.ask_id) if trade.is_maker_ask
                                   else (trade.bid_client_id, trade.bid_id))
            fills.append(OurFill(trade.transaction_time_us * 1000 - record.wall_offset_ns, client_id, order_id))
        return fills

    return await asyncio.to_thread(sim.simulator_thread.call, read)


async def post_only_crosses(sim: SimHandle, account: SimAccount) -> int:
    engine = sim.simulator_thread.simulator.engine

    async def read() -> int:
        inactive = engine.inactive_orders(account.account_index, BTC, limit=100_000)
        return sum(1 for order in inactive if order.status is OrderStatus.CANCELED_POST_ONLY)

    return await asyncio.to_thread(sim.simulator_thread.call, read)


async def resting(sim: SimHandle, account: SimAccount) -> int:
    return sum(1 for order in await sim_orders(sim, account) if int(order["market_index"]) == BTC)


async def test_stalled_book_holds_then_cancels_and_never_crosses(sim: SimHandle, tmp_path: Path) -> None:
    account = sim.create_account(collateral="5000", tier="premium")
    config = bot_config(
        sim, tmp_path,
        alpha={"source": "binance", "window_size": 200, "min_samples": 20},
        vol_obi={"vol_to_half_spread": 2, "min_half_spread_bps": 1.5},  # the demo spread (Makefile)
        trading={"default_quote_update_threshold_bps": 0.7},
    )
    record = Record()
    async with started_runtime(config, account) as rt:
        mm, feed = rt.mm, rt.feed
        real_tick, real_plan = mm.on_book_tick, mm.orders.plan

        def tick_spy(now_ns: int) -> None:
            if feed.book.valid and feed.stats.last_valid_ns == now_ns:
                record.frames.append(now_ns)
            real_tick(now_ns)

        def plan_spy(targets, **kwargs):  # the decision time is the plan's own now_ns
            intents = real_plan(targets, **kwargs)
            for intent in intents:
                if isinstance(intent, CreateOrder):
                    record.placed(("client", intent.client_order_index), kwargs["now_ns"])
                elif isinstance(intent, ModifyOrder):
                    record.placed(("order", intent.order_index), kwargs["now_ns"])
            return intents

        mm.on_book_tick = tick_spy  # type: ignore[method-assign]
        mm.orders.plan = plan_spy  # type: ignore[method-assign]
        async with running_bot(rt):
            await wait_until(lambda: all(s.state is SlotState.LIVE for s in mm.orders.slots.values())
                             and mm.model.alpha_source(time.monotonic_ns()) == "binance"
                             and len(record.frames) >= 40, "quoting both sides on the Binance alpha", 60)
            crosses_before = await post_only_crosses(sim, account)

            stall_start = time.monotonic_ns()
            await asyncio.to_thread(sim.inject_fault, "stall_feed", seconds=STALL_S)
            stall_end = stall_start + int(STALL_S * SEC)  # the simulator's stall ends no earlier than this
            polls: list[tuple[int, int, bool]] = []  # (time, resting orders, "book silent" pause on)
            while not any(t >= stall_end for t in record.frames):
                count = await resting(sim, account)
                polls.append((time.monotonic_ns(), count, "book silent" in mm.pauses))
                assert time.monotonic_ns() < stall_end + 30 * SEC, "the book never resumed"
                await asyncio.sleep(0.05)
            resumed = min(t for t in record.frames if t >= stall_end)
            await wait_until(lambda: all(s.state is SlotState.LIVE for s in mm.orders.slots.values())
                             and "book silent" not in mm.pauses, "quoting to resume after the stall", 60)
            crosses_after = await post_only_crosses(sim, account)
            fills = await account_fills(sim, account, record)

        last_frame = max(t for t in record.frames if t < stall_end)
        paused = next((t for t, _, silent in polls if silent), None)
        emptied = next((t for t, count, _ in polls if count == 0 and paused is not None and t >= paused), None)
        stall_fills = [f for f in fills if stall_start <= f.at_ns < resumed]

        def since_start(t: int | None) -> str:
            return "-" if t is None else f"{(t - stall_start) / 1e9:.2f} s"

        print(f"\nstall: last frame {(last_frame - stall_start) / 1e6:+.0f} ms from the stall start, "
              f"'book silent' after {since_start(paused)}, orders gone after {since_start(emptied)}, "
              f"book back after {(resumed - stall_start) / 1e9:.2f} s; post-only crosses "
              f"{crosses_before} before / {crosses_after - crosses_before} during and after; "
              f"{len(stall_fills)} fill(s) during the stall, "
              f"{sum(1 for f in stall_fills if emptied is not None and f.at_ns > emptied)} after the orders "
              f"were gone")

        assert crosses_after == 0 and mm.orders.stats.post_only_cancels == 0, "a post-only order crossed"
        assert not mm.breaker.tripped and mm.breaker.trips == 0
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
        placed_in_stall = sum(1 for f in stall_fills
                              if (record.last_placement(f.client_id, f.order_id, f.at_ns) or 0) >= stall_start)
        print(f"stall: hold after {thresholds.hold_ns / 1e9:.2f} s, stale after {thresholds.stale_ns / 1e9:.2f} s "
              f"of silence; {placed_in_stall} fill(s) on an order placed after the stall began")
        assert thresholds.hold_ns < thresholds.stale_ns < STALL_S * SEC
        held_from = last_frame + thresholds.hold_ns
        late = [t for times in record.placements.values() for t in times if held_from < t < resumed]
        assert not late, f"{len(late)} order(s) created or moved on a held book"
        for fill in stall_fills:
            placed = record.last_placement(fill.client_id, fill.order_id, fill.at_ns)
            assert placed is not None and placed <= held_from, (fill, placed, held_from)
    assert await sim_orders(sim, account) == []

