"""Raw frames for the tape tests: binance-depth.md §9.8 as combined-stream text, and Lighter frames in the
shape of lighter-api.md §6.5 (market 1, BTC, 1 price decimal, 5 size decimals)."""
from __future__ import annotations

import json

from lmm.venue.tape.manifest import SymbolInfo

BINANCE = SymbolInfo("binance", "BTCUSDT", 1, 3, market="usdm")
LIGHTER = SymbolInfo("lighter", "BTC", 1, 5, market_id=1)
T0 = 1_732_600_000_000_000_000  # local ns of the first frame
L = 8123456789150


def depth(first: int, final: int, prev: int, bids: list, asks: list, event_ms: int) -> str:
    data = {"e": "depthUpdate", "E": event_ms, "T": event_ms - 3, "s": "BTCUSDT", "U": first, "u": final,
            "pu": prev, "b": bids, "a": asks}
    return json.dumps({"stream": "btcusdt@depth@100ms", "data": data}, separators=(",", ":"))


SNAPSHOT = json.dumps({"lastUpdateId": L, "E": 1732600000052, "T": 1732600000047,
                       "bids": [["97000.00", "1.512"], ["96999.90", "0.800"], ["96999.50", "3.000"],
                                ["96998.00", "0.250"], ["96990.10", "12.000"]],
                       "asks": [["97000.10", "2.031"], ["97000.20", "0.004"], ["97001.00", "1.100"],
                                ["97003.40", "0.600"], ["97010.00", "25.000"]]})
FRAME1 = depth(8123456789101, 8123456789140, 8123456789077, [["96999.90", "0.800"]], [["97000.20", "0.004"]],
               1732600000011)
FRAME2 = depth(8123456789146, 8123456789171, 8123456789140, [["97000.00", "1.700"], ["96998.00", "0.000"]],
               [["97000.10", "1.900"], ["97002.50", "0.300"]], 1732600000112)
FRAME3 = depth(8123456789188, 8123456789203, 8123456789171, [["97000.10", "0.050"]],
               [["97000.10", "0.000"], ["97000.20", "0.900"]], 1732600000212)
FRAME4 = depth(8123456789230, 8123456789244, 8123456789215, [], [["97001.00", "0.000"]], 1732600000411)


def book_ticker(update_id: int, bid: str, bid_qty: str, ask: str, ask_qty: str, event_ms: int) -> str:
    data = {"e": "bookTicker", "u": update_id, "E": event_ms, "T": event_ms - 2, "s": "BTCUSDT",
            "b": bid, "B": bid_qty, "a": ask, "A": ask_qty}
    return json.dumps({"stream": "btcusdt@bookTicker", "data": data}, separators=(",", ":"))


# Consistent with the book after FRAME3 (binance-depth.md §9.8), and one that is not.
TICKER_OK = book_ticker(8123456789203, "97000.10", "0.050", "97000.20", "0.900", 1732600000212)
TICKER_BAD = book_ticker(8123456789203, "97000.10", "0.050", "97000.30", "0.900", 1732600000212)
TRADE = json.dumps({"stream": "btcusdt@trade", "data": {"e": "trade", "E": 1732600000300, "T": 1732600000299,
                                                        "s": "BTCUSDT", "t": 77, "p": "97000.10", "q": "0.012",
                                                        "X": "MARKET", "m": True}})
AGG_TRADE = json.dumps({"stream": "btcusdt@aggTrade", "data": {"e": "aggTrade", "E": 1732600000301,
                                                               "s": "BTCUSDT", "a": 5, "p": "97000.2",
                                                               "q": "1.5", "f": 9, "l": 10, "T": 1732600000300,
                                                               "m": False}})


def lighter_book(kind: str, nonce: int, begin: int, bids: list, asks: list, micros: int) -> str:
    levels = {side: [{"price": p, "size": q} for p, q in lv] for side, lv in (("bids", bids), ("asks", asks))}
    book = {"code": 0, **levels, "offset": 5, "nonce": nonce, "last_updated_at": micros, "begin_nonce": begin}
    return json.dumps({"channel": "order_book:1", "last_updated_at": micros, "offset": 5, "order_book": book,
                       "timestamp": micros // 1000, "type": f"{kind}/order_book"})


LIGHTER_SNAPSHOT = lighter_book("subscribed", 1000, 0, [("97000.0", "0.50000"), ("96999.5", "1.00000")],
                                [("97000.5", "0.25000")], 1732600000100000)
LIGHTER_UPDATE = lighter_book("update", 1007, 1000, [("97000.0", "0")], [("97001.0", "2.00000")],
                              1732600000150000)
LIGHTER_UPDATE_GAP = lighter_book("update", 1030, 1012, [("96999.0", "1.00000")], [], 1732600000200000)
LIGHTER_TRADES = json.dumps({"channel": "trade:1", "liquidation_trades": [], "nonce": 1007, "type": "update/trade",
                             "trades": [{"trade_id": 11, "price": "97000.5", "size": "0.10000",
                                         "is_maker_ask": True, "timestamp": 1732600000160,
                                         "transaction_time": 1732600000160123},
                                        {"trade_id": 12, "price": "97000.5", "size": "0.05000",
                                         "is_maker_ask": True, "timestamp": 1732600000161}]})


def typed(value: object) -> object:
    """A reader value with its type spelled out, lists (and list views) element by element: equality alone
    would take 1 for True or a view for its list."""
    from lmm.venue.tape.list_view import ListView

    if isinstance(value, ListView):
        return ("list", [typed(v) for v in value])
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [typed(v) for v in value])
    return (type(value).__name__, value)


def arrow_rows(tape: object, stream: object) -> list[tuple]:
    """A stream's reader tuples (with raw) built the slow, obvious way: pyarrow's own ``to_pylist``."""
    import pyarrow.parquet as pq

    from lmm.venue.tape import schema as s

    rows = []
    for f in stream.files:  # type: ignore[attr-defined]
        for row in pq.read_table(f.path).to_pylist():
            rows.append((row["local_ns"], row["seq"], stream.kind, stream.symbol, row["exch_ns"],  # type: ignore
                         *(row[c] for c in s.BODY_COLUMNS[stream.kind]),  # type: ignore[attr-defined]
                         *((row["raw"],) if "raw" in row else ())))
    return rows
