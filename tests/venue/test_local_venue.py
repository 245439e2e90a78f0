"""The daemon end to end on the in-process local venue, in virtual time: it starts, quotes both sides without
ever crossing, and leaves no order behind; the same seed gives the same run."""
from __future__ import annotations

import asyncio
from pathlib import Path

from venue_support import BTC, position_path, run_bot, venue_config

from lmm.daemon.run import EXIT_OK
from lmm.venue.clock import VirtualClock
from lmm.venue.local.venue import LocalVenue
from sim.market_params import MarketParams

TIGHT = {"vol_to_half_spread": 1e-6, "c1_ticks": 0, "min_half_spread_bps": 1.5}
# the synthetic market maker 1.6 bp from fair, the bot 1.5 bp: the sweeps reach the bot's quotes
MARKET = MarketParams(lighter_half_spread_bps=1.6)


class QuoteWatch:
    """Every 100 ms of virtual time: the bot's resting orders against the venue's own touch."""

    def __init__(self) -> None:
        self.samples = self.both_sides = self.crossed = 0

    async def __call__(self, venue: LocalVenue, clock: VirtualClock) -> None:
        while True:
            await asyncio.sleep(0.1)
            orders = venue.open_orders(BTC)
            bids = [o.price for o in orders if not o.is_ask]
            asks = [o.price for o in orders if o.is_ask]
            best_bid, best_ask = venue.engine.best_bid_ask(BTC)
            self.samples += 1
            self.both_sides += bool(bids and asks)
            # a resting bid at or above the best ask (or an ask at or below the best bid) would have crossed
            self.crossed += bool((bids and best_ask is not None and max(bids) >= best_ask)
                                 or (asks and best_bid is not None and min(asks) <= best_bid))


def test_the_bot_quotes_both_sides_never_crosses_and_leaves_nothing(tmp_path: Path):
    watch = QuoteWatch()
    run = run_bot(venue_config(tmp_path, vol_obi=TIGHT), 60, scenario=watch)
    assert run.status == EXIT_OK
    assert watch.samples >= 590  # the whole run was watched, in virtual time
    assert watch.both_sides >= 0.8 * watch.samples, vars(watch)  # quoting both sides once warmed up (5 s)
    assert watch.crossed == 0, vars(watch)
    assert run.venue.open_orders() == [], "an order was left resting after shutdown"


def test_the_same_seed_gives_the_same_run(tmp_path: Path):
    config = venue_config(tmp_path, vol_obi=TIGHT, trading={"default_quote_update_threshold_bps": 0.7})

    async def sweeps(venue: LocalVenue, clock: VirtualClock) -> None:  # fills on both sides
        await asyncio.sleep(20)
        venue.inject_fault("taker_sweep", side="sell", size="0.05", interval_ms=700, seconds=15, market_id=BTC)
        await asyncio.sleep(17)
        venue.inject_fault("taker_sweep", side="buy", size="0.05", interval_ms=700, seconds=15, market_id=BTC)

    def trades(seed: int) -> list[tuple[int, int, int, int]]:
        run = run_bot(config, 60, scenario=sweeps, seed=seed, market_params=MARKET)
        assert run.status == EXIT_OK
        account = run.venue.account_index
        return [(t.timestamp_ms, t.price, t.size, int(t.bid_account_id == account))
                for t in run.venue.engine.account_trades(account, n=100_000)]

    first = trades(seed=3)
    assert len(first) >= 4, "the sweeps should have filled the bot"
    assert trades(seed=3) == first
    assert trades(seed=4) != first


def test_position_path_is_read_from_the_venue(tmp_path: Path):
    async def sweep(venue: LocalVenue, clock: VirtualClock) -> None:
        await asyncio.sleep(20)
        venue.inject_fault("taker_sweep", side="sell", size="0.05", interval_ms=500, count=3, market_id=BTC)

    run = run_bot(venue_config(tmp_path, vol_obi=TIGHT), 40, scenario=sweep, market_params=MARKET)
    path = position_path(run.venue)
    assert path and path[-1] == run.venue.position_lots(BTC)
    assert max(path) > 0  # sells hit the bot's bid: it bought


def test_a_white_box_runtime_on_the_local_venue(tmp_path: Path):
    from venue_support import LocalBot, with_local_bot

    from lmm.core.order_state import Side, SlotState

    async def body(bot: LocalBot) -> int:
        await bot.wait_until(lambda: bot.rt.mm.orders.slots[(Side.BID, 0)].state is SlotState.LIVE, "a live bid")
        return len(bot.venue.open_orders(BTC))

    assert with_local_bot(venue_config(tmp_path, vol_obi=TIGHT), body) >= 1


def test_local_runs_repeat_fill_for_fill_and_keep_their_own_history(tmp_path: Path):
    """``--local`` (``run_on_local_venue``) starts every run at the same virtual instant: the same seed gives the
    same fills; its history goes to ``fills-local``, never into the live ``fills``."""
    from lmm.daemon.fill_history import day_files, history_dir
    from lmm.daemon.venues import run_on_local_venue

    config = venue_config(tmp_path, vol_obi={"vol_to_half_spread": 2, "min_half_spread_bps": 1.5},
                          trading={"default_quote_update_threshold_bps": 0.7})
    histories = []
    for run in ("a", "b"):
        fills = history_dir(tmp_path / run, "local")
        assert run_on_local_venue(config, "BTC", duration=60, seed=3, fill_dir=fills) == 0
        histories.append([path.read_text() for path in day_files(fills)])
    assert histories[0] == histories[1] and histories[0], "the run filled, and the same way twice"
    assert history_dir(tmp_path, "local").name == "fills-local" and history_dir(tmp_path).name == "fills"
