"""The simulator's Binance market served in-process to the bot's own Binance feed (``BinanceObiFeed``).

Rules:
- The simulator's ``BinanceServer`` is built without a port: its books' events go to the subscribers as on
  the socket server, the combined stream reaches the bot through ``wire.LocalConnector`` (the same frames,
  subscription answers, pings and disconnects), and the REST depth snapshot is the server's own handler, read
  by the live code's ``snapshot_from_response``. The feed's parsing, sync and pacing are the live code.
- Time is the run's: the server's weights, pings and connection lifetime read the clock's wall time, and its
  housekeeping is a task of the local venue on the run's loop.
- Assumption (docs/local-venue.md): Binance frames and snapshots reach the bot with no delay; the lead of
  Binance over Lighter is the simulator's own (``sim/market_params.py``).
"""
from __future__ import annotations

from typing import Any

from lmm.venue.binance.obi_feed import BinanceWire
from lmm.venue.binance.snapshot import FetchedSnapshot, snapshot_from_response
from lmm.venue.clock import Clock
from lmm.venue.local.wire import LocalConnector, LocalHttp, VenueEnd
from sim.binance_server import BinanceServer, BinanceServerConfig, HasBinanceBooks
from sim.binance_streams import ws_target
from sim.binance_ws import BinanceConnection

LOCAL_BINANCE_WS_URL = "local://binance"
LOCAL_BINANCE_REST_URL = "local://binance"
DEPTH_PATH = "/fapi/v1/depth"


class LocalHandshakeRefused(ConnectionRefusedError):
    """The URL names no endpoint of the in-process Binance server (a socket would get HTTP 404)."""


class BinanceSessions:
    """The Binance server's WebSocket handler as ``wire.VenueSessions``: the URL's path and query choose the
    route, the streams and the combined wrapper, as the server's routes do."""

    def __init__(self, server: BinanceServer) -> None:
        self._server = server

    def open_session(self, end: VenueEnd, url: str) -> BinanceConnection:
        target = ws_target(url)
        if target is None:
            raise LocalHandshakeRefused(f"local binance: no WebSocket endpoint at {url}")
        server = self._server
        connection = server.open_session(end, target.route, target.streams, target.combined)
        end.on_ping = lambda: server.on_pong(connection)
        return connection

    async def receive(self, session: Any, frame: str) -> None:
        await self._server.receive(session, frame)

    async def close_session(self, session: Any) -> None:
        await self._server.close_session(session)


class LocalBinance:
    """One in-process Binance market over the synthetic market's books; ``wire()`` is what the feed needs."""

    def __init__(self, market: HasBinanceBooks, clock: Clock) -> None:
        self.server = BinanceServer(market, config=BinanceServerConfig(clock=clock.wall))
        self.server.attach()
        self.http = LocalHttp(self.server.rest_routes())
        self.connector = LocalConnector(BinanceSessions(self.server))

    def wire(self) -> BinanceWire:
        return BinanceWire(self.connector, self.fetch_snapshot, LOCAL_BINANCE_WS_URL, LOCAL_BINANCE_REST_URL)

    async def fetch_snapshot(self, symbol: str, limit: int) -> FetchedSnapshot:
        status, headers, body = await self.http.get_raw(DEPTH_PATH, {"symbol": symbol, "limit": str(limit)})
        return snapshot_from_response(status, headers, body, limit)

    def inject_fault(self, kind: str, params: dict[str, Any]) -> None:
        self.server.inject_fault(kind, params)

    async def run(self) -> None:
        """Server pings, pong timeouts and connection lifetimes, on the run's loop."""
        await self.server.run_housekeeping()

    async def close(self) -> None:
        await self.server.stop()
