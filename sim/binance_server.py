# Loopback Binance USD-M futures depth server: REST snapshot plus WebSocket streams (binance-depth.md §9).
# Rules: serves the BinanceBooks of a SyntheticMarket (or any object with a `binance_books` mapping) on
# one aiohttp port; runs on the event loop that steps the market (book listeners are called there).
# Each event is encoded once per stream (and wrapped once for combined connections), then queued to the
# subscribers; every connection has one bounded outbox and one writer task, and an overflowing client is
# dropped. Time for weights and pings comes from `BinanceServerConfig.clock` (wall clock by default).
#
# Entry points:
#   server = await start_binance_server("127.0.0.1", 0, market)      # or BinanceServer(...); await .start()
#   in-process, no port: server.attach(); server.rest_routes(); server.open_session / receive / on_pong /
#   close_session; run server.run_housekeeping() as a task (the bot's local venue: lmm/venue/local/binance.py)
#   server.port, server.url (REST base, http://host:port), server.ws_url (ws://host:port)
#   server.inject_fault(kind, params)   # kinds in FAULT_KINDS, documented in BinanceFaults
#   await server.stop()
#
# HTTP:  GET /fapi/v1/depth?symbol=BTCUSDT&limit=N   (N in 5,10,20,50,100,500,1000; default 500; also
#        under /dapi/v1/depth for a replayed COIN-M tape)
#        GET /fapi/v1/exchangeInfo, /fapi/v1/ping, /fapi/v1/time
#        GET /__sim/book?symbol=BTCUSDT[&looking_depth=0.025]  the true book {"lastUpdateId","bids","asks"}
# WS:    [/public|/market|/private]/ws[/<stream>[/<stream>...]]   raw payloads
#        [/public|/market|/private]/stream?streams=<a>/<b>        {"stream":..,"data":..} wrapper
#        methods SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY/GET_PROPERTY ("combined")
from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from sim.binance_book import BinanceBook, BinanceEvent, BookSnapshot
from sim.binance_faults import BinanceFaults
from sim.binance_streams import (
    LEGACY_ROUTE,
    encode_event,
    format_levels,
    stream_names,
    wrap_combined,
)
from sim.binance_ws import BinanceConnection, handle_method, subscribe_streams

log = logging.getLogger(__name__)

DEPTH_LIMIT_WEIGHTS: dict[int, int] = {5: 2, 10: 2, 20: 2, 50: 2, 100: 5, 500: 10, 1000: 20}
DEFAULT_DEPTH_LIMIT = 500
ERROR_WEIGHT = 2  # a rejected depth request costs the smallest depth weight


class HasBinanceBooks(Protocol):
    @property
    def binance_books(self) -> Mapping[str, BinanceBook]: ...


@dataclass(frozen=True, slots=True)
class BinanceServerConfig:
    """Venue limits (binance-depth.md §3, §5); tests shorten the intervals."""

    ping_interval_s: float = 180.0  # server ping every 3 min
    pong_timeout_s: float = 600.0  # drop a client silent to pings for 10 min
    max_connection_s: float = 86_400.0  # connections are cut after 24 h
    max_incoming_per_s: int = 10  # more messages than this within one second: disconnect
    max_streams_per_connection: int = 200
    weight_limit_per_minute: int = 2400
    outbox_limit: int = 10_000
    clock: Callable[[], float] = time.time


class BinanceServer:
    """The Binance side of the simulator."""

    def __init__(self, market: HasBinanceBooks | None, host: str = "127.0.0.1", port: int = 0,
                 config: BinanceServerConfig | None = None) -> None:
        """`market` None serves no symbols (every symbol is unknown)."""
        self._books: Mapping[str, BinanceBook] = market.binance_books if market is not None else {}
        self._host = host
        self._requested_port = port
        self.config = config or BinanceServerConfig()
        self.faults = BinanceFaults(self._books)
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._connections: set[BinanceConnection] = set()
        self._subscribers: dict[str, set[BinanceConnection]] = {}
        self._weight_minute = -1
        self._weight_used = 0
        self._housekeeping: asyncio.Task[None] | None = None
        self._symbols_by_lower = {symbol.lower(): symbol for symbol in self._books}

    # ---- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.add_routes(self.rest_routes())
        for prefix in ("", "/{route:public|market|private}"):
            app.router.add_get(prefix + "/ws", self._ws_raw)
            app.router.add_get(prefix + "/ws/{streams:.+}", self._ws_raw)
            app.router.add_get(prefix + "/stream", self._ws_combined)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._requested_port)
        await site.start()
        server = site._server
        assert server is not None
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.attach()
        self._housekeeping = asyncio.get_running_loop().create_task(self.run_housekeeping(),
                                                                     name="binance-housekeeping")
        log.info("binance server on %s (symbols: %s)", self.url, ", ".join(self._books) or "none")

    def attach(self) -> None:
        """Listen to the books (their events go out to the subscribers) without binding a port: the bot's
        in-process local venue serves the handlers through ``rest_routes``, ``open_session``/``receive`` and
        runs ``run_housekeeping`` as one of its own tasks."""
        for book in self._books.values():
            book.add_listener(self._on_event)

    def rest_routes(self) -> list[web.RouteDef]:
        return [web.get("/fapi/v1/depth", self._depth), web.get("/dapi/v1/depth", self._depth),
                web.get("/fapi/v1/exchangeInfo", self._exchange_info),
                web.get("/fapi/v1/ping", self._ping), web.get("/fapi/v1/time", self._time),
                web.get("/__sim/book", self._true_book)]

    async def stop(self) -> None:
        for book in self._books.values():
            book.remove_listener(self._on_event)
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
            self._housekeeping = None
        await asyncio.gather(*(c.close(1001, "server stopping") for c in tuple(self._connections)),
                             return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def rest_url(self) -> str:
        return self.url

    @property
    def ws_url(self) -> str:
        return f"ws://{self._host}:{self._port}"

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    def inject_fault(self, kind: str, params: Mapping[str, Any] | None = None) -> None:
        """Arm a fault (see BinanceFaults for the kinds); ValueError for an unknown kind or bad params.
        Call it on the server's event loop."""
        log.info("binance fault %s %s", kind, dict(params or {}))
        if self.faults.inject(kind, dict(params or {})):
            code = int((params or {}).get("code", 1001))
            for connection in tuple(self._connections):
                asyncio.get_running_loop().create_task(connection.close(code, "fault injected"))

    # ---- feed fan-out --------------------------------------------------------------------------------

    def _on_event(self, event: BinanceEvent) -> None:
        for name, levels in stream_names(event):
            subscribers = self._subscribers.get(name)
            if not subscribers:
                continue
            raw = encode_event(event, self._books[event.symbol].spec, levels)
            wrapped: str | None = None
            for connection in tuple(subscribers):
                if connection.combined:
                    if wrapped is None:
                        wrapped = wrap_combined(name, raw)
                    connection.send(wrapped)
                else:
                    connection.send(raw)

    def _index(self, connection: BinanceConnection, name: str, add: bool) -> None:
        if add:
            self._subscribers.setdefault(name, set()).add(connection)
            return
        subscribers = self._subscribers.get(name)
        if subscribers is not None:
            subscribers.discard(connection)
            if not subscribers:
                del self._subscribers[name]

    # ---- WebSocket -----------------------------------------------------------------------------------

    async def _ws_raw(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info.get("streams", "")
        return await self._serve_ws(request, [s for s in tail.split("/") if s], combined=False)

    async def _ws_combined(self, request: web.Request) -> web.StreamResponse:
        names = request.query.get("streams", "")
        return await self._serve_ws(request, [s for s in names.split("/") if s], combined=True)

    async def _serve_ws(self, request: web.Request, streams: list[str], combined: bool) -> web.StreamResponse:
        route = request.match_info.get("route", LEGACY_ROUTE)
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        connection = self.open_session(ws, route, streams, combined)
        try:
            await self._read_loop(connection)
        finally:
            await self.close_session(connection)
        return ws

    def open_session(self, ws: Any, route: str, streams: Sequence[str], combined: bool) -> BinanceConnection:
        """A new client connection on ``ws`` (an aiohttp response, or an in-process pipe with the same
        ``send_str``/``ping``/``close``/``closed``), subscribed to ``streams`` (or sent the error frame)."""
        config = self.config
        connection = BinanceConnection(ws, route, combined, config.clock(), config.outbox_limit)
        self._connections.add(connection)
        connection.start()
        error = subscribe_streams(connection, list(streams), self._symbols_by_lower, self._index,
                                  config.max_streams_per_connection)
        if error is not None:
            connection.send(error)
        return connection

    async def receive(self, connection: BinanceConnection, text: str) -> None:
        """One text frame from the client: a method, answered (too many messages close the connection)."""
        if await self._flooded(connection):
            return
        reply = handle_method(connection, text, self._symbols_by_lower, self._index,
                              self.config.max_streams_per_connection)
        if reply is not None:
            connection.send(reply)

    def on_pong(self, connection: BinanceConnection) -> None:
        connection.last_pong_s = self.config.clock()

    async def close_session(self, connection: BinanceConnection) -> None:
        self._connections.discard(connection)
        for name in tuple(connection.streams):
            self._index(connection, name, add=False)
        await connection.close(1000, "")

    async def _flooded(self, connection: BinanceConnection) -> bool:
        config = self.config
        if connection.count_incoming(config.clock(), config.max_incoming_per_s):
            await connection.close(1008, "too many messages")
            return True
        return False

    async def _read_loop(self, connection: BinanceConnection) -> None:
        ws = connection.ws
        while not ws.closed:
            msg = await ws.receive()
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return
            if msg.type is WSMsgType.TEXT:
                await self.receive(connection, msg.data)
            elif await self._flooded(connection):
                return
            elif msg.type is WSMsgType.PING:
                await ws.pong(msg.data)
            elif msg.type is WSMsgType.PONG:
                self.on_pong(connection)

    async def run_housekeeping(self) -> None:
        """Server pings, pong timeouts and the connection lifetime."""
        config = self.config
        period = max(0.01, min(1.0, config.ping_interval_s, config.pong_timeout_s, config.max_connection_s) / 4)
        while True:
            await asyncio.sleep(period)
            now = config.clock()
            for connection in tuple(self._connections):
                try:
                    await self._keep(connection, now)
                except Exception:  # one broken connection must not stop pings for the others
                    log.exception("binance connection housekeeping failed")

    async def _keep(self, connection: BinanceConnection, now: float) -> None:
        config = self.config
        if now - connection.opened_s >= config.max_connection_s:
            await connection.close(1000, "connection lifetime reached")
        elif now - connection.last_pong_s >= config.pong_timeout_s:
            await connection.close(1008, "pong timeout")
        elif now - connection.last_ping_s >= config.ping_interval_s:
            connection.last_ping_s = now
            with contextlib.suppress(ConnectionError, RuntimeError):
                await connection.ws.ping(str(int(now * 1000)).encode())

    # ---- REST ----------------------------------------------------------------------------------------

    def _charge(self, weight: int) -> tuple[bool, dict[str, str]]:
        """Count `weight` against the per-minute budget; (allowed, headers)."""
        now = self.config.clock()
        minute = int(now // 60)
        if minute != self._weight_minute:
            self._weight_minute, self._weight_used = minute, 0
        if self._weight_used + weight > self.config.weight_limit_per_minute:
            retry = max(1, math.ceil(60 - now % 60))
            return False, {"X-MBX-USED-WEIGHT-1M": str(self._weight_used), "Retry-After": str(retry)}
        self._weight_used += weight
        return True, {"X-MBX-USED-WEIGHT-1M": str(self._weight_used)}

    def _too_many(self, headers: dict[str, str]) -> web.Response:
        limit = self.config.weight_limit_per_minute
        body = {"code": -1003, "msg": f"Too many requests; current limit of IP(127.0.0.1) request weight per "
                                      f"minute is {limit}. Please use WebSocket Streams for live updates to "
                                      f"avoid polling the API."}
        headers.setdefault("Retry-After", "1")
        return web.json_response(body, status=429, headers=headers)

    async def _depth(self, request: web.Request) -> web.Response:
        symbol = request.query.get("symbol", "")
        limit_text = request.query.get("limit", str(DEFAULT_DEPTH_LIMIT))
        error = _depth_request_error(symbol, limit_text, self._books)
        weight = ERROR_WEIGHT if error is not None else DEPTH_LIMIT_WEIGHTS[int(limit_text)]
        allowed, headers = self._charge(weight)
        if not allowed:
            return self._too_many(headers)
        forced_retry = self.faults.take_rest_429()
        if forced_retry is not None:
            headers["Retry-After"] = str(forced_retry)
            return self._too_many(headers)
        if error is not None:
            return web.json_response(error, status=400, headers=headers)
        book = self._books[symbol]
        limit = int(limit_text)
        snapshot = self.faults.take_stale_snapshot(book, limit) or book.snapshot(limit)
        return web.json_response(_render_snapshot(book, snapshot, with_times=True), headers=headers)

    async def _exchange_info(self, request: web.Request) -> web.Response:
        allowed, headers = self._charge(1)
        if not allowed:
            return self._too_many(headers)
        symbols = [{
            "symbol": symbol, "pair": symbol, "contractType": "PERPETUAL", "status": "TRADING",
            "pricePrecision": book.spec.price_decimals, "quantityPrecision": book.spec.qty_decimals,
            "filters": [
                {"filterType": "PRICE_FILTER", "tickSize": book.spec.format_price(1)},
                {"filterType": "LOT_SIZE", "stepSize": book.spec.format_qty(1)},
            ],
        } for symbol, book in self._books.items()]
        body = {"timezone": "UTC", "serverTime": int(self.config.clock() * 1000), "symbols": symbols}
        return web.json_response(body, headers=headers)

    async def _ping(self, request: web.Request) -> web.Response:
        allowed, headers = self._charge(1)
        return web.json_response({}, headers=headers) if allowed else self._too_many(headers)

    async def _time(self, request: web.Request) -> web.Response:
        allowed, headers = self._charge(1)
        if not allowed:
            return self._too_many(headers)
        return web.json_response({"serverTime": int(self.config.clock() * 1000)}, headers=headers)

    async def _true_book(self, request: web.Request) -> web.Response:
        symbol = request.query.get("symbol", "")
        book = self._books.get(symbol)
        if book is None:
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        body = _render_snapshot(book, book.snapshot(), with_times=False)
        depth_text = request.query.get("looking_depth")
        if depth_text is not None:
            try:
                depth = float(depth_text)
                if not 0 < depth < 1:
                    raise ValueError(depth_text)
            except ValueError:
                return web.json_response({"code": -1130, "msg": "looking_depth must be in (0, 1)"}, status=400)
            band = book.band_sums(depth)
            if band is not None:
                spec = book.spec
                body["band"] = {"lo": spec.format_price(band.lo_tick), "hi": spec.format_price(band.hi_tick),
                                "sum_bid": spec.format_qty(band.sum_bid), "sum_ask": spec.format_qty(band.sum_ask)}
        return web.json_response(body)


async def start_binance_server(host: str, port: int, market: HasBinanceBooks | None,
                               config: BinanceServerConfig | None = None) -> BinanceServer:
    """Create and start a BinanceServer on (host, port); port 0 picks a free port."""
    server = BinanceServer(market, host, port, config)
    await server.start()
    return server


def _depth_request_error(symbol: str, limit_text: str, books: Mapping[str, BinanceBook]) -> dict[str, Any] | None:
    if not symbol:
        return {"code": -1102, "msg": "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."}
    if not limit_text.isdigit() or len(limit_text) > 20:
        return {"code": -1100,
                "msg": "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'."}
    if int(limit_text) not in DEPTH_LIMIT_WEIGHTS:
        return {"code": -1130, "msg": "Data sent for parameter 'limit' is not valid."}
    if symbol not in books:
        return {"code": -1121, "msg": "Invalid symbol."}
    return None


def _render_snapshot(book: BinanceBook, snapshot: BookSnapshot, with_times: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"lastUpdateId": snapshot.last_update_id}
    if with_times:
        body["E"] = snapshot.event_time_ms
        body["T"] = snapshot.transaction_time_ms
    body["bids"] = format_levels(snapshot.bids, book.spec)
    body["asks"] = format_levels(snapshot.asks, book.spec)
    return body
