# The published order-book chain of one market: what WebSocket clients have been told, and what is next.
#
# Rules: pure state (no I/O, no clock, seeded randomness only). The mirror holds exactly the levels
# published up to `nonce`, so a snapshot is always consistent with its nonce. Engine level changes
# accumulate in `pending` (absolute sizes, last write wins) until `take_update` turns them into one
# update whose begin_nonce is the previous nonce; nonces advance by irregular steps, as on the venue.
from __future__ import annotations

import random
from dataclasses import dataclass

Level = tuple[int, int]  # (price ticks, size lots)


@dataclass(frozen=True)
class BookUpdate:
    begin_nonce: int
    nonce: int
    bids: list[Level]  # changed levels with absolute sizes; size 0 deletes
    asks: list[Level]
    published: bool  # False when a skip-nonce fault swallowed it


class BookChain:
    """Mirror of the published book plus the changes not yet published."""

    def __init__(self, market_id: int, rng: random.Random, bids: list[Level], asks: list[Level],
                 first_nonce: int) -> None:
        self.market_id = market_id
        self._rng = rng
        self.bids: dict[int, int] = dict(bids)
        self.asks: dict[int, int] = dict(asks)
        self.nonce = first_nonce
        self._pending: dict[tuple[bool, int], int] = {}
        self._fake_bid: int | None = None  # price of a crossed-book fault level to retract
        self._best: dict[bool, int | None] = {False: None, True: None}  # is_ask -> cached best price, None: unknown

    def record(self, is_ask: bool, price: int, size: int) -> None:
        self._pending[(is_ask, price)] = size

    @property
    def has_pending(self) -> bool:
        return bool(self._pending) or self._fake_bid is not None

    def _advance_nonce(self) -> tuple[int, int]:
        begin = self.nonce
        self.nonce = begin + self._rng.randint(1, 37)
        return begin, self.nonce

    def take_update(self, *, skip: bool = False, crossed: bool = False) -> BookUpdate | None:
        """Publish the pending changes as one update (None if nothing changed and no fault applies).

        skip: advance the chain without publishing (clients see a begin_nonce gap next time).
        crossed: add a fake bid one tick above the best ask to this update; the next one removes it.
        """
        if not self._pending and self._fake_bid is None and not skip and not crossed:
            return None
        bids: list[Level] = []
        asks: list[Level] = []
        for (is_ask, price), size in self._pending.items():
            side = self.asks if is_ask else self.bids
            best = self._best[is_ask]
            if best is not None and (price <= best if is_ask else price >= best):
                if size > 0:
                    self._best[is_ask] = price  # a better level, or the best resized
                elif price == best:
                    self._best[is_ask] = None  # the best level is gone: find the next one when asked
            if size > 0:
                side[price] = size
            elif side.pop(price, None) is None:
                continue  # a level that appeared and vanished within the batch
            (asks if is_ask else bids).append((price, size))
        self._pending.clear()
        if self._fake_bid is not None:
            if not any(price == self._fake_bid for price, _ in bids):
                bids.append((self._fake_bid, self.bids.get(self._fake_bid, 0)))
            self._fake_bid = None
        if crossed and self.asks:
            self._fake_bid = min(self.asks) + 1
            bids = [level for level in bids if level[0] != self._fake_bid]
            bids.append((self._fake_bid, max(self.asks[min(self.asks)], 1)))
        begin, nonce = self._advance_nonce()
        return BookUpdate(begin, nonce, bids, asks, published=not skip)

    def snapshot(self) -> tuple[list[Level], list[Level]]:
        """(bids best first, asks best first) as published at `nonce`."""
        bids = sorted(self.bids.items(), key=lambda level: -level[0])
        asks = sorted(self.asks.items())
        return bids, asks

    def best_bid(self) -> Level | None:
        if not self.bids:
            return None
        price = self._best[False]
        if price is None:
            price = self._best[False] = max(self.bids)
        return price, self.bids[price]

    def best_ask(self) -> Level | None:
        if not self.asks:
            return None
        price = self._best[True]
        if price is None:
            price = self._best[True] = min(self.asks)
        return price, self.asks[price]
