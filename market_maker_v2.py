"""lighter-mm: a two-sided market maker for Lighter perpetual futures.

    python -u market_maker_v2.py --symbol BTC            # live when .env has credentials, else simulator
    python -u market_maker_v2.py --symbol BTC --sim --duration 120

Thin entry point: parses the command line, sets up logging, picks the mode (live or simulator), then runs
the daemon (``daemon.py``). Exit status: 0 after a requested stop (signal or --duration), 1 on a fatal
error, 2 on a configuration or credential error.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from dataclasses import replace

from logging_config import setup_logging
from utils import (
    Config,
    ConfigError,
    Credentials,
    credentials_present,
    exit_on_config_error,
    load_config,
    load_credentials,
    load_dotenv_file,
)

log = logging.getLogger("lighter_mm")

SIM_WARMUP_SECONDS = 15.0
SIM_ALPHA_MIN_SAMPLES = 100


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="market_maker_v2.py",
        description="Two-sided market maker for a Lighter perp: volatility spread, Binance order-book-imbalance "
                    "alpha, inventory skew. Without credentials in .env it runs against the built-in simulator.",
    )
    parser.add_argument("--symbol", default="BTC", help="Lighter market symbol to quote (default: BTC)")
    parser.add_argument("--config", help="config file (default: config.json next to this program)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--sim", action="store_true",
                      help="run against the built-in loopback simulator (default when .env has no credentials)")
    mode.add_argument("--live", action="store_true",
                      help="trade on the configured Lighter endpoints with the .env credentials (default when "
                           "they are present)")
    parser.add_argument("--duration", type=float, metavar="SECONDS",
                        help="stop cleanly (cancelling every order) after this many seconds")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="console log level (the file under logs/ always gets DEBUG)")
    parser.add_argument("--log-dir", default="logs", help="directory of the rotating log file (default: logs)")
    parser.add_argument("--metrics-port", type=int, metavar="PORT",
                        help="serve Prometheus metrics on this port (127.0.0.1)")
    parser.add_argument("--flatten-on-exit", action="store_true",
                        help="after cancelling the orders at exit, close the position with reduce-only IOC orders "
                             "(slippage 0.5%% of price; off by default)")
    parser.add_argument("--sim-seed", type=int, default=1, help="simulator random seed (default: 1)")
    args = parser.parse_args(argv)
    if args.duration is not None and args.duration <= 0:
        parser.error("--duration must be positive")
    return args


def sim_overrides(config: Config) -> Config:
    """Shorter warm-up so the simulator shows quotes within a minute; everything else unchanged."""
    vol = replace(config.vol_obi, warmup_seconds=min(config.vol_obi.warmup_seconds, SIM_WARMUP_SECONDS))
    alpha = replace(config.alpha, min_samples=min(config.alpha.min_samples, SIM_ALPHA_MIN_SAMPLES))
    return replace(config, vol_obi=vol, alpha=alpha)


async def _main(args: argparse.Namespace, config: Config, creds: Credentials | None) -> int:
    from daemon import run_daemon

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sim = None
    try:
        if creds is None:
            from sim_mode import start_sim_for_bot

            sim, config, creds = await start_sim_for_bot(config, args.symbol, args.sim_seed)
        metrics = None
        if args.metrics_port:
            from metrics import start_metrics_server

            metrics = start_metrics_server(args.metrics_port)
        status = await run_daemon(config, args.symbol, creds, duration=args.duration, stop=stop,
                                  metrics=metrics, flatten_on_exit=args.flatten_on_exit)
        return status
    finally:
        if sim is not None:
            await sim.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_dotenv_file()
    try:
        config = load_config(args.config)
        live = args.live or (not args.sim and credentials_present())
        creds = load_credentials() if live else None
    except ConfigError as error:
        exit_on_config_error(error)
    handle = setup_logging(args.log_level, args.log_dir, secrets=[creds.private_key] if creds else [])
    try:
        for warning in config.warnings:
            log.warning("config: %s", warning)
        if live:
            log.warning("=== LIVE MODE: trading %s on %s with account %d ===", args.symbol,
                        config.endpoints.lighter_base_url, creds.account_index)
        else:
            config = sim_overrides(config)
            log.info("=== SIMULATOR MODE: no credentials in use; a local simulated exchange is started ===")
        try:
            return asyncio.run(_main(args, config, creds))
        except KeyboardInterrupt:
            return 0
        except Exception:
            log.critical("fatal error", exc_info=True)
            return 1
    finally:
        handle.stop()


if __name__ == "__main__":
    sys.exit(main())
