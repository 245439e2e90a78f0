# Binance USD-M futures OBI alpha: a synced local book of the quoted asset, sampled on a fixed clock.
# Rules (binance-depth.md §4, §8; strategy-model.md §5.3-5.4):
# - diff depth `<symbol>@depth@100ms` on the routed `/public` combined-stream URL; the sync procedure is
#   `binance_book.BinanceDepthSync`; snapshots are paced by `binance_snapshot.SnapshotPacer`;
# - one receive loop (ws_connection) and one snapshot worker; the receive path only decodes (typed msgspec
#   struct) and applies. The feed keeps no clock of its own: whoever owns the fixed clock (the daemon's
#   `sampler.run_fixed_clock`) calls `sample()` once per step, so the z-score window spans its configured time;
# - every reconnect runs a full resync; a silent stream beyond `recv_timeout` forces a reconnect; the first
#   depth event of the symbol on a connection resets the reconnect backoff;
# - each sample pushes S_bid - S_ask (base units, band of §5.3) into
#   RollingStats only while the book is synced, uncrossed and fresh; stale periods append nothing; the
#   window is reset on every (re)sync when `reset_stats_on_resync` (the conservative default of §8.3);
# - `alpha(now_ns)` is (z, sample_ns) or None: stale last event (> stale_seconds), unsynced or crossed
#   book, old sample, or fewer than `min_samples` samples;
# - with a recorder (`--record`, `tape.bot_recorder.BinanceTap`) every frame, snapshot body, connection and
#   lost sync is handed to it as well: one call each, never in the way of the sync;
# - with a `BinanceWire` (the local venue's in-process Binance market) the stream's connection and the
#   depth snapshot go through the wire instead of a socket and an HTTP session; the rest is the same code.
from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp
import msgspec

from lmm.book.binance_depth import BinanceDepthSync, DepthEvent, SyncAction
from lmm.book.lighter_book import SideFactory
from lmm.config.config import DEFAULTS
from lmm.core.backoff import BackoffPolicy
from lmm.venue.binance.market import BinanceMarket, binance_symbol, market_for
from lmm.venue.binance.snapshot import (
    FetchedSnapshot,
    PacerSettings,
    SnapshotError,
    SnapshotPacer,
    fetch_snapshot,
)
from lmm.venue.ws.connection import ConnectFactory, ConnectionSettings, Frames, ReconnectingWebSocket, Sleep
from lmm.venue.ws.reconnect import WatchdogTimeout

if TYPE_CHECKING:
    from lmm.venue.tape.bot_recorder import BinanceTap

log = logging.getLogger(__name__)

ClockNs = Callable[[], int]
SnapshotFetch = Callable[[str, int], Awaitable[FetchedSnapshot]]  # (symbol, limit) -> snapshot or SnapshotError


@dataclass(frozen=True)
class BinanceWire:
    """An in-process route to a Binance market (the local venue's): a ``connect_factory`` for the combined
    stream and the depth-snapshot fetch, in place of a socket and an HTTP session. The URLs only name it."""

    connect_factory: ConnectFactory
    fetch_snapshot: SnapshotFetch
    ws_url: str
    rest_url: str

# ---- decoding --------------------------------------------------------------------------------------------


class _DepthData(msgspec.Struct):
    e: str
    E: int
    s: str
    U: int
    u: int
    pu: int
    b: list[tuple[str, str]]
    a: list[tuple[str, str]]


class _DepthFrame(msgspec.Struct):
    stream: str
    data: _DepthData


_depth_decoder = msgspec.json.Decoder(_DepthFrame)
_any_decoder = msgspec.json.Decoder()


def decode_depth_frame(raw: str | bytes) -> tuple[str, DepthEvent]:
    """(symbol, event) of a combined-stream depthUpdate frame; raises msgspec errors for anything else."""
    data = _depth_decoder.decode(raw).data
    return data.s, DepthEvent(data.U, data.u, data.pu, data.E, data.b, data.a)


# ---- settings and health ---------------------------------------------------------------------------------


class StatsLike(Protocol):
    def push(self, x: float) -> bool: ...
    def zscore(self, x: float) -> float: ...
    def ready(self, min_count: int) -> bool: ...
    def reset(self) -> None: ...
    @property
    def count(self) -> int: ...


def _default_stats_factory(capacity: int) -> StatsLike:
    from lmm.model.vol_obi import RollingStats

    return RollingStats(capacity)  # type: ignore[no-any-return]


def _recv_timeout(stale_seconds: float) -> float:
    """Silence that forces a reconnect; @depth@100ms on a liquid perp never idles."""
    return max(2 * stale_seconds, 1.0)


# The configuration schema holds these defaults once.
_ALPHA, _WS = DEFAULTS["alpha"], DEFAULTS["websocket"]


@dataclass(frozen=True)
class BinanceFeedSettings:
    market: BinanceMarket
    ws_url: str  # base, e.g. wss://fstream.binance.com
    rest_url: str  # base, e.g. https://fapi.binance.com
    looking_depth: float = _ALPHA["looking_depth"]
    window_size: int = _ALPHA["window_size"]
    min_samples: int = _ALPHA["min_samples"]
    stale_seconds: float = _ALPHA["stale_seconds"]
    recv_timeout: float = _recv_timeout(_ALPHA["stale_seconds"])
    reset_stats_on_resync: bool = True
    stream_suffix: str = "@depth@100ms"
    ping_interval: float = float(_WS["ping_interval"])
    reconnect: BackoffPolicy = field(
        default_factory=lambda: BackoffPolicy(float(_WS["reconnect_base_delay"]), float(_WS["reconnect_max_delay"])))
    healthy_after_s: float = 10.0
    pacer: PacerSettings = field(default_factory=PacerSettings)

    @classmethod
    def from_config(cls, config: Any, lighter_symbol: str, **overrides: Any) -> BinanceFeedSettings | None:
        """From utils.Config; None when alpha.source is "none" or the symbol has no Binance perp.

        Symbols outside binance_market.KNOWN_MARKETS need `market=` (e.g. from binance_snapshot.fetch_market).
        """
        alpha = config.alpha
        symbol = binance_symbol(lighter_symbol, alpha.binance_symbol)
        if alpha.source == "none" or symbol is None:
            return None
        values: dict[str, Any] = {
            "market": overrides.pop("market", None) or market_for(symbol),
            "ws_url": config.endpoints.binance_ws_url,
            "rest_url": config.endpoints.binance_rest_url,
            "looking_depth": alpha.looking_depth,
            "window_size": alpha.window_size,
            "min_samples": alpha.min_samples,
            "stale_seconds": alpha.stale_seconds,
            "recv_timeout": _recv_timeout(alpha.stale_seconds),
            "ping_interval": config.websocket.ping_interval,
            "reconnect": BackoffPolicy(config.websocket.reconnect_base_delay, config.websocket.reconnect_max_delay),
        }
        values.update(overrides)
        return cls(**values)

    def stream_url(self) -> str:
        stream = f"{self.market.symbol.lower()}{self.stream_suffix}"
        return f"{self.ws_url.rstrip('/')}/public/stream?streams={stream}"


@dataclass(frozen=True)
class BinanceFeedHealth:
    connected: bool
    synced: bool
    crossed: bool
    warm: bool
    last_event_age_s: float | None
    reconnects: int
    resyncs: int
    gaps: int
    snapshots_requested: int
    snapshot_failures: int
    snapshots_too_old: int
    bad_frames: int
    error_frames: int
    replayed_events: int
    samples: int
    last_update_id: int | None
    coverage: tuple[float, float] | None  # (bid, ask) reach of the last snapshot, fraction of mid


@dataclass
class _FeedCounters:
    bad_frames: int = 0
    control_frames: int = 0
    error_frames: int = 0
    foreign_symbol: int = 0
    snapshots_requested: int = 0
    snapshot_failures: int = 0
    samples: int = 0
    skipped_samples: int = 0


# ---- the feed --------------------------------------------------------------------------------------------


class BinanceObiFeed:
    def __init__(
        self,
        settings: BinanceFeedSettings,
        *,
        session: aiohttp.ClientSession | None = None,
        stats_factory: Callable[[int], StatsLike] = _default_stats_factory,
        side_factory: SideFactory | None = None,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
        clock_ns: ClockNs = time.monotonic_ns,
        wall_clock: Callable[[], float] = time.time,
        recorder: BinanceTap | None = None,
        wire: BinanceWire | None = None,
    ) -> None:
        if wire is not None:
            settings = dataclasses.replace(settings, ws_url=wire.ws_url, rest_url=wire.rest_url)
        self.settings = settings
        self._wire = wire
        self._recorder = recorder
        market = settings.market
        self.sync = BinanceDepthSync(market.price_decimals, market.size_decimals, side_factory)
        self._size_scale = 10**market.size_decimals
        self._stale_ns = int(settings.stale_seconds * 1e9)
        self._stats = stats_factory(settings.window_size)
        self._session = session
        self._sleep = sleep
        self._clock_ns = clock_ns
        self._wall_clock = wall_clock
        rng = rng or random.Random()
        self._pacer = SnapshotPacer(settings.pacer, random.Random(rng.random()))
        self._conn = ReconnectingWebSocket(
            self,
            ConnectionSettings(
                backoff=settings.reconnect,
                ping_interval=settings.ping_interval,
                ping_timeout=settings.ping_interval,
                healthy_after_s=settings.healthy_after_s,
            ),
            name=f"binance-{market.symbol}",
            rng=rng,
            sleep=sleep,
            clock=lambda: clock_ns() / 1e9,
            **({} if wire is None else {"connect_factory": wire.connect_factory}),
        )
        self._snapshot_wanted = asyncio.Event()
        self._counters = _FeedCounters()
        self._last_frame_s = 0.0
        self._established = False  # a depth event of the symbol came on this connection
        self._last_event_ns: int | None = None
        self._last_sample: tuple[float, int] | None = None

    # ---- public -------------------------------------------------------------------------------------

    def alpha(self, now_ns: int | None = None) -> tuple[float, int] | None:
        """(z-score, sample time ns) of the latest OBI sample, or None while the signal is not usable."""
        now = self._clock_ns() if now_ns is None else now_ns
        sample = self._last_sample
        if sample is None or not self._fresh(now) or now - sample[1] > self._stale_ns:
            return None
        if not self._stats.ready(self.settings.min_samples):
            return None
        return sample

    def sample(self, now_ns: int) -> bool:
        """Take one OBI sample (the fixed clock calls this once per step); False when skipped."""
        if not self._fresh(now_ns):
            self._counters.skipped_samples += 1
            return False
        lots = self.sync.imbalance_lots(self.settings.looking_depth)
        if lots is None:
            self._counters.skipped_samples += 1
            return False
        x = lots / self._size_scale
        if not self._stats.push(x):
            return False
        self._last_sample = (self._stats.zscore(x), now_ns)
        self._counters.samples += 1
        return True

    def health(self) -> BinanceFeedHealth:
        now = self._clock_ns()
        counters, sync_counters = self._counters, self.sync.counters
        report = self.sync.last_report
        age = None if self._last_event_ns is None else (now - self._last_event_ns) / 1e9
        return BinanceFeedHealth(
            connected=self._conn.connected,
            synced=self.sync.synced,
            crossed=self.sync.crossed,
            warm=self._stats.ready(self.settings.min_samples),
            last_event_age_s=age,
            reconnects=self._conn.health().reconnects,
            resyncs=sync_counters.resyncs,
            gaps=sync_counters.gaps,
            snapshots_requested=counters.snapshots_requested,
            snapshot_failures=counters.snapshot_failures,
            snapshots_too_old=sync_counters.snapshots_too_old,
            bad_frames=counters.bad_frames,
            error_frames=counters.error_frames,
            replayed_events=sync_counters.replayed_events,
            samples=counters.samples,
            last_update_id=self.sync.last_final_id,
            coverage=None if report is None else (report.bid_coverage, report.ask_coverage),
        )

    @property
    def backoff_delays(self) -> list[float]:
        return self._conn.backoff_delays

    async def run(self) -> None:
        """Run the socket and the snapshot worker until `close()`; a crash of either stops both.

        Sampling is not started here: the owner of the fixed clock calls `sample()` once per step.
        """
        session: aiohttp.ClientSession | None = None
        if self._wire is not None:
            fetch = self._wire.fetch_snapshot
        else:
            session = self._session or aiohttp.ClientSession()
            fetch = self._http_fetch(session)
        tasks = [
            asyncio.create_task(self._conn.run(), name="binance-ws"),
            asyncio.create_task(self._snapshot_worker(fetch), name="binance-snapshots"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if session is not None and self._session is None:
                await session.close()

    async def close(self) -> None:
        await self._conn.close()

    # ---- ConnectionAdapter --------------------------------------------------------------------------

    def url(self) -> str:
        return self.settings.stream_url()

    async def on_open(self, now: float) -> Frames:
        self._last_frame_s = now
        self._established = False
        if self._recorder is not None:
            self._recorder.connect(self.url())
        self._restart("new connection")
        return ()

    def on_frame(self, raw: str | bytes, now: float) -> Frames | None:
        self._last_frame_s = now
        try:
            symbol, event = decode_depth_frame(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            if self._recorder is not None:
                self._recorder.other(raw)
            self._on_other_frame(raw)
            return None
        recorder = self._recorder
        if symbol != self.settings.market.symbol:
            self._counters.foreign_symbol += 1
            if recorder is not None:
                recorder.other(raw)
            return None
        self._last_event_ns = self._clock_ns()
        if not self._established:  # the stream is subscribed and flowing: the next drop backs off from the base
            self._established = True
            self._conn.mark_established()
        if recorder is None:
            self._act(self.sync.feed(event))
            return None
        recorder.depth(raw, event.final_id, event.prev_final_id)
        was_synced = self.sync.synced
        self._act(self.sync.feed(event))
        if was_synced and not self.sync.synced:
            recorder.book_lost()
        return None

    def next_deadline(self) -> float:
        return self._last_frame_s + self.settings.recv_timeout

    async def on_deadline(self, now: float) -> Frames:
        silent = now - self._last_frame_s
        if silent >= self.settings.recv_timeout:
            raise WatchdogTimeout(f"binance {self.settings.market.symbol}: no frame for {silent:.1f} s")
        return ()

    def on_close(self, error: BaseException | None, now: float) -> None:
        if self._recorder is not None:
            self._recorder.disconnect(error)
        self.sync.reset()

    # ---- internals ----------------------------------------------------------------------------------

    def _fresh(self, now_ns: int) -> bool:
        last = self._last_event_ns
        sync = self.sync
        return last is not None and now_ns - last <= self._stale_ns and sync.synced and not sync.crossed

    def _restart(self, reason: str) -> None:
        self.sync.reset()
        self._stats.reset()
        self._last_sample = None
        log.info("binance %s: full resync (%s)", self.settings.market.symbol, reason)

    def _on_other_frame(self, raw: str | bytes) -> None:
        try:
            msg = _any_decoder.decode(raw)
        except msgspec.DecodeError:
            msg = None
        if isinstance(msg, dict) and "result" in msg and "id" in msg:
            self._counters.control_frames += 1
            return
        if isinstance(msg, dict) and "code" in msg:
            self._counters.error_frames += 1
            log.warning("binance %s: error frame %.300r", self.settings.market.symbol, raw)
            return
        self._counters.bad_frames += 1
        log.warning("binance %s: unusable frame skipped: %.200r", self.settings.market.symbol, raw)

    def _act(self, action: SyncAction) -> None:
        if action is SyncAction.FETCH_SNAPSHOT:
            self._snapshot_wanted.set()
        elif action is SyncAction.SYNCED:
            self._on_synced()

    def _on_synced(self) -> None:
        report = self.sync.last_report
        settings = self.settings
        if settings.reset_stats_on_resync:
            self._stats.reset()
            self._last_sample = None
        if report is None:
            return
        log.info(
            "binance %s: synced at L=%d; snapshot %d bid / %d ask levels; coverage bid %.4f ask %.4f "
            "(band %.4f); %d deep levels retained",
            settings.market.symbol, report.last_update_id, report.snapshot_bid_levels,
            report.snapshot_ask_levels, report.bid_coverage, report.ask_coverage, settings.looking_depth,
            report.retained_deep_levels,
        )
        if min(report.bid_coverage, report.ask_coverage) < settings.looking_depth:
            log.warning(
                "binance %s: snapshot covers less than the %.4f band (bid %.4f, ask %.4f): OBI biased low",
                settings.market.symbol, settings.looking_depth, report.bid_coverage, report.ask_coverage,
            )

    def _http_fetch(self, session: aiohttp.ClientSession) -> SnapshotFetch:
        rest_url = self.settings.rest_url

        def fetch(symbol: str, limit: int) -> Awaitable[FetchedSnapshot]:
            return fetch_snapshot(session, rest_url, symbol, limit)

        return fetch

    async def _snapshot_worker(self, fetch: SnapshotFetch) -> None:
        settings = self.settings
        while True:
            await self._snapshot_wanted.wait()
            self._snapshot_wanted.clear()
            delay = self._pacer.delay(self._now_s())
            if delay > 0:
                await self._sleep(delay)
            if self.sync.synced:
                continue
            self._pacer.on_request(self._now_s())
            self._counters.snapshots_requested += 1
            recorder = self._recorder
            request_ns = None if recorder is None else recorder.snapshot_request(
                f"{settings.rest_url.rstrip('/')}/fapi/v1/depth", settings.pacer.limit)
            try:
                fetched = await fetch(settings.market.symbol, settings.pacer.limit)
            except SnapshotError as exc:
                if recorder is not None:
                    recorder.snapshot_failed(str(exc))
                self._counters.snapshot_failures += 1
                self._pacer.on_failure(self._now_s(), exc.retry_after_s)
                log.warning("binance %s: %s", settings.market.symbol, exc)
                self._act(self.sync.on_snapshot_failed())
                continue
            if recorder is not None:
                recorder.snapshot(fetched.body, request_ns, settings.pacer.limit)
            self._pacer.on_reported_weight(self._now_s(), fetched.used_weight, self._wall_clock())
            action = self.sync.on_snapshot(fetched.snapshot)
            if action is SyncAction.SYNCED:
                self._pacer.on_success()
            elif action is SyncAction.FETCH_SNAPSHOT:
                self._pacer.on_failure(self._now_s())
            self._act(action)

    def _now_s(self) -> float:
        return self._clock_ns() / 1e9
