# Binance perps of the quoted Lighter symbols and their integer price/quantity grids.
# Rules: BTC -> BTCUSDT by the default rule (symbol + USDT), with an explicit exception table (None: no
# perp, run with alpha.source = none) and a config override that always wins. Grids of unknown symbols come
# from exchangeInfo (binance_snapshot.fetch_market), never from the number of decimals in price strings.
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class BinanceMarket:
    symbol: str  # upper case, e.g. BTCUSDT
    price_decimals: int  # integer price grid 10**-price_decimals (the tick size is 0.1 for BTCUSDT)
    size_decimals: int


# Lighter symbol -> Binance perp, where the default rule (symbol + USDT) does not hold. None: no perp.
SYMBOL_EXCEPTIONS: Mapping[str, str | None] = MappingProxyType({})

KNOWN_MARKETS: Mapping[str, BinanceMarket] = MappingProxyType({
    "BTCUSDT": BinanceMarket("BTCUSDT", 1, 3),  # tick 0.1, quantity step 0.001
    "ETHUSDT": BinanceMarket("ETHUSDT", 2, 3),  # tick 0.01, quantity step 0.001
})


def binance_symbol(lighter_symbol: str, override: str = "") -> str | None:
    """The Binance perp for a Lighter symbol (BTC -> BTCUSDT); `override` (config) wins; None: no market."""
    if override:
        return override.upper()
    key = lighter_symbol.upper()
    if key in SYMBOL_EXCEPTIONS:
        return SYMBOL_EXCEPTIONS[key]
    return f"{key}USDT"


def market_for(symbol: str) -> BinanceMarket:
    try:
        return KNOWN_MARKETS[symbol.upper()]
    except KeyError:
        raise ValueError(f"no price/size grid known for {symbol}; pass a BinanceMarket explicitly") from None
