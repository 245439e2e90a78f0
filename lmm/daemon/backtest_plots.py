"""The backtest report as pictures: three PNG plots (the mid with the bot's fills, position and equity over time,
markouts by horizon) and ``report.html``, one self-contained page (the PNGs inlined as data URIs, no script and
no external file) with the summary figures. Read from the report alone (``report["series"]``); matplotlib is
imported only here, when the report is written, with the Agg backend (no display).
"""
from __future__ import annotations

import base64
import contextlib
import html
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MID_PNG = "mid_fills.png"
POSITION_PNG = "position_equity.png"
MARKOUTS_PNG = "markouts.png"
HTML_NAME = "report.html"
SIDES = (("all", "tab:gray"), ("buy", "tab:green"), ("sell", "tab:red"))


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@contextlib.contextmanager
def png_figure(path: Path, *args: Any, **kwargs: Any) -> Iterator[tuple[Any, Any]]:
    """``(fig, axes)`` of ``plt.subplots(*args, **kwargs)``, saved to ``path`` as PNG when the block ends without
    an error, and closed in any case."""
    plt = _pyplot()
    fig, axes = plt.subplots(*args, **kwargs)
    try:
        yield fig, axes
        fig.tight_layout()
        fig.savefig(path, format="png", dpi=100)
    finally:
        plt.close(fig)


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


def plot_mid_and_fills(report: dict[str, Any], path: Path) -> None:
    series = report["series"]
    with png_figure(path, figsize=(10, 4)) as (_, ax):
        ax.plot(series["t_s"], [_nan(m) for m in series["mid"]], color="tab:blue", linewidth=1,
                label=report.get("mid_label", "tape mid"))
        for is_buy, marker, color, label in ((True, "^", "tab:green", "buy"), (False, "v", "tab:red", "sell")):
            points = [(t, p) for t, p, b in zip(series["fill_t_s"], series["fill_price"], series["fill_is_buy"],
                                                strict=True) if b == is_buy]
            ax.scatter([t for t, _ in points], [p for _, p in points], marker=marker, color=color, s=24,
                       zorder=3, label=f"{label} fills ({len(points)})")
        ax.set_xlabel("seconds from the start of the window")
        ax.set_ylabel("price")
        ax.set_title(f"{report['symbol']}: the mid and the bot's fills")
        ax.legend(loc="best")
        ax.grid(alpha=0.3)


def plot_position_and_equity(report: dict[str, Any], path: Path) -> None:
    series = report["series"]
    collateral = report["assumptions"]["collateral_usd"]
    with png_figure(path, 2, 1, figsize=(10, 5), sharex=True) as (_, (top, bottom)):
        top.step(series["t_s"], series["position"], where="post", color="tab:purple")
        top.axhline(0, color="black", linewidth=0.5)
        top.set_ylabel("position (base)")
        top.set_title(f"{report['symbol']}: position and net PnL")
        top.grid(alpha=0.3)
        bottom.plot(series["t_s"], [e - collateral for e in series["equity_usd"]], color="tab:orange")
        bottom.axhline(0, color="black", linewidth=0.5)
        bottom.set_ylabel("net PnL (USD)")
        bottom.set_xlabel("seconds from the start of the window")
        bottom.grid(alpha=0.3)


def plot_markouts(report: dict[str, Any], path: Path) -> None:
    horizons = list(report["markouts_bps"])
    width = 0.27
    with png_figure(path, figsize=(10, 4)) as (_, ax):
        for i, (side, color) in enumerate(SIDES):
            cells = [report["markouts_bps"][h][side] for h in horizons]
            ax.bar([x + (i - 1) * width for x in range(len(horizons))], [_nan(c["mean_bps"]) for c in cells],
                   width, yerr=[_nan(c["stderr_bps"]) for c in cells], capsize=3, color=color, label=side)
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_xticks(range(len(horizons)), horizons)
        ax.set_xlabel("horizon")
        ax.set_ylabel("markout (bp, positive: our way)")
        ax.set_title("markouts by horizon (error bars: one standard error)")
        ax.legend(loc="best")
        ax.grid(axis="y", alpha=0.3)


def write_plots(report: dict[str, Any], out: Path) -> list[Path]:
    paths = []
    for name, plot in ((MID_PNG, plot_mid_and_fills), (POSITION_PNG, plot_position_and_equity),
                       (MARKOUTS_PNG, plot_markouts)):
        plot(report, out / name)
        paths.append(out / name)
    return paths


def _number(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return html.escape(str(value))


def _rows(pairs: list[tuple[str, str]]) -> str:
    return "\n".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in pairs)


def _performance_rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    if "sharpe" not in report:
        return []
    adverse = report["adverse_selection"]["all"]
    share = report["time_at_position_limit_share"]
    capture = f"${report['spread_capture_usd']:,.4f} ({_number(report['spread_capture_bps'])} bp of volume)"
    return [("gross spread capture", capture),
            ("PnL from the position (before fees)", f"${report['pnl_inventory_usd']:,.4f}"),
            ("Sharpe (per-second equity changes, annualised)", _number(report["sharpe"]["annualised"])),
            ("max drawdown", f"${report['max_drawdown_usd']:,.4f}"),
            ("time at the position limit", f"{report['time_at_position_limit_s']} s"
             + ("" if share is None else f" ({share:.1%})")),
            ("adverse selection (fills with a negative 1 s markout)",
             "-" if adverse["share"] is None else f"{adverse['share']:.1%} of {adverse['count']}")]


def _signal_table(report: dict[str, Any]) -> str:
    quality = report.get("signal_quality")
    if not quality:
        return ""
    horizons = [f"{h:g}s" for h in quality["horizons_s"]]
    rows = "\n".join(
        f"<tr><th>{html.escape(depth)}</th><td>{cell['samples']}</td>"
        + "".join(f"<td>{_number(cell[h]['corr'], 3)}</td>" for h in horizons) + "</tr>"
        for depth, cell in quality["looking_depth"].items())
    heads = "".join(f"<th>{html.escape(h)}</th>" for h in horizons)
    return f"""<h2>Signal quality (correlation of the model's imbalance z with the mid's move after it)</h2>
<table>
<tr><th>looking_depth</th><th>z samples</th>{heads}</tr>
{rows}
</table>"""


def _source(report: dict[str, Any]) -> tuple[str, str]:
    """The backtest's tape, or the fill history's directory (``report.py --fills``)."""
    return ("tape", html.escape(report["tape"])) if "tape" in report else \
        ("fill history", html.escape(report["fills_dir"]))


def render_html(report: dict[str, Any], pngs: list[Path]) -> str:
    summary = [("symbol", html.escape(report["symbol"])), _source(report),
               ("window", f"{report['seconds']:,.0f} s"), ("exit status", _number(report.get("exit_status"))),
               ("orders", _number(report.get("orders"))),
               ("fills", f"{report['fills']} (maker {report['maker_fills']}, taker {report['taker_fills']})"),
               ("volume", f"${report['volume_usd']:,.2f}"),
               ("net PnL", "-" if report["pnl_net_usd"] is None else f"${report['pnl_net_usd']:,.4f}"),
               ("fees", f"${report['fees_usd']:,.4f}"), ("final position", _number(report["final_position"], 6)),
               ("max |position|", _number(report["max_abs_position"], 6))]
    summary += _performance_rows(report)
    markout_rows = "\n".join(
        f"<tr><th>{html.escape(h)}</th>" + "".join(
            f"<td>{_number(cell['mean_bps'])}</td><td>{_number(cell['stderr_bps'])}</td><td>{cell['count']}</td>"
            for cell in (sides[side] for side, _ in SIDES)) + "</tr>"
        for h, sides in report["markouts_bps"].items())
    assumptions = [(k, _number(v, 4)) for k, v in sorted(report["assumptions"].items())]
    images = "\n".join(
        f'<figure><img alt="{html.escape(p.stem)}" src="data:image/png;base64,'
        f'{base64.b64encode(p.read_bytes()).decode("ascii")}"></figure>' for p in pngs)
    side_heads = "".join(f'<th colspan="3">{side}</th>' for side, _ in SIDES)
    title = html.escape(f"{report.get('title', 'Backtest')} {report['symbol']}")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 1040px; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}
th {{ background: #f4f4f4; }}
img {{ max-width: 100%; }}
</style></head>
<body>
<h1>{title}</h1>
<h2>Summary</h2>
<table>
{_rows(summary)}
</table>
<h2>Markouts (bp; positive: the mid moved our way)</h2>
<table>
<tr><th rowspan="2">horizon</th>{side_heads}</tr>
<tr>{"<th>mean</th><th>stderr</th><th>fills</th>" * len(SIDES)}</tr>
{markout_rows}
</table>
{_signal_table(report)}
<h2>Plots</h2>
{images}
<h2>Assumptions</h2>
<table>
{_rows(assumptions)}
</table>
</body></html>
"""


def write_html(report: dict[str, Any], out: Path) -> Path:
    """The PNGs and ``report.html`` into ``out``; returns the page's path."""
    pngs = write_plots(report, out)
    path = out / HTML_NAME
    path.write_text(render_html(report, pngs))
    return path
