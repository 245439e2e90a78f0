"""lighter-mm: a two-sided market maker for Lighter perpetual futures.

    python -u market_maker_v2.py --symbol BTC            # live when .env has credentials, else simulator
    python -u market_maker_v2.py --symbol BTC --sim --duration 120
    python -u market_maker_v2.py --symbol BTC --local --duration 3600   # an hour of market in virtual time

Thin entry point: parses the command line, sets up logging, picks the mode (live or simulator), then runs
the daemon (``daemon.py``). Exit status (README, "Exit status"): 0 after a requested stop (signal or
--duration), 1 on a fatal error, 2 on a configuration, credential or command-line error, 3 when the venue
cannot be reached at start-up or when the kill switch trips (or has tripped: a start then refuses until
``--reset-kill-switch``), 4 when another process already uses the account's API key index. Every
start-up failure is one line on stderr, never a traceback (the log file keeps the details).
"""
from __future__ import annotations

import argparse
import asyncio
import errno
import functools
import logging
import math
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from lmm.config.config import Config, ConfigError, exit_on_config_error, load_config
from lmm.config.credentials import Credentials, credentials_present, load_credentials, load_dotenv_file
from lmm.daemon.kill_state import EXIT_KILL_SWITCH, RESET_COMMAND, clear, read_trip, refusal, state_path
from lmm.daemon.startup_checks import EXIT_BAD_INPUT, EXIT_FATAL, StartupError
from lmm.ops.logging_setup import setup_logging

if TYPE_CHECKING:
    from lmm.ops.metrics import Metrics

log = logging.getLogger("lighter_mm")

SIM_WARMUP_SECONDS = 15.0
SIM_ALPHA_MIN_SAMPLES = 100


class _OneLineParser(argparse.ArgumentParser):
    """A command-line mistake is one line on stderr (exit status 2), not a usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message} (see --help)\n")


def _duration(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, not {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive, finite number of seconds, not {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number in [1, 65535], not {text!r}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _OneLineParser(
        prog="market_maker_v2.py",
        description="Two-sided market maker for a Lighter perp: volatility spread, Binance order-book-imbalance "
                    "alpha, inventory skew. Without credentials in .env it runs against the built-in simulator.",
    )
    parser.add_argument("--symbol", default="BTC", help="Lighter market symbol to quote (default: BTC)")
    parser.add_argument("--config", help="config file (default: config.json next to this program)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--sim", action="store_true",
                      help="run against the built-in loopback simulator (default when .env has no credentials)")
    mode.add_argument("--local", action="store_true",
                      help="run on the in-process local venue (the simulator's matching engine and market, no "
                           "sockets) on a virtual clock: --duration seconds of market time run as fast as the "
                           "machine allows, then the summary (needs --duration)")
    mode.add_argument("--paper", action="store_true",
                      help="paper trading: the live public Lighter and Binance feeds at the configured endpoints, "
                           "orders filled by the in-process local venue against the live book and trades (config "
                           "section paper); no credentials are read and nothing is ever sent to the venue")
    mode.add_argument("--live", action="store_true",
                      help="trade on the configured Lighter endpoints with the .env credentials (default when "
                           "they are present)")
    parser.add_argument("--env-file", metavar="PATH",
                        help="credentials file (default: .env next to this program); variables already set in "
                             "the environment win")
    parser.add_argument("--duration", type=_duration, metavar="SECONDS",
                        help="stop cleanly (cancelling every order) after this many seconds")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="console log level (the file under logs/ always gets DEBUG)")
    parser.add_argument("--log-dir", default="logs", help="directory of the rotating log file (default: logs)")
    parser.add_argument("--metrics-port", type=_port, metavar="PORT",
                        help="serve Prometheus metrics on this port (127.0.0.1)")
    parser.add_argument("--flatten-on-exit", action="store_true",
                        help="after cancelling the orders at exit, close the position with reduce-only IOC orders "
                             "(slippage 0.5%% of price; off by default)")
    parser.add_argument("--sim-seed", type=int, default=1, help="simulator random seed (default: 1)")
    parser.add_argument("--binance-tape", metavar="TAPE",
                        help="with --local: the market is this recorded Binance tape (a tape directory or an "
                             "hftbacktest .gz file) replayed on the virtual clock, the Lighter market derived from "
                             "its mid (sim/README.md, 'Replay a real tape'); --symbol names the derived market")
    parser.add_argument("--record", metavar="DIR",
                        help="write a tape (docs/tape.md) of the market frames the bot receives and of what it "
                             "does (intents, outcomes, order reports, fills, model state) to this new directory")
    parser.add_argument("--reset-kill-switch", action="store_true",
                        help="clear a tripped kill switch (the state file in --log-dir) and exit; the next start "
                             "quotes again")
    args = parser.parse_args(argv)
    if args.binance_tape is not None and not args.local:
        parser.error("--binance-tape needs --local")
    if args.local and args.duration is None:
        parser.error("--local needs --duration (seconds of market time to run)")
    return args


def sim_overrides(config: Config) -> Config:
    """Shorter warm-up so the simulator shows quotes within a minute; everything else unchanged."""
    vol = replace(config.vol_obi, warmup_seconds=min(config.vol_obi.warmup_seconds, SIM_WARMUP_SECONDS))
    alpha = replace(config.alpha, min_samples=min(config.alpha.min_samples, SIM_ALPHA_MIN_SAMPLES))
    return replace(config, vol_obi=vol, alpha=alpha)


async def _main(args: argparse.Namespace, config: Config, creds: Credentials | None,
                metrics: Metrics | None) -> int:
    from lmm.daemon.fill_history import history_dir
    from lmm.daemon.run import run_daemon

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sim, venue = None, None
    try:
        if args.paper:
            from lmm.daemon.venues import open_paper

            venue = functools.partial(open_paper, config, args.symbol)  # the daemon calls it with its session
        elif creds is None:
            from lmm.venue.sim_mode import start_sim_for_bot

            sim, config, creds = await start_sim_for_bot(config, args.symbol, args.sim_seed)
        mode = "paper" if args.paper else "sim" if sim is not None else "live"
        record = None
        if args.record:
            from lmm.daemon.recording import RecordOptions

            record = RecordOptions(Path(args.record), mode=mode)
        kill_state = state_path(args.log_dir)
        status = await run_daemon(config, args.symbol, creds, duration=args.duration, stop=stop,
                                  metrics=metrics, flatten_on_exit=args.flatten_on_exit, record=record,
                                  kill_state=kill_state, venue=venue,
                                  fill_dir=history_dir(args.log_dir, mode))
        if status == EXIT_KILL_SWITCH and read_trip(kill_state) is not None:
            log.error("the kill switch stays tripped (%s): a start will not quote until `%s`", kill_state,
                      RESET_COMMAND)
        return status
    finally:
        if sim is not None:
            await sim.stop()


def _start_metrics(port: int | None) -> Metrics | None:
    if port is None:
        return None
    from lmm.ops.metrics import start_metrics_server

    try:
        return start_metrics_server(port)
    except OSError as exc:
        cause = "address already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or type(exc).__name__)
        raise StartupError(f"--metrics-port {port}: cannot listen on 127.0.0.1:{port}: {cause}",
                           EXIT_BAD_INPUT) from None


def _refuse(error: StartupError) -> int:
    """One line on stderr; the log file gets it too, with the traceback behind it if there is one."""
    log.error("start-up failed: %s", error, exc_info=error.__cause__ or error.__context__,
              extra={"console": False})
    print(str(error), file=sys.stderr, flush=True)
    return error.status


def _check_record_dir(directory: str | None) -> None:
    """--record must name a new tape: refused at once (one line, exit 2) rather than after start-up."""
    if directory is None:
        return
    from lmm.venue.tape.manifest import MANIFEST_NAME

    path = Path(directory)
    if (path / MANIFEST_NAME).exists():
        raise StartupError(f"--record {directory}: already holds a tape; choose another directory", EXIT_BAD_INPUT)
    if path.exists() and not path.is_dir():
        raise StartupError(f"--record {directory}: not a directory", EXIT_BAD_INPUT)


def _reset_kill_switch(log_dir: str) -> int:
    path = state_path(log_dir)
    record = clear(path)
    if record is None:
        print(f"kill switch: not tripped (no {path})", flush=True)
    else:
        print(f"kill switch reset: {path} removed (was {record.line}, {record.symbol}, {record.tripped_at})",
              flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.reset_kill_switch:
        return _reset_kill_switch(args.log_dir)
    try:
        _check_record_dir(args.record)
    except StartupError as error:
        print(str(error), file=sys.stderr, flush=True)
        return error.status
    try:
        dotenv_warning = load_dotenv_file(args.env_file)
    except ConfigError as error:
        exit_on_config_error(error)
    try:
        config = load_config(args.config)
        live = args.live or (not args.sim and not args.local and not args.paper and credentials_present())
        creds = load_credentials() if live else None
    except ConfigError as error:
        if dotenv_warning:
            print(f"warning: {dotenv_warning}", file=sys.stderr)
        exit_on_config_error(error)
    lock = None
    if creds is not None:
        from lmm.daemon.process_lock import acquire_process_lock

        try:  # before anything reaches the venue: a second process must not even cancel the first one's orders
            lock = acquire_process_lock(config.endpoints.lighter_base_url, creds.account_index,
                                        creds.api_key_index, args.symbol)
        except StartupError as error:
            print(str(error), file=sys.stderr, flush=True)
            return error.status
    handle = setup_logging(args.log_level, args.log_dir, secrets=[creds.private_key] if creds else [])
    try:
        if dotenv_warning:
            log.warning("%s", dotenv_warning)
        for warning in config.warnings:
            log.warning("config: %s", warning)
        tripped = read_trip(state_path(args.log_dir))
        if tripped is not None:  # before anything reaches the venue
            return _refuse(StartupError(refusal(state_path(args.log_dir), tripped), EXIT_KILL_SWITCH))
        if live:
            log.warning("=== LIVE MODE: trading %s on %s with account %d, API key index %d ===", args.symbol,
                        config.endpoints.lighter_base_url, creds.account_index, creds.api_key_index)
        elif args.paper:
            log.warning("=== PAPER MODE: %s from the live public feeds at %s; orders go to the in-process local "
                        "venue, nothing is sent to the exchange ===", args.symbol, config.endpoints.lighter_base_url)
        elif args.local:
            config = sim_overrides(config)
            log.info("=== LOCAL VENUE, VIRTUAL TIME: %.0f s of simulated market, no credentials, no sockets ===",
                     args.duration)
        else:
            config = sim_overrides(config)
            log.info("=== SIMULATOR MODE: no credentials in use; a local simulated exchange is started ===")
        try:
            metrics = _start_metrics(args.metrics_port)
            if args.local:
                from lmm.daemon.fill_history import history_dir
                from lmm.daemon.recording import RecordOptions
                from lmm.daemon.venues import run_on_local_venue

                record = None if args.record is None else RecordOptions(Path(args.record), mode="local")
                return run_on_local_venue(config, args.symbol, duration=args.duration, seed=args.sim_seed,
                                          metrics=metrics, flatten_on_exit=args.flatten_on_exit,
                                          fill_dir=history_dir(args.log_dir, "local"), record=record,
                                          binance_tape=args.binance_tape)
            return asyncio.run(_main(args, config, creds, metrics))
        except StartupError as error:
            return _refuse(error)
        except KeyboardInterrupt:
            return 0
        except Exception as exc:
            log.critical("fatal error: %s: %s", type(exc).__name__, exc, exc_info=True)
            return EXIT_FATAL
    finally:
        handle.stop()
        if lock is not None:
            lock.release()


if __name__ == "__main__":
    sys.exit(main())
