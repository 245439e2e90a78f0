"""A live Lighter market (its public ``order_book`` and ``trade`` channels) mirrored into the local venue, for
paper trading: the bot's orders rest in the local engine beside the live book and fill when live trades reach
them, under the same queue model as the backtester (``mirror.BookMirror``).

Rules:
- The live book is kept by the product's own ``LighterBook`` (nonce chain, crossed and malformed checks). Every
  valid message's levels (absolute sizes) are applied to the mirror; a snapshot rebuilds it; a gap, a crossed
  book or a dropped connection empties the mirror until the next snapshot (the bot then sees an empty book and
  stops quoting on it, as on a stale live book).
- Live trades (``trade/{m}`` updates; the subscription's history is skipped) take liquidity from the mirror as
  their taker did. The public channels need no credentials; nothing is ever sent to the live venue.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from lmm.book.book_side import parse_scaled
from lmm.book.lighter_book import BookEvent, LighterBook
from lmm.core.market import MarketInfo
from lmm.venue.local.mirror import BookMirror
from lmm.venue.ws.manager import LighterWsManager

log = logging.getLogger("lighter_mm.live_market")

TRADE_UPDATE = "update/trade"


class LighterLiveMarket:
    def __init__(self, streams: LighterWsManager, market: MarketInfo, mirror: BookMirror,
                 wall_ns: Callable[[], int]) -> None:
        self._streams = streams
        self._market = market
        self._mirror = mirror
        self._wall_ns = wall_ns
        self.book = LighterBook(market.market_id, market.price_decimals, market.size_decimals)
        self.trades = 0
        self.resyncs = 0
        book_channel = f"order_book/{market.market_id}"
        self._book_channel = book_channel
        streams.subscribe(book_channel, self._on_book, on_reset=self._on_reset)
        streams.subscribe(f"trade/{market.market_id}", self._on_trades, account=True)

    async def run(self) -> None:
        await self._streams.run()

    async def close(self) -> None:
        await self._streams.close()

    def _on_book(self, message: Mapping[str, Any]) -> None:
        event = self.book.on_message(message)
        now = self._wall_ns()
        if event is BookEvent.SNAPSHOT:
            self._rebuild(now)
        elif event is BookEvent.UPDATED:
            order_book = message.get("order_book") or {}
            for is_ask, key in ((False, "bids"), (True, "asks")):
                for level in order_book.get(key) or ():
                    self._mirror.set_level(is_ask, self._ticks(level["price"]), self._lots(level["size"]), now)
        elif event.needs_resubscribe:
            self.resyncs += 1
            log.warning("live %s book invalid (%s): the paper book is emptied until a fresh snapshot",
                        self._market.symbol, event.value)
            self._mirror.clear(now)
            self._streams.request_resubscribe(self._book_channel)

    def _on_reset(self) -> None:
        self.book.invalidate("connection reset")
        self._mirror.clear(self._wall_ns())

    def _on_trades(self, message: Mapping[str, Any]) -> None:
        if message.get("type") != TRADE_UPDATE or not self.book.valid:
            return
        now = self._wall_ns()
        for trade in message.get("trades") or ():
            self.trades += 1
            # the maker was the ask: the taker bought
            self._mirror.trade(self._ticks(trade["price"]), self._lots(trade["size"]),
                               aggressor_is_buy=bool(trade.get("is_maker_ask")), now_ns=now)

    def _rebuild(self, now: int) -> None:
        for is_ask, side in ((False, self.book.bids), (True, self.book.asks)):
            self._mirror.replace_side(is_ask, dict(side.levels(len(side))), now)

    def _ticks(self, text: str) -> int:
        return parse_scaled(str(text), self._market.price_decimals)

    def _lots(self, text: str) -> int:
        return parse_scaled(str(text), self._market.size_decimals)
