"""Record the market to a tape: `python record.py --symbol BTC [--out DIR] [--duration S] [--sim]`.

Lighter `order_book/{m}` and `trade/{m}`, Binance futures diff depth, bookTicker and trades, and every
REST snapshot taken to (re)sync, with local receive times in ns; reconnects and resyncs as events.
Endpoints and the symbol mapping come from the configuration exactly as for the bot (see README,
"Record and inspect"; format: docs/tape.md). Exit status: 0 after the duration or a signal, 1 when a
feed failed for good, 2 for a bad configuration or command line.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path

from lmm.config.config import ConfigError, exit_on_config_error, load_config


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="record.py", description=__doc__.splitlines()[0])
    parser.add_argument("--symbol", default="BTC", help="Lighter market symbol (default: BTC)")
    parser.add_argument("--out", help="new tape directory (default: tapes/<SYMBOL>-<UTC start time>)")
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")
    parser.add_argument("--sim", action="store_true", help="record the built-in simulator (as the bot's --sim)")
    parser.add_argument("--sim-seed", type=int, default=1, help="simulator random seed (default: 1)")
    parser.add_argument("--config", help="config file (default: config.json next to the program)")
    parser.add_argument("--flush-seconds", type=float, default=2.0,
                        help="write buffered frames this often; a kill -9 loses at most this much (default 2)")
    parser.add_argument("--depth-stream", default="@depth@100ms",
                        help="Binance diff-depth stream suffix (default: the bot's @depth@100ms)")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    args = parser.parse_args(argv)
    if args.duration is not None and args.duration <= 0:
        parser.error("--duration must be positive")
    if not 0.05 <= args.flush_seconds <= 600:
        parser.error("--flush-seconds must be in [0.05, 600]")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        config = load_config(args.config)
    except ConfigError as error:
        exit_on_config_error(error)
    from lmm.venue.tape.recorder import RecordOptions, record

    started = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = Path(args.out) if args.out else Path("tapes") / f"{args.symbol.upper()}-{started}"
    options = RecordOptions(args.symbol, out, args.duration, args.sim, args.sim_seed, args.flush_seconds,
                            args.depth_stream)
    try:
        return asyncio.run(record(config, options))
    except FileExistsError as exc:
        print(f"record: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
