"""Our fills summed up by UTC day: counts, volume, fees, realized PnL at average cost, the position.

Rules:
- Exact: ``Decimal`` arithmetic on the decimal strings the venue sent (prices, sizes, fees); nothing is rounded
  until it is printed.
- Realized PnL by **average cost**, as the venue accounts a position: a fill that adds to the position adds its
  notional to the cost; a fill that reduces it realizes (price - average cost) x size closed (for a long; the
  opposite for a short); a fill through zero closes the whole position and opens the rest at its own price.
  Fees are not in it: they are summed apart (net = realized - fees).
- The position held before the first fill (its recorded position after, less its own size) is unknown to the
  history: its cost is taken at that fill's mid (its price when no mid was recorded), and ``Opening`` says so.
- A fill whose recorded position after differs from the ledger's counts as a mismatch: a fill is missing from
  the history (the bot ran without it, or a fill was never reported). The ledger follows the fills; the
  recorded position is kept beside it.
- A day is the UTC day of the fill's time.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from itertools import groupby

DAY_NS = 86_400 * 10**9
_EPOCH = date(1970, 1, 1)
ZERO = Decimal(0)


def utc_day(time_ns: int) -> date:
    return _EPOCH + timedelta(days=time_ns // DAY_NS)


@dataclass(frozen=True, slots=True)
class LedgerFill:
    time_ns: int
    is_buy: bool
    price: Decimal
    size: Decimal  # base units, > 0
    fee_usd: Decimal  # paid (a rebate is negative)
    maker: bool
    mid: Decimal | None = None  # the mid when the bot learned of the fill
    position_after: Decimal | None = None  # as the account reported it
    notional_usd: Decimal | None = None  # as the venue reported it; price x size when None

    @property
    def notional(self) -> Decimal:
        return self.price * self.size if self.notional_usd is None else self.notional_usd

    @property
    def signed_size(self) -> Decimal:
        return self.size if self.is_buy else -self.size


@dataclass(frozen=True, slots=True)
class Opening:
    position: Decimal  # held before the first fill
    price: Decimal  # the cost taken for it (the first fill's mid, else its price)


@dataclass(frozen=True, slots=True)
class DaySummary:
    day: date
    fills: int
    maker_fills: int
    volume_usd: Decimal
    fees_usd: Decimal
    pnl_realized_usd: Decimal  # before fees
    position: Decimal  # the ledger's, after the day's last fill
    position_recorded: Decimal | None  # the account's, after the day's last fill
    max_abs_position: Decimal
    cost_usd: Decimal  # the position's cost at average price after the day's last fill (signed)
    last_mid: Decimal | None
    position_mismatches: int

    @property
    def taker_fills(self) -> int:
        return self.fills - self.maker_fills

    @property
    def pnl_net_realized_usd(self) -> Decimal:
        return self.pnl_realized_usd - self.fees_usd


class AverageCostLedger:
    """A position and its cost (signed: position x average price), fill by fill."""

    def __init__(self, position: Decimal = ZERO, price: Decimal = ZERO) -> None:
        self.position = position
        self.cost = position * price
        self.realized = ZERO

    def apply(self, signed_size: Decimal, price: Decimal) -> Decimal:
        """Apply one fill; returns the PnL it realized."""
        if self.position == 0 or (self.position > 0) == (signed_size > 0):
            self.position += signed_size
            self.cost += signed_size * price
            return ZERO
        held = abs(self.position)
        closed = min(abs(signed_size), held)
        average = self.cost / self.position
        direction = 1 if self.position > 0 else -1
        realized = (price - average) * closed * direction
        if closed == held:
            rest = signed_size + self.position  # what opens on the other side (zero when just closed)
            self.position, self.cost = rest, rest * price
        else:
            self.position += signed_size
            self.cost = average * self.position
        self.realized += realized
        return realized

    def unrealized(self, mark: Decimal) -> Decimal:
        return self.position * mark - self.cost


def in_window(time_ns: int, start_ns: int | None, end_ns: int | None) -> bool:
    return (start_ns is None or time_ns >= start_ns) and (end_ns is None or time_ns < end_ns)


def opening_of(first: LedgerFill) -> Opening:
    before = ZERO if first.position_after is None else first.position_after - first.signed_size
    return Opening(before, first.mid if first.mid is not None else first.price)


def daily_summaries(fills: Iterable[LedgerFill], start_ns: int | None = None,
                    end_ns: int | None = None) -> tuple[Opening, list[DaySummary]]:
    """One summary per UTC day that has fills in [start_ns, end_ns) (unbounded when None), in time order
    (``fills`` sorted by time). The fills before the window still move the ledger (position, cost)."""
    ordered = list(fills)
    if not ordered:
        return Opening(ZERO, ZERO), []
    opening = opening_of(ordered[0])
    ledger = AverageCostLedger(opening.position, opening.price)
    days: list[DaySummary] = []
    for (day, inside), grouped in groupby(ordered, key=lambda f: (utc_day(f.time_ns),
                                                                  in_window(f.time_ns, start_ns, end_ns))):
        group = list(grouped)
        if not inside:
            for fill in group:
                ledger.apply(fill.signed_size, fill.price)
            continue
        realized, max_abs, mismatches = ZERO, ZERO, 0
        for fill in group:
            realized += ledger.apply(fill.signed_size, fill.price)
            max_abs = max(max_abs, abs(ledger.position))
            mismatches += fill.position_after is not None and fill.position_after != ledger.position
        days.append(DaySummary(
            day=day, fills=len(group), maker_fills=sum(f.maker for f in group),
            volume_usd=sum((f.notional for f in group), ZERO),
            fees_usd=sum((f.fee_usd for f in group), ZERO), pnl_realized_usd=realized,
            position=ledger.position, position_recorded=group[-1].position_after, max_abs_position=max_abs,
            cost_usd=ledger.cost, last_mid=next((f.mid for f in reversed(group) if f.mid is not None), None),
            position_mismatches=mismatches,
        ))
    return opening, days
