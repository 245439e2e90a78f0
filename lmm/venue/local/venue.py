"""The local venue: the simulator's Lighter venue (matching engine, synthetic market, protocol handlers) run
in-process on the bot's own loop and clock, behind the same ``Venue`` seam as live Lighter.

Rules:
- No socket and no thread: the bot's subscription manager, REST reader and sender talk to the venue's own
  handlers through ``wire`` and ``sending``; the frames and bodies are the venue's JSON, parsed by the same
  code as live. On the virtual-time loop (``lmm.venue.clock``) a run is deterministic for a given seed and
  runs as fast as the work allows.
- The venue's clocks are the run's: its order timestamps and expiries use the clock's wall time, its
  50 ms publishing beat and the market's 10 ms steps are timers on the run's loop.
- Assumptions (docs/local-venue.md): order entry latency ``entry_latency_s`` for every batch; matching,
  fees by account tier, the premium volume quota, the standard tier's 60 tx/minute and the venue's
  refusals are the simulator engine's; market data and account events reach the bot with no delay.
- With the synthetic market (and ``with_binance``), the simulator's Binance market is served in-process too
  (``binance.LocalBinance``): the daemon's ``BinanceObiFeed`` reads it through the venue's ``binance_wire``.
- ``binance_tape``: the market is a recorded Binance tape replayed on the run's clock (``sim.replay``: the
  recorded ids, bookTickers and trades), with the Lighter market derived from its lagged, noisy mid.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from lmm.config.config import Config
from lmm.venue.base import Venue
from lmm.venue.clock import Clock
from lmm.venue.lighter.market_info import MarketLookupError, select_market
from lmm.venue.lighter.rest import TokenCache, VenueReader
from lmm.venue.lighter.tx_sender import TxSender
from lmm.venue.local.binance import LocalBinance
from lmm.venue.local.sending import EngineNonces, LocalTransport, UnsignedTxWriter
from lmm.venue.local.wire import LighterSessions, LocalConnector, LocalHttp
from lmm.venue.ws.manager import LighterWsManager, WsSettings
from sim.binance_server import HasBinanceBooks
from sim.engine import Engine
from sim.lighter_server import LighterServer
from sim.market import SyntheticMarket
from sim.market_params import MarketParams
from sim.market_profile import default_market_params
from sim.markets import DEFAULT_MARKETS, MarketSpec

if TYPE_CHECKING:
    from sim.replay import ReplayMarket

log = logging.getLogger("lighter_mm.local_venue")

API_KEY_INDEX = 25
PLACEHOLDER_PUBLIC_KEY = "00" * 40  # the local venue never checks signatures
MARKET_STEP_S = 0.01  # the synthetic market's step, as in the loopback simulator
MICRO_USDC = 1_000_000
LOCAL_URL = "local://lighter"


@dataclass(frozen=True)
class LocalVenueParams:
    """The local venue's named assumptions; the defaults are documented in docs/local-venue.md."""

    seed: int = 0
    collateral_usd: int = 10_000
    tier: str = "premium"
    entry_latency_s: float = 0.05  # sent -> matched, every batch
    with_market: bool = True  # False: an empty book, no synthetic flow (tests place the liquidity)
    with_binance: bool = True  # the market's Binance books served in-process (needs with_market)
    market_params: MarketParams = field(default_factory=default_market_params)  # sim/profiles/default.json
    markets: tuple[MarketSpec, ...] = DEFAULT_MARKETS  # the engine's markets (a tape's market for a backtest)
    external_binance: bool = False  # paper: the daemon reads the configured (real) Binance endpoints itself
    binance_tape: str | None = None  # the market: a recorded Binance tape replayed, Lighter derived (sim.replay)


class SteppedBinanceMarket(HasBinanceBooks, Protocol):
    def step(self, now_ns: int) -> None: ...


class LocalReader(VenueReader):
    """The REST reader of the live venue, served by the local venue's handlers."""

    def __init__(self, http: LocalHttp, account_index: int, tokens: TokenCache) -> None:
        super().__init__(None, LOCAL_URL, account_index, tokens)  # type: ignore[arg-type]
        self._http = http

    async def _http_get(self, path: str, params: dict[str, str], headers: dict[str, str] | None) -> tuple[int, Any]:
        return await self._http.get(path, params, headers)


class LocalVenue:
    """One simulated Lighter venue with the bot's account; build it, then ``open`` it on the run's loop."""

    def __init__(self, clock: Clock, params: LocalVenueParams = LocalVenueParams(),
                 driver: Callable[[LocalVenue], Awaitable[None]] | None = None,
                 binance_market: SteppedBinanceMarket | None = None) -> None:
        """``driver(venue)``: a coroutine that moves an external market into the engine (a tape replay), run
        among the venue's tasks; with ``params.with_market`` the synthetic market runs instead.
        ``binance_market``: the Binance books served in-process instead of the synthetic market's (a tape's
        Binance market replayed by ``sim.replay``), stepped with the run's wall time like the market."""
        self.clock = clock
        self.params = params
        self.engine = Engine(params.markets)
        self._driver = driver
        self.market: SyntheticMarket | ReplayMarket | None = None
        if params.with_market and params.binance_tape is not None:
            from sim.replay import ReplayConfig, ReplayMarket  # a tape replay only: not on every start-up

            self.market = ReplayMarket(self.engine, ReplayConfig(params.binance_tape), params.market_params,
                                       seed=params.seed, start_ns=clock.wall_ns())
        elif params.with_market:
            self.market = SyntheticMarket(self.engine, params.market_params, seed=params.seed,
                                          start_ns=clock.wall_ns())
        self.server = LighterServer(self.engine, seed=params.seed, clock_ns=clock.wall_ns,
                                    monotonic_s=clock.monotonic, market=self.market)
        self.account_index = self.engine.create_account(params.collateral_usd * MICRO_USDC, params.tier)
        self.engine.register_api_key(self.account_index, API_KEY_INDEX, PLACEHOLDER_PUBLIC_KEY)
        self.http = LocalHttp(self.server.rest.routes(), self.server.rest.middleware)
        self.connector = LocalConnector(LighterSessions(self.server.ws))
        self.binance: LocalBinance | None = None
        self._stepped: list[SteppedBinanceMarket] = []
        if binance_market is not None:
            self.binance = LocalBinance(binance_market, clock)
            self._stepped.append(binance_market)
        elif self.market is not None and params.with_binance:
            self.binance = LocalBinance(self.market, clock)
        if self.market is not None:
            self._stepped.append(self.market)
        self.transport: LocalTransport | None = None
        self._closed = False

    async def open(self, config: Config, symbol: str) -> Venue:
        clock = self.clock
        status, body = await self.http.get("/api/v1/orderBookDetails")
        if status != 200:
            raise MarketLookupError(f"local venue: orderBookDetails answered HTTP {status}")
        market = select_market(body.get("order_book_details") or [], symbol)
        writer = UnsignedTxWriter(self.account_index, API_KEY_INDEX, clock.wall_ms)
        nonces = EngineNonces(lambda: self.engine.next_nonce(self.account_index, API_KEY_INDEX))
        self.transport = LocalTransport(self.server.gateway, self.params.entry_latency_s, clock.monotonic_ns,
                                        self.params.tier)
        sender = TxSender(writer, nonces, [self.transport])  # type: ignore[arg-type]
        await nonces.hard_refresh()
        tokens = TokenCache(writer, wall=clock.wall)  # type: ignore[arg-type]
        reader = LocalReader(self.http, self.account_index, tokens)
        streams = LighterWsManager(f"{LOCAL_URL}/stream", WsSettings.from_config(config.websocket),
                                   token_provider=tokens.get, clock=clock.monotonic, wall_clock=clock.wall,
                                   connect_factory=self.connector)

        async def close() -> None:
            with contextlib.suppress(Exception):
                await streams.close()
            await self.close()

        log.info("local venue: account %d funded with $%d (%s), order entry latency %.0f ms, seed %d",
                 self.account_index, self.params.collateral_usd, self.params.tier,
                 self.params.entry_latency_s * 1e3, self.params.seed)
        return Venue("local", market, self.account_index, streams, sender, reader, close,
                     tasks={"local-venue": self.run},
                     has_binance=self.binance is not None or self.params.external_binance,
                     binance_wire=None if self.binance is None else self.binance.wire())

    async def run(self) -> None:
        """The venue's own time: the 50 ms publishing beat and the synthetic market's steps."""
        jobs = [self.server.run_beat()]
        if self._stepped:
            jobs.append(self._drive_market())
        if self.binance is not None:
            jobs.append(self.binance.run())
        if self._driver is not None:
            jobs.append(self._driver(self))
        await asyncio.gather(*jobs)

    async def _drive_market(self) -> None:
        while True:
            await asyncio.sleep(MARKET_STEP_S)
            for market in self._stepped:
                try:
                    market.step(self.clock.wall_ns())
                except Exception:
                    log.exception("market step failed; continuing")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.binance is not None:
            await self.binance.close()
        await self.server.stop()

    # ---- faults, and what a test or a report reads from the venue ----------------------------------------

    def inject_fault(self, kind: str, **params: Any) -> None:
        """The simulator's Lighter and Binance faults (sim/README.md), applied now on the run's clock."""
        if kind.startswith("binance_"):
            if self.binance is None:
                raise ValueError(f"{kind}: the local venue serves no Binance market")
            self.binance.inject_fault(kind, params)
        elif kind == "drop_connections":
            self.server.hub.drop_all()
        elif kind == "taker_sweep":
            self.server.sweeps.add(params, self.clock.monotonic())
        else:
            self.server.faults.apply(kind, params, self.clock.monotonic())

    def set_market_running(self, running: bool) -> None:
        if self.market is not None:
            self.market.running = running

    def position_lots(self, market_id: int) -> int:
        positions = self.engine.account(self.account_index).positions
        return next((p.size for p in positions if p.market_id == market_id), 0)

    def open_orders(self, market_id: int | None = None) -> list[Any]:
        return self.engine.orders(self.account_index, market_id)
