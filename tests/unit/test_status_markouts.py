"""Markouts of our fills in the status line, the end summary, the snapshot and the Prometheus gauges built from
it (issue 14, item 3): the rolling figures (the guard's window) live, the run's figures at the end."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from lmm.book.lighter_book import LighterBook
from lmm.config.config import load_config
from lmm.core.market import MarketInfo
from lmm.core.market_maker import MarketMaker, build_model
from lmm.ops.metrics import GAUGES, Metrics
from lmm.ops.status import StatusReporter

SEC = 1_000_000_000
BTC = MarketInfo(1, "BTC", 1, 5, 20, 10_000_000)


def reporter() -> tuple[StatusReporter, MarketMaker]:
    now = [400 * SEC]
    config = load_config(env={})
    mm = MarketMaker(config, BTC, 7, build_model(config, BTC), clock_ns=lambda: now[0], wall_ms=lambda: 0)
    book = LighterBook(1, 1, 5)
    book.on_message({"type": "subscribed/order_book", "channel": "order_book:1",
                     "order_book": {"bids": [{"price": "99999.0", "size": "0.10000"}],
                                    "asks": [{"price": "100001.0", "size": "0.10000"}],
                                    "nonce": 5, "begin_nonce": 0}})
    feed = SimpleNamespace(book=book, stats=SimpleNamespace(resubscribes=0))
    sender = SimpleNamespace(volume_quota_remaining=None, stats=SimpleNamespace(sent=0, rejected=0, rate_limited=0))
    clock = SimpleNamespace(monotonic=lambda: now[0] / SEC, monotonic_ns=lambda: now[0])
    # five buys at 100.0 marked out at -4 bp at 1 s, 0 at 5 s; fills 100 s ago and 300 s ago
    tracker = mm.markouts
    tracker.on_mid(0, 100.0)
    tracker.on_fill(50 * SEC, False, 100.0)  # a sell at 50 s: out of the 300 s rolling window at 400 s
    for _ in range(5):
        tracker.on_fill(300 * SEC, True, 100.0)
    tracker.on_mid(301 * SEC, 99.96)
    tracker.on_mid(305 * SEC, 100.0)
    return StatusReporter(mm, sender, feed, None, clock=clock), mm


def test_the_snapshot_has_the_rolling_markouts_per_horizon_and_side():
    status, _ = reporter()
    s = status.snapshot()
    assert s["markout_1s_bp"] == pytest.approx(-4.0) and s["markout_1s_fills"] == 5
    assert s["markout_1s_buy_bp"] == pytest.approx(-4.0) and s["markout_1s_buy_fills"] == 5
    assert s["markout_1s_sell_bp"] is None and s["markout_1s_sell_fills"] == 0  # aged out of the window
    assert s["markout_5s_bp"] == pytest.approx(0.0) and s["markout_5s_fills"] == 5
    assert s["markout_30s_bp"] is None and s["markout_30s_fills"] == 0  # not due yet (no mid after 330 s)
    assert s["guard_widen_bid_bp"] == 0.0 and s["guard_widen_ask_bp"] == 0.0


def test_the_status_line_shows_the_1s_markout_and_the_guard_while_it_widens():
    status, mm = reporter()
    line = status.line()
    assert " mo1s -4.0bp" in line and "guard" not in line
    mm.guard_widening_bps = (5.0, 0.0)
    assert status.line().endswith(" mo1s -4.0bp guard bid +5.0bp")


def test_the_summary_has_the_run_markouts_all_buys_sells():
    status, _ = reporter()
    rows = {line.split("  ")[1].strip(): line.split("  ", 2)[2].strip() for line in status.summary().splitlines()}
    assert rows["markout 1 s all / buys / sells"] == "-3.33 bp (6) / -4.00 bp (5) / +0.00 bp (1)"
    assert rows["markout 5 s all / buys / sells"] == "+0.00 bp (6) / +0.00 bp (5) / +0.00 bp (1)"
    assert rows["markout 30 s all / buys / sells"] == "+0.00 bp (1) / - bp (0) / +0.00 bp (1)"


def test_the_markouts_are_prometheus_gauges():
    status, _ = reporter()
    metrics = Metrics.__new__(Metrics)  # no server: collect() reads the snapshot only
    metrics.bind(status.snapshot)
    families = {family.name: family for family in metrics.collect()}
    for horizon in (1, 5, 30):
        for suffix in ("", "_buy", "_sell"):
            assert f"markout_{horizon}s{suffix}_bp" in GAUGES and f"markout_{horizon}s{suffix}_fills" in GAUGES
    assert families["lighter_mm_markout_1s_bp"].type == "gauge"
    assert families["lighter_mm_markout_1s_bp"].samples[0].value == pytest.approx(-4.0)
    assert families["lighter_mm_markout_1s_buy_fills"].samples[0].value == 5
    assert families["lighter_mm_markout_1s_sell_fills"].samples[0].value == 0
    assert "lighter_mm_markout_1s_sell_bp" not in families  # unknown: no sample rather than a made-up 0
    assert families["lighter_mm_guard_widen_bid_bp"].samples[0].value == 0.0
