"""Recording Binance USD-M futures for one symbol: diff depth and bookTicker on `/public`, trades on
`/market`, and the REST depth snapshots taken to (re)sync, every frame raw.

Rules: the bot's own pieces decide when a snapshot is needed: diffs go through `binance_book`'s
`BinanceDepthSync` (the bot's sync state machine: buffering, straddle rule, pu chain, crossed book) and
requests are paced by `binance_snapshot.SnapshotPacer` (request weight, backoff, Retry-After). Each request
is recorded (`snapshot_request`), then the body as received with the request time and limit, or a
`snapshot_failed` event. A pu break records a `gap` and a `resync` (reason gap); a reconnect records a
`resync` (reason reconnect) and restarts the sync, as the bot does. bookTicker and trade frames are
appended unparsed (routed by the stream name at the head of the combined-stream frame).
"""
from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
import msgspec

from lmm.book.binance_depth import BinanceDepthSync, SyncAction
from lmm.venue.binance.market import BinanceMarket
from lmm.venue.binance.obi_feed import decode_depth_frame
from lmm.venue.binance.snapshot import PacerSettings, SnapshotError, SnapshotPacer, decode_snapshot
from lmm.venue.tape import schema as s
from lmm.venue.tape.writer import StreamBuffer, TapeWriter
from lmm.venue.ws.connection import Frames
from lmm.venue.ws.reconnect import WatchdogTimeout

_STREAM_PREFIX = '{"stream":"'


@dataclass(frozen=True)
class BinanceRecorderSettings:
    market: BinanceMarket
    ws_url: str
    rest_url: str
    depth_suffix: str = "@depth@100ms"  # the bot's stream (binance_obi.BinanceFeedSettings.stream_suffix)
    trade_streams: tuple[str, ...] = ("trade", "aggTrade")
    book_ticker: bool = True
    recv_timeout: float = 10.0  # the public streams of a liquid perp never idle that long
    trades_recv_timeout: float = 300.0  # trades may pause on a quiet market
    pacer: PacerSettings = field(default_factory=PacerSettings)

    @property
    def lower(self) -> str:
        return self.market.symbol.lower()

    def public_url(self) -> str:
        streams = [f"{self.lower}{self.depth_suffix}"] + ([f"{self.lower}@bookTicker"] if self.book_ticker else [])
        return f"{self.ws_url.rstrip('/')}/public/stream?streams={'/'.join(streams)}"

    def market_url(self) -> str:
        streams = "/".join(f"{self.lower}@{name}" for name in self.trade_streams)
        return f"{self.ws_url.rstrip('/')}/market/stream?streams={streams}"


class _Connection:
    """Shared ConnectionAdapter behaviour: stamps, routing by stream name, watchdog, connect events."""

    def __init__(self, owner: BinanceRecorder, name: str, url: str, recv_timeout: float) -> None:
        self._owner = owner
        self.name = name
        self._url = url
        self._recv_timeout = recv_timeout
        self._last_frame_at = 0.0
        self.connects = 0

    def url(self) -> str:
        return self._url

    async def on_open(self, now: float) -> Frames:
        self.connects += 1
        self._last_frame_at = now
        self._owner.on_connect(self.name, self.connects)
        return ()

    def on_frame(self, raw: str | bytes, now: float) -> Frames | None:
        self._last_frame_at = now
        self._owner.on_frame(raw)
        return None

    def next_deadline(self) -> float:
        return self._last_frame_at + self._recv_timeout

    async def on_deadline(self, now: float) -> Frames:
        if now - self._last_frame_at >= self._recv_timeout:
            raise WatchdogTimeout(f"binance {self.name}: no frame for {now - self._last_frame_at:.1f} s")
        return ()

    def on_close(self, error: BaseException | None, now: float) -> None:
        self._owner.on_disconnect(self.name, error)


class BinanceRecorder:
    def __init__(self, settings: BinanceRecorderSettings, writer: TapeWriter, clock_ns: Callable[[], int],
                 rng: random.Random | None = None) -> None:
        self.settings = settings
        market = settings.market
        self.symbol = market.symbol
        self._writer = writer
        self._clock_ns = clock_ns
        self.sync = BinanceDepthSync(market.price_decimals, market.size_decimals)
        self._pacer = SnapshotPacer(settings.pacer, rng or random.Random())
        self._snapshot_wanted = asyncio.Event()
        self._routes: dict[str, StreamBuffer] = {f"{settings.lower}{settings.depth_suffix}":
                                                 writer.stream(s.BINANCE_DEPTH, self.symbol)}
        self._routes[f"{settings.lower}@bookTicker"] = writer.stream(s.BINANCE_BOOK_TICKER, self.symbol)
        for name in settings.trade_streams:
            self._routes[f"{settings.lower}@{name}"] = writer.stream(s.BINANCE_TRADE, self.symbol)
        self._depth_stream = f"{settings.lower}{settings.depth_suffix}"
        self._snapshots = writer.stream(s.BINANCE_SNAPSHOT, self.symbol)
        self.public = _Connection(self, "public", settings.public_url(), settings.recv_timeout)
        self.market = _Connection(self, "market", settings.market_url(), settings.trades_recv_timeout)
        self._prev_u: int | None = None
        self.frames = 0
        self.gaps = 0
        self.snapshots = 0
        self.snapshot_failures = 0

    # ---- from the connections -------------------------------------------------------------------------

    def on_connect(self, name: str, attempt: int) -> None:
        url = self.public.url() if name == "public" else self.market.url()
        self._event(s.EV_CONNECT, name, {"url": url, "attempt": attempt})
        if name == "public":
            if attempt > 1:
                self._event(s.EV_RESYNC, self._depth_stream, {"reason": "reconnect"})
            self.sync.reset()
            self._prev_u = None

    def on_disconnect(self, name: str, error: BaseException | None) -> None:
        self._event(s.EV_DISCONNECT, name, {"error": None if error is None else repr(error)[:300]})
        if name == "public":
            self.sync.reset()

    def on_frame(self, raw: str | bytes) -> None:
        local_ns = self._clock_ns()
        self.frames += 1
        text = raw if type(raw) is str else bytes(raw).decode("utf-8", errors="replace")
        stream = text[len(_STREAM_PREFIX):text.find('"', len(_STREAM_PREFIX))] if text.startswith(
            _STREAM_PREFIX) else ""
        buffer = self._routes.get(stream)
        if buffer is None:
            self._writer.other("binance", stream or "ws", text, local_ns)
            return
        buffer.append(local_ns, text)
        if stream == self._depth_stream:
            self._on_depth(text)

    # ---- depth sync -----------------------------------------------------------------------------------

    def _on_depth(self, text: str) -> None:
        try:
            _, event = decode_depth_frame(text)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return  # kept raw; the writer files it under `other` with the reason
        previous = self._prev_u
        if previous is None or event.final_id > previous:  # an older event replayed is no chain step
            self._prev_u = event.final_id
        was_synced = self.sync.synced
        if previous is not None and event.prev_final_id != previous and event.final_id > previous:
            self.gaps += 1
            self._event(s.EV_GAP, self._depth_stream, {"expected": previous, "received": event.prev_final_id})
            self._event(s.EV_RESYNC, self._depth_stream, {"reason": "gap"})
        action = self.sync.feed(event)
        if was_synced and not self.sync.synced and previous is not None and event.prev_final_id == previous:
            self._event(s.EV_RESYNC, self._depth_stream, {"reason": "book"})  # crossed or malformed
        self._act(action)

    def _act(self, action: SyncAction) -> None:
        if action is SyncAction.FETCH_SNAPSHOT:
            self._snapshot_wanted.set()

    async def snapshot_worker(self, session: aiohttp.ClientSession) -> None:
        """Fetch the snapshots the sync asks for, paced like the bot's feed; record each one raw."""
        settings = self.settings
        limit = settings.pacer.limit
        url = f"{settings.rest_url.rstrip('/')}/fapi/v1/depth"
        while True:
            await self._snapshot_wanted.wait()
            self._snapshot_wanted.clear()
            delay = self._pacer.delay(time.monotonic())
            if delay > 0:
                await asyncio.sleep(delay)
            if self.sync.synced:
                continue
            self._pacer.on_request(time.monotonic())
            request_ns = self._clock_ns()
            self._event(s.EV_SNAPSHOT_REQUEST, "rest", {"url": url, "limit": limit})
            try:
                body, used_weight = await self._fetch(session, url, limit)
            except SnapshotError as exc:
                self.snapshot_failures += 1
                self._pacer.on_failure(time.monotonic(), exc.retry_after_s)
                self._event(s.EV_SNAPSHOT_FAILED, "rest", {"error": str(exc)[:300]})
                self._act(self.sync.on_snapshot_failed())
                continue
            self.snapshots += 1
            self._snapshots.append(self._clock_ns(), body, (request_ns, limit))
            self._pacer.on_reported_weight(time.monotonic(), used_weight, time.time())
            try:
                snapshot = decode_snapshot(body.encode(), limit)
            except SnapshotError:
                self._pacer.on_failure(time.monotonic())
                self._act(self.sync.on_snapshot_failed())
                continue
            action = self.sync.on_snapshot(snapshot)
            if action is SyncAction.SYNCED:
                self._pacer.on_success()
            elif action is SyncAction.FETCH_SNAPSHOT:
                self._pacer.on_failure(time.monotonic())
            self._act(action)

    async def _fetch(self, session: aiohttp.ClientSession, url: str, limit: int) -> tuple[str, int | None]:
        params = {"symbol": self.symbol, "limit": str(limit)}
        try:
            async with session.get(url, params=params, timeout=aiohttp.ClientTimeout(total=10)) as response:
                body = await response.text()
                weight = response.headers.get("X-MBX-USED-WEIGHT-1M")
                if response.status in (418, 429):
                    retry = response.headers.get("Retry-After")
                    raise SnapshotError(f"depth snapshot throttled: HTTP {response.status}",
                                        float(retry) if retry and retry.replace(".", "", 1).isdigit() else None)
                if response.status != 200:
                    raise SnapshotError(f"depth snapshot failed: HTTP {response.status}: {body[:200]!r}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SnapshotError(f"depth snapshot request failed: {exc!r}") from exc
        return body, int(weight) if weight and weight.isdigit() else None

    def _event(self, event: str, stream: str, detail: dict | None) -> None:
        self._writer.event("binance", self.symbol, event, stream, None if detail is None else json.dumps(detail),
                           local_ns=self._clock_ns())
