# Replay mode (`python -m sim --binance-tape TAPE`): a recorded Binance market served on the simulator's
# Binance endpoints, in real time, with the Lighter market derived from its mid (sim.replay_lighter).
# Rules: the market object the runner steps (same surface as sim.market.SyntheticMarket: `step(now_ns)`,
# `running`, `binance_books`); no I/O besides reading the tape (lazily, in local receive order); time
# comes in as `now_ns` (wall ns).
#
# - The replay starts at the tape's first REST snapshot: the book is the snapshot, then the recorded diffs
#   that straddle or follow it (those recorded before it are applied at once); every later frame is
#   served at wall_start + (its local receive time − the snapshot's) / speed.
# - Diffs go into sim.binance_book.BinanceBook with their recorded U/u/pu (`apply_diff`): `@depth@0ms`
#   sends each one unchanged, the batched `@depth@100ms`/`@depth`/`@depth@500ms` streams merge them
#   (U of the first, u of the last, pu the stream's previous u, as Binance does), and the REST snapshot is
#   the book after the last diff served, lastUpdateId = its u. bookTicker frames are the recorded ones
#   (original u); a tape without them gets bookTickers derived from the book at diff granularity.
#   Recorded trades go out on `@aggTrade` (a = f = l = the trade id).
# - Event times E (and T) are the recorded exchange times moved onto the wall clock with the same
#   mapping (anchored at the snapshot's E). A diff's T is not in the tape's columns: T = E.
# - At the end of the tape the market freezes: the book and the REST snapshot stay at the tape's last
#   state, the streams fall silent, the Lighter market keeps quoting around the last mid; `finished`
#   turns True (with `at_end="exit"`, `python -m sim` then exits).
from __future__ import annotations

import argparse
import atexit
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from sim.binance_book import AggTradeEvent, BinanceBook, BinanceSymbolSpec, BookTickerEvent
from sim.engine import Engine
from sim.lighter_flow import FlowStats
from sim.market import MarketAccounts
from sim.market_params import MarketParams
from sim.replay_lighter import LighterLagParams, ReplayLighter

log = logging.getLogger(__name__)

AT_END_CHOICES = ("freeze", "exit")
_KINDS = ("binance_depth", "binance_snapshot", "binance_trade", "binance_book_ticker")


@dataclass(frozen=True, slots=True)
class ReplayConfig:
    """What to replay and how."""

    tape: str  # a tape directory (lmm.venue.tape) or an hftbacktest collector file (.gz), imported first
    speed: float = 1.0  # tape seconds per wall second
    at_end: str = "freeze"  # "freeze" (serve the last state, streams silent) or "exit" (python -m sim exits)
    symbol: str | None = None  # the tape's Binance symbol (default: its only one)
    lighter_market_id: int | None = None  # default: the engine market whose symbol starts the Binance one
    lighter: LighterLagParams = field(default_factory=LighterLagParams)

    def __post_init__(self) -> None:
        if not (self.speed > 0 and math.isfinite(self.speed)):
            raise ValueError("speed must be > 0")
        if self.at_end not in AT_END_CHOICES:
            raise ValueError(f"at_end must be one of {AT_END_CHOICES}")


# ---- reading the tape -----------------------------------------------------------------------------------


def open_replay_tape(path: str | Path, workdir: str | Path | None = None):  # -> lmm.venue.tape.reader.Tape
    """A tape directory as is; a collector file is imported into `workdir` (default: a temporary one)."""
    from lmm.venue.tape.reader import open_tape

    path = Path(path)
    if path.is_dir():
        return open_tape(path)
    if not path.is_file():
        raise FileNotFoundError(f"no tape at {path}")
    from lmm.venue.tape.hftbacktest import import_hftbacktest

    if workdir is None:
        out = Path(tempfile.mkdtemp(prefix="sim-replay-"))
        atexit.register(shutil.rmtree, out, ignore_errors=True)  # the imported copy goes with the process
    else:
        out = Path(workdir)
    report = import_hftbacktest(path, out / "tape")
    log.info("imported %s: %d rows", path, report.rows)
    return open_tape(out / "tape")


def _text_decimals(raw: str | None, key: str, fallback: int) -> int:
    """Decimals of the first price printed under `key` in a raw snapshot (Binance may print more digits
    than the grid needs, e.g. BTCUSDT "97000.10")."""
    if not raw:
        return fallback
    start = raw.find(f'"{key}":[["')
    if start < 0:
        return fallback
    start += len(key) + 6
    text = raw[start:raw.find('"', start)]
    return max(fallback, len(text.partition(".")[2]))


def _levels(ticks: list[int], lots: list[int]) -> dict[int, int]:
    return dict(zip(ticks, lots, strict=True))


class TapeFeed:
    """The tape's frames of one symbol from its first snapshot on, with their replay times."""

    def __init__(self, tape, symbol: str | None = None) -> None:  # tape: lmm.venue.tape.reader.Tape
        symbols = [info for info in tape.manifest.symbols if info.venue == "binance"]
        if symbol is not None:
            symbols = [info for info in symbols if info.symbol == symbol.upper()]
        if len(symbols) != 1:
            raise ValueError(f"the tape must hold exactly one Binance symbol (or pass one): "
                             f"{[i.symbol for i in symbols]}")
        self.info = symbols[0]
        self.has_book_tickers = any(st.kind == "binance_book_ticker" for st in tape.select(symbols=[self.info.symbol]))
        self._events: Iterator[tuple] = tape.events(kinds=_KINDS, symbols=[self.info.symbol])
        early: list[tuple] = []
        snapshot = None
        for row in self._events:
            if row[2] == "binance_snapshot":
                snapshot = row
                break
            if row[2] == "binance_depth":
                early.append(row)
        if snapshot is None:
            raise ValueError("the tape has no Binance depth snapshot to start from")
        self.snapshot = snapshot
        last_id = snapshot[6]
        # the diffs recorded before the snapshot that reach past it (the first one straddles it)
        self.early_diffs = [row for row in early if row[6] >= last_id]
        self.local_anchor_ns: int = snapshot[0]
        self.exch_anchor_ns: int = snapshot[4] if snapshot[4] is not None else snapshot[0]
        first_raw = next(tape.events(kinds=["binance_snapshot"], symbols=[self.info.symbol], with_raw=True))[-1]
        self.price_text_decimals = _text_decimals(first_raw, "bids", self.info.price_decimals)

    def rows(self) -> Iterator[tuple]:
        return self._events


# ---- the market ----------------------------------------------------------------------------------------


class ReplayMarket:
    """A replayed Binance symbol and the Lighter market derived from it (engine None: Binance only)."""

    def __init__(self, engine: Engine | None, config: ReplayConfig, params: MarketParams | None = None,
                 seed: int = 0, start_ns: int | None = None, tape=None, on_tape_time: bool = False) -> None:
        """``start_ns``: the wall time at which the tape's first snapshot is served (default: now);
        ``on_tape_time``: the wall clock is the tape's own local time instead (a backtest's virtual clock)."""
        self.config = config
        self.params = params or MarketParams()
        self.seed = seed
        self.stats = FlowStats()
        feed = TapeFeed(tape if tape is not None else open_replay_tape(config.tape), config.symbol)
        if on_tape_time:
            if config.speed != 1.0:
                raise ValueError("on tape time the replay runs at speed 1")
            start = feed.local_anchor_ns
        else:
            start = time.time_ns() if start_ns is None else start_ns
        self.feed = feed
        info = feed.info
        spec = BinanceSymbolSpec(info.symbol, info.price_decimals, info.size_decimals, feed.price_text_decimals)
        self.book = BinanceBook(spec, feed.snapshot[6], start)
        self.book.derive_book_ticker = not feed.has_book_tickers
        self.binance_books: Mapping[str, BinanceBook] = MappingProxyType({info.symbol: self.book})
        self._tick = spec.tick_size
        self._wall_anchor_ns = start
        self._speed = config.speed
        self._rows = feed.rows()
        self._next_row: tuple | None = None
        self._running = True
        self._paused_at_ns: int | None = None
        self.finished = False
        self.served = {"binance_depth": 0, "binance_book_ticker": 0, "binance_trade": 0}
        self.lighter: ReplayLighter | None = None
        self._mid: float | None = None
        snapshot = feed.snapshot
        self.book.load_snapshot(start, snapshot[6], _levels(snapshot[8], snapshot[9]),
                                _levels(snapshot[10], snapshot[11]))
        for row in feed.early_diffs:
            self._apply_row(row, start)
        self._mid = self._book_mid()
        if engine is not None:
            self.lighter = self._build_lighter(engine, start)
            if self._mid is not None:
                self.lighter.observe_mid(start - 10**10, self._mid)  # quoted at once, before its lag has passed
        self.accounts = MarketAccounts(*(self.lighter.account_indexes if self.lighter else (None, None)))
        self._advance_rows(start)

    def _build_lighter(self, engine: Engine, start_ns: int) -> ReplayLighter:
        symbol = self.feed.info.symbol
        market_id = self.config.lighter_market_id
        if market_id is None:
            candidates = [m for m in engine.markets.values() if symbol.startswith(m.symbol)]
            if len(candidates) != 1:
                raise ValueError(f"no single Lighter market for {symbol}; set the Lighter market id")
            market_id = candidates[0].market_id
        if market_id not in engine.markets:
            raise ValueError(f"the engine has no Lighter market {market_id}")
        instruments = [i for i in self.params.instruments if i.lighter_market_id == market_id]
        if not instruments:
            raise ValueError(f"MarketParams has no instrument for Lighter market {market_id}")
        return ReplayLighter(engine, engine.markets[market_id], instruments[0], self.params, self.config.lighter,
                             self.seed, start_ns, self.stats)

    # ---- control and reading ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running

    @running.setter
    def running(self, value: bool) -> None:
        value = bool(value)
        if value == self._running:
            return
        self._running = value
        now = time.time_ns()
        if not value:
            self._paused_at_ns = now
        elif self._paused_at_ns is not None:
            # the tape clock stood still while paused
            self._wall_anchor_ns += now - self._paused_at_ns
            self._paused_at_ns = None
            if self.lighter is not None:
                self.lighter.resume(now)

    def wall_ns(self, tape_local_ns: int) -> int:
        """When a frame received at `tape_local_ns` is served."""
        return self._wall_anchor_ns + int((tape_local_ns - self.feed.local_anchor_ns) / self._speed)

    def _wall_ms(self, exch_ns: int | None, fallback_ns: int) -> int:
        if exch_ns is None:
            return fallback_ns // 1_000_000
        return (self._wall_anchor_ns + int((exch_ns - self.feed.exch_anchor_ns) / self._speed)) // 1_000_000

    def fair_price(self, binance_symbol: str) -> float:
        """The replayed Binance mid (last diff served)."""
        if binance_symbol != self.feed.info.symbol or self._mid is None:
            raise KeyError(binance_symbol)
        return self._mid

    def _book_mid(self) -> float | None:
        bid, ask = self.book.best_bid(), self.book.best_ask()
        if bid is None or ask is None:
            return None
        return (bid[0] + ask[0]) * self._tick / 2

    # ---- time ------------------------------------------------------------------------------------------

    def step(self, now_ns: int) -> None:
        """Serve every frame due by `now_ns`, then run the Lighter market."""
        if self._running:
            self._advance_rows(now_ns)
            if self.lighter is not None:
                self.lighter.step(now_ns)
        self.book.advance_clock(now_ns)

    def _advance_rows(self, now_ns: int) -> None:
        while not self.finished:
            row = self._next_row
            if row is None:
                row = next(self._rows, None)
                if row is None:
                    self.finished = True
                    log.info("the tape ended: %s", self.served)
                    return
            due = self.wall_ns(row[0])
            if due > now_ns:
                self._next_row = row
                return
            self._next_row = None
            self.book.advance_clock(due - 1)  # batches due before this frame go out first
            self._apply_row(row, due)

    def _apply_row(self, row: tuple, due_ns: int) -> None:
        kind = row[2]
        if kind == "binance_depth":
            _, _, _, _, exch_ns, first_id, final_id, prev_id, bid_ticks, bid_lots, ask_ticks, ask_lots = row[:12]
            event_ms = self._wall_ms(exch_ns, due_ns)
            self.book.apply_diff(due_ns, first_id, final_id, prev_id if prev_id is not None else -1,
                                 _levels(bid_ticks, bid_lots), _levels(ask_ticks, ask_lots), event_ms, event_ms)
            mid = self._book_mid()
            if mid is not None and mid != self._mid:
                self._mid = mid
                if self.lighter is not None:
                    self.lighter.observe_mid(due_ns, mid)
        elif kind == "binance_book_ticker":
            update_id, bid_tick, bid_lots, ask_tick, ask_lots = row[5:10]
            event_ms = self._wall_ms(row[4], due_ns)
            self.book.publish_external(BookTickerEvent(self.feed.info.symbol, update_id, event_ms, event_ms,
                                                       (bid_tick, bid_lots), (ask_tick, ask_lots)))
        elif kind == "binance_trade":
            trade_id, price, quantity, buyer_is_maker, trade_ns = row[5:10]
            trade_ms = self._wall_ms(trade_ns if trade_ns is not None else row[4], due_ns)
            self.book.publish_external(AggTradeEvent(self.feed.info.symbol, trade_id, price, quantity, trade_id,
                                                     trade_id, trade_ms, buyer_is_maker))
        else:
            return  # a later snapshot: the diffs already carry the book
        self.served[kind] += 1


# ---- command line --------------------------------------------------------------------------------------


def add_replay_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("replay a recorded Binance market (sim/README.md, 'Replay a real tape')")
    group.add_argument("--binance-tape", metavar="TAPE", default=None,
                       help="a tape directory (tape.py import) or an hftbacktest collector .gz file")
    group.add_argument("--replay-speed", type=float, default=1.0, help="tape seconds per wall second (default 1)")
    group.add_argument("--replay-at-end", choices=AT_END_CHOICES, default="freeze",
                       help="freeze: keep serving the last state with silent streams (default); exit: stop")
    group.add_argument("--replay-symbol", default=None, help="the tape's Binance symbol (default: its only one)")
    group.add_argument("--replay-lighter-market-id", type=int, default=None,
                       help="the Lighter market to derive (default: by symbol, ETHUSDT -> ETH)")
    defaults = LighterLagParams()
    group.add_argument("--replay-lag-ms", type=float, default=defaults.lag_mean_ms,
                       help=f"mean Binance->Lighter lag (default {defaults.lag_mean_ms})")
    group.add_argument("--replay-lag-jitter-ms", type=float, default=defaults.lag_jitter_ms,
                       help=f"standard deviation of the lag (default {defaults.lag_jitter_ms})")
    group.add_argument("--replay-lag-timescale-s", type=float, default=defaults.lag_timescale_s,
                       help=f"correlation time of the lag's wander (default {defaults.lag_timescale_s})")
    group.add_argument("--replay-noise-bps", type=float, default=defaults.noise_bps,
                       help=f"standard deviation of Lighter's own basis noise (default {defaults.noise_bps})")
    group.add_argument("--replay-noise-timescale-s", type=float, default=defaults.noise_timescale_s,
                       help=f"correlation time of that noise (default {defaults.noise_timescale_s})")


def replay_config_from_args(args: argparse.Namespace) -> ReplayConfig | None:
    if args.binance_tape is None:
        return None
    lag = LighterLagParams(args.replay_lag_ms, args.replay_lag_jitter_ms, args.replay_lag_timescale_s,
                           args.replay_noise_bps, args.replay_noise_timescale_s)
    return ReplayConfig(args.binance_tape, args.replay_speed, args.replay_at_end, args.replay_symbol,
                        args.replay_lighter_market_id, lag)
