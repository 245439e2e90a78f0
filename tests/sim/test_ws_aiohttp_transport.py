"""The recorder's aiohttp transport behind ReconnectingWebSocket: frames in order, replies sent, a dropped
socket is retried, a handshake refused for a configuration error is fatal (loopback aiohttp server)."""
from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from lmm.core.backoff import BackoffPolicy
from lmm.venue.ws.aiohttp_transport import connect
from lmm.venue.ws.connection import ConnectionSettings, ReconnectingWebSocket
from lmm.venue.ws.reconnect import FatalConnectionError, Verdict, classify


async def _server(handler) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"ws://127.0.0.1:{port}/ws"


class Adapter:
    def __init__(self, url: str) -> None:
        self._url = url
        self.frames: list[str] = []
        self.opens = 0
        self.closes: list[BaseException | None] = []
        self.done = asyncio.Event()

    def url(self) -> str:
        return self._url

    async def on_open(self, now: float) -> tuple[str, ...]:
        self.opens += 1
        return ("hello",)

    def on_frame(self, raw: str | bytes, now: float) -> tuple[str, ...] | None:
        self.frames.append(raw)  # type: ignore[arg-type]
        if len(self.frames) >= 6:
            self.done.set()
        return ("ack",) if raw == "ask" else None

    def next_deadline(self) -> float | None:
        return None

    async def on_deadline(self, now: float) -> tuple[str, ...]:
        return ()

    def on_close(self, error: BaseException | None, now: float) -> None:
        self.closes.append(error)


async def test_frames_replies_and_a_reconnect_after_the_server_drops_the_socket() -> None:
    received: list[str] = []
    connections = 0

    async def handler(request: web.Request) -> web.WebSocketResponse:
        nonlocal connections
        connections += 1
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        received.append((await ws.receive()).data)  # the adapter's hello
        for frame in ("a", "ask", "c"):
            await ws.send_str(frame)
        received.append((await ws.receive()).data)  # the reply to "ask"
        await ws.close()  # a drop: the client must reconnect
        return ws

    runner, url = await _server(handler)
    adapter = Adapter(url)
    conn = ReconnectingWebSocket(adapter, ConnectionSettings(BackoffPolicy(0.01, 0.05), ping_interval=None),
                                 connect_factory=connect)
    task = asyncio.create_task(conn.run())
    try:
        await asyncio.wait_for(adapter.done.wait(), 20)
    finally:
        await conn.close()
        await asyncio.wait_for(task, 10)
        await runner.cleanup()
    assert adapter.frames[:6] == ["a", "ask", "c", "a", "ask", "c"]
    assert received[:4] == ["hello", "ack", "hello", "ack"]
    assert connections >= 2 and adapter.opens >= 2
    assert isinstance(adapter.closes[0], ConnectionError) and classify(adapter.closes[0]) is Verdict.RETRY


async def test_a_handshake_refused_with_404_is_fatal() -> None:
    async def plain(request: web.Request) -> web.Response:
        return web.Response(status=200)

    runner, url = await _server(plain)
    try:
        with pytest.raises(FatalConnectionError) as info:
            async with connect(url.replace("/ws", "/missing")):
                pass
    finally:
        await runner.cleanup()
    assert classify(info.value) is Verdict.FATAL
