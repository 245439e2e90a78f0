"""Optional Prometheus endpoint (``--metrics-port``): the status figures plus the counters behind them.

Rules: served on 127.0.0.1 only, from prometheus-client's own thread; values are read from the status
snapshot at scrape time (no second bookkeeping), so they can't drift from the status line.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from lmm.core.markout_tracker import HORIZONS_S

COUNTERS = {
    "fills": "Fills received",
    "sent": "Transactions (batches) sent",
    "rejected": "Transactions rejected by the venue",
    "rate_limited": "Sends answered with 429 / rate limited",
    "breaker_trips": "Circuit breaker trips",
    "book_resyncs": "Lighter order book resubscriptions (gaps, crossed, sanity failures)",
    "binance_resyncs": "Binance depth resyncs",
    "reconnects": "Lighter WebSocket reconnects",
}
GAUGES = {
    "mid": "Lighter mid price",
    "bid": "Our best bid",
    "ask": "Our best ask",
    "bid_bp": "Our bid's distance from mid, bp",
    "ask_bp": "Our ask's distance from mid, bp",
    "position": "Signed position, base units",
    "position_usd": "Position value, USD",
    "realized_pnl": "Realized PnL, USD",
    "unrealized_pnl": "Unrealized PnL, USD",
    "volume_usd": "Fill volume, USD",
    "quota": "Volume quota remaining",
    "alpha": "Alpha (z-score) in use",
    "volatility": "Volatility of the mid, USD per sqrt(s)",
    "tick_to_order_p50_ms": "Book frame to signed order, p50 ms",
    "tick_to_order_p99_ms": "Book frame to signed order, p99 ms",
    "guard_widen_bid_bp": "Markout guard: how far the bid is widened, bp",
    "guard_widen_ask_bp": "Markout guard: how far the ask is widened, bp",
}
# the rolling markouts of our fills (the markout guard's window), all / buys / sells
GAUGES.update({
    f"markout_{h}s{suffix}_{unit}": (f"Mean {h} s markout of {whose} in the rolling window, bp" if unit == "bp"
                                     else f"Fills of {whose} behind the {h} s markout")
    for h in HORIZONS_S
    for suffix, whose in (("", "our fills"), ("_buy", "our buys"), ("_sell", "our sells"))
    for unit in ("bp", "fills")
})


class Metrics:
    def __init__(self, port: int) -> None:
        from prometheus_client import CollectorRegistry, start_http_server

        self._snapshot: Callable[[], dict[str, Any]] = dict
        self.registry = CollectorRegistry()
        self.registry.register(self)
        self.server, self.thread = start_http_server(port, addr="127.0.0.1", registry=self.registry)

    def bind(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        values = self._snapshot()
        for key, doc in COUNTERS.items():
            if isinstance(values.get(key), int | float):
                yield CounterMetricFamily(f"lighter_mm_{key}", doc, value=values[key])
        for key, doc in GAUGES.items():
            if isinstance(values.get(key), int | float):
                yield GaugeMetricFamily(f"lighter_mm_{key}", doc, value=values[key])
        yield GaugeMetricFamily("lighter_mm_paused", "1 while quoting is paused", value=1 if values.get("paused")
                                else 0)

    def close(self) -> None:
        self.server.shutdown()


def start_metrics_server(port: int) -> Metrics:
    return Metrics(port)
