# REST calls of the Binance feed: depth snapshots (fetching, decoding, pacing that respects request weight)
# and the symbol's price/quantity grid from exchangeInfo.
# Rules: `SnapshotPacer` is pure (times are passed in): a first snapshot, or one after a successful sync,
# goes out at once (subject only to `min_interval_s`); consecutive unsuccessful ones (HTTP error, snapshot
# older than the buffer) back off exponentially with jitter; the snapshot weight spent in any rolling
# minute stays under `max_weight_per_minute`; an HTTP 429/418 `Retry-After` is honoured; when the venue's
# `X-MBX-USED-WEIGHT-1M` shows the IP budget (shared with other processes) nearly spent, snapshots wait
# for the next wall-clock minute. The fetcher decodes with a typed msgspec struct and never retries by
# itself: the feed decides through the pacer.
from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp
import msgspec

from lmm.book.binance_depth import DepthSnapshot
from lmm.core.backoff import Backoff, BackoffPolicy
from lmm.venue.binance.market import BinanceMarket

# Request weight of GET /fapi/v1/depth by limit (binance-depth.md §3).
_DEPTH_WEIGHTS = {5: 2, 10: 2, 20: 2, 50: 2, 100: 5, 500: 10, 1000: 20}


def depth_weight(limit: int) -> int:
    try:
        return _DEPTH_WEIGHTS[limit]
    except KeyError:
        raise ValueError(f"limit must be one of {sorted(_DEPTH_WEIGHTS)}, got {limit}") from None


@dataclass(frozen=True)
class PacerSettings:
    limit: int = 1000
    min_interval_s: float = 0.25
    max_weight_per_minute: int = 240  # a tenth of the default 2 400/min IP budget: 12 snapshots at 1000
    ip_weight_per_minute: int = 2400
    ip_high_water: float = 0.8  # above this share of the IP budget, wait for the next minute
    backoff: BackoffPolicy = field(default_factory=lambda: BackoffPolicy(0.25, 30.0))


class SnapshotPacer:
    def __init__(self, settings: PacerSettings, rng: random.Random | None = None) -> None:
        self._settings = settings
        self._weight = depth_weight(settings.limit)
        self._backoff = Backoff(settings.backoff, rng or random.Random())
        self._spent: deque[tuple[float, int]] = deque()  # (time, weight) in the last minute
        self._last_request_at: float | None = None
        self._not_before = 0.0

    def delay(self, now: float) -> float:
        """Seconds to wait before the next snapshot request may go out."""
        earliest = self._not_before
        if self._last_request_at is not None:
            earliest = max(earliest, self._last_request_at + self._settings.min_interval_s)
        spent = self._spent
        while spent and spent[0][0] <= now - 60.0:
            spent.popleft()
        budget = self._settings.max_weight_per_minute
        used = sum(weight for _, weight in spent)
        if used + self._weight > budget:
            # Wait until enough old requests leave the rolling minute.
            for at, weight in spent:
                used -= weight
                if used + self._weight <= budget:
                    earliest = max(earliest, at + 60.0)
                    break
        return max(0.0, earliest - now)

    def on_request(self, now: float) -> None:
        self._last_request_at = now
        self._spent.append((now, self._weight))

    def on_reported_weight(self, now: float, used_weight: int | None, wall_s: float) -> None:
        """The venue's X-MBX-USED-WEIGHT-1M after a request; `wall_s` locates the minute boundary."""
        settings = self._settings
        if used_weight is None or used_weight + self._weight <= settings.ip_weight_per_minute * settings.ip_high_water:
            return
        self._not_before = max(self._not_before, now + (60.0 - wall_s % 60.0))

    def on_success(self) -> None:
        self._backoff.reset()

    def on_failure(self, now: float, retry_after_s: float | None = None) -> None:
        """A fetch failed or its snapshot could not be used: the next one waits a growing delay."""
        wait = self._backoff.next_delay()
        if retry_after_s is not None:
            wait = max(wait, retry_after_s)
        self._not_before = max(self._not_before, now + wait)


class _RestSnapshot(msgspec.Struct):
    lastUpdateId: int
    bids: list[tuple[str, str]]
    asks: list[tuple[str, str]]


_snapshot_decoder = msgspec.json.Decoder(_RestSnapshot)


@dataclass(frozen=True)
class FetchedSnapshot:
    snapshot: DepthSnapshot
    used_weight: int | None  # X-MBX-USED-WEIGHT-1M, when the venue sent it
    body: bytes = b""  # as received (the bot's --record keeps it)


class SnapshotError(Exception):
    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def decode_snapshot(body: bytes, limit: int) -> DepthSnapshot:
    try:
        raw = _snapshot_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise SnapshotError(f"malformed depth snapshot: {exc}") from exc
    return DepthSnapshot(raw.lastUpdateId, raw.bids, raw.asks, limit)


async def fetch_snapshot(
    session: aiohttp.ClientSession, rest_url: str, symbol: str, limit: int, timeout_s: float = 5.0
) -> FetchedSnapshot:
    """GET {rest_url}/fapi/v1/depth; raises SnapshotError (with Retry-After when throttled)."""
    url = f"{rest_url.rstrip('/')}/fapi/v1/depth"
    try:
        async with session.get(
            url, params={"symbol": symbol, "limit": str(limit)}, timeout=aiohttp.ClientTimeout(total=timeout_s)
        ) as response:
            body = await response.read()
            status, headers = response.status, response.headers
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SnapshotError(f"depth snapshot request failed: {exc!r}") from exc
    return snapshot_from_response(status, headers, body, limit)


def snapshot_from_response(status: int, headers: Mapping[str, str], body: bytes, limit: int) -> FetchedSnapshot:
    """The depth answer read as the venue means it (however it was fetched); raises SnapshotError."""
    used_weight = _int_header(headers.get("X-MBX-USED-WEIGHT-1M"))
    if status in (418, 429):
        raise SnapshotError(f"depth snapshot throttled: HTTP {status}", _retry_after(headers.get("Retry-After")))
    if status != 200:
        raise SnapshotError(f"depth snapshot failed: HTTP {status}: {body[:200]!r}")
    return FetchedSnapshot(decode_snapshot(body, limit), used_weight, body)


def _int_header(value: str | None) -> int | None:
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class _Filter(msgspec.Struct):
    filterType: str
    tickSize: str = ""
    stepSize: str = ""


class _SymbolInfo(msgspec.Struct):
    symbol: str
    filters: list[_Filter]


class _ExchangeInfo(msgspec.Struct):
    symbols: list[_SymbolInfo]


def grid_decimals(step: str) -> int:
    """Decimals of the integer grid that holds every multiple of `step`: "0.10" -> 1, "0.001" -> 3, "1" -> 0."""
    _, _, fraction = step.partition(".")
    return len(fraction.rstrip("0"))


def market_from_exchange_info(body: bytes, symbol: str) -> BinanceMarket:
    try:
        info = msgspec.json.decode(body, type=_ExchangeInfo)
    except msgspec.DecodeError as exc:
        raise SnapshotError(f"malformed exchangeInfo: {exc}") from exc
    for entry in info.symbols:
        if entry.symbol == symbol:
            filters = {f.filterType: f for f in entry.filters}
            if "PRICE_FILTER" not in filters or "LOT_SIZE" not in filters:
                raise SnapshotError(f"exchangeInfo of {symbol} lacks PRICE_FILTER or LOT_SIZE")
            return BinanceMarket(symbol, grid_decimals(filters["PRICE_FILTER"].tickSize),
                                 grid_decimals(filters["LOT_SIZE"].stepSize))
    raise SnapshotError(f"{symbol} is not listed in exchangeInfo")


async def fetch_market(session: aiohttp.ClientSession, rest_url: str, symbol: str,
                       timeout_s: float = 10.0) -> BinanceMarket:
    """The symbol's price and quantity grid from GET /fapi/v1/exchangeInfo (weight 1)."""
    url = f"{rest_url.rstrip('/')}/fapi/v1/exchangeInfo"
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            body = await response.read()
            if response.status != 200:
                raise SnapshotError(f"exchangeInfo failed: HTTP {response.status}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SnapshotError(f"exchangeInfo request failed: {exc!r}") from exc
    return market_from_exchange_info(body, symbol.upper())
