"""Cross-check of the WebSocket book against a REST snapshot (``GET /api/v1/orderBookOrders``).

Rules:
- Every ``interval`` seconds, fetch the top orders over REST and compare the best bid and best ask with
  the WebSocket book's. The two are read a few milliseconds apart, so prices may differ by up to
  ``tolerance_bps`` of mid without counting as a failure.
- An invalid WS book is not compared (it is already being resynced); a REST error is logged and counted,
  never taken as a book failure.
- A failure (a side missing on one source only, or a best price off by more than the tolerance) is logged
  and counted, and ``on_failure`` is called so the feed resubscribes.
The decision is the pure ``compare_top``; ``SanityChecker`` is the I/O shell.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from lmm.book.book_side import EMPTY_TICK, parse_scaled
from lmm.book.lighter_book import LighterBook
from lmm.venue.lighter.rest import VenueReadError

log = logging.getLogger("lighter_mm.sanity")


@dataclass(frozen=True)
class SanityResult:
    ok: bool
    reason: str = ""


def compare_top(ws_bid: int, ws_ask: int, rest_bid: int, rest_ask: int, tolerance_bps: float) -> SanityResult:
    """Compare best prices in ticks (``EMPTY_TICK`` for a missing side)."""
    reference = [p for p in (ws_bid, ws_ask, rest_bid, rest_ask) if p != EMPTY_TICK]
    if not reference:
        return SanityResult(True)
    allowed = max(reference) * tolerance_bps / 1e4
    for name, ws, rest in (("bid", ws_bid, rest_bid), ("ask", ws_ask, rest_ask)):
        if (ws == EMPTY_TICK) != (rest == EMPTY_TICK):
            return SanityResult(False, f"best {name} present on {'REST' if ws == EMPTY_TICK else 'WS'} only")
        if ws != EMPTY_TICK and abs(ws - rest) > allowed:
            return SanityResult(False, f"best {name} WS {ws} vs REST {rest} ticks (tolerance {allowed:.1f})")
    return SanityResult(True)


def rest_best_ticks(body: dict, price_decimals: int) -> tuple[int, int]:
    """Best bid and ask ticks from an ``orderBookOrders`` reply (best first on each side)."""
    bids, asks = body.get("bids") or [], body.get("asks") or []
    bid = max((parse_scaled(o["price"], price_decimals) for o in bids), default=EMPTY_TICK)
    ask = min((parse_scaled(o["price"], price_decimals) for o in asks), default=EMPTY_TICK)
    return bid, ask


@dataclass
class SanityStats:
    checks: int = 0
    failures: int = 0
    rest_errors: int = 0
    skipped_invalid: int = 0
    last_reason: str = ""


class SanityChecker:
    def __init__(self, fetch_book: Callable[[], Awaitable[dict]], price_decimals: int,
                 book: Callable[[], LighterBook], on_failure: Callable[[str], None], interval: float,
                 tolerance_bps: float) -> None:
        self._fetch_book = fetch_book  # the venue's top of book over REST (orderBookOrders)
        self._price_decimals = price_decimals
        self._book = book
        self._on_failure = on_failure
        self._interval = interval
        self._tolerance_bps = tolerance_bps
        self.stats = SanityStats()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.check_once()

    async def check_once(self) -> SanityResult | None:
        book = self._book()
        if not book.valid:
            self.stats.skipped_invalid += 1
            return None
        try:
            rest_bid, rest_ask = rest_best_ticks(await self._fetch_book(), self._price_decimals)
        except (VenueReadError, ValueError, KeyError, TypeError) as exc:
            self.stats.rest_errors += 1
            log.warning("sanity check: REST snapshot unavailable: %s", exc)
            return None
        book = self._book()
        if not book.valid:
            self.stats.skipped_invalid += 1
            return None
        result = compare_top(book.best_bid_tick, book.best_ask_tick, rest_bid, rest_ask, self._tolerance_bps)
        self.stats.checks += 1
        if result.ok:
            log.debug("sanity check ok: WS %s/%s REST %s/%s", book.best_bid_tick, book.best_ask_tick,
                      rest_bid, rest_ask)
        else:
            self.stats.failures += 1
            self.stats.last_reason = result.reason
            log.warning("sanity check FAILED (%d so far): %s; resubscribing", self.stats.failures, result.reason)
            self._on_failure(result.reason)
        return result
