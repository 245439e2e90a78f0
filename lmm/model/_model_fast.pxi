# Cython RollingStats and VolObiCalculator: twins of vol_obi.PyRollingStats / PyVolObiCalculator.
# The rules are in vol_obi.py's header. Every float expression mirrors the Python code operation for
# operation (same order, same guards), so both agree bit for bit on the default build. Hot paths use C
# doubles and 64-bit ints only; counters saturate at 2**63 - 1; no NaN comparison drives control flow.
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.math cimport NAN, ceil, fabs, floor, isfinite, sqrt

from lmm.config.config import DEFAULTS as _MODEL_CONFIG_DEFAULTS

cdef long long _MODEL_INT64_MAX = 9223372036854775807
cdef long long _MODEL_MAX_TIME_NS = 4611686018427387904  # 2**62
cdef long long _MODEL_MAX_CAPACITY = 100000000
cdef long long _MODEL_MAX_STEP_NS = 3600000000000
cdef double _MODEL_MAX_ABS_SAMPLE = 1e100
cdef double _MODEL_MAX_ABS_TICK = 9007199254740992.0  # 2**53
cdef double _MODEL_Z_STD_EPSILON = 1e-10
cdef double _MODEL_TICK_EPSILON = 1e-9
cdef int _MODEL_SOURCE_NONE = 0
cdef int _MODEL_SOURCE_LIGHTER = 1
cdef int _MODEL_SOURCE_BINANCE = 2
_MODEL_SOURCE_NAMES = ("none", "lighter", "binance")
# The keyword defaults of VolObiCalculator are the configuration's: its schema holds each value once.
_MODEL_VOL_DEFAULTS = _MODEL_CONFIG_DEFAULTS["vol_obi"]
_MODEL_DEFAULT_ALPHA_STALE_NS = int(_MODEL_CONFIG_DEFAULTS["alpha"]["stale_seconds"] * 1_000_000_000)


cdef inline long long _model_inc(long long counter) noexcept nogil:
    return counter + 1 if counter < _MODEL_INT64_MAX else counter


cdef inline bint _model_time_ok(long long now_ns) noexcept nogil:
    return 0 <= now_ns <= _MODEL_MAX_TIME_NS


cdef inline bint _model_finite_in(double value, double low, double high) noexcept nogil:
    return isfinite(value) and low <= value <= high


cdef _model_require(bint ok, str name, object value, str accepted):
    if not ok:
        raise ValueError(f"{name}={value!r}: must be {accepted}")


cdef class RollingStats:
    """Fixed-capacity window with O(1) mean, population std and z-score (C twin of PyRollingStats)."""

    cdef double* _buf
    cdef long long _capacity, _pos, _n, _total, _rejected, _since_recompute
    cdef double _sum, _m2, _last

    def __cinit__(self, object capacity):
        if not isinstance(capacity, int):
            raise TypeError(f"capacity must be an int, got {type(capacity).__name__}")
        _model_require(2 <= capacity <= _MODEL_MAX_CAPACITY, "capacity", capacity,
                       f"in [2, {_MODEL_MAX_CAPACITY}]")
        self._buf = <double*>PyMem_Malloc(capacity * sizeof(double))
        if self._buf == NULL:
            raise MemoryError()
        self._capacity = capacity
        self._clear()

    def __dealloc__(self):
        PyMem_Free(self._buf)

    cdef inline void _clear(self) noexcept:
        self._pos = 0
        self._n = 0
        self._total = 0
        self._rejected = 0
        self._since_recompute = 0
        self._sum = 0.0
        self._m2 = 0.0
        self._last = NAN

    def reset(self):
        self._clear()

    cdef bint _push(self, double x) noexcept:
        cdef double old, mean_before, mean_after, remaining, m2
        cdef long long n = self._n
        if not isfinite(x) or fabs(x) > _MODEL_MAX_ABS_SAMPLE:
            self._rejected = _model_inc(self._rejected)
            return False
        if n == self._capacity:
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
        self._pos += 1
        if self._pos == self._capacity:
            self._pos = 0
        n += 1
        self._n = n
        self._sum += x
        mean_after = self._sum / n
        m2 = self._m2 + (x - mean_before) * (x - mean_after)
        self._m2 = m2 if m2 > 0.0 else 0.0
        self._last = x
        self._total = _model_inc(self._total)
        self._since_recompute += 1
        if self._since_recompute >= self._capacity:
            self._recompute()
        return True

    cdef void _recompute(self) noexcept:
        cdef long long i
        cdef long long n = self._n
        cdef double exact_sum = 0.0
        cdef double m2 = 0.0
        cdef double mean, d
        for i in range(n):
            exact_sum += self._buf[i]
        mean = exact_sum / n
        for i in range(n):
            d = self._buf[i] - mean
            m2 += d * d
        self._sum = exact_sum
        self._m2 = m2
        self._since_recompute = 0

    cdef inline double _std(self) noexcept:
        return sqrt(self._m2 / self._n) if self._n >= 2 else 0.0

    cdef inline double _zscore(self, double x) noexcept:
        cdef double std
        if not isfinite(x):
            return 0.0
        std = self._std()
        if std < _MODEL_Z_STD_EPSILON:
            return 0.0
        return (x - self._sum / self._n) / std

    def push(self, double x) -> bool:
        return self._push(x)

    def zscore(self, double x) -> float:
        return self._zscore(x)

    def ready(self, long long min_count) -> bool:
        return self._n >= min_count

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
        return self._std()

    def _set_counters_for_test(self, object total, object rejected=0):
        """Start the 64-bit counters near their limits (overflow tests, defect E14)."""
        _model_require(0 <= total <= _MODEL_INT64_MAX, "total", total, "in [0, 2**63 - 1]")
        _model_require(0 <= rejected <= _MODEL_INT64_MAX, "rejected", rejected, "in [0, 2**63 - 1]")
        self._total = total
        self._rejected = rejected


cdef class VolObiCalculator:
    """Volatility, OBI alpha and the level-0 quote on a fixed clock (C twin of PyVolObiCalculator)."""

    cdef RollingStats _vol, _obi
    cdef double _tick, _v, _c1, _skew, _floor_down, _floor_up, _sqrt_steps_per_second
    cdef long long _step_ns, _min_warmup, _local_min, _warmup_ns, _stale_ns, _max_catchup
    cdef bint _floor_at_fair, _book_valid, _has_prev_mid, _anchored, _has_first_sample, _has_override
    cdef double _mid, _imbalance, _prev_mid, _override_alpha
    cdef long long _book_event_ns, _next_deadline_ns, _last_timer_ns, _first_sample_ns, _override_ns
    cdef long long _rejected_inputs, _clock_regressions, _long_gaps

    def __cinit__(
        self,
        *,
        double tick_size,
        object step_ns=_MODEL_VOL_DEFAULTS["step_ns"],
        object window_steps=_MODEL_VOL_DEFAULTS["window_steps"],
        double vol_to_half_spread=_MODEL_VOL_DEFAULTS["vol_to_half_spread"],
        double min_half_spread_bps=_MODEL_VOL_DEFAULTS["min_half_spread_bps"],
        double c1_ticks=_MODEL_VOL_DEFAULTS["c1_ticks"],
        double c1=0.0,
        double skew=_MODEL_VOL_DEFAULTS["skew"],
        object min_warmup_samples=_MODEL_VOL_DEFAULTS["min_warmup_samples"],
        double warmup_seconds=_MODEL_VOL_DEFAULTS["warmup_seconds"],
        object alpha_stale_ns=_MODEL_DEFAULT_ALPHA_STALE_NS,
        object local_alpha_min_samples=None,
        str floor_reference="fair",
        object max_catchup_steps=None,
    ):
        cdef object local_min, max_catchup
        for name, value in (("step_ns", step_ns), ("window_steps", window_steps),
                            ("min_warmup_samples", min_warmup_samples), ("alpha_stale_ns", alpha_stale_ns),
                            ("local_alpha_min_samples", local_alpha_min_samples),
                            ("max_catchup_steps", max_catchup_steps)):
            if value is not None and not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        local_min = min_warmup_samples if local_alpha_min_samples is None else local_alpha_min_samples
        max_catchup = min(50, window_steps) if max_catchup_steps is None else max_catchup_steps
        _model_require(_model_finite_in(tick_size, 1e-12, 1e12), "tick_size", tick_size, "in [1e-12, 1e12]")
        _model_require(0 < step_ns <= _MODEL_MAX_STEP_NS, "step_ns", step_ns, f"in (0, {_MODEL_MAX_STEP_NS}]")
        _model_require(2 <= window_steps <= _MODEL_MAX_CAPACITY, "window_steps", window_steps,
                       f"in [2, {_MODEL_MAX_CAPACITY}]")
        _model_require(_model_finite_in(vol_to_half_spread, 1e-12, 1e12), "vol_to_half_spread",
                       vol_to_half_spread, "in [1e-12, 1e12]")
        _model_require(_model_finite_in(min_half_spread_bps, 0.0, 1000.0), "min_half_spread_bps",
                       min_half_spread_bps, "in [0, 1000]")
        _model_require(_model_finite_in(c1_ticks, 0.0, 1e12), "c1_ticks", c1_ticks, "finite and >= 0")
        _model_require(_model_finite_in(c1, 0.0, 1e12), "c1", c1, "finite and >= 0")
        _model_require(_model_finite_in(skew, 0.0, 1e6), "skew", skew, "finite and >= 0")
        _model_require(2 <= min_warmup_samples <= window_steps, "min_warmup_samples", min_warmup_samples,
                       "in [2, window_steps]")
        _model_require(_model_finite_in(warmup_seconds, 0.0, 1e9), "warmup_seconds", warmup_seconds,
                       "in [0, 1e9]")
        _model_require(0 < alpha_stale_ns <= _MODEL_MAX_TIME_NS, "alpha_stale_ns", alpha_stale_ns,
                       "in (0, 2**62]")
        _model_require(1 <= local_min <= window_steps, "local_alpha_min_samples", local_min,
                       "in [1, window_steps]")
        _model_require(floor_reference in ("fair", "mid"), "floor_reference", floor_reference,
                       "'fair' or 'mid'")
        _model_require(1 <= max_catchup <= window_steps, "max_catchup_steps", max_catchup,
                       "in [1, window_steps]")

        self._vol = RollingStats(window_steps)
        self._obi = RollingStats(window_steps)
        self._tick = tick_size
        self._step_ns = step_ns
        self._v = vol_to_half_spread
        self._c1 = c1 if c1 > 0.0 else c1_ticks * tick_size
        self._skew = skew
        self._floor_down = 1.0 - min_half_spread_bps / 1e4
        self._floor_up = 1.0 + min_half_spread_bps / 1e4
        self._floor_at_fair = floor_reference == "fair"
        self._sqrt_steps_per_second = sqrt(1e9 / <double><long long>step_ns)
        self._min_warmup = min_warmup_samples
        self._local_min = local_min
        self._warmup_ns = <long long>ceil(warmup_seconds * 1e9)
        self._stale_ns = alpha_stale_ns
        self._max_catchup = max_catchup

        self._book_valid = False
        self._mid = NAN
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

    def on_book(self, long long now_ns, double mid, double imbalance) -> bool:
        if not _model_time_ok(now_ns):
            self._rejected_inputs = _model_inc(self._rejected_inputs)
            return False
        self._book_event_ns = now_ns
        if not (isfinite(mid) and mid > 0.0 and isfinite(imbalance)):
            self._rejected_inputs = _model_inc(self._rejected_inputs)
            self._invalidate()
            return False
        self._mid = mid
        self._imbalance = imbalance
        self._book_valid = True
        return True

    def on_book_invalid(self, long long now_ns) -> None:
        if _model_time_ok(now_ns):
            self._book_event_ns = now_ns
        self._invalidate()

    cdef inline void _invalidate(self) noexcept:
        self._book_valid = False
        self._mid = NAN
        self._has_prev_mid = False

    def on_timer(self, long long now_ns) -> int:
        cdef long long due, i
        if not _model_time_ok(now_ns):
            self._rejected_inputs = _model_inc(self._rejected_inputs)
            return 0
        if not self._anchored:
            self._anchored = True
            self._next_deadline_ns = now_ns
        elif now_ns < self._last_timer_ns:
            self._clock_regressions = _model_inc(self._clock_regressions)
            return 0
        self._last_timer_ns = now_ns
        if now_ns < self._next_deadline_ns:
            return 0
        due = (now_ns - self._next_deadline_ns) // self._step_ns + 1
        self._next_deadline_ns += due * self._step_ns
        if not self._book_valid:
            return 0
        if due > self._max_catchup:
            self._long_gaps = _model_inc(self._long_gaps)
            self._has_prev_mid = False
            due = 1
        for i in range(due):
            self._sample()
        if not self._has_first_sample:
            self._has_first_sample = True
            self._first_sample_ns = now_ns
        return due

    cdef inline void _sample(self) noexcept:
        if self._has_prev_mid:
            self._vol._push(self._mid - self._prev_mid)
        self._obi._push(self._imbalance)
        self._prev_mid = self._mid
        self._has_prev_mid = True

    def set_alpha_override(self, double alpha, long long sample_ns) -> bool:
        if not isfinite(alpha) or not _model_time_ok(sample_ns):
            self._rejected_inputs = _model_inc(self._rejected_inputs)
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

    cdef inline int _source(self, long long now_ns) noexcept:
        cdef long long age
        if self._has_override:
            age = now_ns - self._override_ns
            if 0 <= age < self._stale_ns:
                return _MODEL_SOURCE_BINANCE
        if self._obi._n >= self._local_min:
            return _MODEL_SOURCE_LIGHTER
        return _MODEL_SOURCE_NONE

    cdef inline double _alpha(self, long long now_ns) noexcept:
        cdef int source = self._source(now_ns)
        if source == _MODEL_SOURCE_BINANCE:
            return self._override_alpha
        if source == _MODEL_SOURCE_LIGHTER:
            return self._obi._zscore(self._obi._last)
        return 0.0

    cdef inline double _volatility(self) noexcept:
        return self._vol._std() * self._sqrt_steps_per_second

    cdef inline bint _warmed_up(self, long long now_ns) noexcept:
        if not self._has_first_sample or not _model_time_ok(now_ns):
            return False
        if self._vol._n < self._min_warmup or now_ns - self._first_sample_ns < self._warmup_ns:
            return False
        return self._volatility() > 0.0

    def alpha_source(self, long long now_ns) -> str:
        return _MODEL_SOURCE_NAMES[self._source(now_ns)] if _model_time_ok(now_ns) else "none"

    def alpha(self, long long now_ns) -> float:
        return self._alpha(now_ns) if _model_time_ok(now_ns) else 0.0

    @property
    def volatility(self) -> float:
        return self._volatility()

    @property
    def half_spread_ticks(self) -> float:
        return self._volatility() * self._v / self._tick

    @property
    def samples(self) -> int:
        return self._vol._total

    @property
    def obi_samples(self) -> int:
        return self._obi._total

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

    def warmed_up(self, long long now_ns) -> bool:
        return self._warmed_up(now_ns)

    def warmup_seconds_left(self, long long now_ns) -> float:
        cdef long long elapsed = 0
        cdef long long left
        if self._has_first_sample and _model_time_ok(now_ns) and now_ns > self._first_sample_ns:
            elapsed = now_ns - self._first_sample_ns
        left = self._warmup_ns - elapsed
        return left / 1e9 if left > 0 else 0.0

    def fair_price(self, long long now_ns) -> float:
        if not self._book_valid:
            return NAN
        return self._mid + self._c1 * (self._alpha(now_ns) if _model_time_ok(now_ns) else 0.0)

    def floor_reference_price(self, long long now_ns) -> float:
        """R of the minimum half-spread floor: F by default, m with floor_reference="mid"."""
        return self.fair_price(now_ns) if self._floor_at_fair else self._mid

    def quote(self, long long now_ns, double position, double max_position_usd, long long best_bid_tick,
              long long best_ask_tick):
        cdef double mid, tick, half_ticks, fair, q, depth_bid, depth_ask, bid, ask, reference
        cdef double bid_floor, ask_floor, bid_units, ask_units
        cdef long long bid_tick, ask_tick
        cdef bint limit_known
        if not self._book_valid or not self._warmed_up(now_ns) or not isfinite(position):
            return None
        if best_bid_tick < 0 or best_ask_tick < 0:
            return None
        if best_bid_tick > 0 and best_ask_tick > 0 and best_bid_tick >= best_ask_tick:
            return None
        mid = self._mid
        tick = self._tick
        half_ticks = self._volatility() * self._v / tick
        fair = mid + self._c1 * self._alpha(now_ns)
        limit_known = isfinite(max_position_usd) and max_position_usd > 0.0
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
        bid_units = bid / tick + _MODEL_TICK_EPSILON
        ask_units = ask / tick - _MODEL_TICK_EPSILON
        if not (isfinite(bid_units) and isfinite(ask_units)):
            return None
        if fabs(bid_units) > _MODEL_MAX_ABS_TICK or fabs(ask_units) > _MODEL_MAX_ABS_TICK:
            return None
        bid_tick = <long long>floor(bid_units)
        ask_tick = <long long>ceil(ask_units)
        if best_bid_tick > 0 and bid_tick > best_bid_tick:
            bid_tick = best_bid_tick
        if best_ask_tick > 0 and ask_tick < best_ask_tick:
            ask_tick = best_ask_tick
        if bid_tick >= ask_tick:
            return None
        if bid_tick < 1:
            bid_tick = 0
        if not limit_known or fabs(position) * mid >= max_position_usd:
            if position > 0.0:
                bid_tick = 0
            elif position < 0.0:
                ask_tick = 0
            else:
                return None
        if bid_tick == 0 and ask_tick == 0:
            return None
        return (bid_tick, ask_tick)
