# Measure the synthetic market with the calibration's own code (sim.profile_stats), in simulated time:
# the engine and SyntheticMarket stepped every 10 ms as the runner does, the Lighter order book published
# in 50 ms batches through the feeds' own BookChain (what an `order_book` subscriber receives), the Binance
# book read from its @depth@100ms diffs by the product's BinanceDepthSync. No socket, no wall clock.
#
#   stats = probe_market(params, seed=1, seconds=120, symbol="BTCUSDT")   # same shape as a profile's
#   python -m sim.market_probe --profile default --symbol BTCUSDT --seconds 120   # prints the JSON
from __future__ import annotations

import argparse
import json
import random
import sys

from lmm.book.binance_depth import SyncAction
from sim.binance_book import AggTradeEvent, BinanceEvent, DepthDiff
from sim.book_chain import BookChain
from sim.engine import Engine
from sim.engine_views import BookLevelChange, TradeEvent
from sim.market import SyntheticMarket
from sim.market_params import MarketParams
from sim.profile_stats import (
    BinanceBookState,
    LighterBookState,
    MarketRecorder,
    VenueSeries,
    market_stats,
    quantiles,
    taker_orders,
)

STEP_NS = 10_000_000  # the runner's market step
PUBLISH_NS = 50_000_000  # the feeds' publishing beat
START_NS = 1_800_000_000 * 10**9
WARMUP_S = 5.0  # the market settles (books filled, first requotes) before measuring


def probe_market(params: MarketParams, seed: int, seconds: float, symbol: str = "BTCUSDT") -> dict:
    """The statistics of `seconds` of the synthetic market, measured as `sim.calibrate` measures a tape."""
    engine = Engine()
    market = SyntheticMarket(engine, params, seed=seed, start_ns=START_NS)
    instrument = params.instrument(symbol)
    book = market.binance_books[symbol]
    spec = engine.markets[instrument.lighter_market_id]
    binance = VenueSeries(tick=10.0 ** -instrument.binance_price_decimals, usd_per_lot=None,
                          lot=10.0 ** -instrument.binance_qty_decimals)
    lighter = VenueSeries(tick=10.0 ** -spec.price_decimals, usd_per_lot=None, lot=10.0 ** -spec.size_decimals)
    binance_book = BinanceBookState(instrument.binance_price_decimals, instrument.binance_qty_decimals)
    takers = VenueSeries(tick=lighter.tick, usd_per_lot=None, lot=lighter.lot)  # the Poisson takers alone
    lighter_book = LighterBookState()
    recorder = MarketRecorder(binance, binance_book, lighter, lighter_book)
    measuring = False

    def on_binance(event: BinanceEvent) -> None:
        if isinstance(event, DepthDiff) and event.cadence_ms == 100:
            action = binance_book.depth(event.first_update_id, event.final_update_id,
                                        event.prev_final_update_id, event.bids, event.asks)
            if action is SyncAction.FETCH_SNAPSHOT:  # answered at once, as the simulator's REST would
                snapshot = book.snapshot()
                binance_book.snapshot(snapshot.last_update_id, snapshot.bids, snapshot.asks)
            if measuring:
                binance.update_changes.append(len(event.bids) + len(event.asks))
        elif isinstance(event, AggTradeEvent) and measuring:
            MarketRecorder.trade(binance, event.trade_time_ms * 1_000_000, not event.buyer_is_maker,
                                 event.price * binance.tick, event.quantity)

    now = START_NS
    warmup_end = START_NS + int(WARMUP_S * 1e9)
    end = warmup_end + int(seconds * 1e9)
    chain: BookChain | None = None
    while now < end:
        now += STEP_NS
        if measuring:
            recorder.advance(now)
        market.step(now)
        if now % PUBLISH_NS:
            continue
        events = engine.take_events()
        if chain is None:
            if now < warmup_end:
                continue
            bids, asks = engine.book_levels(spec.market_id)
            chain = BookChain(spec.market_id, random.Random(seed), bids, asks, first_nonce=1)
            lighter_book.apply(True, bids, asks)
            book.add_listener(on_binance)
            measuring = True
            recorder.advance(now)
            continue
        for event in events:
            if isinstance(event, BookLevelChange) and event.market_id == spec.market_id:
                chain.record(event.is_ask, event.price, event.size)
            elif isinstance(event, TradeEvent) and event.trade.market_id == spec.market_id:
                trade = event.trade
                MarketRecorder.trade(lighter, trade.transaction_time_us * 1000, trade.is_maker_ask,
                                     trade.price * lighter.tick, trade.size)
                if trade.taker_account_id == market.accounts.taker:
                    MarketRecorder.trade(takers, trade.transaction_time_us * 1000, trade.is_maker_ask,
                                         trade.price * lighter.tick, trade.size)
        update = chain.take_update()
        if update is not None:
            changes = lighter_book.apply(False, update.bids, update.asks)
            if changes:
                lighter.update_changes.append(changes)
    recorder.advance(end)
    stats = market_stats(binance, lighter)
    orders = taker_orders(takers.fills)
    stats["flow"] = {"picked_off": market.picked_off(symbol), "accepted": market.stats.accepted,
                     "rejected": market.stats.rejected, "rate_limited": market.stats.rate_limited,
                     "poisson_taker_orders_per_s": len(orders) / seconds,
                     "poisson_taker_order_usd": quantiles(orders)}
    return stats


def main(argv: list[str] | None = None) -> int:
    from sim.market_profile import profile_market_params

    parser = argparse.ArgumentParser(prog="python -m sim.market_probe")
    parser.add_argument("--profile", default="default")
    parser.add_argument("--symbol", default="BTCUSDT")
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    stats = probe_market(profile_market_params(args.profile), args.seed, args.seconds, args.symbol)
    print(json.dumps(stats, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
