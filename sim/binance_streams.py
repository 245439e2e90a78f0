# Binance USD-M stream names, routes and payloads (binance-depth.md §1.2, §2, §9.2, §9.5).
# Rules: pure functions, no I/O. Stream names use the lower-case symbol; a name is either malformed
# (rejected), or valid and deliverable only on its route (`/public` for depth and bookTicker, `/market`
# for aggTrade; a connection without a route gets public data only). Payloads are encoded once per event
# and stream; the combined-stream wrapper is built around the already encoded payload.
from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from urllib.parse import parse_qs, urlsplit

import msgspec

from sim.binance_book import (
    AggTradeEvent,
    BinanceEvent,
    BinanceSymbolSpec,
    BookTickerEvent,
    DepthDiff,
    DepthTop,
    Level,
)

PUBLIC_ROUTE = "public"
MARKET_ROUTE = "market"
PRIVATE_ROUTE = "private"
LEGACY_ROUTE = ""  # /ws and /stream without a routed prefix: public data only
ROUTES = (PUBLIC_ROUTE, MARKET_ROUTE, PRIVATE_ROUTE)

DIFF_SUFFIX_BY_CADENCE = {250: "", 500: "@500ms", 100: "@100ms", 0: "@0ms"}  # @0ms: filled by replay only
_CADENCE_BY_SUFFIX = {suffix: cadence for cadence, suffix in DIFF_SUFFIX_BY_CADENCE.items()}
_DEPTH_RE = re.compile(r"^depth(5|10|20)?(@500ms|@100ms|@0ms)?$")
_SYMBOL_RE = re.compile(r"^[a-z0-9_]{2,30}$")  # `_`: COIN-M symbols such as btcusd_perp
_MARKET_KINDS = re.compile(r"^(aggTrade|markPrice(@1s)?|kline_\w+|miniTicker|ticker|forceOrder|trade)$")


class StreamKind(Enum):
    DIFF_DEPTH = "diff_depth"
    PARTIAL_DEPTH = "partial_depth"
    BOOK_TICKER = "book_ticker"
    AGG_TRADE = "agg_trade"
    MARKET_OTHER = "market_other"  # valid market-data streams the simulator never fills


@dataclass(frozen=True, slots=True)
class StreamName:
    name: str
    symbol: str  # upper case
    kind: StreamKind
    cadence_ms: int | None = None
    levels: int | None = None

    @property
    def route(self) -> str:
        return MARKET_ROUTE if self.kind in (StreamKind.AGG_TRADE, StreamKind.MARKET_OTHER) else PUBLIC_ROUTE


def parse_stream(name: str) -> StreamName | None:
    """The stream's meaning, or None when the name is malformed."""
    symbol, sep, rest = name.partition("@")
    if not sep or not _SYMBOL_RE.match(symbol):
        return None
    upper = symbol.upper()
    depth = _DEPTH_RE.match(rest)
    if depth:
        cadence = _CADENCE_BY_SUFFIX[depth.group(2) or ""]
        if depth.group(1):
            return StreamName(name, upper, StreamKind.PARTIAL_DEPTH, cadence, int(depth.group(1)))
        return StreamName(name, upper, StreamKind.DIFF_DEPTH, cadence)
    if rest == "bookTicker":
        return StreamName(name, upper, StreamKind.BOOK_TICKER)
    if rest == "aggTrade":
        return StreamName(name, upper, StreamKind.AGG_TRADE)
    if _MARKET_KINDS.match(rest):
        return StreamName(name, upper, StreamKind.MARKET_OTHER)
    return None


@dataclass(frozen=True, slots=True)
class WsTarget:
    """What a WebSocket URL asks for: its route, its streams, and whether payloads are wrapped (combined)."""

    route: str
    streams: tuple[str, ...]
    combined: bool


_WS_PATH_RE = re.compile(r"^(?:/(public|market|private))?/(ws|stream)(?:/(.+))?$")


def ws_target(url: str) -> WsTarget | None:
    """The target of a client URL (``[/<route>]/ws[/<a>/<b>]`` raw, ``[/<route>]/stream?streams=<a>/<b>``
    combined), as the server's routes read it; None for a path the server does not serve."""
    parts = urlsplit(url)
    match = _WS_PATH_RE.match(parts.path)
    if match is None:
        return None
    route, kind, tail = match.group(1) or LEGACY_ROUTE, match.group(2), match.group(3)
    if kind == "stream":
        if tail is not None:
            return None
        names = "".join(parse_qs(parts.query).get("streams", [""])[:1])
        return WsTarget(route, tuple(s for s in names.split("/") if s), combined=True)
    return WsTarget(route, tuple(s for s in (tail or "").split("/") if s), combined=False)


def route_delivers(route: str, stream: StreamName) -> bool:
    """Whether a connection on `route` receives this stream (a wrong route is acknowledged, then silent)."""
    if route in (PUBLIC_ROUTE, LEGACY_ROUTE):
        return stream.route == PUBLIC_ROUTE
    return route == stream.route


def stream_names(event: BinanceEvent) -> tuple[tuple[str, int | None], ...]:
    """(stream name, partial-depth levels or None) of every stream that carries this event."""
    symbol = event.symbol.lower()
    if isinstance(event, DepthDiff):
        return ((f"{symbol}@depth{DIFF_SUFFIX_BY_CADENCE[event.cadence_ms]}", None),)
    if isinstance(event, DepthTop):
        suffix = DIFF_SUFFIX_BY_CADENCE[event.cadence_ms]
        return tuple((f"{symbol}@depth{n}{suffix}", n) for n in (5, 10, 20))
    if isinstance(event, BookTickerEvent):
        return ((f"{symbol}@bookTicker", None),)
    return ((f"{symbol}@aggTrade", None),)


def encode_event(event: BinanceEvent, spec: BinanceSymbolSpec, levels: int | None = None) -> str:
    """The raw JSON payload of one event; `levels` cuts a DepthTop to a partial-depth stream's depth."""
    if isinstance(event, DepthDiff | DepthTop):
        bids, asks = event.bids, event.asks
        if levels is not None:
            bids, asks = bids[:levels], asks[:levels]
        payload: dict[str, object] = {
            "e": "depthUpdate", "E": event.event_time_ms, "T": event.transaction_time_ms, "s": event.symbol,
            "U": event.first_update_id, "u": event.final_update_id, "pu": event.prev_final_update_id,
            "b": format_levels(bids, spec), "a": format_levels(asks, spec),
        }
    elif isinstance(event, BookTickerEvent):
        payload = {
            "e": "bookTicker", "u": event.update_id, "E": event.event_time_ms, "T": event.transaction_time_ms,
            "s": event.symbol, "b": spec.format_price(event.bid[0]), "B": spec.format_qty(event.bid[1]),
            "a": spec.format_price(event.ask[0]), "A": spec.format_qty(event.ask[1]),
        }
    else:
        assert isinstance(event, AggTradeEvent)
        payload = {
            "e": "aggTrade", "E": event.trade_time_ms, "s": event.symbol, "a": event.agg_trade_id,
            "p": spec.format_price(event.price), "q": spec.format_qty(event.quantity),
            "f": event.first_trade_id, "l": event.last_trade_id, "T": event.trade_time_ms,
            "m": event.buyer_is_maker,
        }
    return msgspec.json.encode(payload).decode()


def wrap_combined(stream: str, raw_payload: str) -> str:
    """`{"stream": ..., "data": ...}` around an encoded payload (stream names need no escaping)."""
    return f'{{"stream":"{stream}","data":{raw_payload}}}'


def format_levels(levels: tuple[Level, ...], spec: BinanceSymbolSpec) -> list[list[str]]:
    return [[spec.format_price(tick), spec.format_qty(lots)] for tick, lots in levels]
