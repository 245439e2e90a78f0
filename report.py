"""Report on the bot's fill history: PnL by UTC day, and report.json with the backtester's keys.

    python report.py --fills logs/fills [--from 2026-01-01 --to 2026-01-31] [--symbol BTC] [--out REPORTDIR]

The bot appends every fill to ``<log-dir>/fills/fills-YYYY-MM-DD.csv`` (live, paper, --sim and --local). This
prints one line per UTC day (fills, volume, fees, realized PnL at average cost, the position at the end of the
day) and writes REPORTDIR/report.json. Exit status: 0 done, 2 bad input (no history, a malformed file, an
empty period).
"""
from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import NoReturn

EXIT_BAD_INPUT = 2


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message} (see --help)\n")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day (YYYY-MM-DD): {text!r}") from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _OneLineParser(prog="report.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--fills", required=True, metavar="DIR", help="the fill history (<log-dir>/fills)")
    parser.add_argument("--from", dest="first", type=_day, help="first UTC day (YYYY-MM-DD), inclusive")
    parser.add_argument("--to", dest="last", type=_day, help="last UTC day (YYYY-MM-DD), inclusive")
    parser.add_argument("--symbol", help="the market, when the history holds several")
    parser.add_argument("--out", default="fill-report", help="report directory (default: fill-report)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from lmm.daemon.fill_report import FillReportError, Period, run_fill_report

    try:
        lines, path = run_fill_report(Path(args.fills), Period(args.first, args.last), Path(args.out), args.symbol)
    except FillReportError as error:
        print(f"report.py: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print("\n".join(lines))
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
