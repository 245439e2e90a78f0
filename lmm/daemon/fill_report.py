"""``report.py --fills DIR``: the fill history (``fill_history``) read back, PnL by UTC day, report.json, and
the backtester's report.html with its plots for the period.

Rules:
- Every day file of DIR is read, from the first day on, so that the position and its average cost carry
  into the period asked (``Period``: [start, end) in ns, from ``--from``/``--to``); only the period's fills are
  printed and summed, by UTC day. Rows are ordered by time, then trade id; a trade id seen twice (a file
  copied twice) counts once.
- Realized PnL by average cost (``lmm.core.fill_ledger``), before fees; the net is realized minus fees. The
  unrealized PnL of report.json is marked at the mid of the period's last fill (the history holds no later
  mid): the backtester's ``pnl_net_usd`` marks at the engine's last trade instead.
- Markouts and the plots' series come from the mids recorded at the fills (``fill_report_series``, which says
  how far they stand in for the backtester's mid path).
- Keys of report.json mean what the backtester's keys of the same name mean (docs/backtest.md); report.html
  is the backtester's page (``backtest_plots``), fed from this report.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from lmm.core.fill_ledger import ZERO, DaySummary, LedgerFill, Opening, daily_summaries
from lmm.daemon.fill_history import day_files, read_rows
from lmm.daemon.fill_report_series import html_fields

REPORT_NAME = "report.json"


class FillReportError(ValueError):
    """The directory holds no readable fill history for the period asked."""


def _decimal(text: str) -> Decimal | None:
    return Decimal(text) if text else None


def ledger_fill(row: dict[str, str]) -> LedgerFill:
    return LedgerFill(
        time_ns=int(row["time_ns"]), is_buy=row["side"] == "buy", price=Decimal(row["price"]),
        size=Decimal(row["size"]), fee_usd=Decimal(row["fee_usd"] or "0"), maker=row["maker"] == "true",
        mid=_decimal(row["mid"]), position_after=_decimal(row["position_after"]),
        notional_usd=_decimal(row["notional_usd"]),
    )


def read_history(directory: Path, symbol: str | None = None) -> tuple[str, list[LedgerFill]]:
    """The symbol and the fills of every day file in ``directory``, in time order. A directory shared by
    bots of several markets needs ``symbol``."""
    if not directory.is_dir():
        raise FillReportError(f"{directory}: no such directory")
    files = day_files(directory)
    if not files:
        raise FillReportError(f"{directory}: no fill history files (fills-YYYY-MM-DD.csv)")
    rows: dict[tuple[str, int], dict[str, str]] = {}
    for path in files:
        try:
            for row in read_rows(path):
                rows.setdefault((row["symbol"], int(row["trade_id"])), row)
        except (OSError, KeyError, ValueError) as error:
            raise FillReportError(f"{path}: unreadable: {error}") from None
    symbols = sorted({key[0] for key in rows})
    if symbol is None and len(symbols) > 1:
        raise FillReportError(f"{directory}: fills of several markets ({', '.join(symbols)}): choose one with "
                              f"--symbol")
    chosen = symbol if symbol is not None else symbols[0] if symbols else ""
    ordered = sorted((row for key, row in rows.items() if key[0] == chosen),
                     key=lambda r: (int(r["time_ns"]), int(r["trade_id"])))
    if not ordered:
        raise FillReportError(f"{directory}: no fills" + (f" of {symbol}" if symbol else ""))
    try:
        fills = [ledger_fill(row) for row in ordered]
    except (KeyError, ValueError, ArithmeticError) as error:
        raise FillReportError(f"{directory}: a row is malformed: {error}") from None
    return chosen, fills


@dataclass(frozen=True)
class Period:
    """[start_ns, end_ns), unbounded on a side that is None."""

    start_ns: int | None = None
    end_ns: int | None = None


def _usd(value: Decimal) -> float:
    return float(value)


def build_fill_report(symbol: str, opening: Opening, chosen: list[DaySummary], directory: Path) -> dict[str, Any]:
    """The summary of the period's days (``daily_summaries`` over the period)."""
    if not chosen:
        raise FillReportError(f"{directory}: no fills in the period asked")
    last = chosen[-1]
    mark = last.last_mid
    unrealized = None if mark is None else last.position * mark - last.cost_usd
    realized = sum((d.pnl_realized_usd for d in chosen), ZERO)
    fees = sum((d.fees_usd for d in chosen), ZERO)
    return {
        "source": "fill history", "fills_dir": str(directory), "symbol": symbol,
        "days": [d.day.isoformat() for d in chosen],
        "fills": sum(d.fills for d in chosen), "maker_fills": sum(d.maker_fills for d in chosen),
        "taker_fills": sum(d.taker_fills for d in chosen),
        "volume_usd": _usd(sum((d.volume_usd for d in chosen), ZERO)),
        "fees_usd": _usd(fees),
        "pnl_realized_usd": _usd(realized),
        "pnl_unrealized_usd": None if unrealized is None else _usd(unrealized),
        "pnl_net_usd": None if unrealized is None else _usd(realized + unrealized - fees),
        "mark_price": None if mark is None else _usd(mark),
        "pnl_method": "average cost",
        "final_position": _usd(last.position),
        "max_abs_position": _usd(max(d.max_abs_position for d in chosen)),
        "opening_position": _usd(opening.position),
        "opening_price": _usd(opening.price) if opening.position else None,
        "position_mismatches": sum(d.position_mismatches for d in chosen),
        "by_day": [day_entry(d) for d in chosen],
    }


def day_entry(day: DaySummary) -> dict[str, Any]:
    return {"day": day.day.isoformat(), "fills": day.fills, "maker_fills": day.maker_fills,
            "taker_fills": day.taker_fills, "volume_usd": _usd(day.volume_usd), "fees_usd": _usd(day.fees_usd),
            "pnl_realized_usd": _usd(day.pnl_realized_usd), "final_position": _usd(day.position)}


def day_line(day: DaySummary) -> str:
    return (f"{day.day.isoformat()}  fills {day.fills:>5} (maker {day.maker_fills:>5})  "
            f"volume ${day.volume_usd:,.2f}  fees ${day.fees_usd:,.4f}  realized ${day.pnl_realized_usd:,.4f}  "
            f"net ${day.pnl_net_realized_usd:,.4f}  position {day.position.normalize():f}")


def report_lines(report: dict[str, Any], days: list[DaySummary]) -> list[str]:
    lines = [f"fill history {report['symbol']}: realized PnL by average cost, before fees; "
             f"net = realized - fees; position at the end of the UTC day"]
    if report["opening_position"]:
        lines.append(f"the history starts with a position of {report['opening_position']:g}, taken at "
                     f"{report['opening_price']:g} (the first fill's mid)")
    lines += [day_line(d) for d in days]
    total = (f"total  fills {report['fills']} (maker {report['maker_fills']})  volume ${report['volume_usd']:,.2f}  "
             f"fees ${report['fees_usd']:,.4f}  realized ${report['pnl_realized_usd']:,.4f}")
    if report["pnl_net_usd"] is not None:
        total += (f"  unrealized ${report['pnl_unrealized_usd']:,.4f} at {report['mark_price']:g}  "
                  f"net ${report['pnl_net_usd']:,.4f}")
    lines.append(total)
    if report["position_mismatches"]:
        lines.append(f"warning: {report['position_mismatches']} fills where the recorded position differs from "
                     f"the fills': the history misses fills")
    return lines


def run_fill_report(directory: Path, period: Period, out: Path | None,
                    symbol: str | None = None) -> tuple[list[str], Path | None]:
    """Read, summarize, write ``out/report.json``, the plots and ``out/report.html`` (when ``out``); returns
    the lines to print and report.json's path."""
    chosen, fills = read_history(directory, symbol)
    opening, days = daily_summaries(fills, period.start_ns, period.end_ns)
    report = build_fill_report(chosen, opening, days, directory)
    report.update(html_fields(fills, opening, period.start_ns, period.end_ns))
    path = None
    if out is not None:
        from lmm.daemon.backtest_plots import write_html  # matplotlib: only when a report is written

        out.mkdir(parents=True, exist_ok=True)
        path = out / REPORT_NAME
        path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
        write_html(report, out)
    return report_lines(report, days), path
