"""A Lighter market's identity, ticks and minimums, read from the exchange at start-up (never hard-coded).

Rules:
- ``GET /api/v1/orderBookDetails`` (falling back to ``orderBooks``) gives ``supported_price_decimals`` and
  ``supported_size_decimals``; tick = 10^-price_decimals, lot = 10^-size_decimals. When the venue also
  reports ``price_decimals``/``size_decimals`` they must agree, otherwise we refuse to trade the market.
- Minimums are kept exactly: ``min_base_amount`` in lots, ``min_quote_amount`` in micro-USDC.
"""
from __future__ import annotations

from typing import Any

import aiohttp

from lmm.book.book_side import parse_scaled
from lmm.core.market import MarketInfo


class MarketLookupError(RuntimeError):
    pass


class UnknownMarketError(MarketLookupError):
    """The venue answered, and does not list the market asked for."""




def parse_market(entry: dict[str, Any]) -> MarketInfo:
    try:
        price_decimals = int(entry["supported_price_decimals"])
        size_decimals = int(entry["supported_size_decimals"])
        for plain, supported in (("price_decimals", price_decimals), ("size_decimals", size_decimals)):
            if plain in entry and int(entry[plain]) != supported:
                raise MarketLookupError(f"market {entry.get('symbol')}: {plain} {entry[plain]} differs from "
                                        f"supported_{plain} {supported}; refusing to guess the scaling")
        return MarketInfo(
            market_id=int(entry["market_id"]),
            symbol=str(entry["symbol"]),
            price_decimals=price_decimals,
            size_decimals=size_decimals,
            min_base_lots=parse_scaled(str(entry["min_base_amount"]), size_decimals),
            min_quote_micro_usd=parse_scaled(str(entry["min_quote_amount"]), 6),
            status=str(entry.get("status", "active")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise MarketLookupError(f"malformed market entry: {exc}") from None


def select_market(entries: list[dict[str, Any]], symbol: str | None = None,
                  market_id: int | None = None) -> MarketInfo:
    perps = [e for e in entries if e.get("market_type", "perp") == "perp"]
    for entry in perps:
        if (symbol is not None and str(entry.get("symbol", "")).upper() == symbol.upper()) or (
                market_id is not None and int(entry.get("market_id", -1)) == market_id):
            return parse_market(entry)
    wanted = symbol if symbol is not None else f"market id {market_id}"
    known = ", ".join(sorted(str(e.get("symbol")) for e in perps)[:30])
    raise UnknownMarketError(f"unknown market {wanted}; the exchange lists: {known}")


async def fetch_market(session: aiohttp.ClientSession, base_url: str, symbol: str | None = None,
                       market_id: int | None = None) -> MarketInfo:
    base = base_url.rstrip("/")
    for path, key in (("/api/v1/orderBookDetails", "order_book_details"), ("/api/v1/orderBooks", "order_books")):
        async with session.get(base + path, timeout=aiohttp.ClientTimeout(total=10)) as resp:
            if resp.status != 200:
                continue
            body = await resp.json(content_type=None)
        entries = body.get(key) or []
        if entries:
            return select_market(entries, symbol, market_id)
    raise MarketLookupError(f"{base} lists no markets")
