"""VolObiCalculator behaviour (sampling clock, warm-up, alpha source, quote rules), for both implementations."""
from __future__ import annotations

import itertools
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from model_impls import IMPL_PARAMS, PYTHON_IMPL, ModelImpl

import lmm.model.vol_obi as vol_obi

STEP = 100_000_000
SECOND = 1_000_000_000
TICK = 0.1
MID = 100_000.0
BBO = (999_999, 1_000_001)  # touch one tick either side of MID


@pytest.fixture(params=IMPL_PARAMS)
def impl(request: pytest.FixtureRequest) -> ModelImpl:
    return request.param


def make(impl: ModelImpl, **overrides):
    settings = dict(tick_size=TICK, window_steps=200, min_warmup_samples=10, warmup_seconds=2.0,
                    min_half_spread_bps=0.5, local_alpha_min_samples=200)
    settings.update(overrides)
    return impl.VolObiCalculator(**settings)


def feed(calc, mids, t0: int = 0, step: int = STEP, imbalances=None) -> int:
    """One book update and one on-time timer call per mid; returns the next boundary time."""
    t = t0
    for i, mid in enumerate(mids):
        calc.on_book(t, mid, 0.0 if imbalances is None else imbalances[i])
        assert calc.on_timer(t) == 1
        t += step
    return t


def zigzag(n: int, base: float = MID, move: float = 0.5) -> list[float]:
    return [base + (move if i % 2 else 0.0) for i in range(n)]


def warmed(impl: ModelImpl, **overrides):
    calc = make(impl, **overrides)
    t = feed(calc, zigzag(41))  # ends on MID, 4 s of samples
    assert calc.mid == MID
    assert calc.warmed_up(t)
    return calc, t


def expected_sigma(pushed_moves: list[float], step: int = STEP) -> float:
    return statistics.pstdev(pushed_moves) * math.sqrt(1e9 / step)


# --- sampling clock ---------------------------------------------------------------------------------------

def test_first_timer_anchors_the_grid_and_each_boundary_samples_once(impl: ModelImpl) -> None:
    calc = make(impl)
    assert calc.on_timer(0) == 0  # no book yet: the grid is anchored, nothing sampled
    calc.on_book(10, 100.0, 1.0)
    assert calc.on_timer(50_000_000) == 0
    assert calc.on_timer(STEP) == 1
    assert (calc.samples, calc.obi_samples) == (0, 1)  # first sample: imbalance only, no previous mid
    assert calc.on_timer(STEP + 1) == 0
    calc.on_book(STEP + 2, 100.5, 2.0)
    assert calc.on_timer(2 * STEP) == 1
    assert (calc.samples, calc.obi_samples) == (1, 2)


def test_deadlines_do_not_drift_with_late_calls(impl: ModelImpl) -> None:
    calc = make(impl)
    calc.on_book(0, MID, 0.0)
    taken = [calc.on_timer(t) for t in (0, 130_000_000, 260_000_000, 390_000_000, 399_000_000, 400_000_000)]
    assert taken == [1, 1, 1, 1, 0, 1]  # boundaries 0, 100, 200, 300, 400 ms; t0 + k·step, not now + step


def test_sigma_is_std_of_mid_moves_scaled_by_sqrt_steps_per_second(impl: ModelImpl) -> None:
    rng = np.random.default_rng(11)
    mids = [float(m) for m in MID + np.cumsum(rng.choice([-0.2, -0.1, 0.0, 0.1, 0.3], size=120))]
    moves = [b - a for a, b in itertools.pairwise(mids)]
    fast = make(impl)
    feed(fast, mids)
    slow = make(impl, step_ns=SECOND)
    feed(slow, mids, step=SECOND)
    assert fast.volatility == pytest.approx(statistics.pstdev(moves) * math.sqrt(10), rel=1e-9)
    assert slow.volatility == pytest.approx(statistics.pstdev(moves), rel=1e-9)
    assert fast.volatility / slow.volatility == pytest.approx(math.sqrt(10), rel=1e-12)
    assert fast.samples == len(moves)


def test_late_timer_samples_the_held_book_once_per_missed_boundary(impl: ModelImpl) -> None:
    calc = make(impl)
    t = feed(calc, [MID, MID + 1.0, MID])  # pushed moves: +1, -1
    calc.on_book(t, MID + 3.0, 5.0)
    assert calc.on_timer(t + 2 * STEP + 5) == 3  # boundaries t, t+step, t+2·step
    assert calc.samples == 5
    assert calc.obi_samples == 6
    assert calc.volatility == pytest.approx(expected_sigma([1.0, -1.0, 3.0, 0.0, 0.0]), rel=1e-12)
    assert calc.on_timer(t + 3 * STEP) == 1  # grid kept: next boundary is t + 3·step
    assert calc.long_gaps == 0


def test_stall_beyond_max_catchup_is_a_gap_not_a_jump(impl: ModelImpl) -> None:
    calc = make(impl, max_catchup_steps=5)
    t = feed(calc, zigzag(6))
    sigma_before, samples_before = calc.volatility, calc.samples
    calc.on_book(t, MID + 1000.0, 0.0)
    assert calc.on_timer(t + 20 * STEP) == 1
    assert (calc.long_gaps, calc.samples, calc.volatility) == (1, samples_before, sigma_before)
    calc.on_book(t + 20 * STEP + 1, MID + 1000.5, 0.0)
    assert calc.on_timer(t + 21 * STEP) == 1
    assert calc.volatility == pytest.approx(expected_sigma([0.5, -0.5, 0.5, -0.5, 0.5, 0.5]), rel=1e-12)


def test_time_going_backwards_is_ignored(impl: ModelImpl) -> None:
    calc = make(impl)
    t = feed(calc, zigzag(5))
    before = (calc.samples, calc.obi_samples, calc.volatility)
    calc.on_book(t - 3 * STEP, MID + 50.0, 0.0)
    assert calc.on_timer(t - 3 * STEP) == 0
    assert calc.on_timer(t - 1) == 0
    assert calc.clock_regressions == 1  # t - 1 is after t - 3·step: a normal "not due yet"
    assert (calc.samples, calc.obi_samples, calc.volatility) == before
    assert calc.on_timer(t) == 1  # the grid is untouched


def test_unsynced_book_skips_samples_and_forgets_the_previous_mid(impl: ModelImpl) -> None:
    calc = make(impl)
    t = feed(calc, zigzag(5))  # moves +.5 -.5 +.5 -.5
    calc.on_book_invalid(t)
    assert [calc.on_timer(t + k * STEP) for k in range(3)] == [0, 0, 0]
    assert not calc.book_valid and math.isnan(calc.mid) and math.isnan(calc.fair_price(t))
    assert calc.quote(t, 0.0, 1e4, *BBO) is None
    t += 3 * STEP
    calc.on_book(t, MID + 500.0, 0.0)
    assert calc.on_timer(t) == 1
    assert calc.samples == 4  # no Δm across the gap
    t = feed(calc, [MID + 500.25], t0=t + STEP)
    assert calc.volatility == pytest.approx(expected_sigma([0.5, -0.5, 0.5, -0.5, 0.25]), rel=1e-12)


@pytest.mark.parametrize(("mid", "imbalance"), [(math.nan, 0.0), (math.inf, 0.0), (-1.0, 0.0), (0.0, 0.0),
                                                (MID, math.nan), (MID, -math.inf)])
def test_bad_book_input_is_rejected_and_fails_closed(impl: ModelImpl, mid: float, imbalance: float) -> None:
    calc, t = warmed(impl)
    sigma = calc.volatility
    assert calc.on_book(t, mid, imbalance) is False
    assert calc.rejected_inputs == 1
    assert not calc.book_valid
    assert calc.on_timer(t) == 0
    assert calc.quote(t, 0.0, 1e4, *BBO) is None
    assert calc.volatility == sigma and math.isfinite(sigma)
    assert calc.on_book(t + 1, MID, 1.0) is True
    assert calc.quote(t + 1, 0.0, 1e4, *BBO) is not None


# --- warm-up ----------------------------------------------------------------------------------------------

def test_no_quote_before_enough_samples(impl: ModelImpl) -> None:
    calc = make(impl, warmup_seconds=0.0, min_warmup_samples=10)
    t = feed(calc, zigzag(10))  # 9 moves
    assert not calc.warmed_up(t) and calc.quote(t, 0.0, 1e4, *BBO) is None
    t = feed(calc, [MID + 0.5], t0=t)
    assert calc.warmed_up(t) and calc.quote(t, 0.0, 1e4, *BBO) is not None


def test_no_quote_before_warmup_seconds(impl: ModelImpl) -> None:
    calc = make(impl, warmup_seconds=2.0)
    start = 7 * SECOND
    feed(calc, zigzag(15), t0=start)  # 14 moves, but only 1.4 s
    assert calc.warmup_seconds_left(start + 15 * STEP) == pytest.approx(0.5)
    assert not calc.warmed_up(start + 2 * SECOND - 1)
    assert calc.quote(start + 2 * SECOND - 1, 0.0, 1e4, *BBO) is None
    assert calc.warmed_up(start + 2 * SECOND)
    assert calc.warmup_seconds_left(start + 2 * SECOND) == 0.0
    assert calc.quote(start + 2 * SECOND, 0.0, 1e4, *BBO) is not None
    assert not calc.warmed_up(start - 1)  # a clock before the first sample never counts as warm


def test_zero_volatility_never_quotes(impl: ModelImpl) -> None:
    calc = make(impl, warmup_seconds=0.0)
    t = feed(calc, [MID] * 30)
    assert calc.volatility == 0.0
    assert not calc.warmed_up(t) and calc.quote(t, 0.0, 1e4, *BBO) is None


# --- alpha ------------------------------------------------------------------------------------------------

def test_alpha_override_is_used_only_while_fresh(impl: ModelImpl) -> None:
    calc, t = warmed(impl, alpha_stale_ns=5 * SECOND, c1_ticks=100.0)
    assert calc.alpha_source(t) == "none" and calc.alpha(t) == 0.0
    assert calc.set_alpha_override(1.5, t) is True
    assert (calc.alpha_source(t + 5 * SECOND - 1), calc.alpha(t + 5 * SECOND - 1)) == ("binance", 1.5)
    assert calc.fair_price(t) == MID + 10.0 * 1.5
    assert calc.alpha_source(t + 5 * SECOND) == "none"  # stale from its sample time
    assert calc.alpha_source(t - 1) == "none"  # a sample from the future is not trusted
    assert calc.set_alpha_override(9.0, t - SECOND) is False  # older than the one held
    assert calc.alpha(t) == 1.5
    calc.clear_alpha_override()
    assert calc.alpha_source(t) == "none"


def test_non_finite_alpha_is_rejected_and_drops_the_override(impl: ModelImpl) -> None:
    calc, t = warmed(impl)
    calc.set_alpha_override(2.0, t)
    assert calc.set_alpha_override(math.nan, t + 1) is False
    assert calc.rejected_inputs == 1
    assert calc.alpha_source(t + 1) == "none" and calc.alpha(t + 1) == 0.0


def test_local_lighter_alpha_is_z_of_the_latest_imbalance(impl: ModelImpl) -> None:
    calc = make(impl, local_alpha_min_samples=20, window_steps=30)
    imbalances = [float((i * 7) % 11 - 5) for i in range(40)]
    t = feed(calc, zigzag(40), imbalances=imbalances)
    window = imbalances[-30:]
    expected = (window[-1] - statistics.fmean(window)) / statistics.pstdev(window)
    assert calc.alpha_source(t) == "lighter"
    assert calc.alpha(t) == pytest.approx(expected, rel=1e-12)
    calc.set_alpha_override(-0.25, t)
    assert (calc.alpha_source(t), calc.alpha(t)) == ("binance", -0.25)
    early = make(impl, local_alpha_min_samples=20)
    t = feed(early, zigzag(19), imbalances=imbalances)
    assert early.alpha_source(t) == "none"


# --- quote ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("floor_bps", [0.5, 30.0])
@pytest.mark.parametrize("alpha", [None, -3.0, 2.0])
@pytest.mark.parametrize("position", [-0.2, -0.03, 0.0, 0.01, 0.05])
def test_quote_invariants(impl: ModelImpl, floor_bps: float, alpha: float | None, position: float) -> None:
    calc, t = warmed(impl, min_half_spread_bps=floor_bps, c1_ticks=150.0)
    if alpha is not None:
        calc.set_alpha_override(alpha, t)
    result = calc.quote(t, position, 10_000.0, *BBO)
    assert result is not None
    bid, ask = result
    assert isinstance(bid, int) and isinstance(ask, int)
    fair = calc.fair_price(t)
    assert calc.floor_reference_price(t) == fair
    if bid:
        assert bid <= BBO[0] and bid * TICK <= fair * (1 - floor_bps / 1e4) + 1e-6
    if ask:
        assert ask >= BBO[1] and ask * TICK >= fair * (1 + floor_bps / 1e4) - 1e-6
    if bid and ask:
        assert bid < ask
    assert (bid == 0) == (position * MID >= 10_000.0)  # long 0.2 BTC = $20k is at the limit
    assert (ask == 0) == (-position * MID >= 10_000.0)


def test_floor_reference_mid_measures_the_floor_from_mid(impl: ModelImpl) -> None:
    calc, t = warmed(impl, min_half_spread_bps=30.0, c1_ticks=500.0, floor_reference="mid")
    calc.set_alpha_override(3.0, t)  # F = m + $150 = m + 15 bp
    fair = calc.fair_price(t)
    assert calc.floor_reference_price(t) == MID
    bid, ask = calc.quote(t, 0.0, 1e4, *BBO)
    assert bid == math.floor(MID * (1 - 30e-4) / TICK + 1e-9)  # floor from m binds the bid
    assert ask * TICK < fair * (1 + 30e-4)  # a floor around F would have pushed it further


def test_inventory_skew_direction(impl: ModelImpl) -> None:
    calc, t = warmed(impl)
    flat_bid, flat_ask = calc.quote(t, 0.0, 10_000.0, *BBO)
    long_bid, long_ask = calc.quote(t, 0.02, 10_000.0, *BBO)
    short_bid, short_ask = calc.quote(t, -0.02, 10_000.0, *BBO)
    assert long_bid < flat_bid and long_ask < flat_ask  # long: bid wider, ask tighter
    assert short_bid > flat_bid and short_ask > flat_ask  # short: bid tighter, ask wider
    assert (flat_bid + flat_ask) / 2 == pytest.approx(MID / TICK, abs=1)


def test_alpha_moves_both_quotes_by_c1_times_alpha(impl: ModelImpl) -> None:
    calc, t = warmed(impl, c1_ticks=100.0)
    neutral = calc.quote(t, 0.0, 1e4, *BBO)
    calc.set_alpha_override(2.0, t)
    up = calc.quote(t, 0.0, 1e4, *BBO)
    calc.set_alpha_override(-2.0, t + 1)
    down = calc.quote(t + 1, 0.0, 1e4, *BBO)
    for side in (0, 1):
        assert up[side] - neutral[side] == pytest.approx(200, abs=1)
        assert neutral[side] - down[side] == pytest.approx(200, abs=1)


def test_tick_rounding_uses_the_epsilon(impl: ModelImpl) -> None:
    assert math.floor(97000.7 / 0.1) == 970006  # the trap: a bare floor loses a tick
    # Short at q = -1 with skew 1: the bid depth is exactly 0, so bid = F = 97000.7; the ask adds exposure.
    calc = make(impl, skew=1.0, min_half_spread_bps=0.0)
    t = feed(calc, zigzag(41, base=97000.7, move=0.2)[::-1])
    assert calc.mid == 97000.7
    assert calc.quote(t, -1.0, 1000.0, 970007, 970009) == (970007, 0)
    assert math.ceil(4.001 / 0.001) == 4002  # and a bare ceil gains one
    calc = make(impl, tick_size=0.001, skew=1.0, min_half_spread_bps=0.0)
    t = feed(calc, zigzag(41, base=4.001, move=0.002)[::-1])
    assert calc.quote(t, 1.0, 1.0, 3999, 4001) == (0, 4001)


def test_quotes_are_clamped_to_the_touch(impl: ModelImpl) -> None:
    calc, t = warmed(impl, c1_ticks=1000.0)
    calc.set_alpha_override(5.0, t)  # F = m + $500: the raw bid would cross the best ask
    bid, ask = calc.quote(t, 0.0, 1e4, *BBO)
    assert bid == BBO[0] and ask > BBO[1]
    calc.set_alpha_override(-5.0, t + 1)
    bid, ask = calc.quote(t + 1, 0.0, 1e4, *BBO)
    assert ask == BBO[1] and bid < BBO[0]


def test_crossed_quote_guard(impl: ModelImpl) -> None:
    # A half-spread far below one ulp of the mid: both sides round onto the mid's tick.
    calc, t = warmed(impl, vol_to_half_spread=1e-12, min_half_spread_bps=0.0)
    assert calc.quote(t, 0.0, 1e4, 0, 0) is None  # empty book sides: no clamp, the guard catches it
    assert calc.quote(t, 0.0, 1e4, *BBO) == BBO  # the touch clamp keeps a valid book from crossing


def test_bad_touch_or_position_gives_no_quote(impl: ModelImpl) -> None:
    calc, t = warmed(impl)
    assert calc.quote(t, 0.0, 1e4, 1_000_001, 1_000_001) is None  # locked
    assert calc.quote(t, 0.0, 1e4, 1_000_002, 1_000_001) is None  # crossed
    assert calc.quote(t, 0.0, 1e4, -1, 1_000_001) is None
    assert calc.quote(t, math.nan, 1e4, *BBO) is None
    assert calc.quote(t, math.inf, 1e4, *BBO) is None


@pytest.mark.parametrize("limit", [0.0, -50.0, math.nan])
def test_unknown_or_non_positive_limit_allows_no_new_exposure(impl: ModelImpl, limit: float) -> None:
    calc, t = warmed(impl)
    assert calc.quote(t, 0.0, limit, *BBO) is None
    bid, ask = calc.quote(t, 0.01, limit, *BBO)
    assert bid == 0 and ask >= BBO[1]
    bid, ask = calc.quote(t, -0.01, limit, *BBO)
    assert ask == 0 and 0 < bid <= BBO[0]


def test_position_at_the_limit_suppresses_the_adding_side(impl: ModelImpl) -> None:
    calc, t = warmed(impl)
    assert calc.quote(t, 0.05, 5_000.0, *BBO)[0] == 0  # |P|·m = $5000 = M
    assert calc.quote(t, -0.05, 5_000.0, *BBO)[1] == 0
    bid, ask = calc.quote(t, 0.05, 5_000.01, *BBO)
    assert bid > 0 and ask > 0


def test_status_outputs(impl: ModelImpl) -> None:
    calc, t = warmed(impl, c1=7.0, vol_to_half_spread=40.0)
    assert calc.half_spread_ticks == pytest.approx(calc.volatility * 40.0 / TICK, rel=1e-15)
    assert calc.samples == 40 and calc.obi_samples == 41
    calc.set_alpha_override(0.5, t)
    assert calc.fair_price(t) == MID + 7.0 * 0.5  # an absolute c1 overrides c1_ticks
    assert calc.book_event_ns == t - STEP


# --- construction and implementation choice ---------------------------------------------------------------

@pytest.mark.parametrize(("key", "value"), [
    ("tick_size", 0.0), ("tick_size", math.nan), ("step_ns", 0), ("window_steps", 1),
    ("vol_to_half_spread", 0.0), ("min_half_spread_bps", -1.0), ("c1_ticks", -1.0), ("c1", math.inf),
    ("skew", -0.1), ("min_warmup_samples", 1), ("min_warmup_samples", 201), ("warmup_seconds", -1.0),
    ("alpha_stale_ns", 0), ("local_alpha_min_samples", 0), ("floor_reference", "best"),
    ("max_catchup_steps", 0),
])
def test_invalid_settings_are_refused_with_the_same_message(impl: ModelImpl, key: str, value: object) -> None:
    with pytest.raises(ValueError) as raised:
        make(impl, **{key: value})
    with pytest.raises(ValueError) as reference:
        make(PYTHON_IMPL, **{key: value})
    assert str(raised.value) == str(reference.value)
    assert str(raised.value).startswith(f"{key}=")


def test_integer_settings_refuse_floats(impl: ModelImpl) -> None:
    with pytest.raises(TypeError, match="step_ns"):
        make(impl, step_ns=1e8)


def _implementation_in_subprocess(env_value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != vol_obi.PURE_PYTHON_ENV}
    if env_value is not None:
        env[vol_obi.PURE_PYTHON_ENV] = env_value
    code = "import lmm.model.vol_obi as m; print(m.IMPLEMENTATION); print(m.describe_implementation())"
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], env=env,
                         capture_output=True, text=True, timeout=60, check=True)
    return out.stdout


def test_environment_variable_forces_the_pure_python_core() -> None:
    out = _implementation_in_subprocess("1")
    assert out.splitlines()[0] == "python"
    assert vol_obi.PURE_PYTHON_ENV in out


def test_default_core_is_the_extension_when_it_is_built() -> None:
    try:
        from lmm._fast import CBookSide, RollingStats, VolObiCalculator  # noqa: F401
        expected = "cython"
    except ImportError:
        expected = "python"
    assert _implementation_in_subprocess(None).splitlines()[0] == expected
    assert vol_obi.IMPLEMENTATION in vol_obi.describe_implementation()
