"""RollingStats against numpy / statistics on the live window, for both implementations."""
from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from model_impls import IMPL_PARAMS, ModelImpl

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


@pytest.fixture(params=IMPL_PARAMS)
def impl(request: pytest.FixtureRequest) -> ModelImpl:
    return request.param


def assert_matches_window(stats, window: list[float], rel: float = 1e-9, abs_tol: float = 1e-12) -> None:
    assert stats.count == len(window)
    assert stats.mean == pytest.approx(statistics.fmean(window), rel=rel, abs=abs_tol)
    expected_std = statistics.pstdev(window) if len(window) >= 2 else 0.0
    assert stats.std == pytest.approx(expected_std, rel=rel, abs=abs_tol)


def test_random_series_matches_numpy_on_every_step(impl: ModelImpl) -> None:
    rng = np.random.default_rng(20261126)
    values = rng.normal(3.0, 2.5, size=700)
    stats = impl.RollingStats(64)
    for i, x in enumerate(values):
        assert stats.push(float(x)) is True
        window = values[max(0, i + 1 - 64): i + 1]
        assert stats.count == len(window)
        assert stats.mean == pytest.approx(float(np.mean(window)), rel=1e-12, abs=1e-12)
        assert stats.std == pytest.approx(float(np.std(window)) if len(window) >= 2 else 0.0, rel=1e-9)
    assert stats.total == 700
    assert stats.last == float(values[-1])


def test_matches_statistics_pstdev_across_wraparound(impl: ModelImpl) -> None:
    stats = impl.RollingStats(5)
    values = [float(v) for v in (4, -2, 9, 0.5, 3, 7, -8, 1.25, 6, 2, 11, -3, 5)]
    for i, x in enumerate(values):
        stats.push(x)
        assert_matches_window(stats, values[max(0, i - 4): i + 1], rel=1e-12)
    assert stats.total == len(values)
    assert stats.last == 5.0


def test_constant_series_has_zero_std_and_neutral_z(impl: ModelImpl) -> None:
    stats = impl.RollingStats(10)
    for _ in range(37):
        stats.push(0.1)
    assert stats.mean == pytest.approx(0.1, rel=1e-15)
    assert stats.std < 1e-12
    assert stats.zscore(0.1) == 0.0
    assert stats.zscore(5.0) == 0.0  # std < 1e-10: neutral, not infinite


def test_huge_offset_keeps_precision(impl: ModelImpl) -> None:
    rng = np.random.default_rng(7)
    values = [1e9 + float(v) for v in rng.normal(0.0, 1.0, size=1000)]
    stats = impl.RollingStats(100)
    for i, x in enumerate(values):
        stats.push(x)
        if i % 37 == 0 or i == len(values) - 1:
            window = values[max(0, i - 99): i + 1]
            assert stats.mean == pytest.approx(statistics.fmean(window), rel=1e-15)
            if len(window) >= 2:
                # pstdev is exact (fractions); the window's own float spacing near 1e9 is ~1.2e-7.
                assert stats.std == pytest.approx(statistics.pstdev(window), rel=1e-6)


def test_exact_recompute_removes_drift(impl: ModelImpl) -> None:
    # 1e16 + 1 rounds back to 1e16, so the running sum forgets the ones pushed after it; once the big
    # value leaves the window only the periodic exact recompute (every `capacity` samples) repairs it.
    stats = impl.RollingStats(4)
    for x in (1e16, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0):
        stats.push(x)
    assert stats.count == 4
    assert stats.mean == 1.0
    assert stats.std == 0.0


def test_zscore_rules(impl: ModelImpl) -> None:
    stats = impl.RollingStats(8)
    assert stats.zscore(1.0) == 0.0  # empty
    stats.push(2.0)
    assert stats.zscore(3.0) == 0.0  # one sample: std 0
    for x in (4.0, 6.0, 8.0):
        stats.push(x)
    window = [2.0, 4.0, 6.0, 8.0]
    expected = (8.0 - statistics.fmean(window)) / statistics.pstdev(window)
    assert stats.zscore(stats.last) == pytest.approx(expected, rel=1e-12)  # current sample included
    assert stats.zscore(math.nan) == 0.0
    assert stats.zscore(math.inf) == 0.0


def test_ready_counts_the_window(impl: ModelImpl) -> None:
    stats = impl.RollingStats(3)
    assert not stats.ready(1)
    stats.push(1.0)
    stats.push(2.0)
    assert stats.ready(2) and not stats.ready(3)
    for _ in range(5):
        stats.push(3.0)
    assert stats.ready(3) and not stats.ready(4)  # capped at capacity


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 1e101, -1e300])
def test_non_finite_and_overflowing_samples_are_rejected_without_poisoning(impl: ModelImpl, bad: float) -> None:
    clean = impl.RollingStats(6)
    dirty = impl.RollingStats(6)
    for i, x in enumerate([1.0, 5.0, 2.0, 8.0, 3.0, 9.0, 4.0, 7.0, 6.0]):
        clean.push(x)
        dirty.push(x)
        if i % 2 == 0:
            assert dirty.push(bad) is False
    assert dirty.rejected == 5
    assert clean.rejected == 0
    assert (dirty.count, dirty.total, dirty.mean, dirty.std, dirty.last) == (
        clean.count, clean.total, clean.mean, clean.std, clean.last)
    assert math.isfinite(dirty.std)


def test_reset_returns_to_fresh_state(impl: ModelImpl) -> None:
    stats = impl.RollingStats(4)
    for x in (1.0, math.nan, 3.0, 10.0, -2.0, 6.0):
        stats.push(x)
    stats.reset()
    assert (stats.count, stats.total, stats.rejected, stats.mean, stats.std) == (0, 0, 0, 0.0, 0.0)
    assert math.isnan(stats.last)
    for x in (5.0, 7.0):
        stats.push(x)
    assert_matches_window(stats, [5.0, 7.0], rel=1e-15)


@pytest.mark.parametrize("bad_capacity", [1, 0, -5, 100_000_001])
def test_capacity_out_of_range_is_refused(impl: ModelImpl, bad_capacity: int) -> None:
    with pytest.raises(ValueError, match="capacity"):
        impl.RollingStats(bad_capacity)


def test_capacity_must_be_an_int(impl: ModelImpl) -> None:
    with pytest.raises(TypeError, match="capacity"):
        impl.RollingStats(5.0)


def test_total_crosses_2_pow_31(impl: ModelImpl) -> None:
    stats = impl.RollingStats(4)
    stats._set_counters_for_test(total=INT32_MAX - 2, rejected=INT32_MAX - 1)
    values = [float(v) for v in range(10)]
    for x in values:
        stats.push(x)
    stats.push(math.nan)
    stats.push(math.nan)
    assert stats.total == INT32_MAX - 2 + 10
    assert stats.rejected == INT32_MAX + 1
    assert_matches_window(stats, values[-4:], rel=1e-15)


def test_counters_saturate_at_2_pow_63_minus_1(impl: ModelImpl) -> None:
    stats = impl.RollingStats(3)
    stats._set_counters_for_test(total=INT64_MAX - 2, rejected=INT64_MAX - 1)
    values = [float(v * v) for v in range(11)]
    for x in values:
        stats.push(x)
        stats.push(math.inf)
    assert stats.total == INT64_MAX
    assert stats.rejected == INT64_MAX
    assert_matches_window(stats, values[-3:], rel=1e-15)
    assert stats.ready(3)


def test_counter_setter_refuses_out_of_range(impl: ModelImpl) -> None:
    stats = impl.RollingStats(3)
    with pytest.raises(ValueError):
        stats._set_counters_for_test(total=INT64_MAX + 1)
    with pytest.raises(ValueError):
        stats._set_counters_for_test(total=0, rejected=-1)
