# python -m sim: run the Lighter and Binance simulators standalone until SIGINT/SIGTERM.
#
#   python -m sim --host 127.0.0.1 --lighter-port 8900 --binance-port 8901 --seed 7 --lighter-lag-ms 300
#   python -m sim --binance-tape ../shared/data/binance-usdm-ethusdt-20240808.gz --replay-speed 1
#   python -m sim --profile kind          # a shipped profile by name, or --profile path/to/profile.json
#
# Rules: the market comes from a profile (default: `default`, or $LMM_SIM_PROFILE); every scalar field of
# MarketParams is a --kebab-case option that overrides the profile's value when given; the base URLs are
# printed (one per line, "name url") once both servers listen; the exit is clean on either signal.
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import signal
import sys

from sim.market_params import MarketParams
from sim.market_profile import PROFILE_ENV, profile_market_params
from sim.replay import add_replay_arguments, replay_config_from_args
from sim.runner import SimConfig, Simulator

_SCALARS = (int, float, bool)


def _market_fields() -> list[dataclasses.Field[object]]:
    defaults = MarketParams()
    return [f for f in dataclasses.fields(MarketParams) if isinstance(getattr(defaults, f.name), _SCALARS)]


def parse_args(argv: list[str] | None = None) -> SimConfig:
    parser = argparse.ArgumentParser(prog="python -m sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--lighter-port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--binance-port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-market", action="store_true", help="no synthetic market (an empty Lighter book)")
    parser.add_argument("--no-binance", action="store_true", help="do not serve the Binance venue")
    parser.add_argument("--log-level", default="INFO")
    add_replay_arguments(parser)
    parser.add_argument("--profile", default=os.environ.get(PROFILE_ENV) or "default",
                        help="market profile: a name in sim/profiles (default, kind, eth_usdm_20240808, "
                             "btc_coinm_20240808) or a JSON file (sim.calibrate writes them)")
    market = parser.add_argument_group("market parameters over the profile (sim.market_params.MarketParams)")
    defaults = MarketParams()
    for field in _market_fields():
        default = getattr(defaults, field.name)
        market.add_argument(f"--{field.name.replace('_', '-')}", dest=f"market_{field.name}",
                            type=type(default), default=None, help=f"kind-market value {default}")
    args = parser.parse_args(argv)
    overrides = {f.name: getattr(args, f"market_{f.name}") for f in _market_fields()
                 if getattr(args, f"market_{f.name}") is not None}
    try:
        params = profile_market_params(args.profile, **overrides)
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    try:
        replay = replay_config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return SimConfig(host=args.host, lighter_port=args.lighter_port, binance_port=args.binance_port,
                     seed=args.seed, with_market=not args.no_market or replay is not None,
                     with_binance=not (args.no_binance or (args.no_market and replay is None)),
                     market_params=params, replay=replay)


async def serve(config: SimConfig) -> None:
    simulator = Simulator(config)
    await simulator.start()
    print(f"lighter_rest {simulator.lighter_url}", flush=True)
    print(f"lighter_ws {simulator.lighter_ws_url}", flush=True)
    if simulator.binance_rest_url is not None:
        print(f"binance_rest {simulator.binance_rest_url}", flush=True)
        print(f"binance_ws {simulator.binance_ws_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    watcher = None
    if config.replay is not None and config.replay.at_end == "exit":
        watcher = loop.create_task(_stop_when_the_tape_ends(simulator, stop))
    try:
        await stop.wait()
    finally:
        if watcher is not None:
            watcher.cancel()
        await simulator.stop()


async def _stop_when_the_tape_ends(simulator: Simulator, stop: asyncio.Event) -> None:
    while not simulator.market.finished:
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # the last batched diffs go out
    stop.set()


def main(argv: list[str] | None = None) -> int:
    asyncio.run(serve(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
