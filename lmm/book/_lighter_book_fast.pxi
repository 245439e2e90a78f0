# CLighterBookCore: one Lighter market's book state machine in C (included by _vol_obi_fast.pyx).
#
# Rules (shared with the pure-Python twin orderbook.PyLighterBookCore; one test suite runs against both):
# - on_message does in one C call what the daemon does per 50 ms batch: dispatch on ``type``
#   (subscribed/order_book replaces, update/order_book applies absolute sizes), the channel filter,
#   begin_nonce == previous nonce, parse + apply every level, then the crossed check;
# - a gap, crossed book or malformed message drops both sides, forgets the nonce and records a reason
#   (the same text as the twin); updates are then answered AWAITING_SNAPSHOT until a snapshot arrives;
# - the BookEvent members and the exact band-term function come from orderbook.py, so this file holds
#   no second copy of either;
# - integer arithmetic stays exact: whenever a value might leave int64 (or a double would round) the
#   computation falls back to Python integers, giving the twin's result bit for bit.
from collections.abc import Mapping as _Mapping

cdef str _SNAPSHOT_TYPE = "subscribed/order_book"
cdef str _UPDATE_TYPE = "update/order_book"
cdef int64_t _EXACT_DOUBLE_LIMIT = 9007199254740992  # 2**53: integers up to it are exact doubles
cdef enum _Event:
    EVENT_SNAPSHOT = 0
    EVENT_UPDATED = 1
    EVENT_GAP = 2
    EVENT_CROSSED = 3
    EVENT_MALFORMED = 4
    EVENT_AWAITING_SNAPSHOT = 5
    EVENT_IGNORED = 6


cdef inline object _field(object mapping, str key, object default):
    """mapping.get(key, default), without a method call for plain dicts."""
    cdef PyObject* found
    if type(mapping) is dict:
        found = PyDict_GetItemWithError(mapping, key)
        return default if found == NULL else <object>found
    return mapping.get(key, default)


cdef class CLighterBookCore:
    """Book state for one market: sides, nonce chain and validity, fed with decoded messages."""

    cdef readonly CBookSide bids
    cdef readonly CBookSide asks
    cdef readonly object nonce
    cdef readonly object invalid_reason
    cdef str _channel_colon
    cdef str _channel_slash
    cdef int _price_decimals
    cdef int _size_decimals
    cdef object _price_scale
    cdef object _size_scale
    cdef double _size_scale_double  # 10**k is exact in a double for k <= 22
    cdef double _mid_divisor_double
    cdef tuple _events
    cdef object _band_terms
    cdef object _depth  # the looking_depth whose terms are cached below
    cdef object _depth_terms
    cdef bint _depth_terms_fit  # the cached terms fit in int64
    cdef int64_t _below
    cdef int64_t _above
    cdef int64_t _denominator

    def __cinit__(self, object market_id, int price_decimals, int size_decimals, tuple events, object band_terms):
        if len(events) != 7:
            raise ValueError("events must be the 7 BookEvent members in CLighterBookCore order")
        self.bids = CBookSide(True)
        self.asks = CBookSide(False)
        self.nonce = None
        self.invalid_reason = "no snapshot received yet"
        self._channel_colon = f"order_book:{market_id}"
        self._channel_slash = f"order_book/{market_id}"
        self._price_decimals = _check_decimals(price_decimals)
        self._size_decimals = _check_decimals(size_decimals)
        self._price_scale = 10 ** price_decimals
        self._size_scale = 10 ** size_decimals
        self._size_scale_double = <double>self._size_scale
        self._mid_divisor_double = <double>(2 * self._price_scale)
        self._events = events
        self._band_terms = band_terms
        self._depth = None
        self._depth_terms = None
        self._depth_terms_fit = False

    # -- input ---------------------------------------------------------------------------------------

    def on_message(self, object message):
        """Feed one decoded WebSocket message; returns the BookEvent."""
        cdef object kind = _field(message, "type", None)
        cdef bint is_snapshot
        if kind == _UPDATE_TYPE:
            is_snapshot = False
        elif kind == _SNAPSHOT_TYPE:
            is_snapshot = True
        else:
            return self._events[EVENT_IGNORED]
        channel = _field(message, "channel", None)
        if channel is not None and (
            type(channel) is not str or (channel != self._channel_colon and channel != self._channel_slash)
        ):
            return self._events[EVENT_IGNORED]
        order_book = _field(message, "order_book", None)
        if type(order_book) is not dict and not isinstance(order_book, _Mapping):
            if not is_snapshot and self.invalid_reason is not None:
                return self._events[EVENT_AWAITING_SNAPSHOT]
            return self._drop(EVENT_MALFORMED, f"message without an order_book object: {kind}")
        if is_snapshot:
            return self.apply_snapshot(order_book)
        return self.apply_update(order_book)

    def apply_snapshot(self, object order_book):
        """Replace the whole book from the ``order_book`` object of a ``subscribed/order_book`` message."""
        nonce = _field(order_book, "nonce", None)
        if type(nonce) is not int:
            return self._drop(EVENT_MALFORMED, f"snapshot nonce is not an int: {nonce!r}")
        bids = _field(order_book, "bids", None)
        asks = _field(order_book, "asks", None)
        if bids is None or asks is None:
            return self._drop(EVENT_MALFORMED, "snapshot without bids or asks")
        try:
            self.bids.replace_levels(bids, self._price_decimals, self._size_decimals)
            self.asks.replace_levels(asks, self._price_decimals, self._size_decimals)
        except (TypeError, ValueError) as exc:
            return self._drop(EVENT_MALFORMED, f"malformed snapshot: {exc}")
        self.nonce = nonce
        self.invalid_reason = None
        return self._check_crossed(EVENT_SNAPSHOT)

    def apply_update(self, object order_book):
        """Apply the ``order_book`` object of an ``update/order_book`` message (absolute sizes)."""
        if self.invalid_reason is not None:
            return self._events[EVENT_AWAITING_SNAPSHOT]
        begin_nonce = _field(order_book, "begin_nonce", None)
        nonce = _field(order_book, "nonce", None)
        if type(begin_nonce) is not int or type(nonce) is not int:
            return self._drop(EVENT_MALFORMED, f"update nonces are not ints: {begin_nonce!r}, {nonce!r}")
        if begin_nonce != self.nonce:
            return self._drop(EVENT_GAP, f"nonce gap: begin_nonce {begin_nonce} != previous nonce {self.nonce}")
        try:
            self.bids._apply_levels(_field(order_book, "bids", ()), self._price_decimals, self._size_decimals)
            self.asks._apply_levels(_field(order_book, "asks", ()), self._price_decimals, self._size_decimals)
        except (TypeError, ValueError) as exc:
            return self._drop(EVENT_MALFORMED, f"malformed update: {exc}")
        self.nonce = nonce
        return self._check_crossed(EVENT_UPDATED)

    def invalidate(self, str reason):
        """Drop the book until the next snapshot."""
        self._drop(EVENT_IGNORED, reason)

    cdef object _check_crossed(self, int event):
        cdef int64_t best_bid = self.bids._best_tick()
        cdef int64_t best_ask = self.asks._best_tick()
        if best_bid != -1 and best_ask != -1 and best_bid >= best_ask:
            return self._drop(EVENT_CROSSED, f"crossed: best bid tick {best_bid} >= best ask tick {best_ask}")
        return self._events[event]

    cdef object _drop(self, int event, str reason):
        self.bids.clear()
        self.asks.clear()
        self.nonce = None
        self.invalid_reason = reason
        return self._events[event]

    # -- state ---------------------------------------------------------------------------------------

    @property
    def best_bid_tick(self):
        return self.bids._best_tick()

    @property
    def best_ask_tick(self):
        return self.asks._best_tick()

    @property
    def mid_ticks2(self):
        """best bid + best ask in ticks, or None unless valid with both sides."""
        if self.invalid_reason is not None or self.bids._count == 0 or self.asks._count == 0:
            return None
        return <object>self.bids._best_tick() + <object>self.asks._best_tick()  # Python ints: cannot overflow

    @property
    def mid(self):
        """Mid price in USD, or None unless valid with both sides."""
        cdef int64_t best_bid
        cdef int64_t best_ask
        if self.invalid_reason is not None or self.bids._count == 0 or self.asks._count == 0:
            return None
        best_bid, best_ask = self.bids._best_tick(), self.asks._best_tick()
        if best_bid <= _EXACT_DOUBLE_LIMIT // 2 and best_ask <= _EXACT_DOUBLE_LIMIT // 2:
            # Both operands are exact doubles, so IEEE division rounds exactly as Python's int / int.
            return <double>(best_bid + best_ask) / self._mid_divisor_double
        return (<object>best_bid + <object>best_ask) / (2 * self._price_scale)

    cdef int _load_depth(self, object looking_depth) except -1:
        terms = self._band_terms(looking_depth)  # raises ValueError outside (0, 1)
        below, above, denominator = terms
        self._depth = looking_depth
        self._depth_terms = terms
        self._depth_terms_fit = denominator <= INT64_MAX
        if self._depth_terms_fit:
            self._below, self._above, self._denominator = below, above, denominator
        return 0

    cdef int _imbalance_lots_fast(self, object looking_depth, int64_t* lots) except -1:
        """0: no mid; 1: lots written; 2: a value may leave int64, use _imbalance_lots_exact."""
        cdef int64_t best_bid
        cdef int64_t best_ask
        cdef int64_t mid2
        cdef int64_t lo_product
        cdef int64_t lo
        if self.invalid_reason is not None or self.bids._count == 0 or self.asks._count == 0:
            return 0
        # Same type and equal: a float and a Fraction can be equal yet map to different terms.
        if type(looking_depth) is not type(self._depth) or looking_depth != self._depth:
            self._load_depth(looking_depth)
        best_bid, best_ask = self.bids._best_tick(), self.asks._best_tick()
        if not self._depth_terms_fit or best_bid > INT64_MAX // 2 or best_ask > INT64_MAX // 2:
            return 2
        mid2 = best_bid + best_ask
        if mid2 > INT64_MAX // self._above:  # above > below, so this bounds both products
            return 2
        lo_product = mid2 * self._below
        lo = lo_product // self._denominator
        if lo * self._denominator != lo_product:
            lo += 1  # ceiling of a non-negative quotient
        # Each band sum is in [0, INT64_MAX], so their difference fits.
        lots[0] = self.bids._band_sum_to(lo) - self.asks._band_sum_to((mid2 * self._above) // self._denominator)
        return 1

    cdef object _imbalance_lots_exact(self):
        below, above, denominator = self._depth_terms
        mid2 = <object>self.bids._best_tick() + <object>self.asks._best_tick()
        return self.bids.band_sum(-((-mid2 * below) // denominator)) - self.asks.band_sum(
            (mid2 * above) // denominator
        )

    def imbalance_lots(self, object looking_depth):
        """S_bid - S_ask in lots inside the band (strategy-model.md 5.3), or None without a mid."""
        cdef int64_t lots = 0
        cdef int outcome = self._imbalance_lots_fast(looking_depth, &lots)
        if outcome == 0:
            return None
        return lots if outcome == 1 else self._imbalance_lots_exact()

    def imbalance(self, object looking_depth):
        """S_bid - S_ask in base-asset units inside the band, or None without a mid."""
        cdef int64_t lots = 0
        cdef int outcome = self._imbalance_lots_fast(looking_depth, &lots)
        if outcome == 0:
            return None
        if outcome == 1 and -_EXACT_DOUBLE_LIMIT <= lots <= _EXACT_DOUBLE_LIMIT:
            # Both operands are exact doubles, so IEEE division rounds exactly as Python's int / int.
            return <double>lots / self._size_scale_double
        exact = lots if outcome == 1 else self._imbalance_lots_exact()
        return exact / self._size_scale
