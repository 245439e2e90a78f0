"""Property-based parity of the Cython and pure-Python model cores on random operation streams.

Every output of every step must agree (relative difference <= 1e-9, ticks and counters exactly), including
NaN/inf inputs, huge values, time going backwards, unsynced books and stale alpha overrides.
"""
from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, event, given, settings, target
from hypothesis import strategies as st
from model_impls import CYTHON_IMPL, CYTHON_SKIP_REASON, PYTHON_IMPL

pytestmark = pytest.mark.skipif(CYTHON_IMPL is None, reason=CYTHON_SKIP_REASON or "no Cython build")

PARITY_SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                           suppress_health_check=[HealthCheck.too_slow])
REL = 1e-9

special_floats = st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, 1e101, -1e300, 5e-324])
samples = st.one_of(st.floats(-1e6, 1e6, allow_nan=False), special_floats,
                    st.floats(1e9, 1e9 + 10.0), st.integers(-5, 5).map(float))


def same(a: object, b: object) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        a, b = float(a), float(b)  # type: ignore[arg-type]
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        if a == b:
            return True
        return abs(a - b) <= REL * max(abs(a), abs(b))
    return a == b


def stats_snapshot(stats, probe: float) -> tuple:
    return (stats.count, stats.total, stats.rejected, stats.mean, stats.std, stats.last, stats.zscore(probe),
            stats.zscore(stats.last), stats.ready(3))


@PARITY_SETTINGS
@given(capacity=st.integers(2, 12), values=st.lists(samples, max_size=120), probe=samples,
       reset_at=st.integers(0, 200))
def test_rolling_stats_parity(capacity: int, values: list[float], probe: float, reset_at: int) -> None:
    py, cy = PYTHON_IMPL.RollingStats(capacity), CYTHON_IMPL.RollingStats(capacity)
    for i, x in enumerate(values):
        if i == reset_at:
            py.reset()
            cy.reset()
        assert py.push(x) == cy.push(x)
        snap_py, snap_cy = stats_snapshot(py, probe), stats_snapshot(cy, probe)
        assert all(same(a, b) for a, b in zip(snap_py, snap_cy, strict=True)), (snap_py, snap_cy)


STEP = 1_000_000
finite_imbalance = st.floats(-50.0, 50.0)
bad_floats = st.sampled_from([math.nan, math.inf, -math.inf, -1.0, 0.0, 1e300])
time_jumps = st.one_of(st.integers(-2 * STEP, 0), st.integers(0, 40 * STEP))  # backwards, stalls
regular_moves = st.one_of(st.just(STEP), st.integers(STEP // 2, 2 * STEP))
# ("step", dt, mid move in ticks, imbalance) is the common case: a book update then the timer.
operations = st.one_of(
    st.tuples(st.just("step"), regular_moves, st.floats(-3.0, 3.0), finite_imbalance),
    st.tuples(st.just("step"), regular_moves, st.floats(-1.0, 1.0), finite_imbalance),
    st.tuples(st.just("step"), regular_moves, st.floats(-1.0, 1.0), finite_imbalance),
    st.tuples(st.just("timer"), st.one_of(regular_moves, time_jumps)),
    st.tuples(st.just("bad_book"), regular_moves, bad_floats, st.one_of(finite_imbalance, bad_floats)),
    st.tuples(st.just("invalid"), st.one_of(regular_moves, time_jumps)),
    st.tuples(st.just("alpha"), st.integers(0, STEP), st.floats(-4.0, 4.0), st.integers(-40 * STEP, 0)),
    st.tuples(st.just("alpha"), st.integers(0, STEP), st.floats(-4.0, 4.0), st.integers(-40 * STEP, 0)),
    st.tuples(st.just("alpha"), st.integers(0, STEP), st.sampled_from([math.nan, math.inf]), st.just(0)),
    st.tuples(st.just("clear"), st.just(0)),
    st.tuples(st.just("quote"), st.integers(0, STEP), st.floats(-0.5, 0.5), st.floats(-10.0, 2000.0),
              st.integers(-6, 6), st.integers(-1, 8)),
    st.tuples(st.just("quote"), st.integers(0, STEP), st.floats(-0.5, 0.5), st.floats(-10.0, 2000.0),
              st.integers(-6, 6), st.integers(-1, 8)),
    st.tuples(st.just("bad_quote"), st.integers(0, STEP), st.sampled_from([math.nan, math.inf, 0.1]),
              st.sampled_from([math.nan, -math.inf, 0.0, 100.0]), st.sampled_from([-1, 0, 1000])),
)
calculator_settings = st.fixed_dictionaries({
    "tick_size": st.sampled_from([0.01, 0.1, 0.001]),
    "step_ns": st.just(STEP),
    "window_steps": st.integers(4, 16),
    "vol_to_half_spread": st.floats(0.5, 60.0),
    "min_half_spread_bps": st.sampled_from([0.0, 2.0, 8.0, 40.0]),
    "c1_ticks": st.floats(0.0, 200.0),
    "skew": st.floats(0.0, 5.0),
    "min_warmup_samples": st.integers(2, 4),
    "warmup_seconds": st.sampled_from([0.0, 0.002, 0.01]),
    "alpha_stale_ns": st.sampled_from([STEP, 5 * STEP]),
    "local_alpha_min_samples": st.integers(1, 4),
    "floor_reference": st.sampled_from(["fair", "mid"]),
    "max_catchup_steps": st.integers(1, 4),
})


def calculator_snapshot(calc, now: int) -> tuple:
    return (calc.samples, calc.obi_samples, calc.volatility, calc.half_spread_ticks, calc.mid, calc.book_valid,
            calc.rejected_inputs, calc.clock_regressions, calc.long_gaps, calc.warmed_up(now),
            calc.warmup_seconds_left(now), calc.alpha(now), calc.alpha_source(now), calc.fair_price(now),
            calc.floor_reference_price(now))


class Driver:
    """Feeds one calculator; the mid walks in ticks around 1000 and the touch is placed around it."""

    def __init__(self, calc, tick: float) -> None:
        self.calc, self.tick, self.mid_ticks = calc, tick, 1000.0

    def apply(self, op: tuple, now: int) -> object:
        calc, kind = self.calc, op[0]
        if kind == "step":
            self.mid_ticks = min(1100.0, max(900.0, self.mid_ticks + op[2]))
            return calc.on_book(now, self.mid_ticks * self.tick, op[3]), calc.on_timer(now)
        if kind == "timer":
            return calc.on_timer(now)
        if kind == "bad_book":
            return calc.on_book(now, op[2], op[3])
        if kind == "invalid":
            return calc.on_book_invalid(now)
        if kind == "alpha":
            return calc.set_alpha_override(op[2], max(0, now + op[3]))
        if kind == "clear":
            return calc.clear_alpha_override()
        if kind == "bad_quote":
            return calc.quote(now, op[2], op[3], op[4], 1001)
        best_bid = math.floor(self.mid_ticks) + op[4]
        return calc.quote(now, op[2], op[3], best_bid, best_bid + op[5])


@PARITY_SETTINGS
@given(config=calculator_settings, ops=st.lists(operations, min_size=10, max_size=150))
def test_calculator_parity(config: dict, ops: list[tuple]) -> None:
    tick = config["tick_size"]
    py = Driver(PYTHON_IMPL.VolObiCalculator(**config), tick)
    cy = Driver(CYTHON_IMPL.VolObiCalculator(**config), tick)
    now = 10 * STEP
    quotes = 0
    for op in ops:
        now = max(0, now + op[1])
        out_py, out_cy = py.apply(op, now), cy.apply(op, now)
        assert out_py == out_cy, (op, out_py, out_cy)
        if op[0] == "quote":
            quotes += out_py is not None
            event("quote: none" if out_py is None else f"quote: bid {out_py[0] > 0}, ask {out_py[1] > 0}")
        snap_py, snap_cy = calculator_snapshot(py.calc, now), calculator_snapshot(cy.calc, now)
        assert all(same(a, b) for a, b in zip(snap_py, snap_cy, strict=True)), (op, snap_py, snap_cy)
    target(float(quotes), label="quotes produced")  # steer generation toward streams that reach quoting


def test_public_api_is_the_same() -> None:
    for py_cls, cy_cls in ((PYTHON_IMPL.RollingStats, CYTHON_IMPL.RollingStats),
                           (PYTHON_IMPL.VolObiCalculator, CYTHON_IMPL.VolObiCalculator)):
        public_py = {name for name in dir(py_cls) if not name.startswith("_")}
        public_cy = {name for name in dir(cy_cls) if not name.startswith("_")}
        assert public_py == public_cy
    assert hasattr(CYTHON_IMPL.RollingStats(2), "_set_counters_for_test")
