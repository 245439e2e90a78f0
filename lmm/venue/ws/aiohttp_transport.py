"""An aiohttp WebSocket behind the interface `ReconnectingWebSocket` uses (`recv`, `send`, `close`).

Why: aiohttp parses frames in C; on the recorder's 470 frames/s it costs about 1.4 % of a core where the
`websockets` client costs 2.0-2.6 % (bench/bench_record_cpu.py). The recorder uses it (`record.py`); the
bot keeps `websockets`.

Rules: a failure maps onto what `backoff.classify` already sorts: a closed or failed socket is a
`ConnectionError` (retry), a handshake refused with a status `classify` takes as a configuration error is
a `FatalConnectionError`, any other refused handshake a `RetryableError`. Server pings are answered by
aiohttp; our pings go out every `ping_interval` (aiohttp's heartbeat: no pong within half of it closes
the socket). `recv` may be cancelled (the connection's timers do): aiohttp keeps unread frames queued.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from lmm.venue.ws.reconnect import _FATAL_HTTP_STATUSES, FatalConnectionError, RetryableError

_CLOSING = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED)


class AiohttpWebSocket:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws

    async def recv(self) -> str | bytes:
        while True:
            msg = await self._ws.receive()
            kind = msg.type
            if kind is aiohttp.WSMsgType.TEXT or kind is aiohttp.WSMsgType.BINARY:
                return msg.data  # type: ignore[no-any-return]
            if kind in _CLOSING:
                raise ConnectionError(f"websocket closed (code {self._ws.close_code})")
            if kind is aiohttp.WSMsgType.ERROR:
                raise ConnectionError(f"websocket failed: {self._ws.exception()!r}")
            # PING/PONG are handled by aiohttp (autoping); anything else carries no data

    async def send(self, frame: str) -> None:
        await self._ws.send_str(frame)

    async def close(self) -> None:
        await self._ws.close()


@contextlib.asynccontextmanager
async def connect(url: str, *, ping_interval: float | None = None, ping_timeout: float | None = None,
                  open_timeout: float = 10.0, close_timeout: float = 2.0, max_size: int = 8 * 1024 * 1024,
                  proxy: bool | None = True, compression: None = None, **_: Any) -> AsyncIterator[AiohttpWebSocket]:
    """The `websockets.asyncio.client.connect` call shape; frames are never compressed (`compress=0`)."""
    timeout = aiohttp.ClientWSTimeout(ws_receive=None, ws_close=close_timeout)
    async with aiohttp.ClientSession(trust_env=bool(proxy)) as session:
        try:
            async with asyncio.timeout(open_timeout):
                ws = await session.ws_connect(url, compress=0, max_msg_size=max_size, heartbeat=ping_interval,
                                              autoping=True, timeout=timeout)
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status in _FATAL_HTTP_STATUSES:
                raise FatalConnectionError(f"{url}: handshake refused with HTTP {exc.status}") from exc
            raise RetryableError(f"{url}: handshake refused with HTTP {exc.status}") from exc
        except aiohttp.ClientError as exc:
            raise ConnectionError(f"{url}: {exc!r}") from exc
        try:
            yield AiohttpWebSocket(ws)
        finally:
            await ws.close()
