"""A recorded Binance market replayed into the local venue: the tape's depth stream, synced by the product's own
Binance sync code, is mirrored level by level into the engine (``mirror.BookMirror``), and the tape's trades
take liquidity from it. The run's virtual wall clock is the tape's local receive time.

Rules (and those of ``tape_replay``):
- The book is mirrored only while the sync holds (snapshot applied, diff chain intact); on a gap the mirror is
  emptied and rebuilt at the next sync.
- The levels are read as the tape's integer columns: the tape parsed the raw frames with the sync's own
  contract (``lmm.venue.tape.decode``), so the sync gets them on its grid without parsing the JSON again.
- An inverse market (``contracts``: a ``ContractsToBase``): the sync keeps the tape's contracts; the mirror and
  the trades get base lots, each size converted at its own price (``lmm.venue.local.inverse``).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from lmm.book.binance_depth import BinanceDepthSync, DepthEvent, DepthSnapshot, SyncAction
from lmm.venue.clock import VirtualClock
from lmm.venue.local.inverse import ContractsToBase
from lmm.venue.local.mirror import BookMirror
from lmm.venue.local.tape_replay import SNAPSHOT_DEPTH, TapeReplay
from lmm.venue.tape.reader import Tape
from lmm.venue.tape.schema import BINANCE_DEPTH, BINANCE_SNAPSHOT, BINANCE_TRADE

log = logging.getLogger("lighter_mm.tape_market")

DEFAULT_SNAPSHOT_LIMIT = 1000


class BinanceTapeMarket(TapeReplay):
    def __init__(self, tape: Tape, symbol: str, price_decimals: int, size_decimals: int, mirror: BookMirror,
                 clock: VirtualClock, *, start_ns: int | None = None, end_ns: int | None = None,
                 band_bps: float = 300.0, on_second: Callable[[int, int | None], None] | None = None,
                 contracts: ContractsToBase | None = None) -> None:
        """``price_decimals``/``size_decimals``: the tape's grid; ``contracts``: an inverse market's sizes as base
        lots (the engine's grid), None for a linear market."""
        super().__init__(tape, symbol, mirror, clock, start_ns=start_ns, end_ns=end_ns, band_bps=band_bps,
                         on_second=on_second)
        self.sync = BinanceDepthSync(price_decimals, size_decimals)
        self._contracts = contracts

    def mid_ticks2(self) -> int | None:
        return self.sync.mid_ticks2() if self.sync.synced else None

    def _touch(self) -> tuple[int, int]:
        return self.sync.bids.best(), self.sync.asks.best()

    def _levels(self, is_ask: bool) -> Iterable[tuple[int, int]]:
        levels = (self.sync.asks if is_ask else self.sync.bids).levels(SNAPSHOT_DEPTH)
        to_base = self._contracts
        return levels if to_base is None else [(price, to_base(price, lots)) for price, lots in levels]

    async def _replay(self) -> None:
        stats = self.stats
        events = self._tape.events(kinds=(BINANCE_SNAPSHOT, BINANCE_DEPTH, BINANCE_TRADE), symbols=(self._symbol,),
                                   start_ns=self._start_ns, end_ns=self._end_ns)
        for ev in events:
            now = await self._until(ev[0])
            stats.events += 1
            kind = ev[2]
            if kind == BINANCE_DEPTH:
                self._on_depth(ev, now)
            elif kind == BINANCE_TRADE:
                stats.trades += 1
                if self.sync.synced:  # price_tick, qty_lots, buyer_is_maker
                    lots = ev[7] if self._contracts is None else self._contracts(ev[6], ev[7])
                    self._mirror.trade(ev[6], lots, aggressor_is_buy=not ev[8], now_ns=now)
            else:
                self._on_snapshot(ev, now)
            self._sample_mid(now)

    def _on_depth(self, ev: tuple, now: int) -> None:
        self.stats.depth_events += 1
        first_id, final_id, prev_id = ev[5], ev[6], ev[7]
        bid_ticks, bid_lots, ask_ticks, ask_lots = ev[8], ev[9], ev[10], ev[11]
        was_synced = self.sync.synced
        event_ms = ev[4] // 1_000_000 if ev[4] is not None else 0  # the tape's exchange time is E in ns
        action = self.sync.feed(DepthEvent(first_id, final_id, prev_id if prev_id is not None else -1, event_ms,
                                           list(zip(bid_ticks, bid_lots, strict=True)),
                                           list(zip(ask_ticks, ask_lots, strict=True)), in_ticks=True))
        self._after(action, was_synced, now, applied=(bid_ticks, bid_lots, ask_ticks, ask_lots), final_id=final_id)

    def _on_snapshot(self, ev: tuple, now: int) -> None:
        limit = ev[7] if ev[7] is not None else DEFAULT_SNAPSHOT_LIMIT
        was_synced = self.sync.synced
        snapshot = DepthSnapshot(ev[6], list(zip(ev[8], ev[9], strict=True)), list(zip(ev[10], ev[11], strict=True)),
                                 limit, in_ticks=True)
        self._after(self.sync.on_snapshot(snapshot), was_synced, now, applied=None, final_id=None)

    def _after(self, action: SyncAction, was_synced: bool, now: int, applied: tuple | None,
               final_id: int | None) -> None:
        sync = self.sync
        if action is SyncAction.SYNCED:
            self.stats.syncs += 1
            self._rebuild(now)
        elif was_synced and not sync.synced:
            self.stats.gaps += 1
            log.warning("tape %s: depth chain broken; the mirrored book is emptied until the next sync", self._symbol)
            self._mirror.clear(now)
        elif sync.synced and applied is not None and sync.last_final_id == final_id:
            bid_ticks, bid_lots, ask_ticks, ask_lots = applied
            to_base = self._contracts
            if to_base is not None:
                bid_lots = [to_base(price, lots) for price, lots in zip(bid_ticks, bid_lots, strict=True)]
                ask_lots = [to_base(price, lots) for price, lots in zip(ask_ticks, ask_lots, strict=True)]
            self._mirror_changes(bid_ticks, bid_lots, ask_ticks, ask_lots, now)
