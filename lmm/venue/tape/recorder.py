"""`python record.py`: record one market's public Lighter channels and its Binance futures streams to a tape.

Rules:
- Endpoints and symbols are resolved as the bot resolves them: `utils.load_config` (environment >
  config file > defaults, `LIGHTER_*`/`BINANCE_*` URLs), the Lighter market from the exchange
  (`market_info.fetch_market`), the Binance perp from `BinanceFeedSettings.from_config` (the
  `alpha.binance_symbol` override, `alpha.source = none` records Lighter only; a symbol outside the known
  grids is read from exchangeInfo). `--sim` starts the built-in simulator as the bot's `--sim` does.
- Local receive times come from one clock: the wall clock at start plus the monotonic time since, so they
  never go back within a recording and differences are true durations.
- Connections are the bot's (`ws_connection.ReconnectingWebSocket`: backoff, pings, watchdogs) over
  aiohttp's WebSocket client (`ws.aiohttp_transport`: frames parsed in C), asking for uncompressed frames.
- Every task runs until the duration ends, SIGINT/SIGTERM, or one task fails (logged; exit status 1).
  The writer then gets a `stop` event, flushes and merges; a `kill -9` loses at most `flush_seconds`.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from lmm.config.config import Config
from lmm.core.backoff import BackoffPolicy
from lmm.venue.binance.obi_feed import BinanceFeedSettings
from lmm.venue.binance.snapshot import fetch_market as fetch_binance_market
from lmm.venue.clock import SYSTEM_CLOCK, Clock
from lmm.venue.lighter.market_info import fetch_market
from lmm.venue.tape import schema as s
from lmm.venue.tape.binance_recorder import BinanceRecorder, BinanceRecorderSettings
from lmm.venue.tape.lighter_recorder import LighterRecorder, LighterRecorderSettings
from lmm.venue.tape.manifest import SymbolInfo
from lmm.venue.tape.writer import TapeWriter, WriterSettings
from lmm.venue.ws.aiohttp_transport import connect as aiohttp_connect
from lmm.venue.ws.connection import ConnectionSettings, ReconnectingWebSocket

log = logging.getLogger("lighter_mm.record")


@dataclass(frozen=True)
class RecordOptions:
    symbol: str
    out: Path
    duration: float | None = None
    sim: bool = False
    sim_seed: int = 1
    flush_seconds: float = 2.0
    depth_suffix: str = "@depth@100ms"


class LocalClock:
    """Wall-clock nanoseconds that never go back: the wall time at start plus the monotonic time since, of the
    run's clock (the machine's by default; a virtual one for ``--local``)."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self._monotonic_ns = clock.monotonic_ns
        self.offset_ns = clock.wall_ns() - clock.monotonic_ns()  # local ns = monotonic ns + offset

    def __call__(self) -> int:
        return self._monotonic_ns() + self.offset_ns

    def from_monotonic(self, monotonic_ns: int) -> int:
        """The local time of a monotonic reading of the run's clock (the bot's clocks are monotonic)."""
        return monotonic_ns + self.offset_ns


async def _binance_market(config: Config, symbol: str, session: aiohttp.ClientSession) -> BinanceFeedSettings | None:
    try:
        return BinanceFeedSettings.from_config(config, symbol)
    except ValueError:  # a perp outside binance_market.KNOWN_MARKETS: its grid from exchangeInfo
        from lmm.venue.binance.market import binance_symbol

        name = binance_symbol(symbol, config.alpha.binance_symbol)
        assert name is not None
        market = await fetch_binance_market(session, config.endpoints.binance_rest_url, name)
        return BinanceFeedSettings.from_config(config, symbol, market=market)


def _connection(adapter: object, config: Config, name: str) -> ReconnectingWebSocket:
    ws = config.websocket
    settings = ConnectionSettings(backoff=BackoffPolicy(ws.reconnect_base_delay, ws.reconnect_max_delay),
                                  ping_interval=ws.ping_interval, ping_timeout=ws.ping_interval)
    # Uncompressed frames: per-message deflate costs about 20 µs a frame here (a bare reader of the same
    # streams: 2.8 % of a core with it, 1.9 % without); the frames are the same once inflated. aiohttp's
    # C frame parser: a bare reader 1.4 % of a core against 2.0-2.6 % with `websockets`.
    return ReconnectingWebSocket(adapter, settings, name=name,  # type: ignore[arg-type]
                                 connect_factory=aiohttp_connect)


async def record(config: Config, options: RecordOptions, stop: asyncio.Event | None = None) -> int:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    sim = None
    mode = "live"
    if options.sim:
        from lmm.venue.sim_mode import start_sim_for_bot

        sim, config, _ = await start_sim_for_bot(config, options.symbol, options.sim_seed)
        mode = "sim"
    try:
        async with aiohttp.ClientSession() as session:
            return await _record(config, options, stop, session, mode)
    finally:
        if sim is not None:
            await sim.stop()


async def _record(config: Config, options: RecordOptions, stop: asyncio.Event, session: aiohttp.ClientSession,
                  mode: str) -> int:
    endpoints = config.endpoints
    market = await fetch_market(session, endpoints.lighter_base_url, options.symbol)
    feed = await _binance_market(config, market.symbol, session)
    symbols = [SymbolInfo("lighter", market.symbol, market.price_decimals, market.size_decimals,
                          market_id=market.market_id)]
    if feed is not None:
        symbols.append(SymbolInfo("binance", feed.market.symbol, feed.market.price_decimals,
                                  feed.market.size_decimals, market="usdm"))
    source = {"kind": "record", "mode": mode, "lighter_ws_url": endpoints.lighter_ws_url,
              "lighter_base_url": endpoints.lighter_base_url, "binance_ws_url": endpoints.binance_ws_url,
              "binance_rest_url": endpoints.binance_rest_url}
    clock = LocalClock()
    writer = TapeWriter(options.out, symbols, source, WriterSettings(flush_seconds=options.flush_seconds))
    lighter = LighterRecorder(LighterRecorderSettings(endpoints.lighter_ws_url, market.market_id, market.symbol,
                                                      recv_timeout=config.websocket.recv_timeout), writer, clock)
    connections = [_connection(lighter, config, f"record-lighter-{market.symbol}")]
    binance = None
    tasks: list[asyncio.Task[None]] = []
    if feed is not None:
        binance = BinanceRecorder(BinanceRecorderSettings(feed.market, feed.ws_url, feed.rest_url,
                                                          depth_suffix=options.depth_suffix,
                                                          recv_timeout=feed.recv_timeout), writer, clock)
        connections += [_connection(binance.public, config, f"record-binance-{binance.symbol}-public"),
                        _connection(binance.market, config, f"record-binance-{binance.symbol}-market")]
        tasks.append(asyncio.create_task(binance.snapshot_worker(session), name="record-snapshots"))
    tasks += [asyncio.create_task(conn.run(), name=f"run-{index}") for index, conn in enumerate(connections)]
    streams = {"lighter": [lighter.book_channel, lighter.trade_channel],
               "binance": [] if binance is None else [binance.public.url(), binance.market.url()]}
    writer.event("tape", "", s.EV_START, None, json.dumps({"symbol": options.symbol, "mode": mode, "streams": streams,
                                                           "flush_seconds": options.flush_seconds}),
                 local_ns=clock())
    log.info("recording %s to %s (%s): lighter market %d%s", market.symbol, options.out, mode, market.market_id,
             "" if binance is None else f", binance {binance.symbol}")
    status = 0
    stopper = asyncio.create_task(stop.wait(), name="record-stop")
    try:
        done, _ = await asyncio.wait([*tasks, stopper], timeout=options.duration,
                                     return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper and task.exception() is not None:
                log.error("recording stopped: %s failed: %r", task.get_name(), task.exception())
                status = 1
    finally:
        for conn in connections:
            await conn.close()
        for task in [*tasks, stopper]:
            task.cancel()
        await asyncio.gather(*tasks, stopper, return_exceptions=True)
        counters = {"lighter_frames": lighter.frames, "lighter_gaps": lighter.gaps}
        if binance is not None:
            counters.update(binance_frames=binance.frames, binance_gaps=binance.gaps,
                            binance_snapshots=binance.snapshots, snapshot_failures=binance.snapshot_failures)
        writer.event("tape", "", s.EV_STOP, None, json.dumps(counters), local_ns=clock())
        await asyncio.to_thread(writer.close)
        log.info("recording stopped: %s", counters)
    return status

