"""Sweeps (``backtest.py --sweep``) and the report's performance figures on a minute of the real ETHUSDT tape.

A 4-point grid gives the same rows, float for float, in this process, on two spawned worker processes and on
a Dask LocalCluster; the report carries every figure of issue 13 item 5, each key documented in
docs/backtest.md and named in the README's Backtest section."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from backtest_support import demo_config

from lmm.config.config import load_config, read_parquet
from lmm.daemon.backtest import run_backtest
from lmm.daemon.backtest_metrics import max_drawdown, sharpe
from lmm.daemon.backtest_plots import render_html
from lmm.daemon.sweep import CSV_NAME, HEATMAP_NAME, METRICS, PARQUET_NAME, run_sweep, tasks_for
from lmm.daemon.sweep_grid import expand
from tests.backtest.test_backtest_eth import WINDOW_S, window

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GRID = {"grid": {"vol_obi.c1_ticks": [0, 20], "vol_obi.min_half_spread_bps": [1.5, 3]}}
NEW_KEYS = ("spread_capture_usd", "spread_capture_bps", "pnl_inventory_usd", "sharpe", "max_drawdown_usd",
            "time_at_position_limit_s", "time_at_position_limit_share", "adverse_selection", "signal_quality")


@pytest.fixture(scope="module")
def report(eth_tape_once: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    return run_backtest(demo_config(tmp_path_factory.mktemp("cfg")), window(eth_tape_once))


@pytest.fixture(scope="module")
def sweep_by_cli(eth_tape_once: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[dict]]:
    """The command line's sweep on two worker processes: (its output directory, the config file, the rows)."""
    from backtest import main

    tmp = tmp_path_factory.mktemp("sweep")
    demo_config(tmp)  # writes tmp/config.json
    (tmp / "sweep.json").write_text(json.dumps(GRID))
    options = window(eth_tape_once)
    out = tmp / "out"
    status = main(["--tape", str(eth_tape_once), "--config", str(tmp / "config.json"), "--from", str(options.start_ns),
                   "--to", str(options.end_ns), "--sweep", str(tmp / "sweep.json"), "--workers", "2",
                   "--out", str(out), "--log-dir", str(tmp / "logs")])
    assert status == 0
    return out, tmp / "config.json", read_parquet(out / PARQUET_NAME)


def test_a_sweep_writes_one_row_a_point_in_order_with_a_heatmap(sweep_by_cli: tuple[Path, Path, list[dict]]):
    out, _, rows = sweep_by_cli
    keys = ["vol_obi.c1_ticks", "vol_obi.min_half_spread_bps"]
    assert [list(r) for r in rows] == [["point", *keys, *METRICS]] * 4
    assert [(r["point"], r[keys[0]], r[keys[1]]) for r in rows] == [
        (0, 0.0, 1.5), (1, 0.0, 3.0), (2, 20.0, 1.5), (3, 20.0, 3.0)]
    assert all(r["exit_status"] == 0 for r in rows)
    assert rows[0]["fills"] > 0, "the demo spread fills within the minute"
    assert len({(r["fills"], r["pnl_net_usd"]) for r in rows}) > 1, "the swept keys change the outcome"
    lines = (out / CSV_NAME).read_text().splitlines()
    assert len(lines) == 5 and lines[0].startswith("point,vol_obi.c1_ticks,vol_obi.min_half_spread_bps,fills,")
    assert (out / HEATMAP_NAME).read_bytes()[:8] == PNG_MAGIC


def test_the_same_sweep_gives_the_same_rows_in_process_and_on_dask(eth_tape_once: Path,
                                                                   sweep_by_cli: tuple[Path, Path, list[dict]]):
    pytest.importorskip("dask.distributed", reason="dask[distributed] is not installed")
    out, config_path, rows_on_two_workers = sweep_by_cli
    base = load_config(config_path)  # as the command line loaded it
    tasks = tasks_for(expand(GRID), base, window(eth_tape_once), out, point_reports=False)
    in_process = run_sweep(tasks, workers=1)
    assert in_process == rows_on_two_workers
    on_dask = run_sweep(tasks, workers=2, dask="local")
    assert on_dask == rows_on_two_workers


def test_the_report_has_the_performance_figures_and_they_agree_with_its_own_series(report: dict):
    for key in ("fills", "pnl_net_usd", "markouts_bps", *NEW_KEYS):
        assert key in report, key
    series = report["series"]
    assert report["fills"] > 0
    assert report["max_drawdown_usd"] == max_drawdown(series["equity_usd"]) >= 0
    assert report["sharpe"]["annualised"] == sharpe(series["equity_usd"]).annualised
    assert report["sharpe"]["changes"] == len(series["equity_usd"]) - 1
    assert report["spread_capture_usd"] + report["pnl_inventory_usd"] == pytest.approx(
        report["pnl_net_usd"] + report["fees_usd"])
    assert report["spread_capture_bps"] == pytest.approx(report["spread_capture_usd"] / report["volume_usd"] * 1e4)
    assert report["spread_capture_usd"] > 0, "post-only quotes 1.5 bp or more from the mid capture a spread"
    assert 0 <= report["time_at_position_limit_s"] <= len(series["t_s"])
    adverse = report["adverse_selection"]
    assert adverse["all"]["count"] == report["markouts_bps"]["1s"]["all"]["count"] > 0
    assert adverse["all"]["adverse"] == adverse["buy"]["adverse"] + adverse["sell"]["adverse"]
    assert len(series["fill_size"]) == report["fills"] and all(s > 0 for s in series["fill_size"])
    page = render_html(report, [])
    assert "gross spread capture" in page and "max drawdown" in page and "time at the position limit" in page
    corr = report["signal_quality"]["looking_depth"]["0.025"]["1s"]["corr"]
    assert "Signal quality" in page and f"<td>{corr:.3f}</td>" in page


def test_signal_quality_is_the_models_own_z_sampled_on_its_clock(report: dict):
    quality = report["signal_quality"]
    assert quality["step_s"] == 0.1 and quality["horizons_s"] == [0.1, 1.0, 5.0]
    assert set(quality["looking_depth"]) == {"0.005", "0.01", "0.025"}
    steps = WINDOW_S * 10
    for cell in quality["looking_depth"].values():
        # one z a step once the model holds local_alpha_min_samples (min_warmup_samples, 100) imbalance samples
        assert steps - 100 - 20 <= cell["samples"] <= steps - 99
        for horizon in ("0.1s", "1s", "5s"):
            assert cell[horizon]["count"] > cell["samples"] - 60, "a forward mid for all but the last 5 s"
            assert -1 <= cell[horizon]["corr"] <= 1
    correlations = {c["1s"]["corr"] for c in quality["looking_depth"].values()}
    assert len(correlations) == 3, "each depth is its own signal"


def _documented(text: str) -> set[str]:
    return set(re.findall(r"`([a-z_0-9]+)`", text))


def test_every_report_key_is_documented(report: dict):
    """docs/backtest.md's report table names every key (nested ones of the new figures too); the README's
    Backtest section names every top-level key."""
    docs = (ROOT / "docs" / "backtest.md").read_text()
    table = docs[docs.index("## The report"):]
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Backtest"):readme.index("## Risk limits")]
    for key in report:
        assert key in _documented(table), f"{key} is not in docs/backtest.md's report table"
        assert key in _documented(section), f"{key} is not in the README's Backtest section"
    nested = {*report["sharpe"], *report["adverse_selection"]["all"], "horizon_s", *report["signal_quality"],
              "corr", "count", "samples", *report["series"]}
    for key in nested:
        assert key in _documented(table), f"{key} is not in docs/backtest.md's report table"
