"""Report on the bot's fill history: PnL by UTC day, report.json and the backtester's report.html.

    python report.py --fills logs/fills [--from 2026-01-01 --to 2026-01-31] [--symbol BTC] [--out REPORTDIR]

The bot appends every fill to ``<log-dir>/fills/fills-YYYY-MM-DD.csv`` (live, paper, --sim and --local). This
prints one line per UTC day (fills, volume, fees, realized PnL at average cost, the position at the end of the
day) and writes REPORTDIR/report.json and REPORTDIR/report.html with its PNG plots (default REPORTDIR:
fill-report in the working directory). --from/--to take a UTC day (YYYY-MM-DD: from its start, to its end) or
an ISO time (UTC unless it has an offset; --to excludes it). Exit status: 0 done, 2 bad input (no history, a
malformed file, a bad date, an empty period).
"""
from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import NoReturn

EXIT_BAD_INPUT = 2


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message} (see --help)\n")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ns(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1_000


def _moment(text: str, end: bool) -> int:
    """A UTC day (its start; the next day's start for an end, so the day is in) or an ISO time, in ns."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return _ns(datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1 if end else 0))
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a UTC day (YYYY-MM-DD) or ISO time: {text!r}") from None
    return _ns(moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC))


def _start(text: str) -> int:
    return _moment(text, end=False)


def _end(text: str) -> int:
    return _moment(text, end=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _OneLineParser(prog="report.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--fills", required=True, metavar="DIR", help="the fill history (<log-dir>/fills)")
    parser.add_argument("--from", dest="start_ns", type=_start, metavar="DAY|TIME",
                        help="first UTC day (YYYY-MM-DD), or an ISO time (UTC unless an offset is given), inclusive")
    parser.add_argument("--to", dest="end_ns", type=_end, metavar="DAY|TIME",
                        help="last UTC day (YYYY-MM-DD), inclusive, or an ISO time, exclusive")
    parser.add_argument("--symbol", help="the market, when the history holds several")
    parser.add_argument("--out", default="fill-report",
                        help="directory of report.json, report.html and its plots (default: fill-report)")
    args = parser.parse_args(argv)
    if args.start_ns is not None and args.end_ns is not None and args.start_ns >= args.end_ns:
        parser.error("--from is not before --to")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from lmm.daemon.backtest_plots import HTML_NAME
    from lmm.daemon.fill_report import FillReportError, Period, run_fill_report

    try:
        lines, path = run_fill_report(Path(args.fills), Period(args.start_ns, args.end_ns), Path(args.out),
                                      args.symbol)
    except FillReportError as error:
        print(f"report.py: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print("\n".join(lines))
    assert path is not None
    print(f"report: {path}, {path.with_name(HTML_NAME)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
