"""The venue tier's harness: the whole daemon (start-up, supervised tasks, shutdown) on the in-process local
venue, on a virtual clock. No socket, no thread, no real waiting: a run of minutes takes a second or two, and
the same seed gives the same run."""
from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from lmm.config.config import Config, load_config
from lmm.core.intents import TxIntent
from lmm.daemon import run as daemon
from lmm.daemon.recording import RecordOptions
from lmm.daemon.run import run_daemon
from lmm.venue.clock import VirtualClock, virtual_time_loop
from lmm.venue.local.sending import UnsignedTxWriter
from lmm.venue.local.venue import API_KEY_INDEX, LocalVenue, LocalVenueParams

BTC = 1
LOT_BTC = 1e-5
EPOCH_NS = 1_767_225_600 * 10**9  # 2026-01-01 00:00 UTC: a fixed wall clock, so that runs repeat exactly

Scenario = Callable[[LocalVenue, VirtualClock], Awaitable[Any]]
T = TypeVar("T")


def venue_config(tmp_path: Path, **sections: dict[str, Any]) -> Config:
    """Short warm-up and safety timers (as the socket tiers use), no Binance alpha, the risk limits off (the
    tests that want them set them)."""
    data: dict[str, dict[str, Any]] = {
        "vol_obi": {"window_steps": 200, "step_ns": 50_000_000, "min_warmup_samples": 10, "warmup_seconds": 5},
        "alpha": {"source": "none", "window_size": 200, "min_samples": 10},
        "performance": {"min_loop_interval": 0.1, "rate_limit_send_interval": 0.05},
        "safety": {"stale_order_poller_interval_sec": 0.5, "circuit_breaker_cooldown_sec": 1.0,
                   "order_reconcile_timeout_sec": 2.0, "max_consecutive_order_rejections": 3},
        "risk": {"max_drawdown_usd": 0, "max_daily_loss_usd": 0, "max_position_usd": 0, "max_fills_per_minute": 0},
    }
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    return load_config(path, env={})


@dataclass
class LocalRun:
    status: int
    venue: LocalVenue
    clock: VirtualClock
    scenario_result: Any


def run_bot(config: Config, seconds: float, *, scenario: Scenario | None = None, seed: int = 1,
            fill_dir: Path | None = None, record: RecordOptions | None = None, symbol: str = "BTC",
            **venue_params: Any) -> LocalRun:
    """Run the daemon for ``seconds`` of virtual time; ``scenario(venue, clock)`` runs beside it (faults at
    chosen instants, observations of the venue) and its exceptions fail the run. ``fill_dir``: the fill
    history's directory (off when None); ``record``: the tape of ``--record``."""
    clock = VirtualClock(wall_epoch_ns=EPOCH_NS)
    loop = virtual_time_loop(clock)
    venue = LocalVenue(clock, LocalVenueParams(seed=seed, **venue_params))

    async def main() -> tuple[int, Any]:
        async def opener(session: Any) -> Any:
            return await venue.open(config, symbol)

        bot = asyncio.create_task(run_daemon(config, symbol, None, duration=seconds, stop=asyncio.Event(),
                                             venue=opener, clock=clock, fill_dir=fill_dir,
                                             record=record))
        watcher = asyncio.create_task(scenario(venue, clock)) if scenario is not None else None
        try:
            status = await bot
        finally:
            if watcher is not None and not watcher.done():
                watcher.cancel()
        result = None
        if watcher is not None:
            try:
                result = await watcher
            except asyncio.CancelledError:
                result = None
        return status, result

    try:
        status, result = loop.run_until_complete(main())
    finally:
        loop.close()
    return LocalRun(status, venue, clock, result)


async def sleep_until(clock: VirtualClock, seconds_from_start: float, start_ns: int) -> None:
    await asyncio.sleep(max(0.0, (start_ns + int(seconds_from_start * 1e9) - clock.monotonic_ns()) / 1e9))


def position_path(venue: LocalVenue) -> list[int]:
    """The bot's position after each of its fills, from the venue's own trade record (exact, not sampled)."""
    account = venue.account_index
    position, path = 0, []
    for trade in sorted(venue.engine.account_trades(account, n=1_000_000), key=lambda t: t.trade_id):
        if trade.market_id != BTC:
            continue
        position += trade.size if trade.bid_account_id == account else -trade.size
        path.append(position)
    return path


@dataclass
class LocalBot:
    """A white-box view of a running daemon on the local venue."""

    rt: daemon.Runtime
    venue: LocalVenue
    clock: VirtualClock

    async def wait_until(self, predicate: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
        """Poll every 10 ms of virtual time; fail after ``timeout_s`` of virtual time (deterministic)."""
        deadline = self.clock.monotonic() + timeout_s
        while not predicate():
            if self.clock.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s} s of virtual time waiting for {what}")
            await asyncio.sleep(0.01)


def with_local_bot(config: Config, body: Callable[[LocalBot], Awaitable[T]], *, seed: int = 1,
                   run_tasks: bool = True, prepare: Callable[[LocalVenue], Awaitable[Any]] | None = None,
                   **venue_params: Any) -> T:
    """The daemon's own start-up on the local venue, its supervised tasks while ``body`` runs (unless
    ``run_tasks`` is False), then its shutdown path, which must confirm that no order is left.
    ``prepare(venue)`` runs first, before the daemon starts (orders left on the account, a drained quota)."""
    clock = VirtualClock(wall_epoch_ns=EPOCH_NS)
    loop = virtual_time_loop(clock)
    venue = LocalVenue(clock, LocalVenueParams(seed=seed, **venue_params))

    async def main() -> T:
        if prepare is not None:
            await prepare(venue)
        rt = await daemon.start_on(config, await venue.open(config, "BTC"), clock=clock)
        stop = asyncio.Event()
        supervised = asyncio.create_task(daemon._supervise(rt, stop, None)) if run_tasks else None
        try:
            result = await body(LocalBot(rt, venue, clock))
        finally:
            stop.set()
            status = await supervised if supervised is not None else daemon.EXIT_OK
            clean = await daemon._shutdown(rt)
        assert status == daemon.EXIT_OK, "a supervised task failed"
        assert clean, "the shutdown did not confirm that no order was left"
        return result

    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def set_quota(venue: LocalVenue, remaining: int) -> None:
    """White box: set the account's premium volume quota on the venue's engine."""
    venue.engine._state.accounts[venue.account_index].limits.quota.remaining = remaining


async def send_as_account(venue: LocalVenue, intents: list[TxIntent]) -> list[int]:
    """Send transactions with the account's own key, outside the bot (a person, or another program, on the same
    account); one at a time, at the engine's expected nonce. Returns the HTTP statuses of the venue's answers."""
    writer = UnsignedTxWriter(venue.account_index, API_KEY_INDEX, venue.clock.wall_ms)
    statuses = []
    for intent in intents:
        nonce = venue.engine.next_nonce(venue.account_index, API_KEY_INDEX)
        [signed] = await writer.sign_batch([intent], nonce)
        reply = await venue.server.gateway.send_tx(signed.tx_type, signed.tx_info)
        statuses.append(reply.http_status)
    return statuses
