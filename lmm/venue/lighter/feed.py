"""Lighter market data and account channels on one subscription manager, for one market and account.

Rules:
- ``order_book/{market}`` feeds ``orderbook.LighterBook``; a nonce gap, crossed book or malformed message
  drops the book and requests a fresh snapshot (resubscribe); a connection reset invalidates it. The bot
  never quotes from an invalid book.
- Every valid book change updates the model's latest mid and imbalance, the book's update cadence
  (``book_freshness.BookCadence``) and calls ``on_book`` (the quoting wake-up); an invalid book tells the
  model to forget its previous mid and breaks the cadence chain.
- Account channels: ``account_all`` (positions, fills), ``user_stats`` (capital), ``account_all_orders``
  (our orders; private, needs the auth token). Reports go to ``on_orders``; fills to ``on_fills``.
- With a recorder (``--record``), the book channel's frames are tapped as received, and so is
  ``trade/{market}`` (subscribed for the tape only; quiet markets may idle, so it has the long timeout);
  every book the feed drops is recorded as a resync with its reason.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lmm.book.lighter_book import BookEvent, LighterBook
from lmm.core.account import AccountState, Fill
from lmm.core.book_freshness import BookCadence
from lmm.core.market import MarketInfo
from lmm.core.orders import OrderReport
from lmm.venue.ws.manager import LighterWsManager

if TYPE_CHECKING:
    from lmm.venue.tape.bot_recorder import BotRecorder

log = logging.getLogger("lighter_mm.feed")


@dataclass
class FeedStats:
    book_messages: int = 0
    snapshots: int = 0
    gaps: int = 0
    crossed: int = 0
    malformed: int = 0
    resubscribes: int = 0
    resets: int = 0
    last_valid_ns: int | None = None


class LighterFeed:
    def __init__(self, manager: LighterWsManager, market: MarketInfo, account: AccountState | None,
                 model: Any, looking_depth: float, *, on_book: Callable[[int], None],
                 on_orders: Callable[[list[OrderReport], int], None], on_fills: Callable[[list[Fill]], None],
                 clock_ns: Callable[[], int] = time.monotonic_ns, recorder: BotRecorder | None = None) -> None:
        self._manager = manager
        self._recorder = recorder
        self._model = model
        self._looking_depth = looking_depth
        self._on_book = on_book
        self._on_orders = on_orders
        self._on_fills = on_fills
        self._clock_ns = clock_ns
        self.account = account
        self.book = LighterBook(market.market_id, market.price_decimals, market.size_decimals)
        self.book_channel = f"order_book/{market.market_id}"
        self.stats = FeedStats()
        self.cadence = BookCadence()
        manager.subscribe(self.book_channel, self._on_book_message, on_reset=self._on_book_reset)
        if recorder is not None:
            manager.tap(self.book_channel, recorder.lighter_book_frame)
            trade_channel = f"trade/{market.market_id}"
            manager.subscribe(trade_channel, _ignore, account=True)
            manager.tap(trade_channel, recorder.lighter_trade_frame)
            manager.add_connection_listener(recorder.lighter_connection)
        if account is not None:
            index = account.account_index
            manager.subscribe(f"account_all/{index}", self._on_account_all, account=True)
            manager.subscribe(f"user_stats/{index}", self._on_user_stats, account=True)
            manager.subscribe(f"account_all_orders/{index}", self._on_account_orders, private=True, account=True)

    # ---- book -------------------------------------------------------------------------------------------

    def _on_book_message(self, message: dict[str, Any]) -> None:
        now = self._clock_ns()
        event = self.book.on_message(message)
        self.stats.book_messages += 1
        if event in (BookEvent.SNAPSHOT, BookEvent.UPDATED):
            if event is BookEvent.SNAPSHOT:
                self.stats.snapshots += 1
                log.info("lighter book synced: nonce %s, best %s / %s", self.book.nonce, self.book.best_bid_tick,
                         self.book.best_ask_tick)
            self.stats.last_valid_ns = now
            self.cadence.on_update(now)
            mid = self.book.mid
            imbalance = self.book.imbalance(self._looking_depth)
            if mid is not None and imbalance is not None:
                self._model.on_book(now, mid, imbalance)
            else:  # one-sided book: no mid to sample or quote from
                self._model.on_book_invalid(now)
            self._on_book(now)
        elif event.needs_resubscribe:
            counter = {BookEvent.GAP: "gaps", BookEvent.CROSSED: "crossed"}.get(event, "malformed")
            setattr(self.stats, counter, getattr(self.stats, counter) + 1)
            reason = f"{event.value}: {self.book.invalid_reason}"
            if event is BookEvent.GAP and self._recorder is not None:
                self._recorder.lighter_gap(reason)
            self.resync(reason)

    def _on_book_reset(self) -> None:
        self.stats.resets += 1
        if self._recorder is not None:
            self._recorder.lighter_resync("connection reset")
        self.book.invalidate("connection reset")
        self.cadence.break_chain()
        self._model.on_book_invalid(self._clock_ns())

    def resync(self, reason: str) -> None:
        """Drop the book and ask for a fresh snapshot (a gap, a crossed book, a failed sanity check)."""
        if self._recorder is not None:
            self._recorder.lighter_resync(reason)
        self.book.invalidate(reason)
        self.cadence.break_chain()
        self._model.on_book_invalid(self._clock_ns())
        self.stats.resubscribes += 1
        log.warning("lighter book invalid (%s); resubscribing %s", reason, self.book_channel)
        self._manager.request_resubscribe(self.book_channel)
        self._on_book(self._clock_ns())

    # ---- account ------------------------------------------------------------------------------------------

    def _on_account_all(self, message: dict[str, Any]) -> None:
        fills = self.account.on_account_all(message, self._clock_ns())
        if fills:
            self._on_fills(fills)

    def _on_user_stats(self, message: dict[str, Any]) -> None:
        self.account.on_user_stats(message, self._clock_ns())

    def _on_account_orders(self, message: dict[str, Any]) -> None:
        reports = self.account.parse_orders(message.get("orders") or {})
        if reports:
            self._on_orders(reports, self._clock_ns())


def _ignore(message: dict[str, Any]) -> None:
    """The trade channel is subscribed for the tape only."""
