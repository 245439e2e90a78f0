"""A recorded Lighter market replayed into the local venue: the tape's ``order_book/{m}`` frames, applied by the
product's own ``LighterBook`` (nonce chain, snapshots, sanity), are mirrored level by level into the engine
(``mirror.BookMirror``), and the tape's ``trade/{m}`` trades take liquidity from it. The run's virtual wall
clock is the tape's local receive time.

Rules (and those of ``tape_replay``):
- The book is mirrored only while the replayed book is valid; a broken nonce chain (or a crossed book) empties
  the mirror until the next recorded snapshot rebuilds it. Levels further than ``band_bps`` from the touch are
  not mirrored.
- Frames received at the same instant are applied trades first: a book frame already shows what the trades of
  its instant took. A trade received after the book frame that shows it (a later instant) takes the same size
  from the mirror a second time until the level's next update; ``record.py`` tapes of the simulator receive
  both at one instant.
- Trades of the subscription's first message (``is_snapshot``: the market's recent history) are not replayed.
- A tape recorded by the bot itself (``--record``) holds the bot's own resting orders in its book: replayed,
  they are liquidity the backtest's bot queues behind. Record with ``record.py`` to backtest a Lighter market.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable

from lmm.book.lighter_book import BookEvent, LighterBook
from lmm.venue.clock import VirtualClock
from lmm.venue.local.mirror import BookMirror
from lmm.venue.local.tape_replay import SNAPSHOT_DEPTH, TapeReplay
from lmm.venue.tape.reader import Tape
from lmm.venue.tape.schema import LIGHTER_BOOK, LIGHTER_TRADE

log = logging.getLogger("lighter_mm.tape_market")


class LighterTapeMarket(TapeReplay):
    def __init__(self, tape: Tape, symbol: str, market_id: int, price_decimals: int, size_decimals: int,
                 mirror: BookMirror, clock: VirtualClock, *, start_ns: int | None = None, end_ns: int | None = None,
                 band_bps: float = 300.0, on_second: Callable[[int, int | None], None] | None = None) -> None:
        super().__init__(tape, symbol, mirror, clock, start_ns=start_ns, end_ns=end_ns, band_bps=band_bps,
                         on_second=on_second)
        self.book = LighterBook(market_id, price_decimals, size_decimals)
        self._mirrored = False

    @property
    def synced(self) -> bool:
        return self.book.valid

    def mid_ticks2(self) -> int | None:
        return self.book.mid_ticks2 if self.book.valid else None

    def _touch(self) -> tuple[int, int]:
        return self.book.best_bid_tick, self.book.best_ask_tick

    def _levels(self, is_ask: bool) -> Iterable[tuple[int, int]]:
        return (self.book.asks if is_ask else self.book.bids).levels(SNAPSHOT_DEPTH)

    async def _replay(self) -> None:
        events = self._tape.events(kinds=(LIGHTER_BOOK, LIGHTER_TRADE), symbols=(self._symbol,),
                                   start_ns=self._start_ns, end_ns=self._end_ns, with_raw=True)
        instant: list[tuple] = []
        for ev in events:
            if instant and ev[0] != instant[0][0]:
                await self._apply_instant(instant)
                instant = []
            instant.append(ev)
        if instant:
            await self._apply_instant(instant)

    async def _apply_instant(self, frames: list[tuple]) -> None:
        """The frames received at one instant: the trades first, since the book frame of that instant already
        shows what they took (applied after it, a trade would take the same size from the mirror twice)."""
        now = await self._until(frames[0][0])
        self.stats.events += len(frames)
        for ev in frames:
            if ev[2] == LIGHTER_TRADE and not ev[5]:  # trade/{m}: price_ticks, size_lots, is_maker_ask
                self._on_trades(ev, now)
        for ev in frames:
            if ev[2] == LIGHTER_BOOK:
                self._on_book(ev, now)
        self._sample_mid(now)

    def _on_book(self, ev: tuple, now: int) -> None:
        self.stats.depth_events += 1
        outcome = self.book.on_message(json.loads(ev[-1]))
        if outcome is BookEvent.SNAPSHOT:
            self.stats.syncs += 1
            if self.book.valid:
                self._rebuild(now)
                self._mirrored = True
        elif outcome is BookEvent.UPDATED and self._mirrored:
            self._mirror_changes(ev[8], ev[9], ev[10], ev[11], now)
        elif not self.book.valid and self._mirrored:
            self.stats.gaps += 1
            log.warning("tape %s: order book %s (%s); the mirrored book is emptied until the next snapshot",
                        self._symbol, outcome.name.lower(), self.book.invalid_reason)
            self._mirror.clear(now)
            self._mirrored = False

    def _on_trades(self, ev: tuple, now: int) -> None:
        if not self._mirrored:
            return
        trade = self._mirror.trade
        for price, size, maker_is_ask in zip(ev[8], ev[9], ev[10], strict=True):
            self.stats.trades += 1
            trade(price, size, aggressor_is_buy=maker_is_ask, now_ns=now)
