"""The tape's stream kinds, their Parquet schemas and the tuples the reader yields (docs/tape.md).

Rules: one Arrow schema per kind; every kind starts with `local_ns`, `seq`, `exch_ns` and (except
`event` and the bot's kinds) ends with `raw`. Prices and sizes are integers on the symbol's grid (10**-price_decimals,
10**-size_decimals, from the manifest); times are ns since the Unix epoch. A reader tuple is
(local_ns, seq, kind, symbol, exch_ns, *the kind's own columns) [+ raw when asked for]. Bump
SCHEMA_VERSION on any change a reader of the previous version would misread. A new kind is not such a
change: it lives in its own stream directories, which an older reader skips (the bot's kinds came so).
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
# What the bot itself did (`market_maker_v2.py --record`): no raw column; ticks and lots on the Lighter grid.
BOT_INTENT = "bot_intent"  # every transaction intent handed to the sender
BOT_OUTCOME = "bot_outcome"  # every send outcome (one per transaction over the WebSocket, per batch over REST)
BOT_ORDER = "bot_order"  # every order report (account_all_orders stream, REST listings)
BOT_FILL = "bot_fill"  # every fill of the account
BOT_STATE = "bot_state"  # the model's state at each sampler step
BOT_KINDS = frozenset((BOT_INTENT, BOT_OUTCOME, BOT_ORDER, BOT_FILL, BOT_STATE))

VENUE_OF_KIND = {
    BINANCE_DEPTH: "binance", BINANCE_SNAPSHOT: "binance", BINANCE_TRADE: "binance",
    BINANCE_BOOK_TICKER: "binance", LIGHTER_BOOK: "lighter", LIGHTER_TRADE: "lighter",
    **dict.fromkeys(BOT_KINDS, "bot"),
}
KINDS = (BINANCE_DEPTH, BINANCE_SNAPSHOT, BINANCE_TRADE, BINANCE_BOOK_TICKER, LIGHTER_BOOK, LIGHTER_TRADE,
         OTHER, EVENT, BOT_INTENT, BOT_OUTCOME, BOT_ORDER, BOT_FILL, BOT_STATE)
UNGRIDDED_KINDS = frozenset((OTHER, EVENT))  # kinds whose rows need no symbol grid to be written

# Event names of the EVENT kind. A `resync` marks a deliberate break of one symbol's chain (reconnect,
# resubscribe, book rebuilt): `tape info` does not count the break that follows it as a gap.
EV_START, EV_STOP = "start", "stop"
EV_CONNECT, EV_DISCONNECT, EV_SUBSCRIBE = "connect", "disconnect", "subscribe"
EV_RESYNC, EV_GAP = "resync", "gap"
EV_SNAPSHOT_REQUEST, EV_SNAPSHOT_FAILED = "snapshot_request", "snapshot_failed"

_I64 = pa.int64()
_I32 = pa.int32()
_F64 = pa.float64()
_BOOL = pa.bool_()
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
    BOT_INTENT: _schema(_f("send_id", _I64), _f("index", _I32), _f("tx_type", _I32), _f("market_index", _I32),
                        _f("client_index", _I64, True), _f("order_index", _I64, True), _f("is_ask", _BOOL, True),
                        _f("price_tick", _I64, True), _f("size_lots", _I64, True), _f("time_in_force", _I32, True),
                        _f("order_type", _I32, True), _f("reduce_only", _BOOL, True), _f("order_expiry", _I64, True),
                        _f("leverage", _I32, True), _f("margin_mode", _I32, True), raw=False),
    BOT_OUTCOME: _schema(_f("send_id", _I64), _f("first_index", _I32), _f("intent_count", _I32), _f("outcome", _STR),
                         _f("code", _I64, True), _f("message", _STR), _f("via", _STR), _f("written_ns", _I64, True),
                         _f("volume_quota_remaining", _I64, True), _f("tx_hashes", pa.list_(_STR)), raw=False),
    BOT_ORDER: _schema(_f("source", _STR), _f("order_index", _I64), _f("client_index", _I64, True),
                       _f("is_ask", _BOOL), _f("status", _STR), _f("price_tick", _I64), _f("remaining_lots", _I64),
                       _f("filled_lots", _I64, True), raw=False),
    BOT_FILL: _schema(_f("trade_id", _I64), _f("is_ask", _BOOL), _f("price_tick", _I64), _f("size_lots", _I64),
                      _f("is_maker", _BOOL), raw=False),
    BOT_STATE: _schema(_f("mid", _F64, True), _f("volatility", _F64, True), _f("alpha", _F64, True),
                       _f("alpha_source", _STR), _f("fair_price", _F64, True), _f("half_spread_ticks", _F64, True),
                       _f("warmed_up", _BOOL), _f("quote_bid_tick", _I64, True), _f("quote_ask_tick", _I64, True),
                       _f("best_bid_tick", _I64, True), _f("best_ask_tick", _I64, True), _f("position_lots", _I64),
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
