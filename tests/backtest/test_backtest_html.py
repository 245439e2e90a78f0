"""The backtest's pictures on the real ETHUSDT tape: ``series`` (the mid, the position and the equity every
second of tape time), the PNG plots and the self-contained ``report.html``."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from backtest_support import demo_config

from lmm.daemon.backtest import REPORT_NAME, run_backtest, write_report
from lmm.daemon.backtest_plots import HTML_NAME, MARKOUTS_PNG, MID_PNG, POSITION_PNG
from tests.backtest.test_backtest_eth import USDM, WINDOW_S, window

pytestmark = pytest.mark.skipif(not USDM.exists(), reason="real recordings not present")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def eth_tape(eth_tape_once: Path) -> Path:
    return eth_tape_once


@pytest.fixture(scope="module")
def written(eth_tape: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, Path]:
    tmp = tmp_path_factory.mktemp("report")
    report = run_backtest(demo_config(tmp), window(eth_tape))
    out = tmp / "out"
    return report, out, write_report(report, out)


def test_series_has_a_point_a_second_and_ends_at_the_reports_position(written: tuple[dict, Path, Path]):
    report, _, _ = written
    series = report["series"]
    assert report["fills"] > 0
    assert abs(len(series["t_s"]) - WINDOW_S) <= 1
    assert series["t_s"] == list(range(len(series["t_s"])))
    assert len(series["mid"]) == len(series["position"]) == len(series["equity_usd"]) == len(series["t_s"])
    assert series["position"][-1] == report["final_position"]
    assert series["equity_usd"][-1] - report["assumptions"]["collateral_usd"] == pytest.approx(report["pnl_net_usd"])
    assert series["mid"][-1] is not None and 1000 < series["mid"][-1] < 10_000  # ETH in USDT
    assert len(set(series["position"])) > 1, "the position moved during the window"
    assert len(series["fill_t_s"]) == len(series["fill_price"]) == len(series["fill_is_buy"]) == report["fills"]
    assert all(0 <= t <= WINDOW_S for t in series["fill_t_s"])


def test_the_report_files_are_written_and_the_page_is_self_contained(written: tuple[dict, Path, Path]):
    report, out, page = written
    assert page == out / HTML_NAME
    assert json.loads((out / REPORT_NAME).read_text()) == json.loads(json.dumps(report))
    for name in (MID_PNG, POSITION_PNG, MARKOUTS_PNG):
        data = (out / name).read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 5000, name
    text = page.read_text()
    assert text.count('src="data:image/png;base64,') == 3
    assert 'src="http' not in text and "<script" not in text.lower() and "href=" not in text
    assert f"{report['fills']} (maker {report['maker_fills']}" in text
    assert "net PnL" in text and "queue_model" in text and "1s" in text
