"""``--sim``: start the built-in simulator, open a funded account on it with a fresh API key, and point
every endpoint of the configuration at it. Everything after this is the live code path.

Rules: the simulator runs on its own event loop in a background thread (the SDK and the simulator never
share the bot's loop); the generated key exists only in memory for this run.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import aiohttp

from lmm.config.config import Config
from lmm.config.credentials import Credentials

log = logging.getLogger("lighter_mm.sim_mode")

SIM_API_KEY_INDEX = 25
SIM_COLLATERAL_USD = "10000"


class SimSession:
    def __init__(self, thread) -> None:
        self._thread = thread

    async def stop(self) -> None:
        await asyncio.to_thread(self._thread.stop)


async def start_sim_for_bot(config: Config, symbol: str, seed: int) -> tuple[SimSession, Config, Credentials]:
    import lighter

    from sim.runner import SimConfig, SimThread

    thread = SimThread(SimConfig(seed=seed))
    await asyncio.to_thread(thread.start)
    sim = thread.simulator
    private_key, public_key, error = lighter.create_api_key()
    if error is not None:
        await asyncio.to_thread(thread.stop)
        raise RuntimeError(f"could not generate an API key: {error}")
    body = {"public_key": public_key.lower().removeprefix("0x"), "api_key_index": SIM_API_KEY_INDEX,
            "collateral": SIM_COLLATERAL_USD, "tier": "premium"}
    async with aiohttp.ClientSession() as session, session.post(f"{sim.lighter_url}/__sim/accounts",
                                                                json=body) as resp:
        reply = await resp.json(content_type=None)
        if resp.status != 200:
            await asyncio.to_thread(thread.stop)
            raise RuntimeError(f"simulator refused the account: {reply}")
    endpoints = replace(config.endpoints, lighter_base_url=sim.lighter_url, lighter_ws_url=sim.lighter_ws_url,
                        binance_rest_url=sim.binance_rest_url or config.endpoints.binance_rest_url,
                        binance_ws_url=sim.binance_ws_url or config.endpoints.binance_ws_url)
    creds = Credentials(private_key, public_key, SIM_API_KEY_INDEX, int(reply["account_index"]))
    log.info("simulator up: lighter %s, binance %s; account %d funded with $%s (premium)", sim.lighter_url,
             sim.binance_rest_url, creds.account_index, SIM_COLLATERAL_USD)
    return SimSession(thread), replace(config, endpoints=endpoints), creds
