# The random order flow that shapes the Binance book of one symbol around the fair price.
# Rules: pure and seeded (a random.Random passed in); writes only through BinanceBook.apply/record_trade.
#
# Levels at distance k ticks from the touch settle at density ρ(k) = 1 for k < k0 and k0/k beyond (dense
# near the touch, sparse deep). Per micro-update:
#   1. the touch follows the fair price (spread one tick); levels it moves through are consumed (they
#      become trades) and the ticks it leaves behind fill at density ρ;
#   2. levels beyond ±extent of the fair price are dropped;
#   3. per side, Poisson numbers of: size re-draws of uniformly chosen existing levels; deaths of uniformly
#      chosen levels beyond k0 (mean life `binance_level_lifetime_s`); births at k drawn from ρ. Births
#      ∝ ρ(k) and deaths ∝ 1 per level keep the density at ρ and forget a level left behind by a price move
#      within a lifetime;
#   4. sizes are lognormal, growing slowly with depth, and tilted by exp(±skew · pressure): bids grow and
#      asks shrink under buying pressure, so the band imbalance tracks the pressure with a lag of about
#      one re-draw period;
#   5. small aggressive trades hit the touch, buyers more likely under positive pressure.
from __future__ import annotations

import math
import random

from sim.binance_book import BinanceBook
from sim.market_params import InstrumentParams, MarketParams

_SIZE_DEPTH_SCALE_TICKS = 200.0  # sizes grow as √(1 + k / this) with the distance k from the touch


class BinanceBookFlow:
    """Drives one BinanceBook from the fair price and the pressure."""

    def __init__(self, book: BinanceBook, instrument: InstrumentParams, params: MarketParams,
                 rng: random.Random) -> None:
        self._book = book
        self._rng = rng
        self._tick = instrument.binance_tick
        self._lot = 10.0 ** -instrument.binance_qty_decimals
        self._level_size = instrument.binance_level_size
        self._size_sigma = params.binance_size_sigma
        self._skew = params.binance_pressure_skew
        self._extent = params.binance_book_extent
        self._dense = params.binance_dense_ticks
        step_s = params.micro_step_ms / 1000
        self._resize_mean = params.binance_level_refresh_hz * step_s / 2  # per side
        self._death_rate = step_s / params.binance_level_lifetime_s  # per level and micro-step
        self._birth_mean = 0.0  # per side and micro-step; follows the book's extent (∝ price)
        self._step_s = step_s
        self._lifetime_s = params.binance_level_lifetime_s
        trade_rate = (params.binance_trade_rate_hz if instrument.binance_trade_rate_hz is None
                      else instrument.binance_trade_rate_hz)
        self._trade_prob = 1.0 - math.exp(-trade_rate * step_s)
        self._unknown_delete_prob = params.binance_unknown_delete_prob
        self._max_stride = params.binance_max_id_stride
        self._best_bid = 0  # touch ticks; the ask touch is one tick above
        self._max_distance = 1

    # ---- public --------------------------------------------------------------------------------------

    def seed_book(self, time_ns: int, fair_price: float, pressure: float) -> None:
        """Fill an empty book at its equilibrium density (one large micro-update)."""
        self._best_bid = self._touch_for(fair_price)
        self._max_distance = max(1, int(fair_price / self._tick * self._extent))
        self._birth_mean = self._distance_mass() * self._step_s / self._lifetime_s
        bids: dict[int, int] = {}
        asks: dict[int, int] = {}
        for k in range(self._max_distance):
            if k == 0 or self._rng.random() < self._density(k):
                bids[self._best_bid - k] = self._draw_size(k, True, pressure)
            if k == 0 or self._rng.random() < self._density(k):
                asks[self._best_bid + 1 + k] = self._draw_size(k, False, pressure)
        self._book.apply(time_ns, self._stride(), bids, asks)

    def micro_update(self, time_ns: int, fair_price: float, pressure: float) -> None:
        book = self._book
        rng = self._rng
        bids: dict[int, int] = {}
        asks: dict[int, int] = {}
        self._max_distance = max(1, int(fair_price / self._tick * self._extent))
        self._birth_mean = self._distance_mass() * self._step_s / self._lifetime_s
        self._move_touch(time_ns, self._touch_for(fair_price), pressure, bids, asks)
        self._trim_deep(fair_price, bids, asks)
        for is_bid, changes, ticks in ((True, bids, book.bid_ticks()), (False, asks, book.ask_ticks())):
            for _ in range(_poisson(rng, self._resize_mean)):
                tick = ticks[rng.randrange(len(ticks))]
                if changes.get(tick) != 0:
                    changes[tick] = self._draw_size(self._distance(is_bid, tick), is_bid, pressure)
            for _ in range(_poisson(rng, len(ticks) * self._death_rate)):
                tick = ticks[rng.randrange(len(ticks))]
                if self._distance(is_bid, tick) >= self._dense:
                    changes[tick] = 0
            for _ in range(_poisson(rng, self._birth_mean)):
                k = self._sample_distance()
                changes[self._tick_at(is_bid, k)] = self._draw_size(k, is_bid, pressure)
        if rng.random() < self._trade_prob:
            self._aggressive_trade(time_ns, pressure, bids, asks)
        if rng.random() < self._unknown_delete_prob:
            self._delete_unknown_level(bids, asks)
        book.apply(time_ns, self._stride(), bids, asks)

    # ---- steps ---------------------------------------------------------------------------------------

    def _move_touch(self, time_ns: int, new_best_bid: int, pressure: float, bids: dict[int, int],
                    asks: dict[int, int]) -> None:
        book = self._book
        old_best_bid = self._best_bid
        if new_best_bid > old_best_bid:
            for tick in book.ask_ticks():
                if tick > new_best_bid:
                    break
                book.record_trade(time_ns, tick, book.level(False, tick), buyer_is_maker=False)
                asks[tick] = 0
        elif new_best_bid < old_best_bid:
            for tick in reversed(book.bid_ticks()):
                if tick <= new_best_bid:
                    break
                book.record_trade(time_ns, tick, book.level(True, tick), buyer_is_maker=True)
                bids[tick] = 0
        self._best_bid = new_best_bid
        # liquidity follows the price: the ticks the touch left behind fill at the equilibrium density
        if new_best_bid > old_best_bid:
            for k in range(min(new_best_bid - old_best_bid, self._max_distance)):
                if k == 0 or self._rng.random() < self._density(k):
                    bids[new_best_bid - k] = self._draw_size(k, True, pressure)
        elif new_best_bid < old_best_bid:
            for k in range(min(old_best_bid - new_best_bid, self._max_distance)):
                if k == 0 or self._rng.random() < self._density(k):
                    asks[new_best_bid + 1 + k] = self._draw_size(k, False, pressure)
        if not book.level(True, new_best_bid) or bids.get(new_best_bid) == 0:
            bids[new_best_bid] = self._draw_size(0, True, pressure)
        if not book.level(False, new_best_bid + 1) or asks.get(new_best_bid + 1) == 0:
            asks[new_best_bid + 1] = self._draw_size(0, False, pressure)

    def _trim_deep(self, fair_price: float, bids: dict[int, int], asks: dict[int, int]) -> None:
        fair_ticks = fair_price / self._tick
        lowest_bid = math.ceil(fair_ticks * (1 - self._extent))
        highest_ask = math.floor(fair_ticks * (1 + self._extent))
        for tick in self._book.bid_ticks():
            if tick >= lowest_bid:
                break
            bids[tick] = 0
        for tick in reversed(self._book.ask_ticks()):
            if tick <= highest_ask:
                break
            asks[tick] = 0

    def _aggressive_trade(self, time_ns: int, pressure: float, bids: dict[int, int], asks: dict[int, int]) -> None:
        buy = self._rng.random() < 1.0 / (1.0 + math.exp(-pressure))
        is_bid_hit = not buy
        tick = self._best_bid if is_bid_hit else self._best_bid + 1
        changes = bids if is_bid_hit else asks
        resting = changes.get(tick) or self._book.level(is_bid_hit, tick)
        if not resting:
            return
        size = max(1, int(self._draw_size(0, is_bid_hit, 0.0) * self._rng.random()))
        traded = min(size, resting)
        self._book.record_trade(time_ns, tick, traded, buyer_is_maker=is_bid_hit)
        # the touch is replenished at once if consumed: the fair price, not trades, moves the touch
        changes[tick] = resting - traded or self._draw_size(0, is_bid_hit, pressure)

    def _delete_unknown_level(self, bids: dict[int, int], asks: dict[int, int]) -> None:
        is_bid = self._rng.random() < 0.5
        k = self._dense + self._rng.randrange(self._max_distance)
        tick = self._best_bid - k if is_bid else self._best_bid + 1 + k
        changes = bids if is_bid else asks
        if tick not in changes and not self._book.level(is_bid, tick):
            changes[tick] = 0

    # ---- helpers -------------------------------------------------------------------------------------

    def _touch_for(self, fair_price: float) -> int:
        return math.floor(fair_price / self._tick - 0.5)

    def _density(self, k: int) -> float:
        return 1.0 if k < self._dense else self._dense / k

    def _distance(self, is_bid: bool, tick: int) -> int:
        return self._best_bid - tick if is_bid else tick - self._best_bid - 1

    def _tick_at(self, is_bid: bool, distance: int) -> int:
        return self._best_bid - distance if is_bid else self._best_bid + 1 + distance

    def _distance_mass(self) -> float:
        """∫ρ over [0, max_distance): the equilibrium number of levels per side."""
        dense = self._dense
        return dense + dense * math.log(max(self._max_distance, dense) / dense)

    def _sample_distance(self) -> int:
        """Distance from the touch with density ρ(k) on [0, max_distance) (inverse CDF)."""
        dense = self._dense
        u = self._rng.random() * self._distance_mass()
        if u < dense:
            return int(u)
        return min(int(dense * math.exp((u - dense) / dense)), self._max_distance - 1)

    def _draw_size(self, k: int, is_bid: bool, pressure: float) -> int:
        sigma = self._size_sigma
        tilt = self._skew * pressure if is_bid else -self._skew * pressure
        size = (self._level_size * math.sqrt(1.0 + k / _SIZE_DEPTH_SCALE_TICKS)
                * math.exp(sigma * self._rng.gauss(0.0, 1.0) - 0.5 * sigma * sigma + tilt))
        return max(1, round(size / self._lot))

    def _stride(self) -> int:
        return self._rng.randint(1, self._max_stride)


def _poisson(rng: random.Random, mean: float) -> int:
    """Poisson variate by inversion (small means only)."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit = math.exp(-mean)
    count = 0
    product = rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
