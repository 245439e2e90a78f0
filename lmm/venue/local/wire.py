"""In-process stand-ins for a WebSocket connection and an HTTP GET, so the bot's own clients (the subscription
manager, the REST reader, the nonce keeper) talk to the simulator's venue code without a socket.

Rules:
- ``LocalConnector`` is a ``connect_factory`` for ``ReconnectingWebSocket``: each connection is a pair of queues
  between the client and one venue session (``VenueSessions``: the Lighter handler through ``LighterSessions``,
  the Binance one through ``lmm.venue.local.binance``), with the venue's own greeting, subscription answers,
  pings and disconnects. Frames are the venue's JSON text, exactly as on a socket.
- ``LocalHttp.get`` runs the venue's REST handler for a path (through its middleware, if any, so injected
  faults and error bodies are the venue's) and returns the status and the decoded JSON body; ``get_raw``
  returns the status, headers and body bytes as they would cross the wire.
- Nothing here waits on real time: a run on the virtual-time loop stays deterministic.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

_CLOSED = object()


class LocalConnectionClosed(ConnectionResetError):
    """The venue closed the in-process connection (a fault, or the venue stopping)."""


class VenueEnd:
    """What the venue's session writes to: frames go into the client's inbox. A WebSocket ping is answered at
    once, as the client's WebSocket library does (``on_ping``: the venue's record of the pong)."""

    def __init__(self, inbox: asyncio.Queue[Any]) -> None:
        self._inbox = inbox
        self.closed = False
        self.on_ping: Callable[[], None] | None = None

    async def send_str(self, text: str) -> None:
        if not self.closed:
            self._inbox.put_nowait(text)

    async def ping(self, data: bytes = b"") -> None:
        if not self.closed and self.on_ping is not None:
            self.on_ping()

    async def close(self, code: int = 1000, message: bytes = b"") -> None:
        if not self.closed:
            self.closed = True
            self._inbox.put_nowait(_CLOSED)


class VenueSessions(Protocol):
    """A venue's WebSocket handler as sessions: opened on an end for a URL, fed client frames, closed."""

    def open_session(self, end: VenueEnd, url: str) -> Any: ...

    def receive(self, session: Any, frame: str) -> Awaitable[None]: ...

    def close_session(self, session: Any) -> Awaitable[None]: ...


class LighterSessions:
    """``sim.lighter_ws.LighterWs`` as ``VenueSessions`` (one endpoint: the URL says nothing more)."""

    def __init__(self, venue_ws: Any) -> None:
        self._venue_ws = venue_ws

    def open_session(self, end: VenueEnd, url: str) -> Any:
        return self._venue_ws.open_session(end)

    async def receive(self, session: Any, frame: str) -> None:
        await self._venue_ws.receive(session, frame)

    async def close_session(self, session: Any) -> None:
        await self._venue_ws.hub.close_session(session)


class LocalWsConnection:
    """The client's end: ``send``/``recv``/``close`` as ``websockets``' ``ClientConnection`` offers them."""

    def __init__(self, sessions: VenueSessions, url: str) -> None:
        self._sessions = sessions
        self._url = url
        self._inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._venue_end = VenueEnd(self._inbox)
        self._session: Any = None
        self._closed = False

    async def __aenter__(self) -> LocalWsConnection:
        self._session = self._sessions.open_session(self._venue_end, self._url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def send(self, frame: str) -> None:
        if self._closed or self._venue_end.closed:
            raise LocalConnectionClosed("local venue connection is closed")
        await self._sessions.receive(self._session, frame)

    async def recv(self) -> str:
        item = await self._inbox.get()
        if item is _CLOSED:
            self._inbox.put_nowait(_CLOSED)  # every later recv fails the same way
            raise LocalConnectionClosed("local venue closed the connection")
        return item

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._venue_end.closed = True
        self._inbox.put_nowait(_CLOSED)
        if self._session is not None:
            await self._sessions.close_session(self._session)


class LocalConnector:
    """``connect_factory(url, **options)`` opening in-process connections to one venue's WebSocket handler."""

    def __init__(self, sessions: VenueSessions) -> None:
        self._sessions = sessions
        self.connects = 0

    def __call__(self, url: str, **options: Any) -> LocalWsConnection:
        self.connects += 1
        return LocalWsConnection(self._sessions, url)


class LocalHttp:
    """GET requests served by the venue's REST handlers in-process."""

    def __init__(self, routes: list[web.RouteDef], middleware: Any = None) -> None:
        self._handlers = {route.path: route.handler for route in routes if route.method == "GET"}
        self._middleware = middleware

    async def get(self, path: str, params: dict[str, str] | None = None,
                  headers: dict[str, str] | None = None) -> tuple[int, Any]:
        if path not in self._handlers:
            return 404, {"code": 29404, "message": "not found"}
        status, _, body = await self.get_raw(path, params, headers)
        text = body.decode()
        return status, json.loads(text) if text else {}

    async def get_raw(self, path: str, params: dict[str, str] | None = None,
                      headers: dict[str, str] | None = None) -> tuple[int, Mapping[str, str], bytes]:
        handler = self._handlers.get(path)
        if handler is None:
            return 404, {}, b""
        query = f"?{urlencode(params)}" if params else ""
        request = make_mocked_request("GET", path + query, headers=headers or {})
        if self._middleware is None:
            response = await handler(request)
        else:
            response = await self._middleware(request, handler)
        body = response.body if isinstance(response, web.Response) else b""
        if not isinstance(body, bytes | bytearray):
            body = str(body or "").encode()
        return response.status, response.headers, bytes(body)
