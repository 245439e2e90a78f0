# The synthetic market: fair prices, the Binance books that reveal their pressure, and the other traders
# on the Lighter engine, advanced together on one clock.
# Rules: seeded and reproducible (the same seed and the same sequence of `step` calls give the same
# market); no I/O and no asyncio; time comes in as `now_ns` (Unix ns, used for Binance event times and
# Lighter transactions). Internally the fair price and the Binance book move in fixed micro-steps of
# `MarketParams.micro_step_ms`, so the path does not depend on how often `step` is called; the Lighter
# flow (requotes, market orders) runs at each `step` call.
#
# Entry points for the runner:
#   market = SyntheticMarket(engine, MarketParams(), seed=1)   # engine=None: Binance side only
#   market.step(now_ns)            # every ~10 ms; advances the market to now_ns
#   market.running = False / True  # freeze / resume (a frozen market changes nothing; feeds stay up)
#   market.binance_books["BTCUSDT"] -> BinanceBook (truth, snapshots, listeners; see sim.binance_book)
from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sim.binance_book import BinanceBook, BinanceSymbolSpec
from sim.binance_flow import BinanceBookFlow
from sim.engine import Engine
from sim.lighter_flow import FlowStats, LighterLiquidity, LighterTakers, MarketAccount
from sim.market_params import InstrumentParams, MarketParams
from sim.price_process import FairPriceProcess

_MAX_CATCH_UP_NS = 2_000_000_000  # after a longer stall of the caller, the market skips ahead


@dataclass(frozen=True, slots=True)
class MarketAccounts:
    """Engine account indexes used by the market itself (exclude them from "other traders" views)."""

    liquidity: int | None
    taker: int | None


class _Instrument:
    def __init__(self, params: InstrumentParams, price: FairPriceProcess, book: BinanceBook,
                 flow: BinanceBookFlow, liquidity: LighterLiquidity | None, takers: LighterTakers | None) -> None:
        self.params = params
        self.price = price
        self.book = book
        self.flow = flow
        self.liquidity = liquidity
        self.takers = takers


class SyntheticMarket:
    """Both venues' market activity for every instrument of `params`."""

    def __init__(self, engine: Engine | None, params: MarketParams | None = None, seed: int = 0,
                 start_ns: int | None = None) -> None:
        """`start_ns` defaults to the wall clock; tests pass a simulated time."""
        self.params = params or MarketParams()
        self.seed = seed
        self.stats = FlowStats()
        start = time.time_ns() if start_ns is None else start_ns
        step_ns = self.params.micro_step_ns
        self._step_ns = step_ns
        self._next_micro_ns = (start // step_ns + 1) * step_ns
        self._next_requote_ns = start
        self._requote_ns = self.params.lighter_requote_interval_ms * 1_000_000
        self._running = True
        self._resume_pending = False
        self._engine = engine
        liquidity_account = taker_account = None
        if engine is not None:
            liquidity_account = MarketAccount(engine, self.params.market_collateral_usdc, self.stats)
            taker_account = MarketAccount(engine, self.params.market_collateral_usdc, self.stats)
        self.accounts = MarketAccounts(
            liquidity_account.account_index if liquidity_account else None,
            taker_account.account_index if taker_account else None)
        self._instruments = [self._build(item, start, engine, liquidity_account, taker_account)
                             for item in self.params.instruments]
        self.binance_books: Mapping[str, BinanceBook] = MappingProxyType(
            {i.params.binance_symbol: i.book for i in self._instruments})

    def _build(self, item: InstrumentParams, start_ns: int, engine: Engine | None,
               liquidity_account: MarketAccount | None, taker_account: MarketAccount | None) -> _Instrument:
        params = self.params
        symbol = item.binance_symbol

        def rng(part: str) -> random.Random:
            return random.Random(f"{self.seed}/{symbol}/{part}")

        price = FairPriceProcess(item.initial_price, item.per_second_volatility(), params.pressure_timescale_s,
                                 params.pressure_variance_share, params.micro_step_ms / 1000, rng("price"),
                                 history_steps=params.lighter_lag_ms // params.micro_step_ms)
        spec = BinanceSymbolSpec(symbol, item.binance_price_decimals, item.binance_qty_decimals,
                                 item.binance_price_text_decimals)
        first_id = rng("ids").randrange(10**12, 9 * 10**12)
        book = BinanceBook(spec, first_id, start_ns, history_s=params.binance_snapshot_history_s)
        flow = BinanceBookFlow(book, item, params, rng("binance"))
        flow.seed_book(start_ns, price.price, price.pressure)
        liquidity = takers = None
        if engine is not None and liquidity_account is not None and taker_account is not None:
            markets = engine.markets
            if item.lighter_market_id not in markets:
                raise ValueError(f"the engine has no market {item.lighter_market_id} for {symbol}")
            market_spec = markets[item.lighter_market_id]
            liquidity = LighterLiquidity(engine, liquidity_account, market_spec, item, params, rng("liquidity"),
                                         self.stats)
            takers = LighterTakers(engine, taker_account, market_spec, item, params, rng("takers"), self.stats,
                                   start_ns)
        return _Instrument(item, price, book, flow, liquidity, takers)

    # ---- control -------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running

    @running.setter
    def running(self, value: bool) -> None:
        if value and not self._running:
            self._resume_pending = True
        self._running = bool(value)

    # ---- reading -------------------------------------------------------------------------------------

    def fair_price(self, binance_symbol: str) -> float:
        return self._instrument(binance_symbol).price.price

    def pressure(self, binance_symbol: str) -> float:
        return self._instrument(binance_symbol).price.pressure

    def lagged_fair_price(self, binance_symbol: str) -> float:
        """The fair price the Lighter liquidity currently quotes around."""
        return self._instrument(binance_symbol).price.lagged_price()

    def _instrument(self, binance_symbol: str) -> _Instrument:
        for inst in self._instruments:
            if inst.params.binance_symbol == binance_symbol:
                return inst
        raise KeyError(binance_symbol)

    # ---- time ----------------------------------------------------------------------------------------

    def step(self, now_ns: int) -> None:
        """Advance the market to `now_ns` (call it every ~10 ms; later calls with older times do nothing
        but flush the feeds)."""
        step_ns = self._step_ns
        if not self._running or self._resume_pending:
            # frozen: nothing moves, but pending feed batches still go out on their cadence
            self._next_micro_ns = max(self._next_micro_ns, (now_ns // step_ns + 1) * step_ns)
            if self._resume_pending and self._running:
                self._resume_pending = False
                self._next_requote_ns = now_ns
                for inst in self._instruments:
                    if inst.takers is not None:
                        inst.takers.reset_clock(now_ns)
            self._flush(now_ns)
            return
        if now_ns - self._next_micro_ns > _MAX_CATCH_UP_NS:
            self._next_micro_ns = (now_ns - _MAX_CATCH_UP_NS) // step_ns * step_ns
        while self._next_micro_ns <= now_ns:
            t = self._next_micro_ns
            for inst in self._instruments:
                inst.book.advance_clock(t - 1)  # cadence ticks strictly before this micro-update
                inst.price.advance()
                inst.flow.micro_update(t, inst.price.price, inst.price.pressure)
            self._next_micro_ns = t + step_ns
        if self._engine is not None:
            self._run_lighter(now_ns)
        self._flush(now_ns)

    def _run_lighter(self, now_ns: int) -> None:
        requote = now_ns >= self._next_requote_ns
        if requote:
            self._next_requote_ns = now_ns + self._requote_ns
        for inst in self._instruments:
            if inst.takers is not None:
                inst.takers.run_until(now_ns, inst.price.price)
            if requote and inst.liquidity is not None:
                inst.liquidity.requote(now_ns, inst.price.lagged_price())

    def _flush(self, now_ns: int) -> None:
        for inst in self._instruments:
            inst.book.advance_clock(now_ns)
