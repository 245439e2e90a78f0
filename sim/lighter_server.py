# The simulated Lighter venue on one port: REST (/api/v1/...), WebSocket (/stream) and the control API
# (/__sim/...), around one Engine.
#
# Rules: everything runs on the event loop that called start(); the engine is touched from that loop
# only. A beat task publishes market data every `beat_ms` (50 ms, the venue's batching), expires orders
# every second, sends the due taker sweeps (a fault) and pings WS clients every 30 s; a failing beat is
# logged with its traceback and the next one runs (the feeds never die silently). Clocks are injectable.
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from aiohttp import web

from sim.control import BinanceFaultSink, MarketSwitch, SimControl
from sim.engine import Engine
from sim.lighter_faults import LighterFaults
from sim.lighter_feeds import LighterFeeds
from sim.lighter_rest import LighterRest
from sim.lighter_tx import TxGateway
from sim.lighter_ws import SERVER_PING_INTERVAL_S, LighterWs
from sim.taker_sweeps import TakerSweeps
from sim.ws_hub import WsHub

log = logging.getLogger(__name__)

BEAT_MS = 50
EXPIRE_INTERVAL_S = 1.0


class LighterServer:
    """aiohttp application serving the Lighter protocol for one engine."""

    def __init__(self, engine: Engine, *, seed: int = 0, beat_ms: int = BEAT_MS,
                 clock_ns: Callable[[], int] = time.time_ns,
                 monotonic_s: Callable[[], float] = time.monotonic,
                 market: MarketSwitch | None = None, binance: BinanceFaultSink | None = None) -> None:
        self.engine = engine
        self.beat_ms = beat_ms
        self._clock_ns = clock_ns
        self._monotonic_s = monotonic_s
        self.hub = WsHub()
        self.faults = LighterFaults()
        self.feeds = LighterFeeds(engine, self.hub, self.faults, clock_ns, monotonic_s, seed)
        self.gateway = TxGateway(engine, self.feeds, self.faults, clock_ns)
        self.rest = LighterRest(engine, self.gateway, self.faults, clock_ns)
        self.ws = LighterWs(engine, self.hub, self.feeds, self.gateway, clock_ns, monotonic_s)
        self.sweeps = TakerSweeps(engine)
        self.control = SimControl(engine, self.feeds, self.hub, self.faults, monotonic_s, market, binance,
                                  self.sweeps)
        self.app = web.Application(middlewares=[self.rest.middleware], client_max_size=8 * 1024 * 1024)
        self.app.add_routes([*self.rest.routes(), web.get("/stream", self.ws.handle), *self.control.routes()])
        self._runner: web.AppRunner | None = None
        self._beat_task: asyncio.Task[None] | None = None
        self.host = ""
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/stream"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Bind (port 0 = a free port) and start the beat."""
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()
        server = site._server  # aiohttp exposes the bound sockets only here
        assert server is not None and server.sockets
        self.host, self.port = host, server.sockets[0].getsockname()[1]
        self.start_beat()

    def start_beat(self) -> None:
        """The beat alone, without binding a port (the bot's in-process local venue serves no socket)."""
        self._beat_task = asyncio.get_running_loop().create_task(self.run_beat(), name="lighter-beat")

    async def stop(self) -> None:
        if self._beat_task is not None:
            self._beat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beat_task
            self._beat_task = None
        for session in list(self.hub.sessions.values()):
            session.close_soon()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def run_beat(self) -> None:
        """Every `beat_ms`: expiries, due sweeps, published market data and account changes, pings."""
        interval = self.beat_ms / 1000
        next_expire = next_ping = self._monotonic_s()
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            deadline += interval
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            if loop.time() - deadline > 1.0:
                deadline = loop.time()  # after a long stall, do not burst to catch up
            try:
                now = self._monotonic_s()
                if now >= next_expire:
                    self.engine.expire(self._clock_ns())
                    next_expire = now + EXPIRE_INTERVAL_S
                self.sweeps.run_due(now, self._clock_ns())
                self.feeds.tick()
                if now >= next_ping:
                    self.ws.keepalive()
                    next_ping = now + SERVER_PING_INTERVAL_S
            except Exception:
                log.exception("lighter beat failed; continuing")
