"""What the bot is doing, at a glance: a status line every few seconds and a summary table at exit.

Rules: read-only views of the other components; formatting only, no decisions. The same figures are
returned as a dict (``snapshot``) for the optional Prometheus endpoint and for tests. The summary ends with
one machine-readable ``perf:`` line (``key=value`` pairs, ``nan`` when unknown) that benchmarks parse.
"""
from __future__ import annotations

import asyncio
import logging
import math
import statistics
import time
from types import SimpleNamespace
from typing import Any

from lmm.core.markout_tracker import HORIZONS_S
from lmm.core.order_state import Side, SlotState

log = logging.getLogger("lighter_mm.status")
STATUS_INTERVAL_S = 5.0
MARKOUT_SIDES = (("", None), ("_buy", True), ("_sell", False))  # key suffix, side (True: our buys)


def _p(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None or (isinstance(value, float) and not math.isfinite(value)) else format(value, spec)


def markout_figures(tracker: Any, now_ns: int) -> dict[str, float | int | None]:
    """The rolling markouts (the markout guard's window) as ``markout_<h>s[_buy|_sell]_bp`` and ``..._fills``."""
    out: dict[str, float | int | None] = {}
    for horizon in HORIZONS_S:
        for suffix, side in MARKOUT_SIDES:
            figure = tracker.rolling(horizon, side, now_ns)
            out[f"markout_{horizon}s{suffix}_bp"] = figure.mean_bps
            out[f"markout_{horizon}s{suffix}_fills"] = figure.count
    return out


class StatusReporter:
    def __init__(self, mm: Any, sender: Any, feed: Any, binance: Any | None, ws: Any | None = None,
                 clock: Any = None, label: str = "") -> None:
        self._label = label  # "PAPER": the status line says the orders are simulated
        # the run's clock (virtual on the local venue); the system clock by default
        self._clock = clock or SimpleNamespace(monotonic=time.monotonic, monotonic_ns=time.monotonic_ns)
        self._mm = mm
        self._ws = ws
        self._sender = sender
        self._feed = feed
        self._binance = binance
        self.sampler: Any | None = None
        self.loop_lag: Any | None = None  # loop_lag.LoopLagMonitor, set by the daemon
        self._started = self._clock.monotonic()
        self._last_mid: float | None = None  # values the position in the exit summary, after the feed closed

    def snapshot(self) -> dict[str, Any]:
        mm, market = self._mm, self._mm.market
        now = self._clock.monotonic_ns()
        book = self._feed.book
        mid = book.mid
        if mid is not None:
            self._last_mid = mid
        quotes: dict[str, float | None] = {"bid": None, "ask": None}
        for (side, _level), slot in mm.orders.slots.items():  # the innermost order of each side, any level
            if slot.state is not SlotState.IDLE:
                name, price = ("bid", max) if side is Side.BID else ("ask", min)
                tick = slot.price_tick if quotes[name] is None else price(slot.price_tick, quotes[name])
                quotes[name] = tick
        for name, tick in quotes.items():
            quotes[name] = None if tick is None else market.price_of(int(tick))
        position = market.size_of(mm.account.position_lots)
        ticks = mm.stats.tick_to_order_ms
        return {
            "mid": mid,
            "bid": quotes["bid"],
            "ask": quotes["ask"],
            "bid_bp": None if mid is None or quotes["bid"] is None else (mid - quotes["bid"]) / mid * 1e4,
            "ask_bp": None if mid is None or quotes["ask"] is None else (quotes["ask"] - mid) / mid * 1e4,
            "position": position,
            "position_usd": None if self._last_mid is None else position * self._last_mid,
            "realized_pnl": mm.account.realized_pnl,
            "unrealized_pnl": mm.account.unrealized_pnl,
            "fills": mm.stats.fills,
            "volume_usd": mm.stats.fill_notional_usd,
            "quota": self._sender.volume_quota_remaining,
            "alpha": mm.model.alpha(now),
            "alpha_source": mm.model.alpha_source(now),
            "volatility": mm.model.volatility,
            "samples": mm.model.samples,
            "warmed_up": mm.model.warmed_up(now),
            "paused": ",".join(mm.pauses) or None,
            "untracked_orders": len(mm.orders.orphans),  # ours on the venue, no slot: being cancelled
            "tick_to_order_p50_ms": _p(ticks, 0.5),
            "tick_to_order_p99_ms": _p(ticks, 0.99),
            "loop_lag_p50_ms": None if self.loop_lag is None else self.loop_lag.percentile_ms(0.5),
            "loop_lag_p99_ms": None if self.loop_lag is None else self.loop_lag.percentile_ms(0.99),
            "book_resyncs": self._feed.stats.resubscribes,
            "sent": self._sender.stats.sent,
            "rejected": self._sender.stats.rejected,
            "rate_limited": self._sender.stats.rate_limited,
            "breaker_trips": mm.breaker.trips,
            "binance_resyncs": None if self._binance is None else self._binance.health().resyncs,
            "reconnects": None if self._ws is None else self._ws.connection_health().reconnects,
            **markout_figures(mm.markouts, now),
            "guard_widen_bid_bp": mm.guard_widening_bps[0],
            "guard_widen_ask_bp": mm.guard_widening_bps[1],
        }

    def line(self) -> str:
        s = self.snapshot()
        state = f"PAUSED({s['paused']})" if s["paused"] else ("QUOTING" if s["warmed_up"] else
                                                              f"WARMUP({s['samples']} samples)")
        if self._label:
            state = f"{self._label} {state}"
        return (f"{state} mid {_fmt(s['mid'])} bid {_fmt(s['bid'])} ({_fmt(s['bid_bp'], '.1f')}bp) "
                f"ask {_fmt(s['ask'])} ({_fmt(s['ask_bp'], '.1f')}bp) pos {s['position']:+g} "
                f"(${_fmt(s['position_usd'])}) pnl r {_fmt(s['realized_pnl'])} u {_fmt(s['unrealized_pnl'])} "
                f"fills {s['fills']} vol ${_fmt(s['volume_usd'], '.0f')} quota {_fmt(s['quota'], 'd')} "
                f"alpha {_fmt(s['alpha'], '+.2f')} ({s['alpha_source']}) vol {_fmt(s['volatility'], '.3f')} "
                f"t2o p50 {_fmt(s['tick_to_order_p50_ms'], '.2f')}ms mo1s {_fmt(s['markout_1s_bp'], '+.1f')}bp"
                + (f" untracked {s['untracked_orders']}" if s["untracked_orders"] else "")
                + _guard_text(s))

    def _markout_rows(self) -> list[tuple[str, str]]:
        """The run's markouts (every fill, not the rolling window), all / our buys / our sells."""
        tracker = self._mm.markouts
        rows = []
        for horizon in HORIZONS_S:
            cells = []
            for _suffix, side in MARKOUT_SIDES:
                figure = tracker.run_total(horizon, side)
                cells.append(f"{_fmt(figure.mean_bps, '+.2f')} bp ({figure.count})")
            rows.append((f"markout {horizon} s all / buys / sells", " / ".join(cells)))
        return rows

    async def run(self) -> None:
        while True:
            await asyncio.sleep(STATUS_INTERVAL_S)
            log.info("%s", self.line())

    def summary(self) -> str:
        s = self.snapshot()
        ticks = self._mm.stats.tick_to_order_ms
        rows = [
            ("run time", f"{self._clock.monotonic() - self._started:.0f} s"),
            ("fills", f"{s['fills']} ({self._mm.stats.maker_fills} maker)"),
            ("volume", f"${_fmt(s['volume_usd'])}"),
            ("position", f"{s['position']:+g} (${_fmt(s['position_usd'])})"),
            ("realized / unrealized PnL", f"{_fmt(s['realized_pnl'])} / {_fmt(s['unrealized_pnl'])}"),
            ("transactions sent / rejected / 429", f"{s['sent']} / {s['rejected']} / {s['rate_limited']}"),
            ("creates / modifies / cancels", f"{self._mm.orders.stats.creates} / {self._mm.orders.stats.modifies}"
                                             f" / {self._mm.orders.stats.cancels}"),
            ("book resyncs / breaker trips", f"{s['book_resyncs']} / {s['breaker_trips']}"),
            ("tick-to-order p50 / p99", f"{_fmt(_p(ticks, 0.5), '.2f')} / {_fmt(_p(ticks, 0.99), '.2f')} ms"),
            ("mean tick-to-order", f"{_fmt(statistics.fmean(ticks) if ticks else None, '.2f')} ms"),
            ("event-loop lag p50 / p99",
             f"{_fmt(s['loop_lag_p50_ms'], '.2f')} / {_fmt(s['loop_lag_p99_ms'], '.2f')} ms"),
            *self._markout_rows(),
        ]
        width = max(len(name) for name, _ in rows)
        text = "\n".join(f"  {name:<{width}}  {value}" for name, value in rows)
        log.info("summary:\n%s", text)
        log.info("%s", self.perf_line(s))
        return text

    def perf_line(self, s: dict[str, Any] | None = None) -> str:
        s = self.snapshot() if s is None else s
        figures = {
            "tick_to_order_p50_ms": s["tick_to_order_p50_ms"],
            "tick_to_order_p99_ms": s["tick_to_order_p99_ms"],
            "tick_to_order_samples": len(self._mm.stats.tick_to_order_ms),
            "loop_lag_p50_ms": s["loop_lag_p50_ms"],
            "loop_lag_p99_ms": s["loop_lag_p99_ms"],
            "loop_lag_samples": 0 if self.loop_lag is None else self.loop_lag.samples,
            "timer_overshoot_p50_ms": None if self.loop_lag is None else self.loop_lag.overshoot_percentile_ms(0.5),
            "timer_overshoot_p99_ms": None if self.loop_lag is None else self.loop_lag.overshoot_percentile_ms(0.99),
        }
        return "perf: " + " ".join(f"{name}={'nan' if value is None else format(value, 'g')}"
                                   for name, value in figures.items())


def _guard_text(s: dict[str, Any]) -> str:
    """`` guard bid +5.0bp`` while the markout guard widens a side, else nothing."""
    sides = [f"{name} +{s[f'guard_widen_{name}_bp']:.1f}bp" for name in ("bid", "ask")
             if s[f"guard_widen_{name}_bp"] > 0]
    return f" guard {' '.join(sides)}" if sides else ""
