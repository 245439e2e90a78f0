"""Openers of the venues the daemon trades through (see ``lmm.venue.base``), and the ``--local`` run.

- ``open_lighter``: the live exchange, or the loopback simulator (``--sim``), over the real protocols: the
  venue is asked for the market and must confirm the account, key and public key before anything is signed;
  then the trading client (signer thread, nonce keeper, sender over the transaction socket or REST), the REST
  reader and the subscription manager.
- ``open_local``: the in-process local venue (``--local``, the venue tier of the tests, the backtester).
- ``open_paper``: the local venue whose book is the live market's (``--paper``); no credentials, no signer.
A failure the user can act on is a ``StartupError``.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

import aiohttp

from lmm.config.config import Config
from lmm.config.credentials import Credentials
from lmm.core.backoff import Backoff, BackoffPolicy
from lmm.daemon.recording import RecordOptions
from lmm.daemon.startup_checks import (
    EXIT_BAD_INPUT,
    NETWORK_ERRORS,
    StartupError,
    check_venue,
    describe_network_error,
    unreachable,
)
from lmm.venue.base import Venue
from lmm.venue.clock import SYSTEM_CLOCK, Clock, VirtualClock, virtual_time_loop
from lmm.venue.lighter.client import open_trading_client
from lmm.venue.lighter.market_info import MarketLookupError, UnknownMarketError, fetch_market
from lmm.venue.lighter.rest import TokenCache, VenueReader
from lmm.venue.lighter.tx_sender import WsTxTransport
from lmm.venue.local.live_market import LighterLiveMarket
from lmm.venue.local.mirror import BookMirror
from lmm.venue.local.venue import LocalVenue, LocalVenueParams
from lmm.venue.ws.manager import LighterWsManager, WsSettings
from sim.markets import MarketSpec

LOCAL_EPOCH_NS = 1_767_225_600 * 10**9  # 2026-01-01 00:00 UTC: where every --local run starts

log = logging.getLogger("lighter_mm.daemon")


async def open_lighter(config: Config, symbol: str, creds: Credentials, session: aiohttp.ClientSession,
                       clock: Clock = SYSTEM_CLOCK) -> Venue:
    endpoints = config.endpoints
    market = await check_venue(session, endpoints.lighter_base_url, symbol, creds)
    try:
        client = await open_trading_client(endpoints.lighter_base_url, endpoints.lighter_ws_url, creds,
                                           session=session)
    except NETWORK_ERRORS as exc:
        raise unreachable(endpoints.lighter_base_url, describe_network_error(exc)) from exc
    tokens = TokenCache(client.signer, wall=clock.wall)
    reader = VenueReader(session, endpoints.lighter_base_url, creds.account_index, tokens)
    streams = LighterWsManager(endpoints.lighter_ws_url, WsSettings.from_config(config.websocket),
                               token_provider=tokens.get, clock=clock.monotonic, wall_clock=clock.wall)

    async def close() -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(streams.close(), timeout=10)
        await client.close()

    tasks = {}
    if client.ws_transport is not None:
        transport = client.ws_transport
        tasks["tx-socket"] = lambda: keep_tx_socket(transport)
    return Venue("lighter", market, creds.account_index, streams, client.sender, reader, close, tasks)


async def keep_tx_socket(transport: WsTxTransport) -> None:
    """Reconnect the transaction socket when it drops (REST carries the sends meanwhile)."""
    backoff = Backoff(BackoffPolicy(base_delay=1.0, max_delay=60.0))  # reset by every successful connect
    delay = 1.0
    while True:
        await asyncio.sleep(delay)
        if transport.available():
            delay = 1.0
            continue
        try:
            await transport.connect()
            log.info("transaction socket reconnected")
            backoff.reset()
            delay = 1.0
        except Exception as exc:
            delay = backoff.next_delay()
            log.warning("transaction socket reconnect failed (%s); next try in %.1fs", exc, delay)


async def open_local(venue: LocalVenue, config: Config, symbol: str) -> Venue:
    """The in-process local venue (``--local``, the venue tier of the tests)."""
    try:
        return await venue.open(config, symbol)
    except UnknownMarketError as exc:
        raise StartupError(f"market error: {exc}", EXIT_BAD_INPUT) from None


async def open_paper(config: Config, symbol: str, session: aiohttp.ClientSession,
                     clock: Clock = SYSTEM_CLOCK) -> Venue:
    """``--paper``: the live market's public channels mirrored into the local venue, where the bot's orders
    rest and fill; the real Binance feed for the alpha. No credentials are read and nothing can be sent to the
    live venue: the local venue's sender only reaches the in-process engine."""
    endpoints, paper = config.endpoints, config.paper
    try:
        market = await fetch_market(session, endpoints.lighter_base_url, symbol)
    except UnknownMarketError as exc:
        raise StartupError(f"market error: {exc}", EXIT_BAD_INPUT) from None
    except (MarketLookupError, ValueError) as exc:
        raise unreachable(endpoints.lighter_base_url, str(exc)) from None
    except NETWORK_ERRORS as exc:
        raise unreachable(endpoints.lighter_base_url, describe_network_error(exc)) from None
    spec = MarketSpec(market_id=market.market_id, symbol=market.symbol, price_decimals=market.price_decimals,
                      size_decimals=market.size_decimals, min_base_amount=market.min_base_lots,
                      min_quote_amount=market.min_quote_micro_usd)
    public = LighterWsManager(endpoints.lighter_ws_url, WsSettings.from_config(config.websocket),
                              name="lighter-public", clock=clock.monotonic, wall_clock=clock.wall)

    async def mirror_live_market(venue: LocalVenue) -> None:
        mirror = BookMirror(venue.engine, market.market_id, paper.queue_model)
        live = LighterLiveMarket(public, market, mirror, clock.wall_ns)
        try:
            await live.run()
        finally:
            await live.close()

    params = LocalVenueParams(with_market=False, markets=(spec,), external_binance=True, tier=paper.tier,
                              collateral_usd=int(paper.collateral_usd), entry_latency_s=paper.entry_latency_ms / 1e3)
    log.info("paper trading %s: live public feeds from %s, orders to the local venue (%s, $%.0f, %g ms entry, "
             "%s queue)", market.symbol, endpoints.lighter_ws_url, paper.tier, paper.collateral_usd,
             paper.entry_latency_ms, paper.queue_model)
    venue = await LocalVenue(clock, params, driver=mirror_live_market).open(config, symbol)
    venue.name = "paper"
    return venue


def run_on_local_venue(config: Config, symbol: str, *, duration: float, seed: int = 1,
                       metrics: Any = None, flatten_on_exit: bool = False, fill_dir: Path | None = None,
                       record: RecordOptions | None = None, binance_tape: str | None = None) -> int:
    """``--local``: the daemon on the local venue on a virtual clock; ``duration`` seconds of market time run
    as fast as the machine allows, from ``LOCAL_EPOCH_NS`` (a fixed start: the venue's minute and day
    boundaries fall at the same virtual instants every run, so a seed gives the same run). Returns the exit
    status."""
    from lmm.daemon.run import run_daemon  # run imports this module

    clock = VirtualClock(wall_epoch_ns=LOCAL_EPOCH_NS)
    loop = virtual_time_loop(clock)
    venue = LocalVenue(clock, LocalVenueParams(seed=seed, binance_tape=binance_tape))

    async def main() -> int:
        return await run_daemon(config, symbol, None, duration=duration, stop=asyncio.Event(), metrics=metrics,
                                flatten_on_exit=flatten_on_exit, clock=clock, fill_dir=fill_dir, record=record,
                                venue=lambda session: open_local(venue, config, symbol))

    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()
