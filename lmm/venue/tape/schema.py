"""The tape's stream kinds, their Parquet schemas and the tuples the reader yields (docs/tape.md).

Rules: one Arrow schema per kind; every kind starts with `local_ns`, `seq`, `exch_ns` and (except
`event`) ends with `raw`. Prices and sizes are integers on the symbol's grid (10**-price_decimals,
10**-size_decimals, from the manifest); times are ns since the Unix epoch. A reader tuple is
(local_ns, seq, kind, symbol, exch_ns, *the kind's own columns) [+ raw when asked for]. Bump
SCHEMA_VERSION on any change a reader of the previous version would misread.
"""
from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1
FORMAT_NAME = "lighter-mm-tape"

BINANCE_DEPTH = "binance_depth"
BINANCE_SNAPSHOT = "binance_snapshot"
BINANCE_TRADE = "binance_trade"
BINANCE_BOOK_TICKER = "binance_book_ticker"
LIGHTER_BOOK = "lighter_book"
LIGHTER_TRADE = "lighter_trade"
OTHER = "other"  # frames kept raw only: control replies, error frames, anything not decoded
EVENT = "event"  # the recorder's own events: connect, disconnect, resync, gap, snapshot requests, start, stop

VENUE_OF_KIND = {
    BINANCE_DEPTH: "binance", BINANCE_SNAPSHOT: "binance", BINANCE_TRADE: "binance",
    BINANCE_BOOK_TICKER: "binance", LIGHTER_BOOK: "lighter", LIGHTER_TRADE: "lighter",
}
KINDS = (BINANCE_DEPTH, BINANCE_SNAPSHOT, BINANCE_TRADE, BINANCE_BOOK_TICKER, LIGHTER_BOOK, LIGHTER_TRADE,
         OTHER, EVENT)

# Event names of the EVENT kind. A `resync` marks a deliberate break of one symbol's chain (reconnect,
# resubscribe, book rebuilt): `tape info` does not count the break that follows it as a gap.
EV_START, EV_STOP = "start", "stop"
EV_CONNECT, EV_DISCONNECT, EV_SUBSCRIBE = "connect", "disconnect", "subscribe"
EV_RESYNC, EV_GAP = "resync", "gap"
EV_SNAPSHOT_REQUEST, EV_SNAPSHOT_FAILED = "snapshot_request", "snapshot_failed"

_I64 = pa.int64()
_LIST_I64 = pa.list_(pa.int64())
_STR = pa.string()


def _f(name: str, kind: pa.DataType, nullable: bool = False) -> pa.Field:
    return pa.field(name, kind, nullable=nullable)


_HEAD = [_f("local_ns", _I64), _f("seq", _I64), _f("exch_ns", _I64, True)]
_LEVELS = [_f("bid_ticks", _LIST_I64), _f("bid_lots", _LIST_I64), _f("ask_ticks", _LIST_I64),
           _f("ask_lots", _LIST_I64)]
_RAW = [_f("raw", _STR, True)]


def _schema(*body: pa.Field, levels: bool = False, raw: bool = True) -> pa.Schema:
    return pa.schema([*_HEAD, *body, *(_LEVELS if levels else ()), *(_RAW if raw else ())])


SCHEMAS: dict[str, pa.Schema] = {
    BINANCE_DEPTH: _schema(_f("first_id", _I64), _f("final_id", _I64), _f("prev_final_id", _I64, True),
                           levels=True),
    BINANCE_SNAPSHOT: _schema(_f("request_ns", _I64, True), _f("last_update_id", _I64),
                              _f("limit", pa.int32(), True), levels=True),
    BINANCE_TRADE: _schema(_f("trade_id", _I64), _f("price_tick", _I64), _f("qty_lots", _I64),
                           _f("buyer_is_maker", pa.bool_()), _f("trade_ns", _I64, True), _f("is_agg", pa.bool_())),
    BINANCE_BOOK_TICKER: _schema(_f("update_id", _I64), _f("bid_tick", _I64), _f("bid_lots", _I64),
                                 _f("ask_tick", _I64), _f("ask_lots", _I64)),
    LIGHTER_BOOK: _schema(_f("is_snapshot", pa.bool_()), _f("nonce", _I64), _f("begin_nonce", _I64), levels=True),
    LIGHTER_TRADE: _schema(_f("is_snapshot", pa.bool_()), _f("nonce", _I64, True), _f("trade_ids", _LIST_I64),
                           _f("price_ticks", _LIST_I64), _f("size_lots", _LIST_I64),
                           _f("is_maker_ask", pa.list_(pa.bool_())), _f("trade_ns", _LIST_I64)),
    OTHER: _schema(_f("venue", _STR), _f("stream", _STR), _f("note", _STR, True)),
    EVENT: _schema(_f("venue", _STR), _f("event", _STR), _f("stream", _STR, True), _f("detail", _STR, True),
                   raw=False),
}

# The columns a reader tuple carries after (local_ns, seq, kind, symbol, exch_ns).
BODY_COLUMNS: dict[str, tuple[str, ...]] = {
    kind: tuple(name for name in schema.names if name not in ("local_ns", "seq", "exch_ns", "raw"))
    for kind, schema in SCHEMAS.items()
}
HEAD_FIELDS = ("local_ns", "seq", "kind", "symbol", "exch_ns")


def tuple_fields(kind: str, with_raw: bool = False) -> tuple[str, ...]:
    """Names of the positions of a reader tuple of this kind."""
    return HEAD_FIELDS + BODY_COLUMNS[kind] + (("raw",) if with_raw and "raw" in SCHEMAS[kind].names else ())


def as_dict(event: tuple) -> dict[str, object]:
    """A reader tuple as a dict (for logs and tests; the tuple itself is the fast form)."""
    names = tuple_fields(event[2], with_raw=True)
    return dict(zip(names, event, strict=False))
