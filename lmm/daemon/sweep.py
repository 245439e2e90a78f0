"""Parameter sweeps of the backtest: one backtest per parameter set (``sweep_grid``), in this process
(``workers=1``), in local worker processes (``concurrent.futures.ProcessPoolExecutor``, spawned: nothing of
this process's state is inherited) or on a Dask distributed cluster (``dask="local"`` starts a
``LocalCluster``; otherwise the scheduler's address). Dask is imported only here, and only for ``--dask``.

Each point runs from a self-contained task (the whole merged configuration as JSON, the point's values, the
backtest options), so a worker needs only the package and the tape at the same path. Rows come back in the
points' order whatever finished first: the same tape and sweep give the same rows on any number of workers.
Outputs (``write_outputs``): ``sweep.csv``, ``sweep.parquet`` (pyarrow) and, when at least two swept keys
vary, ``heatmap_pnl.png`` (net PnL over the first two).
"""
from __future__ import annotations

import csv
import json
import logging
import math
import multiprocessing
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lmm.config.config import Config, ConfigError, effective_config_json, load_config, write_parquet
from lmm.daemon.sweep_grid import BACKTEST_SECTION, Sweep, SweepError, SweepPoint, apply_point, backtest_values

CSV_NAME = "sweep.csv"
PARQUET_NAME = "sweep.parquet"
HEATMAP_NAME = "heatmap_pnl.png"
POINTS_DIR = "points"
# the headline columns after the swept keys, in this order
METRICS = ("fills", "maker_fills", "orders", "volume_usd", "pnl_net_usd", "fees_usd", "spread_capture_usd",
           "sharpe_annualised", "max_drawdown_usd", "markout_1s_bps", "markout_1s_stderr_bps", "adverse_share_1s",
           "time_at_position_limit_share", "exit_status")


class SweepPointError(RuntimeError):
    """A point's backtest failed; the message names the point and its values."""


@dataclass(frozen=True)
class PointTask:
    """Everything one point needs, picklable (sent to a process or a Dask worker)."""

    point: SweepPoint
    swept_keys: tuple[str, ...]
    config_json: str  # the merged base configuration (effective_config_json)
    options: Any  # lmm.daemon.backtest.BacktestOptions
    report_dir: str | None  # write this point's report.json and report.html here


def point_config(config_json: str, point: SweepPoint) -> Config:
    """The base configuration with the point's values, loaded and validated as a config file would be."""
    data = apply_point(json.loads(config_json), point.values)
    with tempfile.TemporaryDirectory(prefix="lmm-sweep-") as tmp:
        path = Path(tmp) / f"point-{point.index}.json"
        path.write_text(json.dumps(data))
        try:
            return load_config(path, env={})
        except ConfigError as error:
            shown = ", ".join(f"{k}={v!r}" for k, v in point.values)
            message = str(error).replace(f" (from {path})", "")
            raise SweepError(f"sweep point {point.index} ({shown}): {message}") from None


def point_options(options: Any, point: SweepPoint) -> Any:
    """The backtest options with the point's backtest assumptions (``backtest.*`` keys), checked."""
    values = backtest_values(point.values)
    if not values:
        return options
    from lmm.venue.local.mirror import QUEUE_MODELS

    shown = ", ".join(f"{k}={v!r}" for k, v in point.values)
    checks = {"latency_ms": lambda v: _number(v) and 0 <= v <= 10_000, "queue_model": lambda v: v in QUEUE_MODELS,
              "queue_power": lambda v: _number(v) and 0 < v <= 10, "tier": lambda v: v in ("premium", "standard"),
              "collateral_usd": lambda v: type(v) is int and 0 < v <= 10**12}
    for name, value in values.items():
        if not checks[name](value):
            raise SweepError(f"sweep point {point.index} ({shown}): backtest.{name} = {value!r} is not accepted "
                             f"(latency_ms 0-10000, queue_model {'/'.join(QUEUE_MODELS)}, queue_power in (0, 10], "
                             f"tier premium/standard, collateral_usd a positive integer)")
    if "latency_ms" in values:
        values["entry_latency_s"] = values.pop("latency_ms") / 1e3
    return replace(options, **values)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_points(config_json: str, sweep: Sweep, options: Any = None) -> None:
    """Load every point's configuration (and backtest assumptions) first, so a bad value fails before any
    backtest runs."""
    for point in sweep.points:
        point_config(config_json, point)
        if options is not None:
            point_options(options, point)


def row_of(report: dict[str, Any], config: Config, task: PointTask) -> dict[str, Any]:
    one_s = report["markouts_bps"]["1s"]["all"]
    values = {}
    assumptions = dict(task.point.values)
    for key in task.swept_keys:
        section, name = key.split(".")
        values[key] = assumptions[key] if section == BACKTEST_SECTION else getattr(getattr(config, section), name)
    headline = {
        "fills": report["fills"], "maker_fills": report["maker_fills"], "orders": report["orders"],
        "volume_usd": report["volume_usd"], "pnl_net_usd": report["pnl_net_usd"], "fees_usd": report["fees_usd"],
        "spread_capture_usd": report["spread_capture_usd"], "sharpe_annualised": report["sharpe"]["annualised"],
        "max_drawdown_usd": report["max_drawdown_usd"], "markout_1s_bps": one_s["mean_bps"],
        "markout_1s_stderr_bps": one_s["stderr_bps"],
        "adverse_share_1s": report["adverse_selection"]["all"]["share"],
        "time_at_position_limit_share": report["time_at_position_limit_share"],
        "exit_status": report["exit_status"]}
    return {"point": task.point.index, **values, **headline}


def run_point(task: PointTask) -> dict[str, Any]:
    """One point's backtest (in whatever process runs it); returns its row."""
    from lmm.daemon.backtest import run_backtest, write_report

    if multiprocessing.parent_process() is not None and not logging.getLogger().handlers:
        logging.getLogger("lighter_mm").setLevel(logging.ERROR)  # a worker: the daemon's warnings stay quiet
    config = point_config(task.config_json, task.point)
    try:
        report = run_backtest(config, point_options(task.options, task.point))
    except Exception as exc:
        shown = ", ".join(f"{k}={v!r}" for k, v in task.point.values)
        raise SweepPointError(f"sweep point {task.point.index} ({shown}): {type(exc).__name__}: {exc}") from None
    if task.report_dir is not None:
        write_report(report, Path(task.report_dir))
    return row_of(report, config, task)


def tasks_for(sweep: Sweep, config: Config, options: Any, out: Path, point_reports: bool) -> list[PointTask]:
    config_json = effective_config_json(config)
    width = len(str(max(len(sweep.points) - 1, 0)))
    return [PointTask(p, sweep.swept_keys, config_json, options,
                      str(out / POINTS_DIR / f"{p.index:0{width}d}") if point_reports else None)
            for p in sweep.points]


def run_local(tasks: Sequence[PointTask], workers: int) -> list[dict[str, Any]]:
    if workers <= 1:
        return [run_point(t) for t in tasks]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=context) as pool:
        return list(pool.map(run_point, tasks))


def run_dask(tasks: Sequence[PointTask], address: str, workers: int) -> list[dict[str, Any]]:
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise SweepError("--dask needs dask[distributed] (pip install 'dask[distributed]')") from None
    cluster = None
    if address == "local":
        logging.getLogger("distributed").setLevel(logging.ERROR)  # our own cluster: its start and stop are no news
        cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
    else:
        client = Client(address)
    try:
        futures = client.map(run_point, list(tasks), pure=False)
        return list(client.gather(futures))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_sweep(tasks: Sequence[PointTask], workers: int = 1, dask: str | None = None) -> list[dict[str, Any]]:
    rows = run_dask(tasks, dask, workers) if dask else run_local(tasks, workers)
    return sorted(rows, key=lambda r: r["point"])


def columns(swept_keys: Sequence[str]) -> list[str]:
    return ["point", *swept_keys, *METRICS]


def write_csv(rows: Sequence[dict[str, Any]], swept_keys: Sequence[str], path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        names = columns(swept_keys)
        writer.writerow(names)
        for row in rows:
            writer.writerow(["" if row[c] is None else row[c] for c in names])


def _varying(rows: Sequence[dict[str, Any]], swept_keys: Sequence[str]) -> list[str]:
    return [k for k in swept_keys if len({repr(r[k]) for r in rows}) > 1]


def _axis(values: set) -> list:
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=repr)


def write_heatmap(rows: Sequence[dict[str, Any]], swept_keys: Sequence[str], path: Path,
                  metric: str = "pnl_net_usd") -> bool:
    """``metric`` over the first two swept keys that vary (the mean over the other keys' values); False, and no
    file, when fewer than two keys vary."""
    varying = _varying(rows, swept_keys)
    if len(varying) < 2:
        return False
    from lmm.daemon.backtest_plots import png_figure

    x_key, y_key = varying[:2]
    xs, ys = _axis({r[x_key] for r in rows}), _axis({r[y_key] for r in rows})
    cells: dict[tuple[int, int], list[float]] = {}
    for r in rows:
        if r[metric] is not None:
            cells.setdefault((ys.index(r[y_key]), xs.index(r[x_key])), []).append(r[metric])
    grid = [[math.nan] * len(xs) for _ in ys]
    for (i, j), values in cells.items():
        grid[i][j] = sum(values) / len(values)
    size = (max(6.0, 1.0 + 0.9 * len(xs)), max(4.0, 1.0 + 0.6 * len(ys)))
    with png_figure(path, figsize=size) as (fig, ax):
        finite = [v for line in grid for v in line if not math.isnan(v)]
        norm = None
        if finite and min(finite) < 0 < max(finite):  # losses red, gains green, 0 in the middle
            from matplotlib.colors import TwoSlopeNorm

            norm = TwoSlopeNorm(vcenter=0.0, vmin=min(finite), vmax=max(finite))
        image = ax.imshow(grid, origin="lower", aspect="auto", cmap="RdYlGn", norm=norm)
        fig.colorbar(image, ax=ax, label=f"{metric}")
        ax.set_xticks(range(len(xs)), [f"{x:g}" if isinstance(x, float) else str(x) for x in xs])
        ax.set_yticks(range(len(ys)), [f"{y:g}" if isinstance(y, float) else str(y) for y in ys])
        ax.set_xlabel(x_key)
        ax.set_ylabel(y_key)
        if len(xs) * len(ys) <= 100:
            for i, line in enumerate(grid):
                for j, value in enumerate(line):
                    if not math.isnan(value):
                        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8)
        others = varying[2:]
        ax.set_title(f"{metric} by swept values" + (f"\n(mean over {', '.join(others)})" if others else ""),
                     fontsize=10)
    return True


def write_outputs(rows: Sequence[dict[str, Any]], swept_keys: Sequence[str], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = [out / CSV_NAME, out / PARQUET_NAME]
    write_csv(rows, swept_keys, written[0])
    names = columns(swept_keys)
    write_parquet(written[1], [{c: r[c] for c in names} for r in rows])
    if write_heatmap(rows, swept_keys, out / HEATMAP_NAME):
        written.append(out / HEATMAP_NAME)
    return written


def read_sweep_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SweepError(f"{path}: cannot read the sweep file ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise SweepError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None

