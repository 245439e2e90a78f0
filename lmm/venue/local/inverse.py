"""An inverse (COIN-M) tape replayed as the linear market a Lighter bot trades: every size in contracts becomes
base units at its own price.

Rules:
- One contract is worth ``contract_usd`` USD, so ``n`` contracts at price ``p`` hold ``n * contract_usd / p`` of
  the base asset. A level's total and a trade's size are converted at the level's (the trade's) own price,
  rounded half up to the base grid of ``BASE_DECIMALS`` (1e-8: a satoshi for BTC); a non-zero size never
  rounds to nothing. Exact integer arithmetic: the same tape gives the same lots on every machine.
- Only sizes change: prices stay on the tape's tick grid, so the book's shape, its touch and its trades'
  prices are the tape's. Profit, fees and volume are then linear, in USD, as on Lighter, not in the coin as
  on Binance's COIN-M: the question answered is "what would the bot have done on a market that moves as
  this one did".
"""
from __future__ import annotations

from fractions import Fraction

BASE_DECIMALS = 8


class ContractsToBase:
    """``(price_ticks, contract_lots) -> base lots``: a tape's size in contracts (on its size grid) as base lots
    (on ``BASE_DECIMALS``) at a price on its tick grid."""

    __slots__ = ("_denominator", "_numerator")

    def __init__(self, contract_usd: float, price_decimals: int, contract_decimals: int,
                 base_decimals: int = BASE_DECIMALS) -> None:
        if contract_usd <= 0:
            raise ValueError(f"a contract's value must be positive, not {contract_usd}")
        value = Fraction(str(contract_usd))
        # base lots = lots * 10^-cd * usd / (ticks * 10^-pd) * 10^bd
        self._numerator = value.numerator * 10 ** (price_decimals + base_decimals)
        self._denominator = value.denominator * 10 ** contract_decimals

    def __call__(self, price_ticks: int, contract_lots: int) -> int:
        if contract_lots <= 0 or price_ticks <= 0:
            return 0
        numerator = contract_lots * self._numerator
        denominator = price_ticks * self._denominator
        return max(1, (2 * numerator + denominator) // (2 * denominator))
