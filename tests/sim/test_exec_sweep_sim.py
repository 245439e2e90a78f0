"""Issue 10, item 1, against the simulator: a small account ($2,000) quoting at the touch while a separate
account sends 0.6 BTC market sells every 0.3 s (the `taker_sweep` fault). The position must never pass
M + one order, with M = 0.9 * (E * leverage - 2 * levels * one order) and one order = E * usage * leverage
(strategy-model §7: the reserve is a flat account's order, so M cannot grow as the position uses margin),
E the account's equity; every fill of the bot must hit an order the bot was counting at that moment (a slot
or an untracked order it is cancelling); an order of ours never rests on the venue unknown to the bot.

The position path is read from the simulator's own trade record (every fill, in order), so the maximum is
exact, not sampled."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from exec_support import BTC, bot_config, running_bot, sim_account, sim_orders, started_runtime, wait_until

from lmm.core.order_state import Side, SlotState
from sim.engine_views import Event, TradeEvent
from sim.market_params import BTC_INSTRUMENT, ETH_INSTRUMENT
from sim.testing import SimHandle, start_simulator

pytestmark = pytest.mark.timeout(240)

SEED = 1010
COLLATERAL_USD = 2_000.0
LEVERAGE = 2
USAGE = 0.12
SAFETY = 0.9
LOT = 1e-5  # BTC lot
SWEEPS_PAST_THE_LIMIT = 20  # sweeps sent after the position first came within one order of M


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    # Deeper synthetic levels (0.15 BTC) than the default, so a 0.6 BTC sweep takes the top few levels and
    # the bot's bid with them without emptying the book; the market maker 1.6 bp from fair, the bot 1.5 bp.
    btc = replace(BTC_INSTRUMENT, lighter_level_size=0.15)
    with start_simulator(seed=SEED, lighter_half_spread_bps=1.6, instruments=(ETH_INSTRUMENT, btc)) as handle:
        yield handle


@dataclass
class FillWatch:
    """Runs on the simulator's loop: every maker fill of the bot, and whether the bot counted that order."""

    account_index: int
    mm: Any
    fills: list[tuple[int, bool]] = field(default_factory=list)  # (signed lots, counted by the bot)
    untracked: list[str] = field(default_factory=list)

    def __call__(self, event: Event) -> None:
        if not isinstance(event, TradeEvent):
            return
        trade = event.trade
        is_bid = trade.bid_account_id == self.account_index
        if not is_bid and trade.ask_account_id != self.account_index:
            return
        if trade.is_maker_ask == is_bid:
            return  # the bot took liquidity: not one of its resting quotes
        client = trade.bid_client_id if is_bid else trade.ask_client_id
        order = trade.bid_id if is_bid else trade.ask_id
        counted = self._counted(client, order)
        self.fills.append((trade.size if is_bid else -trade.size, counted))
        if not counted:
            self.untracked.append(f"{'bid' if is_bid else 'ask'} order {order} (client {client}) filled "
                                  f"{trade.size} lots @ {trade.price} while the bot did not count it")

    def _counted(self, client: int, order: int) -> bool:
        slots = list(self.mm.orders.slots.values())  # read across threads: a snapshot of immutable slots
        if any(s.state is not SlotState.IDLE and s.client_index is not None and s.client_index.value == client
               for s in slots):
            return True
        return any(index.value == order for index in list(self.mm.orders.orphans))


def known_to_bot(mm: Any, order: dict[str, Any]) -> bool:
    client, index = int(order["client_order_index"]), int(order["order_index"])
    if any(s.state is not SlotState.IDLE and s.client_index is not None and s.client_index.value == client
           for s in mm.orders.slots.values()):
        return True
    return any(i.value == index for i in mm.orders.orphans)


async def on_sim(sim: SimHandle, fn: Any) -> Any:
    async def call() -> Any:
        return fn(sim.simulator_thread.simulator)

    return await asyncio.to_thread(sim.simulator_thread.call, call)


def limit_usd(equity: float) -> tuple[float, float]:
    """(M, one order) in USD for this equity, one level per side."""
    one = equity * USAGE * LEVERAGE
    return SAFETY * max(0.0, equity * LEVERAGE - 2 * one), one


async def test_fast_one_sided_sweeps_never_push_the_position_past_the_limit(sim: SimHandle, tmp_path: Path):
    account = sim.create_account(collateral=str(int(COLLATERAL_USD)))
    config = bot_config(
        sim, tmp_path,
        trading={"leverage": LEVERAGE, "capital_usage_percent": USAGE, "levels_per_side": 1,
                 "default_quote_update_threshold_bps": 0.7},
        # quote the 1.5 bp floor, wherever the volatility estimate goes under the sweeps: the bid sits at the
        # touch and every sweep reaches it, the harshest flow for the limit
        vol_obi={"vol_to_half_spread": 1e-6, "c1_ticks": 0, "skew": 0, "min_half_spread_bps": 1.5},
        quota_recovery={"enabled": False},
    )
    async with started_runtime(config, account) as rt, running_bot(rt):
        mm = rt.mm
        watch = FillWatch(account.account_index, mm)
        await on_sim(sim, lambda s: s.lighter.feeds.add_listener(watch))
        try:
            await wait_until(lambda: mm.orders.slots[(Side.BID, 0)].state is SlotState.LIVE, "a resting bid", 60)
            sweep = await asyncio.to_thread(sim.inject_fault, "taker_sweep", side="sell", size="0.6",
                                            interval_ms=300, count=1000, market_id=BTC, slippage_bps=10)
            assert sweep["ok"]
            equities: list[float] = []
            untracked_resting: list[str] = []
            reached_at: int | None = None
            deadline = time.monotonic() + 150
            while True:
                equity = float((await sim_account(sim, account))["total_asset_value"])
                equities.append(equity)
                limit, one = limit_usd(min(equities))
                position = sum(lots for lots, _ in watch.fills)
                sent = await on_sim(sim, lambda s: s.lighter.sweeps.stats.sent)
                if reached_at is None and position * LOT * 100_000 >= limit - one:
                    reached_at = sent
                if reached_at is not None and sent >= reached_at + SWEEPS_PAST_THE_LIMIT:
                    break
                assert time.monotonic() < deadline, f"the sweeps never drove the position to the limit: {position}"
                # an order of ours resting on the venue, unknown to the bot, and still resting after that
                venue = await sim_orders(sim, account)
                suspects = {int(o["order_index"]): o for o in venue if not known_to_bot(mm, o)}
                if suspects:
                    again = {int(o["order_index"]) for o in await sim_orders(sim, account)}
                    untracked_resting += [f"{'ask' if o['is_ask'] else 'bid'} {o['price']} x "
                                          f"{o['remaining_base_amount']}" for i, o in suspects.items() if i in again]
                await asyncio.sleep(0.05)
        finally:
            await asyncio.to_thread(sim.inject_fault, "taker_sweep", stop=True)
            await on_sim(sim, lambda s: s.lighter.feeds._listeners.remove(watch))

    async def trades() -> list[Any]:
        return sim.simulator_thread.simulator.engine.account_trades(account.account_index, n=100_000)

    record = list(reversed(await asyncio.to_thread(sim.simulator_thread.call, trades)))
    position = peak = 0
    peak_price = 0
    for trade in record:
        position += trade.size if trade.bid_account_id == account.account_index else -trade.size
        if abs(position) >= peak:
            peak, peak_price = abs(position), trade.price
    limit, one = limit_usd(min(equities))
    peak_usd = peak * LOT * peak_price / 10
    ratio = peak_usd / (limit + one)
    print(f"sweeps: max |position| ${peak_usd:.0f} = {ratio:.3f} x (M ${limit:.0f} + one order ${one:.0f}); "
          f"{len(watch.fills)} maker fills, {sum(1 for lots, _ in watch.fills if lots > 0)} on bids")
    assert peak_usd >= limit - one, "the sweeps never drove the position to within one order of M"
    assert ratio <= 1.0, f"max |position| / (M + one order) = {ratio:.3f}"
    assert watch.untracked == [], watch.untracked
    assert untracked_resting == [], untracked_resting
    assert await sim_orders(sim, account) == []
