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
from sim.binance_flow import BinanceBookFlow, _poisson
from sim.engine import Engine
from sim.lighter_competition import RivalMaker, Sniper
from sim.lighter_flow import FlowStats, LighterLiquidity, LighterTakers, MarketAccount
from sim.market_params import InstrumentParams, MarketParams
from sim.price_process import FairPriceProcess, LogNoise

_MAX_CATCH_UP_NS = 2_000_000_000  # after a longer stall of the caller, the market skips ahead


@dataclass(frozen=True, slots=True)
class MarketAccounts:
    """Engine account indexes used by the market itself (exclude them from "other traders" views)."""

    liquidity: int | None
    taker: int | None
    rivals: tuple[int, ...] = ()
    sniper: int | None = None


class _Instrument:
    def __init__(self, params: InstrumentParams, price: FairPriceProcess, book: BinanceBook,
                 flow: BinanceBookFlow, liquidity: LighterLiquidity | None, takers: LighterTakers | None) -> None:
        self.params = params
        self.price = price
        self.book = book
        self.flow = flow
        self.liquidity = liquidity
        self.takers = takers
        self.binance_noise: LogNoise | None = None
        self.lighter_noise: LogNoise | None = None
        self.lag_rng: random.Random | None = None
        self.churn_rng: random.Random | None = None
        self.rivals: list[RivalMaker] = []
        self.sniper: Sniper | None = None


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
        self._last_lighter_ns = 0
        self._lag_steps = self.params.lighter_lag_ms // self.params.micro_step_ms
        self._taker_latency_steps = self.params.taker_latency_ms // self.params.micro_step_ms
        self._engine = engine
        liquidity_account = taker_account = None
        if engine is not None:
            liquidity_account = MarketAccount(engine, self.params.market_collateral_usdc, self.stats)
            taker_account = MarketAccount(engine, self.params.market_collateral_usdc, self.stats)
        rival_accounts: list[MarketAccount] = []
        sniper_account: MarketAccount | None = None
        if engine is not None:
            rival_accounts = [MarketAccount(engine, self.params.market_collateral_usdc, self.stats)
                              for _ in range(self.params.rival_makers)]
            if self.params.sniper_edge_bps > 0:
                sniper_account = MarketAccount(engine, self.params.market_collateral_usdc, self.stats)
        self.accounts = MarketAccounts(
            liquidity_account.account_index if liquidity_account else None,
            taker_account.account_index if taker_account else None,
            tuple(a.account_index for a in rival_accounts),
            sniper_account.account_index if sniper_account else None)
        self._instruments = [self._build(item, start, engine, liquidity_account, taker_account)
                             for item in self.params.instruments]
        self._add_realism(start, engine, rival_accounts, sniper_account)
        self.binance_books: Mapping[str, BinanceBook] = MappingProxyType(
            {i.params.binance_symbol: i.book for i in self._instruments})

    def _build(self, item: InstrumentParams, start_ns: int, engine: Engine | None,
               liquidity_account: MarketAccount | None, taker_account: MarketAccount | None) -> _Instrument:
        params = self.params
        symbol = item.binance_symbol

        def rng(part: str) -> random.Random:
            return random.Random(f"{self.seed}/{symbol}/{part}")

        share = params.pressure_variance_share if item.pressure_variance_share is None else item.pressure_variance_share
        price = FairPriceProcess(item.initial_price, item.per_second_volatility(), params.pressure_timescale_s,
                                 share, params.micro_step_ms / 1000, rng("price"),
                                 history_steps=max(params.max_lag_ms, params.taker_latency_ms)
                                 // params.micro_step_ms)
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

    def _add_realism(self, start_ns: int, engine: Engine | None, rival_accounts: list[MarketAccount],
                     sniper_account: MarketAccount | None) -> None:
        """The profile's knobs; each draws from its own random stream, so the kind market is unchanged."""
        params = self.params
        step_s = params.micro_step_ms / 1000
        for inst in self._instruments:
            symbol = inst.params.binance_symbol

            def rng(part: str, symbol: str = symbol) -> random.Random:
                return random.Random(f"{self.seed}/{symbol}/{part}")

            if params.binance_noise_bps > 0:
                inst.binance_noise = LogNoise(params.binance_noise_bps, params.binance_noise_timescale_s, step_s,
                                              rng("binance-noise"))
            if params.lighter_noise_bps > 0:
                inst.lighter_noise = LogNoise(params.lighter_noise_bps, params.lighter_noise_timescale_s, step_s,
                                              rng("lighter-noise"))
            if params.lighter_lag_jitter_ms > 0:
                inst.lag_rng = rng("lag")
            if params.lighter_churn_hz > 0:
                inst.churn_rng = rng("churn")
            if engine is None or inst.liquidity is None:
                continue
            spec = engine.markets[inst.params.lighter_market_id]
            inst.rivals = [RivalMaker(engine, account, spec, params, rng(f"rival{i}"), self.stats, start_ns)
                           for i, account in enumerate(rival_accounts)]
            if sniper_account is not None:
                inst.sniper = Sniper(engine, sniper_account, spec, params)

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
        """The fair price of `lighter_lag_ms` ago (the Lighter liquidity's mean reference)."""
        return self._instrument(binance_symbol).price.lagged_price(self._lag_steps)

    def binance_mid_target(self, binance_symbol: str) -> float:
        """The price the Binance touch follows: the fair price times Binance's own noise."""
        inst = self._instrument(binance_symbol)
        return inst.price.price * (inst.binance_noise.factor if inst.binance_noise else 1.0)

    def picked_off(self, binance_symbol: str) -> int:
        """Sniper orders sent on the instrument's Lighter market."""
        sniper = self._instrument(binance_symbol).sniper
        return sniper.picked_off if sniper else 0

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
                price = inst.price.price
                if inst.binance_noise is not None:
                    inst.binance_noise.advance()
                    price *= inst.binance_noise.factor
                if inst.lighter_noise is not None:
                    inst.lighter_noise.advance()
                inst.flow.micro_update(t, price, inst.price.pressure)
            self._next_micro_ns = t + step_ns
        if self._engine is not None:
            self._run_lighter(now_ns)
        self._flush(now_ns)

    def _run_lighter(self, now_ns: int) -> None:
        requote = now_ns >= self._next_requote_ns
        elapsed_s = (now_ns - self._last_lighter_ns) / 1e9 if self._last_lighter_ns else 0.0
        self._last_lighter_ns = now_ns
        if requote:
            self._next_requote_ns = now_ns + self._requote_ns
        for inst in self._instruments:
            seen = inst.price.lagged_price(self._taker_latency_steps) if self._taker_latency_steps else inst.price.price
            if inst.takers is not None:
                inst.takers.run_until(now_ns, seen)
            if inst.sniper is not None:
                inst.sniper.run(now_ns, seen)
            if requote and inst.liquidity is not None:
                inst.liquidity.requote(now_ns, self._lighter_reference(inst))
            if inst.churn_rng is not None and inst.liquidity is not None and elapsed_s > 0:
                inst.liquidity.churn(now_ns, _poisson(inst.churn_rng, self.params.lighter_churn_hz * elapsed_s))
            for rival in inst.rivals:
                rival.run_until(now_ns)

    def _lighter_reference(self, inst: _Instrument) -> float:
        """The price the market's own Lighter levels quote around: the fair price of one lag ago (the lag
        drawn afresh at each requote when it has a jitter), times Lighter's own noise."""
        steps = self._lag_steps
        if inst.lag_rng is not None:
            params = self.params
            lag_ms = min(max(0.0, inst.lag_rng.gauss(params.lighter_lag_ms, params.lighter_lag_jitter_ms)),
                         params.max_lag_ms)
            steps = round(lag_ms / params.micro_step_ms)
        price = inst.price.lagged_price(steps)
        return price * inst.lighter_noise.factor if inst.lighter_noise is not None else price

    def _flush(self, now_ns: int) -> None:
        for inst in self._instruments:
            inst.book.advance_clock(now_ns)
