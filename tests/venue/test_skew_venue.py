"""The inventory skew on the local venue in virtual time: with a position, the side that adds to it is quoted
farther from mid than the side that reduces it. A small account ($1,000, one order 24 % of equity) quoting at
the touch; sells, then buys, from a separate account move its position both ways."""
from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from pathlib import Path

from venue_support import BTC, LOT_BTC, run_bot, venue_config

from lmm.daemon.run import EXIT_OK
from lmm.venue.clock import VirtualClock
from lmm.venue.local.venue import LocalVenue
from sim.market_params import MarketParams

LEVERAGE = 2
CAPITAL_USAGE = 0.12
COLLATERAL_USD = 1_000
FLAT_LIMIT_USD = 0.9 * COLLATERAL_USD * LEVERAGE * (1 - 2 * CAPITAL_USAGE)
MARKET = MarketParams(lighter_half_spread_bps=1.6)  # the bot's 1.5 bp quotes sit at the touch


@dataclass(frozen=True)
class Sample:
    position_btc: float
    mid: float
    quotes: tuple[int, int] | None  # (bid, ask) ticks when one order rests on each side


def skew_pairs(samples: list[Sample]) -> list[tuple[float, float, int]]:
    """(adding-side distance, reducing-side distance) from mid in bp, and the position's sign, for samples with
    |q| >= 0.1 M whose position had not changed since the sample before (the bot has had time to requote)."""
    pairs = []
    for before, now in itertools.pairwise(samples):
        if now.quotes is None or now.position_btc != before.position_btc:
            continue
        if abs(now.position_btc) * now.mid / 10 < 0.1 * FLAT_LIMIT_USD:
            continue
        bid, ask = now.quotes
        bid_bp, ask_bp = (now.mid - bid) / now.mid * 1e4, (ask - now.mid) / now.mid * 1e4
        pairs.append((bid_bp, ask_bp, 1) if now.position_btc > 0 else (ask_bp, bid_bp, -1))
    return pairs


def run_with_skew(tmp_path: Path, skew: float) -> list[Sample]:
    # the position alone moves the quotes off-centre: no alpha term (c1), requotes within 0.3 bp
    config = venue_config(tmp_path, vol_obi={"vol_to_half_spread": 2, "min_half_spread_bps": 1.5, "c1_ticks": 0,
                                             "skew": skew},
                          trading={"default_quote_update_threshold_bps": 0.3, "leverage": LEVERAGE,
                                   "capital_usage_percent": CAPITAL_USAGE},
                          quota_recovery={"enabled": False})
    samples: list[Sample] = []

    async def flow_and_watch(venue: LocalVenue, clock: VirtualClock) -> None:
        async def flow() -> None:
            await asyncio.sleep(10)  # long first, then short
            venue.inject_fault("taker_sweep", side="sell", size="0.002", interval_ms=1500, seconds=20,
                               market_id=BTC)
            await asyncio.sleep(22)
            venue.inject_fault("taker_sweep", side="buy", size="0.002", interval_ms=1500, seconds=40,
                               market_id=BTC)

        flows = asyncio.create_task(flow())
        try:
            while True:
                await asyncio.sleep(0.2)
                best_bid, best_ask = venue.engine.best_bid_ask(BTC)
                if best_bid is None or best_ask is None:
                    continue
                orders = venue.open_orders(BTC)
                bids = [o.price for o in orders if not o.is_ask]
                asks = [o.price for o in orders if o.is_ask]
                quotes = (bids[0], asks[0]) if len(bids) == 1 and len(asks) == 1 else None
                samples.append(Sample(venue.position_lots(BTC) * LOT_BTC, (best_bid + best_ask) / 2, quotes))
        finally:
            flows.cancel()

    run = run_bot(config, 75, scenario=flow_and_watch, market_params=MARKET, collateral_usd=COLLATERAL_USD)
    assert run.status == EXIT_OK
    return samples


def test_inventory_skews_the_quotes(tmp_path: Path) -> None:
    pairs = skew_pairs(run_with_skew(tmp_path, skew=5))
    assert len(pairs) >= 100, f"too few samples with a position: {pairs}"
    assert {sign for _, _, sign in pairs} == {1, -1}, "the flow should have made the bot both long and short"
    # without a skew both figures would sit near one half and zero (the quotes drift either way with the mid)
    farther = sum(1 for adding, reducing, _ in pairs if adding > reducing)
    mean_excess_bp = sum(adding - reducing for adding, reducing, _ in pairs) / len(pairs)
    assert farther >= 0.8 * len(pairs), pairs
    assert mean_excess_bp > 0.25, mean_excess_bp


def test_without_skew_the_quotes_stay_centred(tmp_path: Path) -> None:
    """The control: the same run with ``skew`` 0 fails the figures above."""
    pairs = skew_pairs(run_with_skew(tmp_path, skew=0))
    assert len(pairs) >= 100
    farther = sum(1 for adding, reducing, _ in pairs if adding > reducing)
    mean_excess_bp = sum(adding - reducing for adding, reducing, _ in pairs) / len(pairs)
    assert farther < 0.8 * len(pairs) and abs(mean_excess_bp) < 0.25, (farther, len(pairs), mean_excess_bp)
