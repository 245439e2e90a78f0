# A reconnecting WebSocket loop that any venue adapter plugs into (Lighter channels, Binance depth).
# Rules: exactly one receive coroutine per connection, no task per message; every frame goes through the
# adapter's synchronous `on_frame`, whose reply frames are sent before the next receive; an exception
# from the adapter is logged and counted and never drops the socket, unless it is a `RetryableError`
# raised on purpose (watchdog, venue shutdown). Failures are classified by `reconnect.classify`; retries
# wait a jittered exponential backoff that resets once a connection is established (the adapter calls
# `mark_established` when its subscriptions are answered), or else after a healthy connection (up for
# `healthy_after_s` with data). Sleep and clock are injectable so tests check backoff timings without
# waiting.
from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect

from lmm.core.backoff import Backoff, BackoffPolicy
from lmm.venue.ws.reconnect import FatalConnectionError, RetryableError, Verdict, classify, connection_was_healthy

log = logging.getLogger(__name__)
BACKOFF_DELAYS_KEPT = 100  # the recent reconnect delays (diagnostics and tests); older ones are dropped

Frames = Sequence[str]
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


class ConnectionAdapter(Protocol):
    """The venue protocol; `now` is the connection's monotonic clock in seconds."""

    def url(self) -> str: ...

    async def on_open(self, now: float) -> Frames:
        """Frames to send right after the handshake (may await, e.g. to mint an auth token)."""
        ...

    def on_frame(self, raw: str | bytes, now: float) -> Frames | None:
        """Handle one received frame; return frames to send in reply. Keep it short: it runs inline."""
        ...

    def next_deadline(self) -> float | None:
        """Monotonic time at which `on_deadline` must run even if nothing is received, or None."""
        ...

    async def on_deadline(self, now: float) -> Frames:
        """Timers: watchdogs (raise `WatchdogTimeout`), token renewal, delayed subscriptions."""
        ...

    def on_close(self, error: BaseException | None, now: float) -> None:
        """The connection is gone; invalidate whatever depended on its data stream."""
        ...


@dataclass(frozen=True)
class ConnectionSettings:
    backoff: BackoffPolicy
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    open_timeout: float = 10.0
    close_timeout: float = 2.0
    max_frame_bytes: int = 8 * 1024 * 1024
    healthy_after_s: float = 10.0
    use_env_proxy: bool = True  # websockets' default: honour HTTPS_PROXY / NO_PROXY


@dataclass(frozen=True)
class ConnectionHealth:
    connected: bool
    connects: int
    reconnects: int
    adapter_errors: int
    uptime_s: float | None
    last_error: str | None


ConnectFactory = Callable[..., Any]


class ReconnectingWebSocket:
    def __init__(
        self,
        adapter: ConnectionAdapter,
        settings: ConnectionSettings,
        *,
        name: str = "ws",
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        connect_factory: ConnectFactory = connect,
    ) -> None:
        self._adapter = adapter
        self._settings = settings
        self._name = name
        self._backoff = Backoff(settings.backoff, rng or random.Random())
        self._sleep = sleep
        self._clock = clock
        self._connect = connect_factory
        self._ws: ClientConnection | None = None
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._connected_at: float | None = None
        self._connects = 0
        self._reconnects = 0
        self._adapter_errors = 0
        self._last_error: str | None = None
        self._frames_this_connection = 0
        self.backoff_delays: list[float] = []

    # ---- public -------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._ws is not None

    def health(self) -> ConnectionHealth:
        uptime = None if self._connected_at is None else self._clock() - self._connected_at
        return ConnectionHealth(
            connected=self.connected,
            connects=self._connects,
            reconnects=self._reconnects,
            adapter_errors=self._adapter_errors,
            uptime_s=uptime,
            last_error=self._last_error,
        )

    async def send(self, frames: Frames) -> bool:
        """Send frames out of band (from another task); False when there is no open connection."""
        ws = self._ws
        if ws is None:
            return False
        for frame in frames:
            await ws.send(frame)
        return True

    def mark_established(self) -> None:
        """The adapter's word that this connection is fully up (connected and subscribed): the next failure,
        however soon it comes, waits the base delay again rather than a delay grown by earlier failures."""
        self._backoff.reset()

    async def close(self) -> None:
        self._stopping = True
        self._stop_event.set()
        ws = self._ws
        if ws is not None:
            await ws.close()

    async def run(self) -> None:
        """Connect, receive and reconnect until `close()`; raises `FatalConnectionError` on a fatal error."""
        while not self._stopping:
            error = await self._run_one_connection()
            if self._stopping:
                return
            assert error is not None
            if classify(error) is Verdict.FATAL:
                log.error("%s: fatal connection error, giving up: %r", self._name, error)
                raise FatalConnectionError(f"{self._name}: {error!r}") from error
            delay = self._backoff.next_delay()
            self._reconnects += 1
            self.backoff_delays.append(delay)
            del self.backoff_delays[:-BACKOFF_DELAYS_KEPT]
            log.warning("%s: connection lost (%r); reconnecting in %.2f s", self._name, error, delay)
            await self._sleep_unless_stopped(delay)

    # ---- one connection -----------------------------------------------------------------------------

    async def _run_one_connection(self) -> BaseException | None:
        error: BaseException | None = None
        opened_at: float | None = None
        self._frames_this_connection = 0
        try:
            url = self._adapter.url()
            async with self._connect(
                url,
                ping_interval=self._settings.ping_interval,
                ping_timeout=self._settings.ping_timeout,
                open_timeout=self._settings.open_timeout,
                close_timeout=self._settings.close_timeout,
                max_size=self._settings.max_frame_bytes,
                proxy=True if self._settings.use_env_proxy else None,
            ) as ws:
                opened_at = self._clock()
                self._ws = ws
                if self._stopping:  # close() came during the handshake
                    return None
                self._connected_at = opened_at
                self._connects += 1
                log.info("%s: connected to %s", self._name, url)
                for frame in await self._adapter.on_open(opened_at):
                    await ws.send(frame)
                await self._receive_loop(ws)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = exc
            self._last_error = repr(exc)
        finally:
            self._ws = None
            self._connected_at = None
            now = self._clock()
            try:
                self._adapter.on_close(error, now)
            except Exception:
                log.exception("%s: adapter on_close failed", self._name)
            if opened_at is not None and connection_was_healthy(
                now - opened_at, self._frames_this_connection, self._settings.healthy_after_s
            ):
                self._backoff.reset()
        return error

    async def _receive_loop(self, ws: ClientConnection) -> None:
        # One timer per stretch of frames, not one per frame: it is armed for the adapter's deadline and only
        # moved earlier; when it fires before the (since postponed) deadline it is simply re-armed. Replies
        # are sent outside the timer's scope, so a timer never cancels a send half-way.
        adapter = self._adapter
        clock = self._clock
        while True:
            deadline = adapter.next_deadline()
            now = clock()
            if deadline is not None and deadline <= now:
                for frame in await self._guarded_deadline(now):
                    await ws.send(frame)
                continue
            replies = None
            scope = asyncio.timeout(None if deadline is None else deadline - now)
            try:
                async with scope:
                    while not replies:
                        raw = await ws.recv()
                        replies = self._on_frame(raw)
                        due = adapter.next_deadline()
                        if due is not None and (deadline is None or due < deadline):
                            deadline = due
                            scope.reschedule(asyncio.get_running_loop().time() + max(0.0, due - clock()))
            except TimeoutError:
                if not scope.expired():
                    raise  # not our timer: a socket's own timeout
                continue  # the deadline is looked at again above: run it when it is due, else re-arm
            for frame in replies:
                await ws.send(frame)

    def _on_frame(self, raw: str | bytes) -> Frames | None:
        self._frames_this_connection += 1
        try:
            return self._adapter.on_frame(raw, self._clock())
        except RetryableError:
            raise
        except Exception:
            self._adapter_errors += 1
            log.exception("%s: frame handling failed; frame skipped", self._name)
            return None

    async def _guarded_deadline(self, now: float) -> Frames:
        try:
            return await self._adapter.on_deadline(now)
        except RetryableError:
            raise
        except Exception:
            self._adapter_errors += 1
            log.exception("%s: timer handling failed", self._name)
            return ()

    async def _sleep_unless_stopped(self, delay: float) -> None:
        sleeper = asyncio.ensure_future(self._sleep(delay))
        stopper = asyncio.ensure_future(self._stop_event.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, stopper):
                task.cancel()
