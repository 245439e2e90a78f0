"""One order-book side suite run against both twins: CBookSide (Cython) and PyBookSide (pure Python).

Every behaviour is checked on bids and asks; random operation streams are compared with a brute-force
dict oracle and, when the extension is built, between the two implementations.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lmm.book.book_side as book_side
from lmm.book.book_side import EMPTY_TICK, PyBookSide

try:
    import lmm._fast as _vol_obi_fast

    HAVE_FAST = hasattr(_vol_obi_fast, "CBookSide")
except ImportError:
    _vol_obi_fast = None
    HAVE_FAST = False

needs_fast = pytest.mark.skipif(not HAVE_FAST, reason="_vol_obi_fast (Cython) is not built")

SIDE_CLASSES = [
    pytest.param(PyBookSide, id="python"),
    pytest.param(getattr(_vol_obi_fast, "CBookSide", None), id="cython", marks=needs_fast),
]
PARSERS = [
    pytest.param(book_side.parse_scaled, id="python"),
    pytest.param(getattr(_vol_obi_fast, "parse_scaled", None), id="cython", marks=needs_fast),
]


@pytest.fixture(params=SIDE_CLASSES)
def side_class(request):
    return request.param


@pytest.fixture(params=[True, False], ids=["bid", "ask"])
def is_bid(request):
    return request.param


def oracle_levels(levels: dict[int, int], is_bid: bool) -> list[tuple[int, int]]:
    return sorted(levels.items(), reverse=is_bid)


# -- basic behaviour --------------------------------------------------------------------------------


def test_empty_side(side_class, is_bid):
    side = side_class(is_bid)
    assert side.is_bid is is_bid
    assert len(side) == 0
    assert side.best() == EMPTY_TICK == -1
    assert side.best_size() == 0
    assert side.levels(5) == []
    assert side.get(100) == 0
    assert side.band_sum(-1) == 0
    assert side.band_sum(10**12) == 0
    assert side.sum_between(-1, 10**12) == 0


def test_insert_update_delete_keeps_best_first_order(side_class):
    bids, asks = side_class(True), side_class(False)
    for side in (bids, asks):
        for tick, lots in [(100, 5), (103, 1), (98, 7), (101, 2)]:
            side.set(tick, lots)
    assert bids.levels(10) == [(103, 1), (101, 2), (100, 5), (98, 7)]
    assert asks.levels(10) == [(98, 7), (100, 5), (101, 2), (103, 1)]
    assert (bids.best(), bids.best_size()) == (103, 1)
    assert (asks.best(), asks.best_size()) == (98, 7)

    bids.set(101, 9)  # absolute size, not a delta
    assert bids.get(101) == 9
    assert len(bids) == 4

    bids.set(103, 0)
    asks.set(98, 0)
    assert bids.best() == 101
    assert asks.best() == 100
    assert len(bids) == len(asks) == 3

    bids.set(5000, 0)  # deleting a missing level is a no-op
    assert len(bids) == 3


def test_levels_depth(side_class, is_bid):
    side = side_class(is_bid)
    for tick in range(1, 6):
        side.set(tick, tick * 10)
    expected = oracle_levels({tick: tick * 10 for tick in range(1, 6)}, is_bid)
    assert side.levels(0) == []
    assert side.levels(2) == expected[:2]
    assert side.levels(99) == expected
    with pytest.raises(ValueError):
        side.levels(-1)


def test_clear(side_class, is_bid):
    side = side_class(is_bid)
    side.set(7, 1)
    side.clear()
    assert len(side) == 0
    assert side.best() == EMPTY_TICK
    side.set(8, 2)
    assert side.levels(5) == [(8, 2)]


def test_tick_zero_is_a_real_level(side_class, is_bid):
    side = side_class(is_bid)
    side.set(0, 3)
    assert side.best() == 0
    assert side.get(0) == 3
    assert side.band_sum(-1 if is_bid else 1) == 3


@pytest.mark.parametrize(("tick", "lots"), [(-1, 1), (1, -1)])
def test_negative_tick_or_size_rejected(side_class, is_bid, tick, lots):
    with pytest.raises(ValueError):
        side_class(is_bid).set(tick, lots)


def test_out_of_int64_range_rejected(side_class, is_bid):
    side = side_class(is_bid)
    with pytest.raises(OverflowError):
        side.set(2**63, 1)
    with pytest.raises(OverflowError):
        side.get(-(2**63) - 1)


def test_float_arguments_rejected(side_class, is_bid):
    with pytest.raises(TypeError):
        side_class(is_bid).set(1.5, 1)


def test_band_sum_outer_edge_is_exclusive(side_class):
    bids, asks = side_class(True), side_class(False)
    for tick, lots in [(90, 1), (95, 2), (99, 4)]:
        bids.set(tick, lots)
    for tick, lots in [(101, 8), (105, 16), (110, 32)]:
        asks.set(tick, lots)
    assert bids.band_sum(95) == 4  # 95 excluded
    assert bids.band_sum(94) == 6
    assert bids.band_sum(89) == 7
    assert bids.band_sum(99) == 0
    assert asks.band_sum(105) == 8  # 105 excluded
    assert asks.band_sum(106) == 24
    assert asks.band_sum(111) == 56
    assert asks.band_sum(101) == 0


def test_sum_between_is_exclusive_on_both_sides(side_class, is_bid):
    side = side_class(is_bid)
    for tick, lots in [(10, 1), (11, 2), (12, 4), (13, 8)]:
        side.set(tick, lots)
    assert side.sum_between(10, 13) == 6
    assert side.sum_between(9, 14) == 15
    assert side.sum_between(11, 12) == 0
    assert side.sum_between(13, 10) == 0
    assert side.sum_between(-(2**63), 2**63 - 1) == 15


def test_band_sum_of_huge_sizes_that_fit(side_class, is_bid):
    side = side_class(is_bid)
    side.set(1, 2**62)
    side.set(2, 5)
    side.set(3, 2**62 - 6)
    assert side.band_sum(-1 if is_bid else 4) == 2**63 - 1
    side.set(3, 0)
    assert side.sum_between(0, 3) == 2**62 + 5


def test_band_sum_overflow_is_an_error(side_class, is_bid):
    side = side_class(is_bid)
    side.set(1, 2**62)
    side.set(2, 2**62)
    with pytest.raises(OverflowError):
        side.band_sum(-1 if is_bid else 3)


def test_band_sums_stay_exact_after_the_side_total_overflows(side_class, is_bid):
    # The C side sums the shorter run (band, or the levels beyond it taken from a running total);
    # once the total has left int64 it must fall back to summing the band itself.
    side = side_class(is_bid)
    near, middle, far = (30, 20, 10) if is_bid else (10, 20, 30)
    side.set(near, 7)
    side.set(middle, 2**62)
    side.set(far, 2**62)
    side.set(far + (-1 if is_bid else 1), 2**62)  # total now 3 * 2**62 + 7
    edge_after_near = middle
    assert side.band_sum(edge_after_near) == 7
    side.set(middle, 0)
    side.set(far, 5)
    assert side.band_sum(edge_after_near) == 7
    assert side.band_sum(far) == 7
    side.clear()
    side.set(near, 3)
    side.set(middle, 4)
    side.set(far, 2**62)
    assert side.band_sum(far) == 7
    assert side.band_sum(-1 if is_bid else 2**40) == 2**62 + 7


huge_sizes = st.lists(
    st.tuples(st.integers(0, 30), st.sampled_from([0, 1, 5, 2**40, 2**61, 2**62, 2**63 - 1]), st.integers(-1, 31)),
    max_size=40,
)


@pytest.mark.parametrize("impl", SIDE_CLASSES)
@settings(max_examples=200, deadline=None, derandomize=True)
@given(stream=huge_sizes, is_bid=st.booleans())
def test_band_sum_with_huge_sizes_matches_oracle(impl, stream, is_bid):
    side, levels = impl(is_bid), {}
    for tick, lots, edge in stream:
        side.set(tick, lots)
        if lots:
            levels[tick] = lots
        else:
            levels.pop(tick, None)
        band = sum(size for t, size in levels.items() if (t > edge if is_bid else t < edge))
        if band > 2**63 - 1:
            with pytest.raises(OverflowError):
                side.band_sum(edge)
        else:
            assert side.band_sum(edge) == band


def test_grows_past_initial_capacity_and_finds_every_level(side_class, is_bid):
    rng = random.Random(7)
    side = side_class(is_bid)
    expected: dict[int, int] = {}
    for tick in rng.sample(range(100_000), 5_000):
        lots = rng.randint(1, 10**6)
        side.set(tick, lots)
        expected[tick] = lots
    assert len(side) == 5_000
    assert side.levels(10**6) == oracle_levels(expected, is_bid)
    for tick in list(expected)[:500] + rng.sample(range(100_000), 500):
        assert side.get(tick) == expected.get(tick, 0)
    for tick in list(expected)[::2]:
        side.set(tick, 0)
        del expected[tick]
    assert side.levels(10**6) == oracle_levels(expected, is_bid)


# -- venue levels ------------------------------------------------------------------------------------


def test_apply_levels_parses_dicts_and_pairs(side_class, is_bid):
    side = side_class(is_bid)
    side.apply_levels([{"price": "97000.7", "size": "0.12500"}, ("96999.9", "2")], 1, 5)
    assert side.get(970007) == 12500
    assert side.get(969999) == 200000
    side.apply_levels([{"price": "97000.7", "size": "0"}, ["96999.9", "0.00000"]], 1, 5)
    assert len(side) == 0


@pytest.mark.parametrize(
    "level",
    [
        {"price": "1.0"},
        {"size": "1"},
        {"price": 1.0, "size": "1"},
        {"price": "1.0", "size": None},
        ("1.0",),
        ("1.0", "1", "2"),
        "1.0",
        None,
        {"price": "-1.0", "size": "1"},
        {"price": "1.05", "size": "1"},
    ],
)
def test_apply_levels_rejects_malformed_level(side_class, is_bid, level):
    with pytest.raises(ValueError):
        side_class(is_bid).apply_levels([level], 1, 2)


@pytest.mark.parametrize(
    ("decimals", "error"), [(-1, ValueError), (19, ValueError), (2**70, ValueError), (1.0, TypeError)]
)
def test_bulk_calls_reject_bad_decimals(side_class, is_bid, decimals, error):
    side = side_class(is_bid)
    for call in (side.apply_levels, side.replace_levels):
        with pytest.raises(error):
            call([("1", "1")], decimals, 2)
        with pytest.raises(error):
            call([("1", "1")], 2, decimals)
    assert len(side) == 0


def test_replace_levels_best_first(side_class, is_bid):
    side = side_class(is_bid)
    side.set(1, 1)
    prices = ["2341.25", "2325.00", "2000.00"] if is_bid else ["2000.00", "2325.00", "2341.25"]
    side.replace_levels([{"price": price, "size": "1.0000"} for price in prices], 2, 4)
    assert side.levels(10) == [(int(p.replace(".", "")), 10000) for p in prices]
    assert side.get(1) == 0


def test_replace_levels_any_order_duplicates_and_zeros(side_class, is_bid):
    side = side_class(is_bid)
    levels = [("3", "1"), ("1", "2"), ("2", "0"), ("3", "5"), ("4", "6"), ("1", "0")]
    side.replace_levels(levels, 0, 0)
    assert side.levels(10) == oracle_levels({3: 5, 4: 6}, is_bid)


def test_replace_levels_failure_leaves_side_empty(side_class, is_bid):
    side = side_class(is_bid)
    side.set(5, 5)
    with pytest.raises(ValueError):
        side.replace_levels([("1", "1"), ("x", "1")], 0, 0)
    assert len(side) == 0


def test_replace_levels_type_error_leaves_side_empty(side_class, is_bid):
    side = side_class(is_bid)
    side.set(5, 5)
    with pytest.raises(TypeError):
        side.replace_levels(None, 0, 0)
    assert len(side) == 0


def test_replace_levels_accepts_any_iterable(side_class, is_bid):
    side = side_class(is_bid)
    side.replace_levels(((str(tick), "1") for tick in range(3)), 0, 0)
    assert len(side) == 3


# -- exact decimal parsing ----------------------------------------------------------------------------


@pytest.fixture(params=PARSERS)
def parse(request):
    return request.param


@pytest.mark.parametrize(
    ("text", "decimals", "expected"),
    [
        ("97000.7", 1, 970007),  # 97000.7 / 0.1 is 970006.9999999999 in floats
        ("97000.10", 1, 970001),
        ("2325.00", 2, 232500),
        ("0.0200", 4, 200),
        ("340.1028", 4, 3401028),
        ("1.5", 4, 15000),
        ("7", 3, 7000),
        ("0", 4, 0),
        ("0.0000", 4, 0),
        ("007.50", 2, 750),
        ("5.000", 0, 5),
        ("9223372036854775807", 0, 2**63 - 1),
        ("922337203685477580.7", 1, 2**63 - 1),
    ],
)
def test_parse_scaled_exact(parse, text, decimals, expected):
    assert parse(text, decimals) == expected


@pytest.mark.parametrize(
    ("text", "decimals"),
    [
        ("", 2),
        (".", 2),
        (".5", 2),
        ("5.", 2),
        ("-1", 2),
        ("+1", 2),
        ("1e3", 2),
        (" 1", 2),
        ("1 ", 2),
        ("1.2.3", 2),
        ("1,5", 2),
        ("1_000", 2),
        ("\uff11", 2),  # fullwidth digit one
        ("\u00b2", 2),  # superscript two
        ("nan", 2),
        ("1.25", 1),  # finer than the grid
        ("9223372036854775808", 0),
        ("922337203685477580.8", 1),
        ("92233720368547758080", 0),
        ("1", 19),
        ("1", -1),
    ],
)
def test_parse_scaled_rejects(parse, text, decimals):
    with pytest.raises(ValueError):
        parse(text, decimals)


@pytest.mark.parametrize("value", [1.5, None, b"1", 1])
def test_parse_scaled_rejects_non_strings(parse, value):
    with pytest.raises(ValueError):
        parse(value, 2)


def test_parse_scaled_rejects_non_integer_decimals(parse):
    with pytest.raises(TypeError):
        parse("1.5", 1.2)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(value=st.integers(min_value=0, max_value=2**63 - 1), decimals=st.integers(min_value=0, max_value=18))
def test_parse_scaled_round_trips_formatted_integers(value, decimals):
    whole, fraction = divmod(value, 10**decimals)
    text = f"{whole}.{fraction:0{decimals}d}" if decimals else str(whole)
    assert book_side.parse_scaled(text, decimals) == value
    if HAVE_FAST:
        assert _vol_obi_fast.parse_scaled(text, decimals) == value


@needs_fast
@settings(max_examples=500, deadline=None, derandomize=True)
@given(text=st.text(alphabet="0123456789.-+e _", max_size=24), decimals=st.integers(min_value=0, max_value=6))
def test_parse_scaled_parity(text, decimals):
    outcomes = []
    for parser in (book_side.parse_scaled, _vol_obi_fast.parse_scaled):
        try:
            outcomes.append(parser(text, decimals))
        except ValueError:
            outcomes.append(ValueError)
    assert outcomes[0] == outcomes[1], text


# -- random operation streams -------------------------------------------------------------------------

operations = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.integers(0, 60), st.integers(0, 5)),  # size 0 deletes
        st.tuples(st.just("clear"), st.just(0), st.just(0)),
        st.tuples(st.just("replace"), st.integers(0, 60), st.integers(0, 2**32)),
    ),
    max_size=80,
)


def run_stream(side, stream, rng_seed: int = 0) -> list:
    """Apply the operations and record every observable after each one."""
    rng = random.Random(rng_seed)
    observed = []
    for op, tick, lots in stream:
        if op == "set":
            side.set(tick, lots)
        elif op == "clear":
            side.clear()
        else:
            levels = [(str(rng.randint(0, 60)), str(rng.randint(0, 3))) for _ in range(tick % 7)]
            side.replace_levels(levels, 0, 0)
        edge = rng.randint(-2, 62)
        observed.append(
            (
                len(side),
                side.best(),
                side.best_size(),
                side.get(tick),
                side.band_sum(edge),
                side.sum_between(edge - 10, edge + 10),
                side.levels(1000),
            )
        )
    return observed


def oracle_stream(is_bid: bool, stream, rng_seed: int = 0) -> list:
    rng = random.Random(rng_seed)
    levels: dict[int, int] = {}
    observed = []
    for op, tick, lots in stream:
        if op == "set":
            if lots:
                levels[tick] = lots
            else:
                levels.pop(tick, None)
        elif op == "clear":
            levels.clear()
        else:
            replaced = {}
            for _ in range(tick % 7):
                price, size = rng.randint(0, 60), rng.randint(0, 3)
                replaced[price] = size
            levels = {price: size for price, size in replaced.items() if size}
        edge = rng.randint(-2, 62)
        ordered = oracle_levels(levels, is_bid)
        best_tick, best_lots = ordered[0] if ordered else (EMPTY_TICK, 0)
        band = sum(lots for t, lots in levels.items() if (t > edge if is_bid else t < edge))
        between = sum(lots for t, lots in levels.items() if edge - 10 < t < edge + 10)
        observed.append((len(levels), best_tick, best_lots, levels.get(tick, 0), band, between, ordered))
    return observed


@pytest.mark.parametrize("impl", SIDE_CLASSES)
@settings(max_examples=150, deadline=None, derandomize=True)
@given(stream=operations, is_bid=st.booleans())
def test_random_stream_matches_oracle(impl, stream, is_bid):
    assert run_stream(impl(is_bid), stream) == oracle_stream(is_bid, stream)


@needs_fast
@settings(max_examples=150, deadline=None, derandomize=True)
@given(stream=operations, is_bid=st.booleans())
def test_random_stream_parity(stream, is_bid):
    fast = run_stream(_vol_obi_fast.CBookSide(is_bid), stream)
    assert fast == run_stream(PyBookSide(is_bid), stream)


@needs_fast
def test_public_signatures_match():
    import inspect

    public = [name for name in dir(PyBookSide) if not name.startswith("_")] + ["__len__"]
    for name in public:
        python_member = getattr(PyBookSide, name)
        if not callable(python_member):
            continue
        fast_parameters = list(inspect.signature(getattr(_vol_obi_fast.CBookSide, name)).parameters)
        assert fast_parameters == list(inspect.signature(python_member).parameters), name


@pytest.mark.parametrize("impl", SIDE_CLASSES)
def test_band_sum_over_every_length(impl, is_bid):
    # The C sum runs eight accumulators plus a tail loop; every length up to 40 crosses both.
    side = impl(is_bid)
    sizes = {tick: 3 * tick + 1 for tick in range(40)}
    for tick, lots in sizes.items():
        side.set(tick, lots)
    for edge in range(-1, 41):
        inside = [lots for tick, lots in sizes.items() if (tick > edge if is_bid else tick < edge)]
        assert side.band_sum(edge) == sum(inside)


@pytest.mark.parametrize("impl", SIDE_CLASSES)
def test_apply_levels_accepts_any_iterable(impl, is_bid):
    side = impl(is_bid)
    side.apply_levels((("1.0", "2"), ("2.0", "3")), 1, 0)
    side.apply_levels(iter([{"price": "1.0", "size": "0"}]), 1, 0)
    assert side.levels(10) == [(20, 3)]  # the level at 1.0 was deleted by the second call
