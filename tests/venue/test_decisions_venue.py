"""Decisions on the local venue in virtual time (the socket tier keeps the protocol and life-cycle tests):
the position limit under fast one-sided sweeps, and a silent Lighter book."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from venue_support import BTC, LOT_BTC, LocalBot, position_path, run_bot, venue_config, with_local_bot

from lmm.core.order_state import Side, SlotState
from lmm.daemon.run import EXIT_OK
from lmm.venue.clock import VirtualClock
from lmm.venue.local.venue import LocalVenue
from sim.engine_views import Event, TradeEvent
from sim.market_params import BTC_INSTRUMENT, ETH_INSTRUMENT, MarketParams

COLLATERAL_USD = 2_000
LEVERAGE = 2
USAGE = 0.12
SAFETY = 0.9
# deeper synthetic levels (0.15 BTC): a 0.6 BTC sweep takes the top few and the bot's bid without emptying
# the book; the synthetic market maker 1.6 bp from fair, the bot 1.5 bp
SWEEP_MARKET = MarketParams(lighter_half_spread_bps=1.6,
                            instruments=(ETH_INSTRUMENT, replace(BTC_INSTRUMENT, lighter_level_size=0.15)))
SWEEPS_PAST_THE_LIMIT = 20  # sweeps sent after the position first came within one order of M
PRICE_USD = 100_000  # the synthetic BTC market trades near $100k (the exact peak uses the trade prices)
AT_THE_TOUCH = {"vol_to_half_spread": 1e-6, "c1_ticks": 0, "skew": 0, "min_half_spread_bps": 1.5}


@dataclass
class FillWatch:
    """Every maker fill of the bot, seen when the venue publishes it, and whether the bot counted that order
    at that moment (a slot not idle, or an untracked order it is cancelling). One loop: the bot's state is
    exactly what it was when the venue matched the order."""

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
        counted = known_to_bot(self.mm, client, order)
        self.fills.append((trade.size if is_bid else -trade.size, counted))
        if not counted:
            self.untracked.append(f"{'bid' if is_bid else 'ask'} order {order} (client {client}) filled "
                                  f"{trade.size} lots @ {trade.price} while the bot did not count it")


def known_to_bot(mm: Any, client: int, order: int) -> bool:
    if any(s.state is not SlotState.IDLE and s.client_index is not None and s.client_index.value == client
           for s in mm.orders.slots.values()):
        return True
    return any(index.value == order for index in mm.orders.orphans)


def limit_usd(equity: float) -> tuple[float, float]:
    """(M, one order) in USD for this equity, one level per side."""
    one = equity * USAGE * LEVERAGE
    return SAFETY * max(0.0, equity * LEVERAGE - 2 * one), one


def test_fast_one_sided_sweeps_never_push_the_position_past_m_plus_one_order(tmp_path: Path):
    """Strategy-model §7: M = 0.9 * (E * leverage - 2 * levels * one order), one order = E * usage * leverage;
    the position may pass M by at most the one order in flight (E the lowest equity seen). 0.6 BTC market sells
    every 0.3 s from a separate account (``taker_sweep``) hit the bot's bid at the touch. Also: every fill hits
    an order the bot was counting; no order of ours rests on the venue unknown to the bot; the bot's quotes
    never cross the touch; once at the limit the adding side (the bid) is withdrawn."""
    config = venue_config(tmp_path, vol_obi=AT_THE_TOUCH, quota_recovery={"enabled": False},
                          trading={"leverage": LEVERAGE, "capital_usage_percent": USAGE, "levels_per_side": 1,
                                   "default_quote_update_threshold_bps": 0.7})
    equities: list[float] = []
    untracked_resting: list[str] = []
    crossed: list[str] = []

    async def body(bot: LocalBot) -> FillWatch:
        venue, mm = bot.venue, bot.rt.mm
        watch = FillWatch(venue.account_index, mm)
        venue.server.feeds.add_listener(watch)
        await bot.wait_until(lambda: mm.orders.slots[(Side.BID, 0)].state is SlotState.LIVE, "a resting bid")
        venue.inject_fault("taker_sweep", side="sell", size="0.6", interval_ms=300, count=1000, market_id=BTC,
                           slippage_bps=10)
        reached_at: int | None = None
        while reached_at is None or venue.server.sweeps.stats.sent < reached_at + SWEEPS_PAST_THE_LIMIT:
            equities.append(venue.engine.account(venue.account_index).total_asset_value / 1e6)
            limit, one = limit_usd(min(equities))
            position = sum(lots for lots, _ in watch.fills)
            if reached_at is None and position * LOT_BTC * PRICE_USD >= limit - one:
                reached_at = venue.server.sweeps.stats.sent
            assert bot.clock.monotonic() < 1_150, f"the sweeps never drove the position to the limit: {position}"
            orders = venue.open_orders(BTC)
            untracked_resting.extend(f"{'ask' if o.is_ask else 'bid'} {o.price} x {o.remaining_base_amount}"
                                     for o in orders if not known_to_bot(mm, o.client_order_index, o.order_index))
            best_bid, best_ask = venue.engine.best_bid_ask(BTC)
            crossed.extend(f"{o.price} vs {best_bid}/{best_ask}" for o in orders
                           if (not o.is_ask and best_ask is not None and o.price >= best_ask)
                           or (o.is_ask and best_bid is not None and o.price <= best_bid))
            await asyncio.sleep(0.05)
        venue.inject_fault("taker_sweep", stop=True)

        def adding_side_withdrawn() -> bool:  # long at the limit: no bid that could add exposure
            best_bid, best_ask = venue.engine.best_bid_ask(BTC)
            mid = (best_bid + best_ask) / 2
            orders = venue.open_orders(BTC)
            size = max((o.initial_base_amount for o in orders), default=mm.rules.min_base_lots)
            exposure = mm.rules.notional_usd(abs(mm.account.position_lots), mid)
            limit = mm.position_limit_usd(bot.clock.monotonic_ns(), mid)  # M as the bot computes it
            bids = [o for o in orders if not o.is_ask and not o.reduce_only]
            # one more order of its size, filled, would pass M: so no bid rests (the ask that reduces does)
            return limit is not None and exposure + mm.rules.notional_usd(size, mid) > limit and not bids \
                and any(o.is_ask for o in orders)

        await bot.wait_until(adding_side_withdrawn, "the bid to be withdrawn at the limit", timeout_s=5)
        return watch

    run_venue: list[LocalVenue] = []

    async def keep_venue(venue: LocalVenue) -> None:
        run_venue.append(venue)

    watch = with_local_bot(config, body, prepare=keep_venue, market_params=SWEEP_MARKET,
                           collateral_usd=COLLATERAL_USD)
    venue = run_venue[0]
    position = peak = peak_price = 0
    for trade in sorted(venue.engine.account_trades(venue.account_index, n=1_000_000), key=lambda t: t.trade_id):
        position += trade.size if trade.bid_account_id == venue.account_index else -trade.size
        if abs(position) >= peak:
            peak, peak_price = abs(position), trade.price
    assert position_path(venue)[-1] == venue.position_lots(BTC)
    limit, one = limit_usd(min(equities))
    peak_usd = peak * LOT_BTC * peak_price / 10
    assert peak_usd >= limit - one, "the sweeps never drove the position to within one order of M"
    assert peak_usd <= limit + one, (peak_usd, limit, one)
    assert sum(1 for lots, _ in watch.fills if lots > 0) >= 5, watch.fills  # the sweeps' sells hit the bids
    assert watch.untracked == [], watch.untracked
    assert untracked_resting == [], untracked_resting
    assert crossed == [], crossed
    assert venue.open_orders() == []


def test_a_silent_book_pulls_the_quotes_and_they_come_back_when_it_speaks(tmp_path: Path):
    """The book falls silent for 20 s (``stall_feed``): once past max(1 s, 20 x median interval) the bot has no
    order resting; after the book speaks again it quotes both sides again."""
    config = venue_config(tmp_path, vol_obi=AT_THE_TOUCH)
    seen: dict[str, int] = {}

    async def stall(venue: LocalVenue, clock: VirtualClock) -> None:
        await asyncio.sleep(20)
        seen["before"] = len(venue.open_orders(BTC))
        venue.inject_fault("stall_feed", seconds=20)
        await asyncio.sleep(5)  # well past the 1 s floor (the book updates every 50 ms)
        seen["during"] = len(venue.open_orders(BTC))
        await asyncio.sleep(25)  # the stall is over at 40 s
        seen["after"] = len(venue.open_orders(BTC))

    run = run_bot(config, 60, scenario=stall)
    assert run.status == EXIT_OK
    assert seen["before"] >= 2, seen
    assert seen["during"] == 0, seen
    assert seen["after"] >= 2, seen
