"""Backtest a configuration on a recorded market tape, with the bot's own decision code.

    python backtest.py --tape DIR [--config CFG] [--from T --to T] [--out REPORTDIR] [--venue lighter|binance]
    python backtest.py --tape DIR --sweep SWEEP.json [--workers N] [--dask ADDRESS|local] [--out DIR]

The tape is replayed in time order through the unchanged daemon on the local venue (virtual clock); the bot's
orders queue and fill against the recorded book and trades (docs/backtest.md). Prints the summary and writes
REPORTDIR/report.json, the plots (PNG) and REPORTDIR/report.html (self-contained). With --sweep, one backtest
per parameter set of SWEEP.json (a grid or a seeded random sample over config keys), on N local processes or a
Dask cluster, into DIR/sweep.csv, DIR/sweep.parquet and DIR/heatmap_pnl.png. Exit status: 0 done, 2 bad
input (tape, window, config, sweep file), 1 a failure during the run.
"""
from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from lmm.config.config import Config, ConfigError, exit_on_config_error, load_config
from lmm.ops.logging_setup import setup_logging

if TYPE_CHECKING:
    from lmm.daemon.backtest import BacktestOptions

EXIT_BAD_INPUT = 2


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message} (see --help)\n")


def _instant(text: str) -> int:
    """ns since the epoch, from an ISO time (UTC unless it says otherwise) or a number of ns."""
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO time or ns since the epoch: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1e9)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from lmm.venue.local.mirror import QUEUE_MODELS, RISK_AVERSE

    parser = _OneLineParser(prog="backtest.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tape", required=True, help="tape directory (record.py, or tape.py import)")
    parser.add_argument("--config", help="config file (default: config.json; LMM_* variables override it)")
    parser.add_argument("--venue", choices=("lighter", "binance"),
                        help="the market traded: lighter = the tape's Lighter market (the default when the tape "
                             "has one), binance = the tape's own Binance market; its own imbalance is the alpha")
    parser.add_argument("--no-binance-alpha", dest="binance_alpha", action="store_false",
                        help="lighter: do not serve the tape's Binance market to the bot's Binance feed (the alpha "
                             "then comes from the Lighter book, as with alpha.source none)")
    parser.add_argument("--symbol", help="the tape's symbol to trade (default: its only one)")
    parser.add_argument("--from", dest="start", type=_instant, help="start (ISO time, UTC, or ns)")
    parser.add_argument("--to", dest="end", type=_instant, help="end (ISO time, UTC, or ns)")
    parser.add_argument("--out", help="report directory (default: backtest-report; backtest-sweep with --sweep)")
    parser.add_argument("--queue-model", choices=QUEUE_MODELS, default=RISK_AVERSE,
                        help="who cancels when a level shrinks: risk_averse (behind us first) or proportional")
    parser.add_argument("--queue-power", type=float, default=1.0,
                        help="proportional model: the split ahead:behind is f(ahead):f(behind), f(x)=x**power")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="order entry latency (default 50 ms)")
    parser.add_argument("--collateral", type=int, default=10_000, help="account collateral in USD (10000)")
    parser.add_argument("--tier", choices=("premium", "standard"), default="premium", help="account tier")
    parser.add_argument("--sweep", help="sweep file: a grid or a seeded random sample over config keys "
                        "(docs/backtest.md, Sweeps)")
    parser.add_argument("--workers", type=_positive, default=1, help="--sweep: local worker processes (default 1; "
                        "with --dask local, the cluster's workers)")
    parser.add_argument("--dask", metavar="ADDRESS", help="--sweep: run on this Dask scheduler, or 'local' to start "
                        "a LocalCluster (needs dask[distributed])")
    parser.add_argument("--point-reports", action="store_true",
                        help="--sweep: also write each point's report into DIR/points/<point>")
    parser.add_argument("--log-level", default="WARNING", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.add_argument("--log-dir", default="logs", help="directory of the log file (default: logs)")
    args = parser.parse_args(argv)
    if args.sweep is None and (args.dask or args.workers != 1 or args.point_reports):
        parser.error("--workers, --dask and --point-reports go with --sweep")
    if args.out is None:
        args.out = "backtest-sweep" if args.sweep else "backtest-report"
    return args


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as error:
        exit_on_config_error(error)
    handle = setup_logging(args.log_level, args.log_dir, secrets=[])
    try:
        from lmm.daemon.backtest import BacktestError, BacktestOptions, run_backtest, write_report

        options = BacktestOptions(Path(args.tape), args.symbol, args.start, args.end, args.queue_model,
                                  args.queue_power, args.latency_ms / 1e3, args.collateral, args.tier,
                                  venue=args.venue, binance_alpha=args.binance_alpha)
        if args.sweep:
            return _sweep(args, config, options)
        try:
            report = run_backtest(config, options)
        except (BacktestError, FileNotFoundError) as error:
            print(f"backtest: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT
        path = write_report(report, Path(args.out))
        one_s = report["markouts_bps"]["1s"]["all"]
        print(f"backtest {report['venue']} {report['symbol']} {report['seconds']:.0f} s: fills {report['fills']} "
              f"(maker {report['maker_fills']}), volume ${report['volume_usd']:.0f}, "
              f"net PnL ${report['pnl_net_usd']:.2f} (fees ${report['fees_usd']:.2f}), "
              f"1 s markout {_bps(one_s['mean_bps'])} bp over {one_s['count']} fills; report: {path} "
              f"(report.json and the plots beside it)")
        return 0 if report["exit_status"] == 0 else 1
    except Exception as exc:
        logging.getLogger("lighter_mm").critical("backtest failed: %s", exc, exc_info=True)
        print(f"backtest failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        handle.stop()


def _sweep(args: argparse.Namespace, config: Config, options: BacktestOptions) -> int:
    from lmm.daemon.sweep import SweepPointError, check_points, read_sweep_file, run_sweep, tasks_for, write_outputs
    from lmm.daemon.sweep_grid import SweepError, expand

    out = Path(args.out)
    try:
        sweep = expand(read_sweep_file(Path(args.sweep)))
        tasks = tasks_for(sweep, config, options, out, args.point_reports)
        check_points(tasks[0].config_json, sweep, options)
        if not Path(args.tape).is_dir():
            raise SweepError(f"{args.tape}: no such tape directory")
        where = f"Dask ({args.dask})" if args.dask else f"{args.workers} local worker(s)"
        print(f"sweep: {len(tasks)} points over {', '.join(sweep.swept_keys)} on {where}", flush=True)
        rows = run_sweep(tasks, args.workers, args.dask)
    except SweepError as error:
        print(f"backtest: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SweepPointError as error:
        print(f"backtest: {error}", file=sys.stderr)
        return 1
    written = write_outputs(rows, sweep.swept_keys, out)
    best = max(rows, key=lambda r: r["pnl_net_usd"])
    shown = ", ".join(f"{k}={best[k]!r}" for k in sweep.swept_keys)
    print(f"sweep: {len(rows)} rows; best net PnL ${best['pnl_net_usd']:.2f} at point {best['point']} ({shown}); "
          f"wrote {', '.join(str(p) for p in written)}")
    return 0 if all(r["exit_status"] == 0 for r in rows) else 1


def _bps(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f}"


if __name__ == "__main__":
    sys.exit(main())
