"""`tape info`: a tape's size and span, chain gaps, resyncs, and a replay through the product's book code.

Rules (docs/tape.md, Integrity):
- Gaps are counted on the raw chains, per symbol: Binance `pu` against the previous diff's `u`, Lighter
  `begin_nonce` against the previous order-book frame's `nonce` (a snapshot starts a new chain). A
  `resync` event of the venue and symbol waives the check of the next Binance diff, and of Lighter updates
  until the next snapshot. Resyncs are the `resync` events.
- The replay feeds the recorded frames (raw JSON) in local-time order to `binance_book.BinanceDepthSync`
  (snapshots where they were recorded; a `resync` for a reconnect resets it, as the bot does on a new
  connection) and to `orderbook.LighterBook` (a `resync` invalidates it until the next snapshot).
- A bookTicker is comparable when a diff with the same `u` is applied to a synced Binance book, whether the
  ticker arrived before that diff (the usual case: bookTicker is real time, diffs are batched) or after
  it; it must equal the book's best bid and ask, prices and sizes, right after that diff.
- A bot-recorded tape's own kinds are summed per symbol (intents, sends, outcomes by name, order
  reports, fills, model states).
"""
from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from lmm.book.binance_depth import BinanceDepthSync, DepthEvent, DepthSnapshot, SyncAction
from lmm.book.lighter_book import BookEvent, LighterBook
from lmm.venue.tape import schema as s
from lmm.venue.tape.reader import Tape

_decode = msgspec.json.Decoder().decode
DEFAULT_SNAPSHOT_LIMIT = 1000  # when a snapshot's requested limit was not recorded
MAX_PENDING_TICKERS = 100_000  # tickers ahead of the depth stream kept for comparison


@dataclass(frozen=True)
class Gap:
    venue: str
    symbol: str
    local_ns: int
    seq: int
    expected: int | None
    received: int

    def describe(self) -> str:
        field_name = "pu" if self.venue == "binance" else "begin_nonce"
        previous = "previous u" if self.venue == "binance" else "previous nonce"
        return (f"gap: {self.venue} {self.symbol} at {format_ns(self.local_ns)} (seq {self.seq}): "
                f"{field_name} {self.received} != {previous} {self.expected}")


@dataclass
class BinanceReplay:
    symbol: str
    diffs: int = 0
    snapshots: int = 0
    syncs: int = 0
    book_gaps: int = 0
    crossed: int = 0
    tickers: int = 0
    tickers_checked: int = 0
    mismatches: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return (f"binance {self.symbol}: {self.diffs} diffs, {self.snapshots} snapshots, synced {self.syncs} times "
                f"({self.book_gaps} book gaps, {self.crossed} crossed); bookTicker {self.tickers}: "
                f"{self.tickers_checked} comparable, {self.tickers_checked - len(self.mismatches)} equal, "
                f"{len(self.mismatches)} mismatches")


@dataclass
class LighterReplay:
    symbol: str
    frames: int = 0
    snapshots: int = 0
    applied: int = 0
    book_gaps: int = 0
    crossed: int = 0
    malformed: int = 0
    awaiting: int = 0
    trades: int = 0

    def describe(self) -> str:
        return (f"lighter {self.symbol}: {self.frames} order_book frames ({self.snapshots} snapshots, {self.applied} "
                f"updates applied, {self.awaiting} waiting for a snapshot), {self.book_gaps} book gaps, "
                f"{self.crossed} crossed, {self.malformed} malformed; {self.trades} trades")


@dataclass
class BotReplay:
    """What a bot-recorded tape (`market_maker_v2.py --record`) says the bot did."""

    symbol: str
    intents: int = 0
    sends: set[int] = field(default_factory=set)
    outcomes: dict[str, int] = field(default_factory=dict)
    orders: int = 0
    fills: int = 0
    states: int = 0

    def describe(self) -> str:
        outcomes = ", ".join(f"{count} {name}" for name, count in sorted(self.outcomes.items())) or "none"
        return (f"bot {self.symbol}: {self.intents} intents in {len(self.sends)} sends, outcomes: {outcomes}; "
                f"{self.orders} order reports, {self.fills} fills, {self.states} model states")


_SEND_ID = s.tuple_fields(s.BOT_INTENT).index("send_id")
_OUTCOME = s.tuple_fields(s.BOT_OUTCOME).index("outcome")


@dataclass
class TapeReport:
    events: int
    span_s: float
    venues: list[str]
    gaps: list[Gap]
    resyncs: int
    by_kind: dict[str, int]
    binance: dict[str, BinanceReplay]
    lighter: dict[str, LighterReplay]
    bot: dict[str, BotReplay] = field(default_factory=dict)

    def summary(self) -> str:
        venues = ", ".join(self.venues) or "none"
        return (f"tape: {self.events} events, {self.span_s:.1f} s, venues: {venues}, gaps: {len(self.gaps)}, "
                f"resyncs: {self.resyncs}")

    def lines(self, verbose: bool = False) -> Iterator[str]:
        yield self.summary()
        yield "kinds: " + ", ".join(f"{kind} {count}" for kind, count in sorted(self.by_kind.items()))
        for replay in self.binance.values():
            yield replay.describe()
            if verbose:
                yield from (f"  mismatch: {text}" for text in replay.mismatches)
        for lighter in self.lighter.values():
            yield lighter.describe()
        for bot in self.bot.values():
            yield bot.describe()
        if verbose:
            yield from (gap.describe() for gap in self.gaps)


def format_ns(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000:09d}Z"


class _BinanceState:
    def __init__(self, symbol: str, price_decimals: int, size_decimals: int) -> None:
        self.replay = BinanceReplay(symbol)
        self.sync = BinanceDepthSync(price_decimals, size_decimals)
        self.prev_u: int | None = None
        self.waived = False
        self.pending: deque[tuple] = deque()  # tickers whose u the book has not reached yet

    def on_diff(self, ev: tuple, gaps: list[Gap]) -> None:
        replay = self.replay
        replay.diffs += 1
        first_id, final_id, prev_id = ev[5], ev[6], ev[7]
        previous = self.prev_u
        if previous is None or final_id > previous:  # an older event replayed is no chain step
            if previous is not None and prev_id is not None and prev_id != previous and not self.waived:
                gaps.append(Gap("binance", replay.symbol, ev[0], ev[1], previous, prev_id))
            self.prev_u, self.waived = final_id, False
        data = _payload(ev[-1])
        event = DepthEvent(first_id, final_id, prev_id if prev_id is not None else -1, data.get("E", 0),
                           data["b"], data["a"])
        self._act(self.sync.feed(event))
        self._check_pending()

    def on_snapshot(self, ev: tuple) -> None:
        self.replay.snapshots += 1
        data = _payload(ev[-1])
        limit = ev[7] if ev[7] is not None else DEFAULT_SNAPSHOT_LIMIT
        snapshot = DepthSnapshot(ev[6], data["bids"], data["asks"], limit)
        self._act(self.sync.on_snapshot(snapshot))
        self._check_pending()

    def on_ticker(self, ev: tuple) -> None:
        self.replay.tickers += 1
        sync = self.sync
        last = sync.last_final_id
        if sync.synced and ev[5] == last:
            self._compare(ev)
        elif not sync.synced or last is None or ev[5] > last:
            self.pending.append(ev)
            if len(self.pending) > MAX_PENDING_TICKERS:
                self.pending.popleft()

    def _check_pending(self) -> None:
        sync, pending = self.sync, self.pending
        if not sync.synced or not pending:
            return
        last = sync.last_final_id
        assert last is not None
        while pending and pending[0][5] <= last:
            ticker = pending.popleft()
            if ticker[5] == last:
                self._compare(ticker)

    def _compare(self, ev: tuple) -> None:
        replay, sync = self.replay, self.sync
        replay.tickers_checked += 1
        book = (sync.bids.best(), sync.bids.best_size(), sync.asks.best(), sync.asks.best_size())
        ticker = (ev[6], ev[7], ev[8], ev[9])
        if book != ticker:
            replay.mismatches.append(f"u {ev[5]} at {format_ns(ev[0])}: bookTicker (bid, size, ask, size) "
                                     f"{ticker} != book {book}")

    def on_resync(self, detail: dict[str, Any]) -> None:
        self.waived = True
        if detail.get("reason") == "reconnect":
            self.sync.reset()

    def _act(self, action: SyncAction) -> None:
        if action is SyncAction.SYNCED:
            self.replay.syncs += 1
        counters = self.sync.counters
        self.replay.book_gaps, self.replay.crossed = counters.gaps, counters.crossed


class _LighterState:
    def __init__(self, symbol: str, market_id: int, price_decimals: int, size_decimals: int) -> None:
        self.replay = LighterReplay(symbol)
        self.book = LighterBook(market_id, price_decimals, size_decimals)
        self.prev_nonce: int | None = None
        self.waived = False

    def on_frame(self, ev: tuple, gaps: list[Gap]) -> None:
        replay = self.replay
        replay.frames += 1
        is_snapshot, nonce, begin = ev[5], ev[6], ev[7]
        if is_snapshot:
            self.waived = False
        elif self.prev_nonce is not None and begin != self.prev_nonce and not self.waived:
            gaps.append(Gap("lighter", replay.symbol, ev[0], ev[1], self.prev_nonce, begin))
        self.prev_nonce = nonce
        outcome = self.book.on_message(_decode(ev[-1]))
        if outcome is BookEvent.SNAPSHOT:
            replay.snapshots += 1
        elif outcome is BookEvent.UPDATED:
            replay.applied += 1
        elif outcome is BookEvent.GAP:
            replay.book_gaps += 1
        elif outcome is BookEvent.CROSSED:
            replay.crossed += 1
        elif outcome is BookEvent.MALFORMED:
            replay.malformed += 1
        elif outcome is BookEvent.AWAITING_SNAPSHOT:
            replay.awaiting += 1

    def on_resync(self) -> None:
        self.waived = True
        self.book.invalidate("resync recorded")


def _payload(raw: str | None) -> dict[str, Any]:
    if raw is None:
        raise ValueError("row without raw JSON: the replay needs it")
    obj = _decode(raw)
    data = obj.get("data")
    return data if isinstance(data, dict) and "stream" in obj else obj


def _detail(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def check_tape(tape: Tape) -> TapeReport:
    manifest = tape.manifest
    binance = {info.symbol: _BinanceState(info.symbol, info.price_decimals, info.size_decimals)
               for info in manifest.symbols_of("binance")}
    lighter = {info.symbol: _LighterState(info.symbol, info.market_id if info.market_id is not None else 0,
                                          info.price_decimals, info.size_decimals)
               for info in manifest.symbols_of("lighter")}
    gaps: list[Gap] = []
    bots: dict[str, BotReplay] = {}
    resyncs = 0
    by_kind: dict[str, int] = {}
    for ev in tape.events(with_raw=True):
        kind, symbol = ev[2], ev[3]
        by_kind[kind] = by_kind.get(kind, 0) + 1
        if kind == s.BINANCE_BOOK_TICKER:
            if symbol in binance:
                binance[symbol].on_ticker(ev)
        elif kind == s.BINANCE_DEPTH:
            if symbol in binance:
                binance[symbol].on_diff(ev, gaps)
        elif kind == s.LIGHTER_BOOK:
            if symbol in lighter:
                lighter[symbol].on_frame(ev, gaps)
        elif kind == s.LIGHTER_TRADE:
            if symbol in lighter:
                lighter[symbol].replay.trades += len(ev[8])
        elif kind == s.BINANCE_SNAPSHOT:
            if symbol in binance:
                binance[symbol].on_snapshot(ev)
        elif kind == s.EVENT and ev[6] == s.EV_RESYNC:
            resyncs += 1
            venue = ev[5]
            if venue == "binance" and symbol in binance:
                binance[symbol].on_resync(_detail(ev[8]))
            elif venue == "lighter" and symbol in lighter:
                lighter[symbol].on_resync()
        elif kind in s.BOT_KINDS:
            bot = bots.get(symbol) or bots.setdefault(symbol, BotReplay(symbol))
            if kind == s.BOT_INTENT:
                bot.intents += 1
                bot.sends.add(ev[_SEND_ID])
            elif kind == s.BOT_OUTCOME:
                bot.outcomes[ev[_OUTCOME]] = bot.outcomes.get(ev[_OUTCOME], 0) + 1
            elif kind == s.BOT_ORDER:
                bot.orders += 1
            elif kind == s.BOT_FILL:
                bot.fills += 1
            else:
                bot.states += 1
    span = tape.span_ns()
    return TapeReport(
        events=sum(by_kind.values()),
        span_s=0.0 if span is None else (span[1] - span[0]) / 1e9,
        venues=manifest.venues,
        gaps=gaps,
        resyncs=resyncs,
        by_kind=by_kind,
        binance={k: v.replay for k, v in binance.items()},
        lighter={k: v.replay for k, v in lighter.items()},
        bot=bots,
    )
