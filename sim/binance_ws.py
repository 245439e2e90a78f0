# One Binance WebSocket client connection and its control messages (binance-depth.md §5, §9.2).
# Rules: a connection owns one bounded outbox drained by one writer task, so the publisher never awaits;
# an overflowing client is closed. Method frames are answered exactly like the venue: SUBSCRIBE and
# UNSUBSCRIBE with {"result":null,"id":n}, LIST_SUBSCRIPTIONS with the names, SET_PROPERTY/GET_PROPERTY
# for "combined"; errors as {"code":0..3,"msg":...}. A stream on the wrong route (or of an unknown
# symbol) is acknowledged and then stays silent, as on Binance.
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from sim.binance_streams import StreamName, parse_stream, route_delivers

log = logging.getLogger(__name__)

_CLOSE_FLUSH_TIMEOUT_S = 1.0
IndexFn = Callable[["BinanceConnection", str, bool], None]  # (connection, stream, add) → update fan-out


class BinanceConnection:
    def __init__(self, ws: web.WebSocketResponse, route: str, combined: bool, now_s: float,
                 outbox_limit: int) -> None:
        self.ws = ws
        self.route = route
        self.combined = combined
        self.streams: dict[str, StreamName] = {}  # acknowledged subscriptions, in order
        self.opened_s = now_s
        self.last_pong_s = now_s
        self.last_ping_s = now_s
        self._incoming: deque[float] = deque()
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue(outbox_limit)
        self._writer: asyncio.Task[None] | None = None
        self.closed = False

    def start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._drain(), name="binance-ws-writer")

    def send(self, text: str) -> None:
        if self.closed:
            return
        try:
            self._outbox.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("binance client too slow (outbox full); disconnecting")
            asyncio.get_running_loop().create_task(self.close(1008, "too slow"))

    def count_incoming(self, now_s: float, limit_per_s: int) -> bool:
        """Record one incoming message; True when the client exceeded `limit_per_s` in the last second."""
        incoming = self._incoming
        incoming.append(now_s)
        while incoming and now_s - incoming[0] >= 1.0:
            incoming.popleft()
        return len(incoming) > limit_per_s

    async def close(self, code: int, message: str) -> None:
        """Send what is already queued (for at most a second), then close the socket."""
        writer = self._writer
        if not self.closed:
            self.closed = True
            with contextlib.suppress(asyncio.QueueFull):
                self._outbox.put_nowait(None)
            if writer is not None and writer is not asyncio.current_task():
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(writer), _CLOSE_FLUSH_TIMEOUT_S)
        with contextlib.suppress(ConnectionError, RuntimeError, asyncio.CancelledError):
            await self.ws.close(code=code, message=message.encode())
        if writer is not None and writer is not asyncio.current_task() and not writer.done():
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _drain(self) -> None:
        ws = self.ws
        try:
            while True:
                text = await self._outbox.get()
                if text is None or ws.closed:
                    return
                await ws.send_str(text)
        except (ConnectionError, RuntimeError):
            self.closed = True


def subscribe_streams(connection: BinanceConnection, names: list[str], symbols_by_lower: Mapping[str, str],
                      index: IndexFn, max_streams: int, request_id: int | None = None) -> str | None:
    """Subscribe to all of `names` or to none; returns an error frame, or None on success."""
    parsed: list[StreamName] = []
    for name in names:
        stream = parse_stream(name) if isinstance(name, str) else None
        if stream is None:
            return _error(2, f"Invalid request: invalid stream name {name!r}", request_id)
        parsed.append(stream)
    new = {s.name for s in parsed} - connection.streams.keys()
    if len(connection.streams) + len(new) > max_streams:
        return _error(2, f"Invalid request: more than {max_streams} streams", request_id)
    for stream in parsed:
        if stream.name in connection.streams:
            continue
        connection.streams[stream.name] = stream
        if stream.symbol.lower() in symbols_by_lower and route_delivers(connection.route, stream):
            index(connection, stream.name, True)
    return None


def handle_method(connection: BinanceConnection, text: str, symbols_by_lower: Mapping[str, str],
                  index: IndexFn, max_streams: int) -> str | None:
    """Answer one client text frame; the reply frame, or None for nothing to send."""
    try:
        request = json.loads(text)
    except ValueError:
        return _error(3, "Invalid JSON: expected value at line 1 column 1", None)
    if not isinstance(request, dict):
        return _error(2, "Invalid request: expected an object", None)
    request_id = request.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, int) or request_id < 0:
        return _error(2, "Invalid request: request ID must be an unsigned integer", None)
    method = request.get("method")
    params = request.get("params", [])
    if not isinstance(params, list):
        return _error(1, "Invalid value type: expected a list of parameters", request_id)
    if method == "SUBSCRIBE":
        error = subscribe_streams(connection, params, symbols_by_lower, index, max_streams, request_id)
        return error or _result(None, request_id)
    if method == "UNSUBSCRIBE":
        for name in params:
            if isinstance(name, str) and connection.streams.pop(name, None) is not None:
                index(connection, name, False)
        return _result(None, request_id)
    if method == "LIST_SUBSCRIPTIONS":
        return _result(list(connection.streams), request_id)
    if method == "SET_PROPERTY":
        if len(params) != 2 or params[0] != "combined" or not isinstance(params[1], bool):
            return _error(1, "Invalid value type: expected [\"combined\", true|false]", request_id)
        connection.combined = params[1]
        return _result(None, request_id)
    if method == "GET_PROPERTY":
        if params != ["combined"]:
            return _error(0, "Unknown property", request_id)
        return _result(connection.combined, request_id)
    return _error(2, f"Invalid request: unknown method {method!r}", request_id)


def _result(result: Any, request_id: int) -> str:
    return json.dumps({"result": result, "id": request_id}, separators=(",", ":"))


def _error(code: int, message: str, request_id: int | None) -> str:
    body: dict[str, Any] = {"code": code, "msg": message}
    if request_id is not None:
        body["id"] = request_id
    return json.dumps(body, separators=(",", ":"))
