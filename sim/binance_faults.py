# Fault injection for the simulated Binance feed (binance-depth.md §9.6), armed through the control API.
# Rules: validates parameters and arms one-shot or timed faults; feed faults act on the BinanceBooks (so
# they follow the market clock), REST faults are consumed by the server per request. No I/O here.
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sim.binance_book import BinanceBook, BookSnapshot

FAULT_KINDS = ("binance_pu_gap", "binance_stale_snapshot", "binance_stall", "binance_close", "binance_rest_429")


class BinanceFaults:
    """Armed faults. Kinds and parameters:

    - `binance_pu_gap` {"symbol"?: "BTCUSDT", "count"?: 1}: the next `count` events of every diff-depth
      stream of the symbol (all symbols by default) are never sent, so the next event's `pu` differs
      from the last `u` a client received; the book stays true, a client must resync.
    - `binance_stale_snapshot` {"count"?: 1, "age_s"?: 3.0}: the next `count` REST depth snapshots are a
      kept copy of the book at least `age_s` old, older than anything a client connected for less than
      that has buffered (no buffered event straddles it); a client must fetch again.
    - `binance_stall` {"seconds": N, "symbol"?: ...}: no WebSocket events for N seconds of market time;
      the book keeps changing and the id chain stays intact (the first event after the stall carries
      the accumulated changes and `pu` = the last `u` sent). A client should flag the feed stale.
    - `binance_close` {"code"?: 1001}: close every WebSocket connection with that close code.
    - `binance_rest_429` {"count"?: 1, "retry_after_s"?: 1}: the next `count` REST depth requests are
      answered HTTP 429 `{"code":-1003}` with `Retry-After`.
    """

    def __init__(self, books: Mapping[str, BinanceBook]) -> None:
        self._books = books
        self._stale_count = 0
        self._stale_age_ns = 0
        self._rest_429_count = 0
        self._rest_429_retry_s = 1

    def inject(self, kind: str, params: dict[str, Any]) -> bool:
        """Arm a fault; True when every WebSocket connection must be closed now (binance_close)."""
        if kind == "binance_pu_gap":
            count = _positive_int(params, "count", 1)
            for book in self._target_books(params):
                book.drop_next_diffs(count)
        elif kind == "binance_stale_snapshot":
            self._stale_count = _positive_int(params, "count", 1)
            self._stale_age_ns = int(_positive_float(params, "age_s", 3.0) * 1e9)
        elif kind == "binance_stall":
            if "seconds" not in params:
                raise ValueError("binance_stall needs 'seconds'")
            seconds = _positive_float(params, "seconds", 0.0)
            for book in self._target_books(params):
                book.stall(seconds)
        elif kind == "binance_close":
            code = _positive_int(params, "code", 1001)
            if not 1000 <= code <= 4999:
                raise ValueError(f"bad close code {code}")
            return True
        elif kind == "binance_rest_429":
            self._rest_429_count = _positive_int(params, "count", 1)
            self._rest_429_retry_s = _positive_int(params, "retry_after_s", 1)
        else:
            raise ValueError(f"unknown Binance fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
        return False

    def take_rest_429(self) -> int | None:
        """Retry-After seconds if this request must be refused by the fault, else None."""
        if self._rest_429_count <= 0:
            return None
        self._rest_429_count -= 1
        return self._rest_429_retry_s

    def take_stale_snapshot(self, book: BinanceBook, limit: int) -> BookSnapshot | None:
        """A stale snapshot if the fault is armed (the oldest kept one when none is old enough)."""
        if self._stale_count <= 0:
            return None
        snapshot = book.stale_snapshot(self._stale_age_ns, limit)
        if snapshot is not None:
            self._stale_count -= 1
        return snapshot

    def _target_books(self, params: dict[str, Any]) -> list[BinanceBook]:
        symbol = params.get("symbol")
        if symbol is None:
            return list(self._books.values())
        if symbol not in self._books:
            raise ValueError(f"unknown symbol {symbol!r}")
        return [self._books[symbol]]


def _positive_int(params: dict[str, Any], key: str, default: int) -> int:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{key} must be a positive integer, got {value!r}")
    return value


def _positive_float(params: dict[str, Any], key: str, default: float) -> float:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{key} must be a positive number, got {value!r}")
    return float(value)
