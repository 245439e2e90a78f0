"""A market's identity, ticks and minimums, in exchange integers (read from the venue at start-up)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MarketInfo:
    market_id: int
    symbol: str
    price_decimals: int
    size_decimals: int
    min_base_lots: int
    min_quote_micro_usd: int
    status: str = "active"

    @property
    def tick_size(self) -> float:
        return 10.0 ** -self.price_decimals

    @property
    def lot_size(self) -> float:
        return 10.0 ** -self.size_decimals

    def price_of(self, tick: int) -> float:
        return tick / 10**self.price_decimals

    def size_of(self, lots: int) -> float:
        return lots / 10**self.size_decimals
