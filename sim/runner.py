# Composition of the simulator: engine, synthetic market, Lighter server and Binance server on ONE asyncio
# loop, either the caller's (python -m sim) or a background thread's (SimThread, for tests and --sim).
#
# Rules: the parts are created and touched on the simulator's loop only; other threads talk to it over
# HTTP/WS or through SimThread.call(). The market and the Binance server are optional (flags), so the
# Lighter side can run alone. Stopping is idempotent and releases the ports.
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sim.engine import Engine
from sim.lighter_server import LighterServer
from sim.market_params import MarketParams
from sim.market_profile import default_market_params

log = logging.getLogger(__name__)
T = TypeVar("T")
MARKET_STEP_S = 0.01


@dataclass(frozen=True)
class SimConfig:
    """Everything that describes a simulator run; ports 0 pick free ports."""

    host: str = "127.0.0.1"
    lighter_port: int = 0
    binance_port: int = 0
    seed: int = 0
    with_market: bool = True
    with_binance: bool = True
    market_params: MarketParams = field(default_factory=default_market_params)
    replay: Any = None  # a sim.replay.ReplayConfig: serve a recorded Binance market instead of the synthetic one


class Simulator:
    """The running simulator; `start()` and `stop()` must be awaited on the loop that owns it."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.engine = Engine()
        self.market: Any = None
        self.binance: Any = None
        self.lighter: LighterServer | None = None
        self._market_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        config = self.config
        if config.replay is not None:
            from sim.replay import ReplayMarket  # optional part

            self.market = ReplayMarket(self.engine, config.replay, config.market_params, seed=config.seed)
            self._market_task = asyncio.get_running_loop().create_task(self._drive_market(), name="market")
        elif config.with_market:
            from sim.market import SyntheticMarket  # optional part

            self.market = SyntheticMarket(self.engine, config.market_params, seed=config.seed)
            self._market_task = asyncio.get_running_loop().create_task(self._drive_market(), name="market")
        if config.with_binance:
            from sim.binance_server import BinanceServer  # optional part

            self.binance = BinanceServer(self.market, host=config.host, port=config.binance_port)
            await self.binance.start()
        self.lighter = LighterServer(self.engine, seed=config.seed, market=self.market, binance=self.binance)
        await self.lighter.start(config.host, config.lighter_port)

    async def _drive_market(self) -> None:
        """Advance the synthetic market every MARKET_STEP_S; a failing step is logged, the next one runs."""
        market = self.market
        while True:
            await asyncio.sleep(MARKET_STEP_S)
            try:
                market.step(time.time_ns())
            except Exception:
                log.exception("synthetic market step failed; continuing")

    async def stop(self) -> None:
        if self._market_task is not None:
            self._market_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._market_task
            self._market_task = None
        if self.lighter is not None:
            await self.lighter.stop()
        if self.binance is not None:
            await self.binance.stop()

    @property
    def lighter_url(self) -> str:
        assert self.lighter is not None
        return self.lighter.url

    @property
    def lighter_ws_url(self) -> str:
        assert self.lighter is not None
        return self.lighter.ws_url

    @property
    def binance_rest_url(self) -> str | None:
        return None if self.binance is None else self.binance.rest_url

    @property
    def binance_ws_url(self) -> str | None:
        return None if self.binance is None else self.binance.ws_url


class SimThread:
    """A Simulator on its own event loop in a daemon thread (the SDK blocks; never share its loop)."""

    def __init__(self, config: SimConfig) -> None:
        self.simulator = Simulator(config)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="lighter-sim", daemon=True)
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._stopped = False

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.simulator.start())
        except BaseException as exc:  # reported to the starting thread
            self._start_error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    def start(self, timeout_s: float = 30.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise TimeoutError("simulator did not start in time")
        if self._start_error is not None:
            raise RuntimeError("simulator failed to start") from self._start_error

    def call(self, fn: Callable[[], Awaitable[T]], timeout_s: float = 30.0) -> T:
        """Run a coroutine function on the simulator's loop and wait for its result."""
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(fn(), self._loop)  # type: ignore[arg-type]
        return future.result(timeout_s)

    async def call_async(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Like call(), but awaitable from another event loop without blocking it."""
        future = asyncio.run_coroutine_threadsafe(fn(), self._loop)  # type: ignore[arg-type]
        return await asyncio.wrap_future(future)

    def stop(self, timeout_s: float = 30.0) -> None:
        if self._stopped or not self._thread.is_alive():
            self._stopped = True
            return
        self._stopped = True
        try:
            self.call(self.simulator.stop, timeout_s)
        except Exception:
            log.exception("simulator stop failed")
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout_s)
