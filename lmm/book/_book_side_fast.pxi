# CBookSide: one side of a price-level book in C arrays (included by _vol_obi_fast.pyx).
#
# Rules (shared with the pure-Python twin book_side.PyBookSide, which has the same API and behaviour):
# - a level is an integer price tick (>= 0) with an integer size in lots (> 0); size 0 deletes;
#   set() takes absolute sizes, as Lighter's updates do;
# - storage is two int64 arrays sorted ascending by key, with key = tick for bids and -tick for asks,
#   so the best level is always LAST; set/get search by galloping from that end (O(log d) for a level
#   d places from the touch), so the frequent changes near the touch are found fast and move few elements;
# - best() returns -1 (EMPTY_TICK in book_side.py) on an empty side and best_size() returns 0;
# - band_sum(outer_excl) sums from the touch out to an exclusive outer edge: bids with tick > outer_excl,
#   asks with tick < outer_excl (strategy-model.md 5.3); a running total of the side (while it fits in
#   int64) lets a wide band be computed as the total minus the shorter run of levels beyond it;
# - decimal strings are parsed exactly into scaled integers (no float); anything but ASCII digits with
#   an optional single '.' raises ValueError, as does precision finer than the grid (non-zero digits
#   beyond `decimals`) or a value above 2**63 - 1.
from cpython.dict cimport PyDict_GetItemWithError
from cpython.number cimport PyNumber_Index
from cpython.ref cimport PyObject
from cpython.unicode cimport PyUnicode_DATA, PyUnicode_GET_LENGTH
from libc.stdint cimport INT64_MAX, int64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memmove


cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object text)

cdef int _MAX_DECIMALS = 18
cdef int64_t[19] _POW10
cdef int _power
_POW10[0] = 1
for _power in range(1, 19):
    _POW10[_power] = _POW10[_power - 1] * 10
cdef Py_ssize_t _BOOK_SIDE_INITIAL_CAPACITY = 256


cdef int64_t _parse_scaled(object text, int decimals) except -1:
    """Exact value of a plain decimal string times 10**decimals."""
    cdef Py_ssize_t length
    cdef Py_ssize_t index
    cdef const char* chars
    cdef unsigned char byte
    cdef int64_t value = 0
    cdef int64_t digit
    cdef int whole_digits = 0
    cdef int fraction_digits = -1  # -1 until the '.' is seen
    cdef int kept_fraction_digits = 0
    cdef int stored_digits = 0  # below 18 stored digits the value is < 10**18 and cannot overflow
    cdef int64_t scale
    if type(text) is not str:
        raise ValueError(f"expected a decimal string, got {text!r}")
    if not PyUnicode_IS_ASCII(text):  # ASCII strings store their bytes inline: no UTF-8 conversion call
        raise ValueError(f"malformed decimal {text!r}")
    chars = <const char*>PyUnicode_DATA(text)
    length = PyUnicode_GET_LENGTH(text)
    for index in range(length):
        byte = <unsigned char>chars[index]
        if byte == 46:  # '.'
            if fraction_digits >= 0:
                raise ValueError(f"malformed decimal {text!r}")
            fraction_digits = 0
            continue
        if byte < 48 or byte > 57:
            raise ValueError(f"malformed decimal {text!r}")
        digit = byte - 48
        if fraction_digits >= 0:
            fraction_digits += 1
            if kept_fraction_digits == decimals:
                if digit != 0:
                    raise ValueError(f"{text!r} is finer than {decimals} decimals")
                continue
            kept_fraction_digits += 1
        else:
            whole_digits += 1
        if stored_digits >= 18 and value > (INT64_MAX - digit) // 10:
            raise ValueError(f"{text!r} overflows int64 at {decimals} decimals")
        value = value * 10 + digit
        stored_digits += 1
    if whole_digits == 0 or fraction_digits == 0:
        raise ValueError(f"malformed decimal {text!r}")
    if kept_fraction_digits < decimals:
        scale = _POW10[decimals - kept_fraction_digits]
        if value > INT64_MAX // scale:
            raise ValueError(f"{text!r} overflows int64 at {decimals} decimals")
        value *= scale
    return value


def parse_scaled(text, decimals) -> int:
    """Exact value of a plain decimal string times 10**decimals (C twin of book_side.parse_scaled)."""
    return _parse_scaled(text, _check_decimals(decimals))


cdef inline int64_t _as_int64(object value) except? -1:
    # Typed int64_t arguments would silently truncate floats; PyNumber_Index raises TypeError instead.
    return PyNumber_Index(value)


cdef int _check_decimals(object decimals) except -1:
    """The number of decimals as a C int; TypeError for non-integers, ValueError outside [0, 18]."""
    cdef object whole = PyNumber_Index(decimals)
    if whole < 0 or whole > _MAX_DECIMALS:
        raise ValueError(f"decimals must be in [0, {_MAX_DECIMALS}], got {decimals}")
    return whole


cdef inline object _level_field(dict level, str name):
    # PyDict_GetItemWithError returns a borrowed reference (no dict.get method call); missing -> None.
    cdef PyObject* found = PyDict_GetItemWithError(level, name)
    return None if found == NULL else <object>found


cdef int _read_level(object level, int price_decimals, int size_decimals,
                     int64_t* tick, int64_t* lots) except -1:
    """Parse one venue level: a {"price", "size"} mapping or a (price, size) pair of strings."""
    cdef object price_text
    cdef object size_text
    if isinstance(level, dict):
        price_text = _level_field(<dict>level, "price")
        size_text = _level_field(<dict>level, "size")
    elif (isinstance(level, tuple) or isinstance(level, list)) and len(level) == 2:
        price_text = level[0]
        size_text = level[1]
    else:
        raise ValueError(f"malformed level {level!r}")
    tick[0] = _parse_scaled(price_text, price_decimals)
    lots[0] = _parse_scaled(size_text, size_decimals)
    return 0


cdef inline Py_ssize_t _lower_bound_between(const int64_t* keys, Py_ssize_t low, Py_ssize_t high,
                                             int64_t key) noexcept nogil:
    """First index in [low, high] whose key is >= key, given keys[high] >= key (or high is the end)."""
    # Branch-free halving (the compiler emits a conditional move): unpredictable comparisons
    # would otherwise cost a pipeline flush each. The answer stays within [low, low + length].
    cdef Py_ssize_t length = high - low
    cdef Py_ssize_t half
    while length > 1:
        half = length >> 1
        low = low + half if keys[low + half - 1] < key else low
        length -= half
    if length == 1 and keys[low] < key:
        low += 1
    return low


cdef int64_t _sum_sizes_checked(const int64_t* sizes, Py_ssize_t start, Py_ssize_t stop) except -1:
    cdef int64_t total = 0
    cdef Py_ssize_t index
    for index in range(start, stop):
        if sizes[index] > INT64_MAX - total:
            raise OverflowError("band sum overflows int64")
        total += sizes[index]
    return total


cdef inline int64_t _sum_sizes_plain(const int64_t* sizes, Py_ssize_t start, Py_ssize_t stop) noexcept nogil:
    # Only called when no overflow is possible. Eight independent accumulators let the C compiler keep
    # several vector additions in flight (one accumulator would serialise on its add latency).
    cdef int64_t total0 = 0, total1 = 0, total2 = 0, total3 = 0
    cdef int64_t total4 = 0, total5 = 0, total6 = 0, total7 = 0
    cdef Py_ssize_t index = start
    while index + 8 <= stop:
        total0 += sizes[index]
        total1 += sizes[index + 1]
        total2 += sizes[index + 2]
        total3 += sizes[index + 3]
        total4 += sizes[index + 4]
        total5 += sizes[index + 5]
        total6 += sizes[index + 6]
        total7 += sizes[index + 7]
        index += 8
    while index < stop:
        total0 += sizes[index]
        index += 1
    return ((total0 + total1) + (total2 + total3)) + ((total4 + total5) + (total6 + total7))


cdef class CBookSide:
    """One side of a book: price tick -> size in lots, best level first on every read."""

    cdef int64_t* _keys
    cdef int64_t* _sizes
    cdef Py_ssize_t _count
    cdef Py_ssize_t _capacity
    cdef int64_t _sign
    cdef int64_t _lots_bound  # >= every stored size; only lowered by clear(), so count * bound caps any sum
    cdef int64_t _total  # sum of every stored size while _total_fits
    cdef bint _total_fits  # False once the total left int64; set again by clear() and replace_levels()
    cdef readonly bint is_bid

    def __cinit__(self, bint is_bid):
        self.is_bid = is_bid
        self._sign = 1 if is_bid else -1
        self._count = 0
        self._lots_bound = 0
        self._total = 0
        self._total_fits = True
        self._capacity = _BOOK_SIDE_INITIAL_CAPACITY
        self._keys = <int64_t*>malloc(self._capacity * sizeof(int64_t))
        self._sizes = <int64_t*>malloc(self._capacity * sizeof(int64_t))
        if self._keys == NULL or self._sizes == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self._keys)
        free(self._sizes)

    cdef inline Py_ssize_t _lower_bound(self, int64_t key) noexcept nogil:
        cdef Py_ssize_t low = 0
        cdef Py_ssize_t high = self._count
        cdef Py_ssize_t middle
        while low < high:
            middle = (low + high) >> 1
            if self._keys[middle] < key:
                low = middle + 1
            else:
                high = middle
        return low

    cdef inline Py_ssize_t _lower_bound_from_best(self, int64_t key) noexcept nogil:
        """_lower_bound by galloping from the best (last) end: O(log d) for a key d levels from the touch."""
        cdef Py_ssize_t high = self._count  # every index >= high holds a key >= key
        cdef Py_ssize_t low = 0
        cdef Py_ssize_t step = 1
        while high - step >= 0:
            if self._keys[high - step] < key:
                low = high - step + 1
                break
            high -= step
            step <<= 1
        return _lower_bound_between(self._keys, low, high, key)

    cdef inline int64_t _sum_range(self, Py_ssize_t start, Py_ssize_t stop) except -1:
        if stop <= start:
            return 0
        if self._lots_bound <= INT64_MAX // (stop - start):
            return _sum_sizes_plain(self._sizes, start, stop)
        return _sum_sizes_checked(self._sizes, start, stop)

    cdef inline Py_ssize_t _upper_bound(self, int64_t key) noexcept nogil:
        cdef Py_ssize_t low = 0
        cdef Py_ssize_t high = self._count
        cdef Py_ssize_t middle
        while low < high:
            middle = (low + high) >> 1
            if self._keys[middle] <= key:
                low = middle + 1
            else:
                high = middle
        return low

    cdef int _reserve(self, Py_ssize_t needed) except -1:
        cdef Py_ssize_t capacity = self._capacity
        cdef int64_t* grown
        if needed <= capacity:
            return 0
        while capacity < needed:
            capacity *= 2
        # Each array is swapped in as soon as it is grown, so a failure on the second leaves a valid side.
        grown = <int64_t*>realloc(self._keys, capacity * sizeof(int64_t))
        if grown == NULL:
            raise MemoryError()
        self._keys = grown
        grown = <int64_t*>realloc(self._sizes, capacity * sizeof(int64_t))
        if grown == NULL:
            raise MemoryError()
        self._sizes = grown
        self._capacity = capacity
        return 0

    cdef inline void _add_to_total(self, int64_t change) noexcept:
        # Sizes are >= 0 and the running total never goes below 0, so only an addition can overflow.
        if self._total_fits:
            if change > INT64_MAX - self._total:
                self._total_fits = False
            else:
                self._total += change

    cdef int _store(self, int64_t tick, int64_t lots) except -1:
        cdef int64_t key = tick * self._sign
        cdef Py_ssize_t index = self._lower_bound_from_best(key)
        cdef Py_ssize_t tail
        if lots > self._lots_bound:
            self._lots_bound = lots
        if index < self._count and self._keys[index] == key:
            self._add_to_total(-self._sizes[index])
            self._add_to_total(lots)
            if lots != 0:
                self._sizes[index] = lots
                return 0
            tail = self._count - index - 1
            memmove(&self._keys[index], &self._keys[index + 1], tail * sizeof(int64_t))
            memmove(&self._sizes[index], &self._sizes[index + 1], tail * sizeof(int64_t))
            self._count -= 1
            return 0
        if lots == 0:
            return 0
        if self._count == self._capacity:
            self._reserve(self._count + 1)
        tail = self._count - index
        memmove(&self._keys[index + 1], &self._keys[index], tail * sizeof(int64_t))
        memmove(&self._sizes[index + 1], &self._sizes[index], tail * sizeof(int64_t))
        self._keys[index] = key
        self._sizes[index] = lots
        self._count += 1
        self._add_to_total(lots)  # only once stored: a failed _reserve leaves the total as it was
        return 0

    def set(self, object price_tick, object size_lots) -> None:
        """Set the absolute size at price_tick; 0 deletes the level."""
        cdef int64_t tick = _as_int64(price_tick)
        cdef int64_t lots = _as_int64(size_lots)
        if tick < 0 or lots < 0:
            raise ValueError(f"negative tick or size: ({price_tick}, {size_lots})")
        self._store(tick, lots)

    def get(self, object price_tick) -> int:
        """Size in lots at price_tick, 0 when there is no level."""
        cdef int64_t tick = _as_int64(price_tick)
        if tick < 0:
            return 0
        cdef int64_t key = tick * self._sign
        cdef Py_ssize_t index = self._lower_bound_from_best(key)
        if index < self._count and self._keys[index] == key:
            return self._sizes[index]
        return 0

    def clear(self) -> None:
        self._count = 0
        self._lots_bound = 0
        self._total = 0
        self._total_fits = True

    def __len__(self):
        return self._count

    def best(self) -> int:
        """Best price tick (highest bid, lowest ask), or -1 when the side is empty."""
        if self._count == 0:
            return -1
        return self._keys[self._count - 1] * self._sign

    def best_size(self) -> int:
        """Size at the best tick, 0 when the side is empty."""
        if self._count == 0:
            return 0
        return self._sizes[self._count - 1]

    def band_sum(self, object outer_excl) -> int:
        """Sum of sizes from the touch out to outer_excl, exclusive (bids: tick > it; asks: tick < it)."""
        cdef int64_t edge = _as_int64(outer_excl)
        return self._band_sum_to(edge)

    def sum_between(self, object lo_excl, object hi_excl) -> int:
        """Sum of sizes at ticks t with lo_excl < t < hi_excl, on either side."""
        cdef int64_t lo = _as_int64(lo_excl)
        cdef int64_t hi = _as_int64(hi_excl)
        cdef Py_ssize_t start
        cdef Py_ssize_t stop
        if lo < -1:
            lo = -1
        if hi <= lo + 1:
            return 0
        if self.is_bid:
            start = self._upper_bound(lo)
            stop = self._lower_bound(hi)
        else:
            start = self._upper_bound(-hi)
            stop = self._lower_bound(-lo)
        return self._sum_range(start, stop)

    def levels(self, Py_ssize_t depth) -> list:
        """Up to `depth` levels as (tick, lots), best first."""
        cdef list result = []
        cdef Py_ssize_t index = self._count - 1
        cdef Py_ssize_t stop = self._count - depth
        if depth < 0:
            raise ValueError(f"depth must be >= 0, got {depth}")
        if stop < 0:
            stop = 0
        while index >= stop:
            result.append((self._keys[index] * self._sign, self._sizes[index]))
            index -= 1
        return result

    def apply_levels(self, object levels, object price_decimals, object size_decimals) -> None:
        """Apply venue levels ({"price", "size"} dicts or pairs of decimal strings) with absolute sizes.

        Parsing and storing happen level by level in C. On a malformed level ValueError is raised and
        the levels before it stay applied: the caller must drop the side (LighterBook does).
        """
        self._apply_levels(levels, _check_decimals(price_decimals), _check_decimals(size_decimals))

    cdef int _apply_levels(self, object levels, int price_places, int size_places) except -1:
        """apply_levels with decimals already checked (LighterBook's core calls this directly)."""
        cdef int64_t tick
        cdef int64_t lots
        if type(levels) is list:  # what a JSON decoder yields: Cython walks it by index, no iterator
            for level in <list>levels:
                _read_level(level, price_places, size_places, &tick, &lots)
                self._store(tick, lots)
            return 0
        for level in levels:
            _read_level(level, price_places, size_places, &tick, &lots)
            self._store(tick, lots)
        return 0

    cdef inline int64_t _best_tick(self) noexcept:
        return -1 if self._count == 0 else self._keys[self._count - 1] * self._sign

    cdef int64_t _band_sum_to(self, int64_t edge) except -1:
        """band_sum for an edge already in int64.

        With the running total known, the shorter of the two runs is summed: the band itself, or the
        levels beyond it (subtracted from the total; a part of a total that fits cannot overflow).
        """
        cdef Py_ssize_t start
        if edge < -1:
            edge = -1  # every tick is >= 0, so all lower edges are equivalent to -1
        start = self._upper_bound(edge * self._sign)
        if self._total_fits and start < self._count - start:
            return self._total - _sum_sizes_plain(self._sizes, 0, start)
        return self._sum_range(start, self._count)

    def replace_levels(self, object levels, object price_decimals, object size_decimals) -> None:
        """Replace the whole side with venue levels (a snapshot), in any order; zero sizes are skipped.

        On any error the side is left empty.
        """
        cdef Py_ssize_t count
        cdef Py_ssize_t index
        cdef int64_t tick
        cdef int64_t lots
        cdef int64_t* parsed_keys
        cdef int64_t* parsed_sizes
        cdef bint outward_unique = True
        cdef int price_places
        cdef int size_places
        self._count = 0
        self._lots_bound = 0
        self._total = 0
        self._total_fits = True
        price_places = _check_decimals(price_decimals)
        size_places = _check_decimals(size_decimals)
        levels = levels if isinstance(levels, list) else list(levels)
        count = len(<list>levels)
        self._reserve(count)
        parsed_keys = <int64_t*>malloc((count + 1) * sizeof(int64_t))
        parsed_sizes = <int64_t*>malloc((count + 1) * sizeof(int64_t))
        try:
            if parsed_keys == NULL or parsed_sizes == NULL:
                raise MemoryError()
            for index in range(count):
                _read_level((<list>levels)[index], price_places, size_places, &tick, &lots)
                parsed_keys[index] = tick * self._sign
                parsed_sizes[index] = lots
                # Snapshots arrive best first: keys strictly decreasing with no zero sizes.
                if lots == 0 or (index > 0 and parsed_keys[index] >= parsed_keys[index - 1]):
                    outward_unique = False
            if outward_unique:
                for index in range(count):
                    self._keys[count - 1 - index] = parsed_keys[index]
                    self._sizes[count - 1 - index] = parsed_sizes[index]
                    if parsed_sizes[index] > self._lots_bound:
                        self._lots_bound = parsed_sizes[index]
                    self._add_to_total(parsed_sizes[index])
                self._count = count
            else:
                for index in range(count):
                    self._store(parsed_keys[index] * self._sign, parsed_sizes[index])
        finally:
            free(parsed_keys)
            free(parsed_sizes)

    def __repr__(self):
        return f"CBookSide(is_bid={self.is_bid}, levels={self._count}, best={self.best()})"
