"""Quoting model core: rolling statistics, fixed-clock sampling and the vol/OBI quote (strategy-model.md §4-5).

Pure-Python twin of the Cython classes in _model_fast.pxi; both compute every float operation in the same
order, so they agree bit for bit on the default (non fast-math) build. RollingStats, VolObiCalculator and
CBookSide are the extension's classes when it imports, else the Python ones (CBookSide None);
LIGHTER_MM_PURE_PYTHON=1, read once at import, forces the fallback. Module rules:

RollingStats
- Ring buffer of the last `capacity` samples; Welford add/remove with the mean taken from the running sum;
  population std (0 below two samples); M2 clamped at 0; sum and M2 recomputed exactly from the buffer every
  `capacity` accepted samples (amortised O(1)).
- Non-finite samples and |x| > 1e100 (whose squares could overflow) are rejected, counted, never stored.
- Counters (`total`, `rejected`) are 64-bit and saturate at 2**63 - 1; the write index wraps modulo capacity.
- zscore(x) is 0 when std < 1e-10 or x is not finite; reset() returns to the freshly constructed state.

VolObiCalculator
- on_book(now, mid, imbalance) records the latest synced book. A non-finite or non-positive mid or a
  non-finite imbalance is rejected, counted, and fails closed: the book counts as unsynced (as after
  on_book_invalid) until the next good on_book.
- on_book_invalid(now): boundaries pass without samples, the previous sampled mid is forgotten (no jump is
  pushed across the gap) and quote() returns None.
- on_timer(now) -> samples taken. Deadlines are t0 + k*step_ns with t0 the first on_timer call. Each
  sample pushes Δmid (when a previous sampled mid exists) into the vol stats and the imbalance into the
  local OBI stats.
  * Late call, k boundaries crossed with k <= max_catchup_steps: the held book is the only state seen, so
    it is sampled k times: the first sample carries the whole Δmid, the other k-1 push Δmid = 0 and the
    same imbalance. This keeps the sum of squared moves, so σ stays unbiased over the window.
  * k > max_catchup_steps (a stall or suspend; default 50 steps): treated as an outage: previous mid forgotten,
    one sample (imbalance only), the grid continues. Pushing thousands of zeros would collapse σ.
  * now earlier than the latest now seen by on_timer: ignored and counted; no state changes.
  * Times outside [0, 2**62] ns are rejected everywhere.
- Alpha source is decided at each call from the override's sample time: "binance" while
  0 <= now - sample_ns < alpha_stale_ns, else "lighter" (z of the latest local imbalance) once the local
  OBI stats hold local_alpha_min_samples, else "none" (α = 0). A non-finite override is rejected and clears
  the override; an override older than the one held is ignored.
- warmed_up(now): >= min_warmup_samples Δmid samples in the window, σ > 0, and warmup_seconds elapsed since
  the first sample was taken.
- Times are int ns from one monotonic clock, ticks are ints (the Cython build truncates floats passed
  there). Every call is O(1), except the exact recompute (O(capacity) once per capacity pushes) and a late
  on_timer (at most max_catchup_steps samples).
- quote() -> (bid_tick, ask_tick) | None, §5.5 in order. A suppressed side is 0; None means no quote at all
  (not warmed up, book unsynced, unknown position, crossed touch or result, or both sides suppressed).
  A best bid/ask tick of 0 means that side of the book is empty (no clamp there). M <= 0 or non-finite
  means unknown: q = 0 and every side that adds exposure is suppressed (flat → None).
"""
from __future__ import annotations

import math
import os

from lmm.config.config import DEFAULTS as _CONFIG_DEFAULTS

INT64_MAX = 2**63 - 1
MAX_TIME_NS = 2**62
MAX_CAPACITY = 100_000_000
MAX_ABS_SAMPLE = 1e100
MAX_ABS_TICK = 2.0**53
MAX_STEP_NS = 3_600_000_000_000
Z_STD_EPSILON = 1e-10
TICK_EPSILON = 1e-9
PURE_PYTHON_ENV = "LIGHTER_MM_PURE_PYTHON"
ALPHA_SOURCES = ("none", "lighter", "binance")
_SOURCE_NONE, _SOURCE_LIGHTER, _SOURCE_BINANCE = 0, 1, 2
# The keyword defaults of VolObiCalculator are the configuration's: its schema holds each value once.
_VOL_DEFAULTS = _CONFIG_DEFAULTS["vol_obi"]
DEFAULT_ALPHA_STALE_NS = int(_CONFIG_DEFAULTS["alpha"]["stale_seconds"] * 1_000_000_000)


def _inc(counter: int) -> int:
    return counter + 1 if counter < INT64_MAX else counter


def _require(ok: bool, name: str, value: object, accepted: str) -> None:
    if not ok:
        raise ValueError(f"{name}={value!r}: must be {accepted}")


def _finite_in(value: float, low: float, high: float) -> bool:
    return math.isfinite(value) and low <= value <= high


class PyRollingStats:
    """Fixed-capacity window with O(1) mean, population std and z-score."""

    __slots__ = ("_buf", "_capacity", "_last", "_m2", "_n", "_pos", "_rejected", "_since_recompute",
                 "_sum", "_total")

    def __init__(self, capacity: int) -> None:
        if not isinstance(capacity, int):
            raise TypeError(f"capacity must be an int, got {type(capacity).__name__}")
        _require(2 <= capacity <= MAX_CAPACITY, "capacity", capacity, f"in [2, {MAX_CAPACITY}]")
        self._capacity = capacity
        self._buf = [0.0] * capacity
        self.reset()

    def reset(self) -> None:
        self._pos = 0
        self._n = 0
        self._total = 0
        self._rejected = 0
        self._since_recompute = 0
        self._sum = 0.0
        self._m2 = 0.0
        self._last = math.nan

    def push(self, x: float) -> bool:
        x = float(x)
        if not math.isfinite(x) or abs(x) > MAX_ABS_SAMPLE:
            self._rejected = _inc(self._rejected)
            return False
        n = self._n
        if n == self._capacity:
            # The oldest sample sits at the write index once the buffer is full.
            old = self._buf[self._pos]
            mean_before = self._sum / n
            remaining = self._sum - old
            mean_after = remaining / (n - 1)
            m2 = self._m2 - (old - mean_before) * (old - mean_after)
            self._m2 = m2 if m2 > 0.0 else 0.0
            self._sum = remaining
            n -= 1
        mean_before = self._sum / n if n > 0 else 0.0
        self._buf[self._pos] = x
        pos = self._pos + 1
        self._pos = 0 if pos == self._capacity else pos
        n += 1
        self._n = n
        self._sum += x
        mean_after = self._sum / n
        m2 = self._m2 + (x - mean_before) * (x - mean_after)
        self._m2 = m2 if m2 > 0.0 else 0.0
        self._last = x
        self._total = _inc(self._total)
        self._since_recompute += 1
        if self._since_recompute >= self._capacity:
            self._recompute()
        return True

    def _recompute(self) -> None:
        # Plain left-to-right loops: builtin sum() compensates on 3.12+ and would break parity with C.
        n = self._n
        buf = self._buf
        exact_sum = 0.0
        for i in range(n):
            exact_sum += buf[i]
        mean = exact_sum / n
        m2 = 0.0
        for i in range(n):
            d = buf[i] - mean
            m2 += d * d
        self._sum = exact_sum
        self._m2 = m2
        self._since_recompute = 0

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def count(self) -> int:
        return self._n

    @property
    def total(self) -> int:
        return self._total

    @property
    def rejected(self) -> int:
        return self._rejected

    @property
    def last(self) -> float:
        return self._last

    @property
    def mean(self) -> float:
        return self._sum / self._n if self._n > 0 else 0.0

    @property
    def std(self) -> float:
        return math.sqrt(self._m2 / self._n) if self._n >= 2 else 0.0

    def zscore(self, x: float) -> float:
        x = float(x)
        if not math.isfinite(x):
            return 0.0
        std = self.std
        if std < Z_STD_EPSILON:
            return 0.0
        return (x - self._sum / self._n) / std

    def ready(self, min_count: int) -> bool:
        return self._n >= min_count

    def _set_counters_for_test(self, total: int, rejected: int = 0) -> None:
        """Start the 64-bit counters near their limits (overflow tests, defect E14)."""
        _require(0 <= total <= INT64_MAX, "total", total, "in [0, 2**63 - 1]")
        _require(0 <= rejected <= INT64_MAX, "rejected", rejected, "in [0, 2**63 - 1]")
        self._total = total
        self._rejected = rejected


class PyVolObiCalculator:
    """Volatility, OBI alpha and the level-0 quote, sampled on a fixed clock."""

    __slots__ = ("_anchored", "_book_event_ns", "_book_valid", "_c1", "_clock_regressions", "_first_sample_ns",
                 "_floor_at_fair", "_floor_down", "_floor_up", "_has_first_sample", "_has_override",
                 "_has_prev_mid", "_imbalance", "_last_timer_ns", "_local_min", "_long_gaps", "_max_catchup",
                 "_mid", "_min_warmup", "_next_deadline_ns", "_obi", "_override_alpha", "_override_ns",
                 "_prev_mid", "_rejected_inputs", "_skew", "_sqrt_steps_per_second", "_stale_ns", "_step_ns",
                 "_tick", "_v", "_vol", "_warmup_ns")

    def __init__(
        self,
        *,
        tick_size: float,
        step_ns: int = _VOL_DEFAULTS["step_ns"],
        window_steps: int = _VOL_DEFAULTS["window_steps"],
        vol_to_half_spread: float = _VOL_DEFAULTS["vol_to_half_spread"],
        min_half_spread_bps: float = _VOL_DEFAULTS["min_half_spread_bps"],
        c1_ticks: float = _VOL_DEFAULTS["c1_ticks"],
        c1: float = 0.0,
        skew: float = _VOL_DEFAULTS["skew"],
        min_warmup_samples: int = _VOL_DEFAULTS["min_warmup_samples"],
        warmup_seconds: float = _VOL_DEFAULTS["warmup_seconds"],
        alpha_stale_ns: int = DEFAULT_ALPHA_STALE_NS,
        local_alpha_min_samples: int | None = None,
        floor_reference: str = "fair",
        max_catchup_steps: int | None = None,
    ) -> None:
        for name, value in (("step_ns", step_ns), ("window_steps", window_steps),
                            ("min_warmup_samples", min_warmup_samples), ("alpha_stale_ns", alpha_stale_ns),
                            ("local_alpha_min_samples", local_alpha_min_samples),
                            ("max_catchup_steps", max_catchup_steps)):
            if value is not None and not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if local_alpha_min_samples is None:
            local_alpha_min_samples = min_warmup_samples
        if max_catchup_steps is None:
            max_catchup_steps = min(50, window_steps)
        tick_size, vol_to_half_spread = float(tick_size), float(vol_to_half_spread)
        min_half_spread_bps, c1_ticks, c1 = float(min_half_spread_bps), float(c1_ticks), float(c1)
        skew, warmup_seconds = float(skew), float(warmup_seconds)
        _require(_finite_in(tick_size, 1e-12, 1e12), "tick_size", tick_size, "in [1e-12, 1e12]")
        _require(0 < step_ns <= MAX_STEP_NS, "step_ns", step_ns, f"in (0, {MAX_STEP_NS}]")
        _require(2 <= window_steps <= MAX_CAPACITY, "window_steps", window_steps, f"in [2, {MAX_CAPACITY}]")
        _require(_finite_in(vol_to_half_spread, 1e-12, 1e12), "vol_to_half_spread", vol_to_half_spread,
                 "in [1e-12, 1e12]")
        _require(_finite_in(min_half_spread_bps, 0.0, 1000.0), "min_half_spread_bps", min_half_spread_bps,
                 "in [0, 1000]")
        _require(_finite_in(c1_ticks, 0.0, 1e12), "c1_ticks", c1_ticks, "finite and >= 0")
        _require(_finite_in(c1, 0.0, 1e12), "c1", c1, "finite and >= 0")
        _require(_finite_in(skew, 0.0, 1e6), "skew", skew, "finite and >= 0")
        _require(2 <= min_warmup_samples <= window_steps, "min_warmup_samples", min_warmup_samples,
                 "in [2, window_steps]")
        _require(_finite_in(warmup_seconds, 0.0, 1e9), "warmup_seconds", warmup_seconds, "in [0, 1e9]")
        _require(0 < alpha_stale_ns <= MAX_TIME_NS, "alpha_stale_ns", alpha_stale_ns, "in (0, 2**62]")
        _require(1 <= local_alpha_min_samples <= window_steps, "local_alpha_min_samples",
                 local_alpha_min_samples, "in [1, window_steps]")
        _require(floor_reference in ("fair", "mid"), "floor_reference", floor_reference, "'fair' or 'mid'")
        _require(1 <= max_catchup_steps <= window_steps, "max_catchup_steps", max_catchup_steps,
                 "in [1, window_steps]")

        self._vol = PyRollingStats(window_steps)
        self._obi = PyRollingStats(window_steps)
        self._tick = tick_size
        self._step_ns = step_ns
        self._v = vol_to_half_spread
        self._c1 = c1 if c1 > 0.0 else c1_ticks * tick_size
        self._skew = skew
        self._floor_down = 1.0 - min_half_spread_bps / 1e4
        self._floor_up = 1.0 + min_half_spread_bps / 1e4
        self._floor_at_fair = floor_reference == "fair"
        self._sqrt_steps_per_second = math.sqrt(1e9 / step_ns)
        self._min_warmup = min_warmup_samples
        self._local_min = local_alpha_min_samples
        self._warmup_ns = math.ceil(warmup_seconds * 1e9)
        self._stale_ns = alpha_stale_ns
        self._max_catchup = max_catchup_steps

        self._book_valid = False
        self._mid = math.nan
        self._imbalance = 0.0
        self._book_event_ns = 0
        self._has_prev_mid = False
        self._prev_mid = 0.0
        self._anchored = False
        self._next_deadline_ns = 0
        self._last_timer_ns = 0
        self._has_first_sample = False
        self._first_sample_ns = 0
        self._has_override = False
        self._override_alpha = 0.0
        self._override_ns = 0
        self._rejected_inputs = 0
        self._clock_regressions = 0
        self._long_gaps = 0

    # --- inputs -------------------------------------------------------------------------------------

    def on_book(self, now_ns: int, mid: float, imbalance: float) -> bool:
        if not 0 <= now_ns <= MAX_TIME_NS:
            self._rejected_inputs = _inc(self._rejected_inputs)
            return False
        mid, imbalance = float(mid), float(imbalance)
        self._book_event_ns = now_ns
        if not (math.isfinite(mid) and mid > 0.0 and math.isfinite(imbalance)):
            self._rejected_inputs = _inc(self._rejected_inputs)
            self._invalidate()
            return False
        self._mid = mid
        self._imbalance = imbalance
        self._book_valid = True
        return True

    def on_book_invalid(self, now_ns: int) -> None:
        if 0 <= now_ns <= MAX_TIME_NS:
            self._book_event_ns = now_ns
        self._invalidate()

    def _invalidate(self) -> None:
        self._book_valid = False
        self._mid = math.nan
        self._has_prev_mid = False

    def on_timer(self, now_ns: int) -> int:
        if not 0 <= now_ns <= MAX_TIME_NS:
            self._rejected_inputs = _inc(self._rejected_inputs)
            return 0
        if not self._anchored:
            self._anchored = True
            self._next_deadline_ns = now_ns
        elif now_ns < self._last_timer_ns:
            self._clock_regressions = _inc(self._clock_regressions)
            return 0
        self._last_timer_ns = now_ns
        if now_ns < self._next_deadline_ns:
            return 0
        due = (now_ns - self._next_deadline_ns) // self._step_ns + 1
        self._next_deadline_ns += due * self._step_ns
        if not self._book_valid:
            return 0
        if due > self._max_catchup:
            self._long_gaps = _inc(self._long_gaps)
            self._has_prev_mid = False
            due = 1
        for _ in range(due):
            self._sample()
        if not self._has_first_sample:
            self._has_first_sample = True
            self._first_sample_ns = now_ns
        return due

    def _sample(self) -> None:
        if self._has_prev_mid:
            self._vol.push(self._mid - self._prev_mid)
        self._obi.push(self._imbalance)
        self._prev_mid = self._mid
        self._has_prev_mid = True

    def set_alpha_override(self, alpha: float, sample_ns: int) -> bool:
        alpha = float(alpha)
        if not math.isfinite(alpha) or not 0 <= sample_ns <= MAX_TIME_NS:
            self._rejected_inputs = _inc(self._rejected_inputs)
            self._has_override = False
            return False
        if self._has_override and sample_ns < self._override_ns:
            return False
        self._has_override = True
        self._override_alpha = alpha
        self._override_ns = sample_ns
        return True

    def clear_alpha_override(self) -> None:
        self._has_override = False

    # --- model outputs ------------------------------------------------------------------------------

    def _source(self, now_ns: int) -> int:
        if self._has_override:
            age = now_ns - self._override_ns
            if 0 <= age < self._stale_ns:
                return _SOURCE_BINANCE
        if self._obi.ready(self._local_min):
            return _SOURCE_LIGHTER
        return _SOURCE_NONE

    def _alpha(self, now_ns: int) -> float:
        source = self._source(now_ns)
        if source == _SOURCE_BINANCE:
            return self._override_alpha
        if source == _SOURCE_LIGHTER:
            return self._obi.zscore(self._obi.last)
        return 0.0

    def alpha_source(self, now_ns: int) -> str:
        return ALPHA_SOURCES[self._source(now_ns)] if 0 <= now_ns <= MAX_TIME_NS else "none"

    def alpha(self, now_ns: int) -> float:
        return self._alpha(now_ns) if 0 <= now_ns <= MAX_TIME_NS else 0.0

    @property
    def volatility(self) -> float:
        return self._vol.std * self._sqrt_steps_per_second

    @property
    def half_spread_ticks(self) -> float:
        return self.volatility * self._v / self._tick

    @property
    def samples(self) -> int:
        return self._vol.total

    @property
    def obi_samples(self) -> int:
        return self._obi.total

    @property
    def mid(self) -> float:
        return self._mid

    @property
    def book_valid(self) -> bool:
        return self._book_valid

    @property
    def book_event_ns(self) -> int:
        return self._book_event_ns

    @property
    def rejected_inputs(self) -> int:
        return self._rejected_inputs

    @property
    def clock_regressions(self) -> int:
        return self._clock_regressions

    @property
    def long_gaps(self) -> int:
        return self._long_gaps

    def warmed_up(self, now_ns: int) -> bool:
        if not self._has_first_sample or not 0 <= now_ns <= MAX_TIME_NS:
            return False
        if self._vol.count < self._min_warmup or now_ns - self._first_sample_ns < self._warmup_ns:
            return False
        return self.volatility > 0.0

    def warmup_seconds_left(self, now_ns: int) -> float:
        elapsed = 0
        if self._has_first_sample and 0 <= now_ns <= MAX_TIME_NS and now_ns > self._first_sample_ns:
            elapsed = now_ns - self._first_sample_ns
        left = self._warmup_ns - elapsed
        return left / 1e9 if left > 0 else 0.0

    def fair_price(self, now_ns: int) -> float:
        if not self._book_valid:
            return math.nan
        return self._mid + self._c1 * self.alpha(now_ns)

    def floor_reference_price(self, now_ns: int) -> float:
        """R of the minimum half-spread floor: F by default, m with floor_reference="mid"."""
        return self.fair_price(now_ns) if self._floor_at_fair else self._mid

    def quote(self, now_ns: int, position: float, max_position_usd: float, best_bid_tick: int,
              best_ask_tick: int) -> tuple[int, int] | None:
        position, max_position_usd = float(position), float(max_position_usd)
        if not self._book_valid or not self.warmed_up(now_ns) or not math.isfinite(position):
            return None
        if best_bid_tick < 0 or best_ask_tick < 0:
            return None
        if best_bid_tick > 0 and best_ask_tick > 0 and best_bid_tick >= best_ask_tick:
            return None
        mid = self._mid
        tick = self._tick
        half_ticks = self.volatility * self._v / tick
        fair = mid + self._c1 * self._alpha(now_ns)
        limit_known = math.isfinite(max_position_usd) and max_position_usd > 0.0
        q = 0.0
        if limit_known:
            q = position * mid / max_position_usd
            q = 1.0 if q > 1.0 else (-1.0 if q < -1.0 else q)
        depth_bid = half_ticks * (1.0 + self._skew * q)
        depth_ask = half_ticks * (1.0 - self._skew * q)
        bid = fair - (depth_bid if depth_bid > 0.0 else 0.0) * tick
        ask = fair + (depth_ask if depth_ask > 0.0 else 0.0) * tick
        reference = fair if self._floor_at_fair else mid
        bid_floor = reference * self._floor_down
        ask_floor = reference * self._floor_up
        bid = bid if bid < bid_floor else bid_floor
        ask = ask if ask > ask_floor else ask_floor
        bid_units = bid / tick + TICK_EPSILON
        ask_units = ask / tick - TICK_EPSILON
        if not (math.isfinite(bid_units) and math.isfinite(ask_units)):
            return None
        if abs(bid_units) > MAX_ABS_TICK or abs(ask_units) > MAX_ABS_TICK:
            return None
        bid_tick = math.floor(bid_units)
        ask_tick = math.ceil(ask_units)
        # Clamping after rounding equals clamping before (the touch is on the grid) and stays exact.
        if best_bid_tick > 0 and bid_tick > best_bid_tick:
            bid_tick = best_bid_tick
        if best_ask_tick > 0 and ask_tick < best_ask_tick:
            ask_tick = best_ask_tick
        if bid_tick >= ask_tick:
            return None
        if bid_tick < 1:
            bid_tick = 0
        if not limit_known or abs(position) * mid >= max_position_usd:
            if position > 0.0:
                bid_tick = 0
            elif position < 0.0:
                ask_tick = 0
            else:
                return None
        if bid_tick == 0 and ask_tick == 0:
            return None
        return (bid_tick, ask_tick)


def _select_implementation() -> tuple[type, type, type | None, str, str]:
    if os.environ.get(PURE_PYTHON_ENV) == "1":
        return PyRollingStats, PyVolObiCalculator, None, "python", f"forced by {PURE_PYTHON_ENV}=1"
    try:
        from lmm._fast import CBookSide as fast_book_side
        from lmm._fast import RollingStats as fast_stats
        from lmm._fast import VolObiCalculator as fast_calculator
    except ImportError as exc:
        return PyRollingStats, PyVolObiCalculator, None, "python", f"extension not available ({exc})"
    import lmm._fast as _vol_obi_fast

    return fast_stats, fast_calculator, fast_book_side, "cython", f"from {_vol_obi_fast.__file__}"


RollingStats, VolObiCalculator, CBookSide, IMPLEMENTATION, _IMPLEMENTATION_REASON = _select_implementation()


def describe_implementation() -> str:
    """One line for the start-up log: which model core is active and why."""
    return f"model core: {IMPLEMENTATION} ({_IMPLEMENTATION_REASON})"
