"""The fill history: every fill of the bot appended to a CSV file per UTC day, ``<dir>/fills-YYYY-MM-DD.csv``.

Rules:
- One row per fill, as the account channel reported it (``lmm.core.account.Fill``), written before the fills
  are handled, each batch flushed and the file closed again: a crash of the process loses nothing already
  reported (an OS crash may lose what the kernel had not written; there is no fsync on the event loop).
- The file is the UTC day of the fill's venue time (the bot's wall clock when the venue sent none); a header
  is written when the file is new or empty, so a restart appends to the day's file.
- Prices, sizes and amounts are the exact decimal strings of the market's units. ``fee_usd`` is our side's
  fee rate (the venue sends the rate, in 1e-6 of notional, and omits it when zero) times the trade's notional,
  rounded up to the micro-dollar as the local venue's ledger charges it. ``mid`` and ``fair_price`` are the
  book's mid and the model's fair price when the bot handled the fill (empty when unknown); ``position_after``
  is the account's position after the fill (the batch's position, walked back fill by fill).
- A write that fails is logged (the error, the fills' trade ids) and trading goes on: the history is a
  record, not a control.
"""
from __future__ import annotations

import asyncio
import csv
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

from lmm.core.account import USD_DECIMALS, Fill
from lmm.core.fill_ledger import utc_day
from lmm.core.market import MarketInfo
from lmm.core.market_maker import MarketMaker
from lmm.venue.clock import Clock
from lmm.venue.lighter.rest import VenueReader, VenueReadError

log = logging.getLogger("lighter_mm.fill_history")

HISTORY_DIR_NAME = "fills"  # in the log directory
FILE_PREFIX = "fills-"
CATCH_UP_TIMEOUT_S = 10.0
_MICRO = Decimal(1).scaleb(-USD_DECIMALS)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class FillRow:
    time: str  # ISO 8601, UTC, ms
    time_ns: int
    symbol: str
    side: str  # buy | sell
    price: str
    size: str
    notional_usd: str
    fee_usd: str
    fee_rate: str  # fraction of notional
    maker: bool
    trade_id: int
    order_index: int | None
    client_order_index: int | None
    mid: str
    fair_price: str
    position_after: str

    def cells(self) -> list[str]:
        return [_cell(getattr(self, name)) for name in COLUMNS]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


COLUMNS = tuple(f.name for f in fields(FillRow))


def history_dir(log_dir: str | Path, mode: str = "live") -> Path:
    """``<log_dir>/fills`` for live trading; ``fills-<mode>`` for the others (paper, sim, local), so that no
    simulated fill ever enters the live history and its PnL."""
    return Path(log_dir) / (HISTORY_DIR_NAME if mode == "live" else f"{HISTORY_DIR_NAME}-{mode}")


def scaled(value: int, decimals: int) -> str:
    """``value`` x 10**-decimals as a plain decimal string (``scaled(300012, 2) == "3000.12"``)."""
    return format(Decimal(value).scaleb(-decimals), "f")


def fill_rows(fills: Sequence[Fill], market: MarketInfo, *, position_after_lots: int, mid_ticks2: int | None,
              fair_price: float | None, wall_ns: int) -> list[FillRow]:
    """The rows of one batch of fills; ``position_after_lots`` is the position after the whole batch."""
    positions: list[int] = []
    position = position_after_lots
    for fill in reversed(fills):
        positions.append(position)
        position -= -fill.size_lots if fill.side.is_ask else fill.size_lots
    positions.reverse()
    mid = "" if mid_ticks2 is None else scaled(mid_ticks2 * 5, market.price_decimals + 1)
    fair = "" if fair_price is None or not math.isfinite(fair_price) else f"{fair_price:.{market.price_decimals + 2}f}"
    rows = []
    for fill, after in zip(fills, positions, strict=True):
        time_ns = fill.timestamp_ms * 1_000_000 if fill.timestamp_ms > 0 else wall_ns
        price = Decimal(fill.price_tick).scaleb(-market.price_decimals)
        size = Decimal(fill.size_lots).scaleb(-market.size_decimals)
        notional = price * size if fill.quote_micro is None else Decimal(fill.quote_micro).scaleb(-USD_DECIMALS)
        rate = Decimal(fill.fee_ticks).scaleb(-6)
        fee = (notional * rate).quantize(_MICRO, rounding=ROUND_CEILING)
        rows.append(FillRow(
            time=(_EPOCH + timedelta(microseconds=time_ns // 1_000)).isoformat(timespec="milliseconds"),
            time_ns=time_ns, symbol=market.symbol, side="sell" if fill.side.is_ask else "buy",
            price=format(price, "f"), size=format(size, "f"), notional_usd=format(notional, "f"),
            fee_usd=format(fee, "f"), fee_rate=format(rate, "f"), maker=fill.is_maker, trade_id=fill.trade_id,
            order_index=None if fill.order_index is None else fill.order_index.value,
            client_order_index=None if fill.client_index is None else fill.client_index.value, mid=mid, fair_price=fair,
            position_after=scaled(after, market.size_decimals),
        ))
    return rows


def day_file(directory: Path, time_ns: int) -> Path:
    return directory / f"{FILE_PREFIX}{utc_day(time_ns).isoformat()}.csv"


class FillHistoryWriter:
    """Appends rows to the day files of ``directory`` (created when the first fill comes)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.rows_written = 0

    def append(self, rows: Iterable[FillRow]) -> None:
        by_file: dict[Path, list[FillRow]] = {}
        for row in rows:
            by_file.setdefault(day_file(self.directory, row.time_ns), []).append(row)
        if not by_file:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        for path, day_rows in by_file.items():
            with path.open("a", newline="", encoding="utf-8") as sink:
                writer = csv.writer(sink)
                if sink.tell() == 0:
                    writer.writerow(COLUMNS)
                writer.writerows(row.cells() for row in day_rows)
            self.rows_written += len(day_rows)


class FillHistory:
    """The daemon's hook: ``fills_then(on_fills)`` writes each batch, then hands it on."""

    def __init__(self, directory: Path, mm: MarketMaker, clock: Clock) -> None:
        self.writer = FillHistoryWriter(directory)
        self._mm = mm
        self._clock = clock

    def record(self, fills: Sequence[Fill]) -> None:
        mm = self._mm
        book = None if mm.feed is None else mm.feed.book
        fair = mm.model.fair_price(self._clock.monotonic_ns())  # NaN while the book is invalid
        rows = fill_rows(fills, mm.market, position_after_lots=mm.account.position_lots,
                         mid_ticks2=None if book is None else book.mid_ticks2, fair_price=fair,
                         wall_ns=self._clock.wall_ns())
        try:
            self.writer.append(rows)
        except OSError as exc:
            log.error("fill history: could not write fills %s to %s: %s", [f.trade_id for f in fills],
                      self.writer.directory, exc)

    async def catch_up(self, reader: VenueReader, refresh_account: Callable[[], Awaitable[None]]) -> list[Fill]:
        """At shutdown, the streams closed: the account's latest trades over REST; those the stream never
        reported (the flatten's, fills while the orders were cancelled) are recorded after a fresh account
        read (their position after) and handed to the market maker (the summary counts them). Returns them."""
        mm = self._mm
        try:
            trades = await asyncio.wait_for(reader.account_trades(mm.market.market_id), CATCH_UP_TIMEOUT_S)
            fills = mm.account.on_trades(sorted(trades, key=_trade_order))
            if fills:
                await asyncio.wait_for(refresh_account(), CATCH_UP_TIMEOUT_S)
        except Exception as exc:  # a record, not a control: the shutdown goes on whatever happens here
            reason = str(exc) if isinstance(exc, VenueReadError) else f"{type(exc).__name__}: {exc}"
            log.warning("fill history: the account's trades could not be read at shutdown (%s); fills after the "
                        "streams closed may be missing", reason)
            return []
        if fills:
            log.info("fill history: %d fill(s) the closed streams did not report, read over REST", len(fills))
            self.record(fills)
            mm.on_fills(fills)
        return fills

    def fills_then(self, on_fills: Callable[[list[Fill]], None]) -> Callable[[list[Fill]], None]:
        def recorded(fills: list[Fill]) -> None:
            self.record(fills)
            on_fills(fills)

        return recorded


def _trade_order(trade: dict[str, object]) -> int:
    try:
        return int(str(trade.get("trade_id")))
    except ValueError:
        return 0


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of one day file, as text; a file whose header is not the history's raises ``ValueError``."""
    with path.open(newline="", encoding="utf-8") as source:
        reader = csv.DictReader(source)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ValueError(f"{path}: not a fill history file (header {reader.fieldnames})")
        return list(reader)


def day_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"{FILE_PREFIX}????-??-??.csv"))
