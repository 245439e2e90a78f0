# Market specifications of the simulated Lighter venue.
# Rules: values are exact integers in venue units (price ticks, size lots, micro-USDC, fee ticks of 1e-6,
# margin fractions of 1e-4), copied from the reference capture (lighter-api.md §5.5, §8). No I/O.
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

USDC_DECIMALS = 6
MICRO_PER_USDC = 10**USDC_DECIMALS
FEE_TICKS_PER_UNIT = 1_000_000  # a fee of 1 tick is 1e-6 of notional
MARGIN_FRACTION_ONE = 10_000  # margin fractions are in units of 1e-4


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """One perpetual market. Prices are in ticks (price × 10^price_decimals), sizes in lots."""

    market_id: int
    symbol: str
    price_decimals: int
    size_decimals: int
    min_base_amount: int  # lots
    min_quote_amount: int  # micro-USDC
    default_initial_margin_fraction: int = 500  # 1e-4 units: 500 = 5 % = 20x
    min_initial_margin_fraction: int = 200  # 50x
    maintenance_margin_fraction: int = 120
    closeout_margin_fraction: int = 80
    taker_fee_ticks: int = 0  # the market's published fee; the account tier decides what is charged
    maker_fee_ticks: int = 0
    liquidation_fee_ticks: int = 10_000  # "1.0000" percent
    max_price: int = 2**32 - 1
    max_base_amount: int = 2**48 - 1

    def quote_micro(self, price: int, size: int) -> int:
        """Notional of `size` lots at `price` ticks in micro-USDC, rounded down (exact on ETH and BTC)."""
        shift = USDC_DECIMALS - self.price_decimals - self.size_decimals
        if shift >= 0:
            return price * size * 10**shift
        return price * size // 10**-shift

    def price_to_decimal(self, price: int) -> Decimal:
        return Decimal(price).scaleb(-self.price_decimals)

    def size_to_decimal(self, size: int) -> Decimal:
        return Decimal(size).scaleb(-self.size_decimals)

    def format_price(self, price: int) -> str:
        """Price text with exactly `price_decimals` fraction digits, as the SDK helpers expect."""
        return _format_fixed(price, self.price_decimals)

    def format_size(self, size: int) -> str:
        return _format_fixed(size, self.size_decimals)

    def levels_json(self, levels: Iterable[tuple[int, int]]) -> list[dict[str, str]]:
        """[(price, size)] as the venue's [{"price": ..., "size": ...}] texts."""
        prices, sizes = _texts(self.price_decimals), _texts(self.size_decimals)
        return [{"price": prices[p], "size": sizes[s]} for p, s in levels]


@lru_cache(maxsize=1 << 16)  # a book's prices and sizes repeat: frames format the same levels again and again
def _format_fixed(value: int, decimals: int) -> str:
    sign = "-" if value < 0 else ""
    digits = str(abs(value)).rjust(decimals + 1, "0")
    if decimals == 0:
        return sign + digits
    return f"{sign}{digits[:-decimals]}.{digits[-decimals:]}"


class _FixedTexts(dict[int, str]):
    """value -> `_format_fixed(value, decimals)`, remembered: a book's prices and sizes repeat from frame to frame.
    Emptied when it holds `TEXTS_LIMIT` values, so a long run's memory stays bounded."""

    def __init__(self, decimals: int) -> None:
        super().__init__()
        self.decimals = decimals

    def __missing__(self, value: int) -> str:
        if len(self) >= TEXTS_LIMIT:
            self.clear()
        text = self[value] = _format_fixed(value, self.decimals)
        return text


TEXTS_LIMIT = 1 << 16
_TEXTS: dict[int, _FixedTexts] = {}


def _texts(decimals: int) -> _FixedTexts:
    texts = _TEXTS.get(decimals)
    if texts is None:
        texts = _TEXTS[decimals] = _FixedTexts(decimals)
    return texts


def format_usdc(micro: int) -> str:
    """Micro-USDC as text with 6 fraction digits ("10.000000")."""
    return _format_fixed(micro, USDC_DECIMALS)


def parse_usdc(text: str | int | Decimal) -> int:
    """USDC amount ("10000", "12.5") to exact micro-USDC; more than 6 fraction digits is an error."""
    try:
        value = Decimal(str(text))
    except InvalidOperation as exc:
        raise ValueError(f"not a USDC amount: {text!r}") from exc
    micro = value.scaleb(USDC_DECIMALS)
    if micro != micro.to_integral_value():
        raise ValueError(f"USDC amount has more than {USDC_DECIMALS} decimals: {text!r}")
    return int(micro)


ETH = MarketSpec(
    market_id=0,
    symbol="ETH",
    price_decimals=2,
    size_decimals=4,
    min_base_amount=50,  # 0.0050 ETH
    min_quote_amount=10 * MICRO_PER_USDC,
)

BTC = MarketSpec(
    market_id=1,
    symbol="BTC",
    price_decimals=1,
    size_decimals=5,
    min_base_amount=20,  # 0.00020 BTC
    min_quote_amount=10 * MICRO_PER_USDC,
)

DEFAULT_MARKETS: tuple[MarketSpec, ...] = (ETH, BTC)


def markets_by_id(specs: Iterable[MarketSpec]) -> dict[int, MarketSpec]:
    result: dict[int, MarketSpec] = {}
    for spec in specs:
        if spec.market_id in result:
            raise ValueError(f"duplicate market id {spec.market_id}")
        result[spec.market_id] = spec
    return result


def market_by_symbol(symbol: str, specs: Iterable[MarketSpec] = DEFAULT_MARKETS) -> MarketSpec:
    for spec in specs:
        if spec.symbol == symbol.upper():
            return spec
    raise KeyError(f"unknown market symbol {symbol!r}")
