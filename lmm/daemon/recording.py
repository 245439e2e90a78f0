"""The daemon's side of ``--record DIR``: open the tape, sample the model's state, close the tape.

Rules:
- Nothing here runs without ``--record``: the daemon holds ``None`` and every hook is skipped by one test.
- The tape's symbols are the Lighter market (its integer grid: the bot's ticks and lots) and, when the bot
  uses Binance, its perp; the manifest's ``source`` says ``bot``, the mode and the endpoints.
- The state sampled at each step reads the model, the Lighter book and the account (pure reads) and
  hands a tuple of plain values to the recorder; the quote is the model's level-0 quote at that instant.
- The tape is closed (stop event, flush, merge) after the shutdown path, off the event loop.
"""
from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmm.config.config import Config
from lmm.core.market import MarketInfo
from lmm.core.market_maker import MarketMaker
from lmm.daemon.startup_checks import EXIT_BAD_INPUT, StartupError
from lmm.venue.binance.obi_feed import BinanceFeedSettings
from lmm.venue.clock import SYSTEM_CLOCK, Clock
from lmm.venue.tape.bot_recorder import BinanceTap, BotRecorder
from lmm.venue.tape.manifest import SymbolInfo
from lmm.venue.tape.recorder import LocalClock
from lmm.venue.tape.writer import TapeWriter, WriterSettings

log = logging.getLogger("lighter_mm.daemon")

EMPTY_TICK = -1


@dataclass(frozen=True)
class RecordOptions:
    directory: Path
    mode: str = "live"  # "live", "sim", "paper" or "local": what the manifest says the bot traded against
    flush_seconds: float = 2.0


def open_recorder(options: RecordOptions, config: Config, market: MarketInfo,
                  binance: BinanceFeedSettings | None, run_clock: Clock = SYSTEM_CLOCK) -> BotRecorder:
    """Create the tape (a StartupError when the directory cannot hold one) and its `start` event."""
    symbols = [SymbolInfo("lighter", market.symbol, market.price_decimals, market.size_decimals,
                          market_id=market.market_id)]
    if binance is not None:
        symbols.append(SymbolInfo("binance", binance.market.symbol, binance.market.price_decimals,
                                  binance.market.size_decimals, market="usdm"))
    endpoints = config.endpoints
    source = {"kind": "bot", "mode": options.mode, "lighter_ws_url": endpoints.lighter_ws_url,
              "lighter_base_url": endpoints.lighter_base_url}
    if binance is not None:
        source.update(binance_ws_url=binance.ws_url, binance_rest_url=binance.rest_url)
    try:
        writer = TapeWriter(options.directory, symbols, source, WriterSettings(flush_seconds=options.flush_seconds))
    except (OSError, ValueError) as exc:
        raise StartupError(f"--record {options.directory}: {exc}", EXIT_BAD_INPUT) from exc
    clock = LocalClock(run_clock)
    tap = None
    if binance is not None:
        depth_stream = f"{binance.market.symbol.lower()}{binance.stream_suffix}"
        tap = BinanceTap(writer, clock, binance.market.symbol, depth_stream)
    recorder = BotRecorder(writer, clock, market.symbol, market.market_id, tap)
    streams: dict[str, Any] = {"lighter": [recorder.book_channel, recorder.trade_channel],
                               "binance": [] if binance is None else [binance.stream_url()]}
    recorder.start({"symbol": market.symbol, "mode": options.mode, "by": "market_maker_v2.py",
                    "streams": streams, "flush_seconds": options.flush_seconds,
                    "step_ns": config.vol_obi.step_ns})
    return recorder


def _tick_or_none(tick: int) -> int | None:
    return None if tick == EMPTY_TICK else tick


def state_sampler(mm: MarketMaker, recorder: BotRecorder) -> Callable[[int], None]:
    """The sampler's ``on_step``: the model's state at the step, as schema.BOT_STATE's columns."""
    model, market = mm.model, mm.market

    def on_step(now_ns: int) -> None:
        book = mm.feed.book
        valid = book.valid
        best_bid = _tick_or_none(book.best_bid_tick) if valid else None
        best_ask = _tick_or_none(book.best_ask_tick) if valid else None
        position = mm.account.position_lots
        quote = None
        if best_bid is not None and best_ask is not None:
            limit = mm.position_limit_usd(now_ns, (best_bid + best_ask) / 2)
            quote = model.quote(now_ns, market.size_of(position), math.nan if limit is None else limit,
                                best_bid, best_ask)
        recorder.state(now_ns, (
            model.mid if model.book_valid else None, model.volatility, model.alpha(now_ns),
            model.alpha_source(now_ns), model.fair_price(now_ns), model.half_spread_ticks, model.warmed_up(now_ns),
            None if quote is None else quote[0], None if quote is None else quote[1], best_bid, best_ask, position))

    return on_step


async def close_recorder(recorder: BotRecorder, counters: dict[str, Any]) -> None:
    try:
        await asyncio.to_thread(recorder.close, counters)
    except Exception:  # the tape must never turn a clean shutdown into a failed one
        log.exception("tape: closing %s failed", recorder.writer.directory)
