"""Raw venue frames into the typed columns of their kind (pure; used by the writer thread and importers).

Rules: prices and sizes are parsed exactly with the product's parser (`book_side.parse_scaled`, no float);
a frame that does not decode as its kind is not lost: it is returned as a reject and stored under the
`other` kind with the reason. Binance frames may be combined-stream wrappers ({"stream", "data"}) or bare
payloads. Exchange times: Binance `E` (ms); Lighter `last_updated_at` (µs) or else `timestamp` (ms);
a Lighter trade frame carries the time of its last trade (`transaction_time` µs, else `timestamp` ms).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from lmm.venue.tape import schema as s

_decode = msgspec.json.Decoder().decode
MS = 1_000_000
US = 1_000

# A buffered item: (local_ns, seq, raw, extra); `extra` is kind-specific (see writer.StreamBuffer).
Item = tuple[int, int, Any, Any]


@dataclass(frozen=True)
class Grid:
    """Integer grid of one symbol: prices in units of 10**-price_decimals, sizes of 10**-size_decimals."""

    price_decimals: int
    size_decimals: int


class FrameError(ValueError):
    pass


_ZEROS = tuple("0" * n for n in range(19))
_INT64_DIGITS = 18  # any 18-digit integer fits in int64; longer ones are checked


def parse_scaled(text: str, decimals: int) -> int:
    """Exact value of a plain decimal string times 10**decimals ("97000.10", 1 -> 970001).

    The same contract as book_side.parse_scaled (ASCII digits with at most one '.', nothing finer than the
    grid except trailing zeros, at most 2**63 - 1; ValueError otherwise), about twice as fast: the writer
    parses every level of every frame with it.
    """
    whole, dot, fraction = text.partition(".")
    places = len(fraction)
    if places <= decimals:
        if dot and not places:
            raise ValueError(f"malformed decimal {text!r}")
        digits = whole + fraction + _ZEROS[decimals - places]
    else:
        if fraction[decimals:].strip("0"):
            raise ValueError(f"{text!r} is finer than {decimals} decimals")
        digits = whole + fraction[:decimals]
    if not (digits.isdigit() and digits.isascii() and whole):
        raise ValueError(f"malformed decimal {text!r}")
    value = int(digits)
    if len(digits) > _INT64_DIGITS and value > 2**63 - 1:
        raise ValueError(f"{text!r} overflows int64 at {decimals} decimals")
    return value


CACHE_LIMIT = 100_000  # distinct strings kept per grid; the cache starts over beyond it


class ScaledCache(dict[str, int]):
    """`parse_scaled(text, decimals)` memoised: a book's prices and sizes repeat from frame to frame (the
    levels near the touch, round sizes), so most strings are parsed once. Exact: parsing is deterministic.
    Used on one thread at a time (the writer's, or an importer's)."""

    def __init__(self, decimals: int) -> None:
        super().__init__()
        self.decimals = decimals

    def __missing__(self, text: str) -> int:
        if len(self) >= CACHE_LIMIT:
            self.clear()
        value = self[text] = parse_scaled(text, self.decimals)
        return value


_caches: dict[int, ScaledCache] = {}


def scaled_cache(decimals: int) -> ScaledCache:
    cache = _caches.get(decimals)
    if cache is None:
        cache = _caches.setdefault(decimals, ScaledCache(decimals))
    return cache


def _payload(raw: str | bytes) -> dict[str, Any]:
    obj = _decode(raw)
    if not isinstance(obj, dict):
        raise FrameError("not a JSON object")
    data = obj.get("data")
    return data if isinstance(data, dict) and "stream" in obj else obj


def _pairs(levels: Any, grid: Grid) -> tuple[list[int], list[int]]:
    prices, sizes = scaled_cache(grid.price_decimals), scaled_cache(grid.size_decimals)
    return [prices[price] for price, _ in levels], [sizes[size] for _, size in levels]


def _dict_levels(levels: Any, grid: Grid) -> tuple[list[int], list[int]]:
    prices, sizes = scaled_cache(grid.price_decimals), scaled_cache(grid.size_decimals)
    return [prices[level["price"]] for level in levels], [sizes[level["size"]] for level in levels]


def _ms(value: Any) -> int | None:
    return value * MS if type(value) is int else None


class _Depth(msgspec.Struct):
    e: str
    U: int
    u: int
    b: list[tuple[str, str]]
    a: list[tuple[str, str]]
    E: int | None = None
    pu: int | None = None


class _Trade(msgspec.Struct):
    e: str
    p: str
    q: str
    m: bool
    E: int | None = None
    T: int | None = None
    t: int | None = None
    a: int | None = None


class _Ticker(msgspec.Struct):
    u: int
    b: str
    B: str
    a: str
    A: str
    E: int | None = None


def _typed(kind: type) -> Callable[[str | bytes], Any]:
    """A decoder of a payload of `kind`, bare or inside a combined-stream wrapper (C-level, skips the rest)."""
    wrapped = msgspec.json.Decoder(msgspec.defstruct(f"Wrapped{kind.__name__}", [("data", kind)]))
    bare = msgspec.json.Decoder(kind)

    def decode(raw: str | bytes) -> Any:
        if raw[:10] in ('{"stream":', b'{"stream":'):
            return wrapped.decode(raw).data
        return bare.decode(raw)

    return decode


_depth = _typed(_Depth)
_trade = _typed(_Trade)
_ticker = _typed(_Ticker)


def _ms_or_none(value: int | None) -> int | None:
    return None if value is None else value * MS


def binance_depth_row(raw: str | bytes, grid: Grid) -> tuple:
    d = _depth(raw)
    if d.e != "depthUpdate":
        raise FrameError(f"not a depthUpdate: {d.e!r}")
    bid_ticks, bid_lots = _pairs(d.b, grid)
    ask_ticks, ask_lots = _pairs(d.a, grid)
    return (_ms_or_none(d.E), d.U, d.u, d.pu, bid_ticks, bid_lots, ask_ticks, ask_lots)


def binance_snapshot_row(raw: str | bytes, extra: tuple[int | None, int | None], grid: Grid) -> tuple:
    d = _payload(raw)
    bid_ticks, bid_lots = _pairs(d["bids"], grid)
    ask_ticks, ask_lots = _pairs(d["asks"], grid)
    request_ns, limit = extra
    return (_ms(d.get("E")), request_ns, int(d["lastUpdateId"]), limit, bid_ticks, bid_lots, ask_ticks, ask_lots)


def binance_trade_row(raw: str | bytes, grid: Grid) -> tuple:
    d = _trade(raw)
    if d.e == "trade" and d.t is not None:
        trade_id, is_agg = d.t, False
    elif d.e == "aggTrade" and d.a is not None:
        trade_id, is_agg = d.a, True
    else:
        raise FrameError(f"not a trade: {d.e!r}")
    return (_ms_or_none(d.E), trade_id, scaled_cache(grid.price_decimals)[d.p], scaled_cache(grid.size_decimals)[d.q],
            d.m, _ms_or_none(d.T), is_agg)


def binance_book_ticker_row(raw: str | bytes, grid: Grid) -> tuple:
    d = _ticker(raw)
    prices, sizes = scaled_cache(grid.price_decimals), scaled_cache(grid.size_decimals)
    return (_ms_or_none(d.E), d.u, prices[d.b], sizes[d.B], prices[d.a], sizes[d.A])


def _lighter_time(obj: dict[str, Any], inner: dict[str, Any]) -> int | None:
    for holder in (inner, obj):
        value = holder.get("last_updated_at")
        if type(value) is int:
            return value * US
    return _ms(obj.get("timestamp"))


def lighter_book_row(raw: str | bytes, grid: Grid) -> tuple:
    obj = _decode(raw)
    kind = obj.get("type") if isinstance(obj, dict) else None
    if kind not in ("subscribed/order_book", "update/order_book"):
        raise FrameError(f"not an order_book frame: {kind!r}")
    book = obj["order_book"]
    bid_ticks, bid_lots = _dict_levels(book.get("bids") or (), grid)
    ask_ticks, ask_lots = _dict_levels(book.get("asks") or (), grid)
    nonce, begin = book["nonce"], book.get("begin_nonce", 0)
    if type(nonce) is not int or type(begin) is not int:
        raise FrameError("order_book nonces are not integers")
    return (_lighter_time(obj, book), kind == "subscribed/order_book", nonce, begin,
            bid_ticks, bid_lots, ask_ticks, ask_lots)


def lighter_trade_row(raw: str | bytes, grid: Grid) -> tuple:
    obj = _decode(raw)
    kind = obj.get("type") if isinstance(obj, dict) else None
    if kind not in ("subscribed/trade", "update/trade"):
        raise FrameError(f"not a trade frame: {kind!r}")
    ids: list[int] = []
    prices: list[int] = []
    sizes: list[int] = []
    maker_ask: list[bool] = []
    times: list[int] = []
    price_of, size_of = scaled_cache(grid.price_decimals), scaled_cache(grid.size_decimals)
    for trade in obj.get("trades") or ():
        ids.append(int(trade["trade_id"]))
        prices.append(price_of[trade["price"]])
        sizes.append(size_of[trade["size"]])
        maker_ask.append(bool(trade["is_maker_ask"]))
        micros = trade.get("transaction_time")
        times.append(micros * US if type(micros) is int else int(trade["timestamp"]) * MS)
    nonce = obj.get("nonce")
    return (times[-1] if times else None, kind == "subscribed/trade", nonce if type(nonce) is int else None,
            ids, prices, sizes, maker_ask, times)


RowDecoder = Callable[[Any, Any, Grid], tuple]

_DECODERS: dict[str, RowDecoder] = {
    s.BINANCE_DEPTH: lambda raw, extra, grid: binance_depth_row(raw, grid),
    s.BINANCE_SNAPSHOT: binance_snapshot_row,
    s.BINANCE_TRADE: lambda raw, extra, grid: binance_trade_row(raw, grid),
    s.BINANCE_BOOK_TICKER: lambda raw, extra, grid: binance_book_ticker_row(raw, grid),
    s.LIGHTER_BOOK: lambda raw, extra, grid: lighter_book_row(raw, grid),
    s.LIGHTER_TRADE: lambda raw, extra, grid: lighter_trade_row(raw, grid),
}


def _text(raw: str | bytes | None) -> str | None:
    if raw is None or type(raw) is str:
        return raw
    return bytes(raw).decode("utf-8", errors="replace")


def decode_items(kind: str, items: Iterable[Item], grid: Grid | None) -> tuple[list[tuple], list[Item]]:
    """Full rows (schema order) of `kind`, and the items that did not decode (extra = the reason)."""
    rows: list[tuple] = []
    rejects: list[Item] = []
    if kind in s.BOT_KINDS:
        from lmm.venue.tape.bot_rows import bot_rows

        return bot_rows(kind, list(items))
    if kind in (s.OTHER, s.EVENT):
        for local_ns, seq, raw, extra in items:
            body = tuple(extra)
            rows.append((local_ns, seq, None, *body, _text(raw)) if kind == s.OTHER else (local_ns, seq, None, *body))
        return rows, rejects
    decoder = _DECODERS[kind]
    assert grid is not None
    for item in items:
        local_ns, seq, raw, extra = item
        try:
            exch_ns, *body = decoder(raw, extra, grid)
        except (FrameError, msgspec.DecodeError, msgspec.ValidationError, KeyError, TypeError, ValueError,
                AttributeError, IndexError) as exc:
            rejects.append((local_ns, seq, raw, f"{kind}: {type(exc).__name__}: {exc}"[:500]))
            continue
        rows.append((local_ns, seq, exch_ns, *body, _text(raw)))
    return rows, rejects


def columns(kind: str, rows: Sequence[tuple]) -> list[list]:
    """Rows to per-column lists, in schema order."""
    width = len(s.SCHEMAS[kind])
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]
