"""Backtest: the daemon, unchanged, on the local venue whose market is a recorded tape, on a virtual clock that
follows the tape. The same feed parsing, books, fixed-clock sampler, model, ``MarketMaker``, execution, pacing
and shutdown as live; only the venue and the clock differ.

Which market is traded (``venue``): ``lighter`` (the default when the tape has a Lighter market) replays the
tape's Lighter order book and trades (``lighter_tape_market``); ``binance`` replays the tape's own Binance
market (``tape_market``). Either is mirrored into the local venue's engine (``lmm.venue.local.mirror``) and the
bot quotes on it. Its alpha is the tape's Binance market when a Lighter tape has one (``binance_alpha``: served
to the bot's own Binance feed), else that book's own imbalance (the Lighter imbalance path of the model, read
from the mirrored book). The report is written from the venue's own record:
every fill of the bot's account, its equity and fees, and the tape's mid path for the markouts; with the
tape's mid, the position and the equity every second (``series``) for the plots of ``backtest_plots``.
"""
from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lmm.config.config import Config
from lmm.core.markouts import HORIZONS_S, FillPoint, markout
from lmm.daemon.backtest_metrics import performance
from lmm.daemon.backtest_signal import MidPath, depths_for, replay_signal, signal_quality
from lmm.daemon.run import run_daemon
from lmm.daemon.venues import open_local
from lmm.venue.clock import VirtualClock, virtual_time_loop
from lmm.venue.local.inverse import BASE_DECIMALS, ContractsToBase
from lmm.venue.local.lighter_tape_market import LighterTapeMarket
from lmm.venue.local.mirror import RISK_AVERSE, BookMirror
from lmm.venue.local.tape_market import BinanceTapeMarket
from lmm.venue.local.venue import LocalVenue, LocalVenueParams
from lmm.venue.tape.manifest import coinm_contract_usd
from lmm.venue.tape.reader import Tape, open_tape
from sim.engine import Engine
from sim.markets import MarketSpec
from sim.replay import ReplayConfig, ReplayMarket

log = logging.getLogger("lighter_mm.backtest")

MARKET_ID = 1
MICRO = 1_000_000
REPORT_NAME = "report.json"
SECOND_NS = 1_000_000_000


class BacktestError(RuntimeError):
    """The tape cannot be backtested as asked (unknown symbol, no Binance market, empty window)."""


@dataclass(frozen=True)
class BacktestOptions:
    tape: Path
    symbol: str | None = None  # the traded market's symbol on the tape; its only one when None
    start_ns: int | None = None
    end_ns: int | None = None
    queue_model: str = RISK_AVERSE
    queue_power: float = 1.0
    entry_latency_s: float = 0.05
    collateral_usd: int = 10_000
    tier: str = "premium"
    band_bps: float = 300.0
    venue: str | None = None  # VENUES; None: lighter when the tape has a Lighter market, else binance
    binance_alpha: bool = True  # lighter: the tape's Binance market served to the bot's Binance feed


VENUES = ("lighter", "binance")
TapeMarket = BinanceTapeMarket | LighterTapeMarket


@dataclass(frozen=True)
class TapeMarketInfo:
    venue: str
    symbol: str
    price_decimals: int
    size_decimals: int  # the traded grid: the base asset's (an inverse tape's contracts are converted)
    market_id: int | None = None  # Lighter's market index
    contract_usd: float | None = None  # an inverse market: one contract's USD value
    tape_size_decimals: int | None = None  # an inverse market: the tape's own grid, in contracts

    def contracts_to_base(self) -> ContractsToBase | None:
        if self.contract_usd is None:
            return None
        return ContractsToBase(self.contract_usd, self.price_decimals, self.tape_decimals, self.size_decimals)

    @property
    def tape_decimals(self) -> int:
        """The size grid of the tape's own records."""
        return self.size_decimals if self.tape_size_decimals is None else self.tape_size_decimals


class SeriesRecorder:
    """The tape's mid, the bot's position (base units) and its equity (USD) at every whole second of tape time
    (the tape market's ``on_second``)."""

    def __init__(self, engine: Engine, account_index: int, start_ns: int, tick: float, lot: float) -> None:
        self._engine, self._account_index, self._start_ns = engine, account_index, start_ns
        self._tick, self._lot = tick, lot
        self.t_s: list[int] = []
        self.mid: list[float | None] = []
        self.position: list[float] = []
        self.equity_usd: list[float] = []

    def __call__(self, t_ns: int, mid_ticks2: int | None) -> None:
        account = self._engine.account(self._account_index)
        lots = sum(p.size for p in account.positions if p.market_id == MARKET_ID)
        self.t_s.append((t_ns - self._start_ns) // SECOND_NS)
        self.mid.append(None if mid_ticks2 is None else mid_ticks2 / 2 * self._tick)
        self.position.append(lots * self._lot)
        self.equity_usd.append(account.total_asset_value / MICRO)


def tape_market(tape: Tape, symbol: str | None, venue: str | None = None) -> TapeMarketInfo:
    """The market the backtest trades: ``venue``'s market named ``symbol`` (its only one when None)."""
    if venue is not None and venue not in VENUES:
        raise BacktestError(f"venue must be one of {', '.join(VENUES)}, not {venue!r}")
    if venue is None:
        venue = "lighter" if tape.manifest.symbols_of("lighter") else "binance"
    markets = {info.symbol: info for info in tape.manifest.symbols if info.venue == venue}
    if not markets:
        raise BacktestError(f"{tape.directory}: the tape holds no {venue.capitalize()} market")
    if symbol is None:
        if len(markets) != 1:
            raise BacktestError(f"{tape.directory}: several {venue.capitalize()} markets "
                                f"({', '.join(sorted(markets))}); choose one with --symbol")
        symbol = next(iter(markets))
    meta = markets.get(symbol.upper())
    if meta is None:
        raise BacktestError(f"{tape.directory}: no {venue.capitalize()} market {symbol} "
                            f"(the tape has {', '.join(sorted(markets))})")
    if meta.size_unit == "contracts":
        contract_usd = meta.contract_usd or coinm_contract_usd(meta.symbol)  # tapes imported before it was kept
        return TapeMarketInfo(venue, meta.symbol, meta.price_decimals, BASE_DECIMALS, meta.market_id,
                              contract_usd=contract_usd, tape_size_decimals=meta.size_decimals)
    if meta.size_unit != "base":
        raise BacktestError(f"{tape.directory}: {meta.symbol} is sized in {meta.size_unit}, neither the base asset "
                            f"nor contracts")
    return TapeMarketInfo(venue, meta.symbol, meta.price_decimals, meta.size_decimals, meta.market_id)


def binance_alpha(tape: Tape, info: TapeMarketInfo, options: BacktestOptions) -> ReplayMarket | None:
    """A Lighter backtest's alpha source: the tape's Binance market (its only one), replayed on the tape's own
    time by ``sim.replay`` and served in-process to the bot's Binance feed; None without one."""
    binance = tape.manifest.symbols_of("binance")
    if info.venue != "lighter" or not options.binance_alpha or len(binance) != 1:
        return None
    try:
        return ReplayMarket(None, ReplayConfig(str(tape.directory), symbol=binance[0].symbol), tape=tape,
                            on_tape_time=True)
    except ValueError as exc:  # no snapshot to start from
        log.warning("tape %s: the Binance market cannot be the alpha source (%s)", tape.directory, exc)
        return None


def run_backtest(config: Config, options: BacktestOptions) -> dict[str, Any]:
    """Replay the tape through the daemon; returns the report (also written by ``write_report``)."""
    tape = open_tape(options.tape)
    info = tape_market(tape, options.symbol, options.venue)
    span = tape.span_ns()
    if span is None:
        raise BacktestError(f"{options.tape}: the tape is empty")
    start_ns = max(span[0], options.start_ns or span[0])
    end_ns = min(span[1], options.end_ns or span[1])
    if end_ns <= start_ns:
        raise BacktestError(f"{options.tape}: nothing between --from and --to")
    warmup = config.vol_obi.warmup_seconds
    if warmup >= (end_ns - start_ns) / 1e9:
        log.warning("vol_obi.warmup_seconds (%g s) is not shorter than the tape window (%.0f s): the bot will not "
                    "quote (set LMM_VOL_OBI_WARMUP_SECONDS)", warmup, (end_ns - start_ns) / 1e9)
    spec = MarketSpec(market_id=MARKET_ID, symbol=info.symbol, price_decimals=info.price_decimals,
                      size_decimals=info.size_decimals, min_base_amount=1, min_quote_amount=0)
    # monotonic time stays small (float seconds keep sub-microsecond precision); wall time is the tape's
    clock = VirtualClock(wall_epoch_ns=start_ns)
    loop = virtual_time_loop(clock)
    replay: dict[str, TapeMarket] = {}
    mirror_holder: dict[str, BookMirror] = {}
    recorder: dict[str, SeriesRecorder] = {}

    async def drive(venue: LocalVenue) -> None:
        mirror = BookMirror(venue.engine, MARKET_ID, options.queue_model, options.queue_power)
        mirror_holder["mirror"] = mirror
        recorder["series"] = SeriesRecorder(venue.engine, venue.account_index, start_ns,
                                            10 ** -info.price_decimals, 10 ** -info.size_decimals)
        common = {"start_ns": start_ns, "end_ns": end_ns, "band_bps": options.band_bps, "on_second": recorder["series"]}
        if info.venue == "lighter":
            market: TapeMarket = LighterTapeMarket(
                tape, info.symbol, info.market_id or 0, info.price_decimals, info.size_decimals, mirror, clock,
                **common)
        else:
            market = BinanceTapeMarket(tape, info.symbol, info.price_decimals, info.tape_decimals, mirror, clock,
                                       contracts=info.contracts_to_base(), **common)
        replay["market"] = market
        await market.run()
        await asyncio.Event().wait()  # the venue's tasks must not end: the daemon would call it a failure

    params = LocalVenueParams(with_market=False, markets=(spec,), entry_latency_s=options.entry_latency_s,
                              collateral_usd=options.collateral_usd, tier=options.tier)
    alpha = binance_alpha(tape, info, options)
    venue = LocalVenue(clock, params, driver=drive, binance_market=alpha)

    async def main() -> int:
        stop = asyncio.Event()

        async def stop_at_the_end() -> None:
            while "market" not in replay:
                await asyncio.sleep(0.1)
            await replay["market"].finished.wait()
            log.info("tape finished: stopping the bot")
            stop.set()

        watcher = asyncio.create_task(stop_at_the_end())
        try:
            return await run_daemon(config, info.symbol, None, duration=None, stop=stop, clock=clock,
                                    venue=lambda session: open_local(venue, config, info.symbol))
        finally:
            watcher.cancel()

    try:
        status = loop.run_until_complete(main())
    finally:
        loop.close()
    market = replay.get("market")
    if market is not None:
        market.seconds_until(end_ns)  # the seconds after the tape's last event: nothing trades after it
    report = build_report(venue, market, status, options, info, (start_ns, end_ns),
                          mirror_holder.get("mirror"), recorder.get("series"))
    report["binance_alpha"] = None if alpha is None else {"symbol": alpha.feed.info.symbol, "served": alpha.served}
    report.update(analyse(report, config, tape, info, (start_ns, end_ns), market))
    return report


def analyse(report: dict[str, Any], config: Config, tape: Tape, info: TapeMarketInfo, window: tuple[int, int],
            market: TapeMarket | None) -> dict[str, Any]:
    """The report's performance figures (``backtest_metrics``) and ``signal_quality`` (``backtest_signal``), from
    a second pass over the window's Binance depth stream (no part of the run: the run is the same without it).
    ``binance``: the traded book's own mid at every change and its imbalance z. ``lighter``: the traded market's
    mid (sampled every 100 ms, as for the markouts) and the z of the tape's Binance market, when it has one."""
    if info.venue == "binance":
        path, samples = replay_signal(tape, info.symbol, info.price_decimals, info.size_decimals, config,
                                      window[0], window[1], depths_for(config), info.contracts_to_base())
        source = info.symbol
    else:
        mids = market.stats.mids if market is not None else []
        tick = 10 ** -info.price_decimals
        path = MidPath([t for t, _ in mids] + ([window[1]] if mids else []),
                       [m / 2 * tick for _, m in mids] + ([mids[-1][1] / 2 * tick] if mids else []))
        binance = tape.manifest.symbols_of("binance")
        samples, source = None, None
        if len(binance) == 1 and binance[0].size_unit == "base":
            source = binance[0].symbol
            _, samples = replay_signal(tape, source, binance[0].price_decimals, binance[0].size_decimals, config,
                                       window[0], window[1], depths_for(config))
    quality = None if samples is None else {"imbalance_of": source,
                                            **signal_quality(samples, path, config.vol_obi.step_ns)}
    return {**performance(report, config, info.price_decimals, info.size_decimals, path),
            "signal_quality": quality}


def build_report(venue: LocalVenue, market: TapeMarket | None, status: int, options: BacktestOptions,
                 info: TapeMarketInfo, window: tuple[int, int], mirror: BookMirror | None,
                 series: SeriesRecorder | None = None) -> dict[str, Any]:
    account = venue.engine.account(venue.account_index)
    trades = sorted(venue.engine.account_trades(venue.account_index, n=10**9), key=lambda t: t.trade_id)
    tick = 10 ** -info.price_decimals
    lot = 10 ** -info.size_decimals
    me = venue.account_index
    fills = []
    position, path = 0, []
    maker = 0
    for t in trades:
        is_buy = t.bid_account_id == me
        we_made = (t.is_maker_ask and not is_buy) or (not t.is_maker_ask and is_buy)
        maker += we_made
        position += t.size if is_buy else -t.size
        path.append((t.timestamp_ms, position * lot))
        fills.append(FillPoint(t.timestamp_ms * 1_000_000, is_buy, t.price * tick))
    mids = market.stats.mids if market is not None else []
    times = [m[0] for m in mids]
    mid_prices = [m[1] / 2 * tick for m in mids]
    markouts = {}
    for horizon in HORIZONS_S:
        key = f"{horizon:g}s"
        markouts[key] = {side: asdict(markout(fills, times, mid_prices, horizon, flag))
                         for side, flag in (("all", None), ("buy", True), ("sell", False))}
    equity = account.total_asset_value / MICRO
    volume = sum(t.usd_amount for t in trades) / MICRO
    return {
        "tape": str(options.tape), "symbol": info.symbol, "venue": info.venue,
        "window_ns": list(window), "seconds": (window[1] - window[0]) / 1e9,
        "exit_status": status,
        "orders": len(venue.engine.inactive_orders(me, limit=10**9)) + len(venue.open_orders()),
        "fills": len(trades), "maker_fills": maker, "taker_fills": len(trades) - maker,
        "volume_usd": volume,
        "pnl_net_usd": equity - options.collateral_usd,
        "fees_usd": account.fees_paid / MICRO,
        "final_position": position * lot,
        "max_abs_position": max((abs(p) for _, p in path), default=0.0),
        "markouts_bps": markouts,
        "assumptions": {"queue_model": options.queue_model, "queue_power": options.queue_power,
                        "entry_latency_s": options.entry_latency_s, "tier": options.tier,
                        "collateral_usd": options.collateral_usd, "mirror_band_bps": options.band_bps,
                        "book_published_every_ms": 50,
                        "contract_usd": info.contract_usd},
        "replay": None if market is None else {
            "events": market.stats.events, "depth_events": market.stats.depth_events,
            "trades": market.stats.trades, "syncs": market.stats.syncs, "gaps": market.stats.gaps},
        "mirror": None if mirror is None else asdict(mirror.stats),
        "series": {
            "t_s": series.t_s if series else [], "mid": series.mid if series else [],
            "position": series.position if series else [], "equity_usd": series.equity_usd if series else [],
            "fill_t_s": [(f.time_ns - window[0]) / SECOND_NS for f in fills],
            "fill_price": [f.price for f in fills], "fill_is_buy": [f.is_buy for f in fills],
            "fill_size": [t.size * lot for t in trades]},
    }


def write_report(report: dict[str, Any], out: Path) -> Path:
    """``report.json``, the plots (PNG) and ``report.html`` into ``out``; returns the page's path."""
    from lmm.daemon.backtest_plots import write_html

    out.mkdir(parents=True, exist_ok=True)
    (out / REPORT_NAME).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return write_html(report, out)
