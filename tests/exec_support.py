"""Helpers for the execution tests against the simulator (no tests here).

Rules: the simulator runs on its own thread; blocking control-API calls are made through
``asyncio.to_thread`` so the test's loop keeps reading the sockets meanwhile. Every wait polls a
condition with a generous deadline; nothing relies on a fixed sleep.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

import lmm.daemon.run as daemon
from lmm.config.config import Config, load_config
from lmm.config.credentials import Credentials
from lmm.core.market import MarketInfo
from lmm.venue.lighter.market_info import fetch_market
from lmm.venue.lighter.signing import Signer
from lmm.venue.lighter.tx_sender import NonceKeeper, RestTransport, Transport, TxSender, WsTxTransport
from sim.testing import SimAccount, SimHandle

WAIT_S = 20.0
BTC = 1


async def wait_until(predicate: Callable[[], bool | Awaitable[bool]], what: str, timeout_s: float = WAIT_S,
                     poll_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if not isinstance(value, bool):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        await asyncio.sleep(poll_s)


async def sim_orders(sim: SimHandle, account: SimAccount) -> list[dict[str, Any]]:
    return await asyncio.to_thread(sim.orders, account.account_index)


async def exchange_nonce(session: aiohttp.ClientSession, sim: SimHandle, account: SimAccount) -> int:
    async with session.get(f"{sim.lighter_url}/api/v1/nextNonce",
                           params={"account_index": str(account.account_index),
                                   "api_key_index": str(account.api_key_index)}) as resp:
        return int((await resp.json(content_type=None))["nonce"])


@dataclass
class Trader:
    """A real signer + nonce keeper + TxSender on one account, as lighter_client builds them."""

    session: aiohttp.ClientSession
    signer: Signer
    nonces: NonceKeeper
    sender: TxSender
    ws: WsTxTransport | None
    market: MarketInfo


@contextlib.asynccontextmanager
async def open_trader(sim: SimHandle, account: SimAccount, *, use_ws: bool = True,
                      timeout_s: float = 2.0) -> AsyncIterator[Trader]:
    session = aiohttp.ClientSession()
    signer = Signer(sim.lighter_url, account.account_index, account.api_key_index, account.private_key)
    ws: WsTxTransport | None = None
    try:
        market = await fetch_market(session, sim.lighter_url, "BTC")
        nonces = NonceKeeper(session, sim.lighter_url, account.account_index, account.api_key_index)
        transports: list[Transport] = []
        if use_ws:
            ws = WsTxTransport(sim.lighter_ws_url)
            await ws.connect()
            transports.append(ws)
        transports.append(RestTransport(session, sim.lighter_url))
        sender = TxSender(signer, nonces, transports, timeout=timeout_s)
        await nonces.hard_refresh()
        yield Trader(session, signer, nonces, sender, ws, market)
    finally:
        if ws is not None:
            await ws.close()
        await signer.close()
        await session.close()


def credentials(account: SimAccount) -> Credentials:
    return Credentials(account.private_key, account.public_key, account.api_key_index, account.account_index)


def bot_config(sim: SimHandle, tmp_path: Path, **sections: dict[str, Any]) -> Config:
    """A config pointed at the simulator: short warm-up, short safety timers, no Binance alpha, no kill switch."""
    data: dict[str, dict[str, Any]] = {
        "vol_obi": {"window_steps": 200, "step_ns": 50_000_000, "min_warmup_samples": 10, "warmup_seconds": 0},
        "alpha": {"source": "none", "window_size": 200, "min_samples": 10},
        "performance": {"min_loop_interval": 0.1, "rate_limit_send_interval": 0.05},
        "safety": {"stale_order_poller_interval_sec": 0.5, "circuit_breaker_cooldown_sec": 1.0,
                   "order_reconcile_timeout_sec": 2.0, "max_consecutive_order_rejections": 3},
        "endpoints": {"lighter_base_url": sim.lighter_url, "lighter_ws_url": sim.lighter_ws_url,
                      "binance_rest_url": sim.binance_rest_url or "http://127.0.0.1:9",
                      "binance_ws_url": sim.binance_ws_url or "ws://127.0.0.1:9"},
        # the kill switch off: these tests drive the position and the fill rate hard on purpose (sweeps);
        # a test of the kill switch passes its own "risk" section
        "risk": {"max_drawdown_usd": 0, "max_daily_loss_usd": 0, "max_position_usd": 0, "max_fills_per_minute": 0},
    }
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    return load_config(path, env={})


@contextlib.asynccontextmanager
async def started_runtime(config: Config, account: SimAccount) -> AsyncIterator[daemon.Runtime]:
    """The daemon's own start-up (market, nonce, account, leftover cancel, leverage) without its tasks;
    the daemon's shutdown path on exit, which must confirm that no order is left."""
    session = aiohttp.ClientSession()
    runtime = await daemon._start(config, "BTC", credentials(account), session)
    try:
        yield runtime
    except BaseException:
        await daemon._shutdown(runtime)
        raise
    assert await daemon._shutdown(runtime), "the shutdown did not confirm that no order was left"


@contextlib.asynccontextmanager
async def running_bot(runtime: daemon.Runtime) -> AsyncIterator[asyncio.Event]:
    """Run the daemon's supervised tasks (feeds, sampler, send loop, poller, ...) until the block ends."""
    stop = asyncio.Event()
    task = asyncio.create_task(daemon._supervise(runtime, stop, None), name="supervise")
    try:
        yield stop
    finally:
        stop.set()
        status = await asyncio.wait_for(task, 20)
        assert status == daemon.EXIT_OK, "a supervised task failed"
