"""LighterBook: snapshot, deltas, nonce continuity, crossed books, exact parsing and the OBI band.

Messages are built in the shapes of lighter-api.md 6.5 (as the SDK's WsClient receives them); every test
runs with the pure-Python sides and, when the extension is built, with the Cython sides.
"""

from __future__ import annotations

import copy
import json
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lmm.book.lighter_book as orderbook
from lmm.book.book_side import EMPTY_TICK, PyBookSide
from lmm.book.lighter_book import BookEvent, BookTop, LighterBook, band_edges

try:
    from lmm._fast import CBookSide
except ImportError:
    CBookSide = None

SIDE_FACTORIES = [
    pytest.param(PyBookSide, id="python"),
    pytest.param(CBookSide, id="cython", marks=pytest.mark.skipif(CBookSide is None, reason="_vol_obi_fast not built")),
]

# The snapshot and update of lighter-api.md 6.5 (ETH: market 0, 2 price and 4 size decimals).
SNAPSHOT = {
    "channel": "order_book:0",
    "last_updated_at": 1778138389655150,
    "offset": 2164,
    "order_book": {
        "code": 0,
        "asks": [{"price": "2325.00", "size": "99.0000"}, {"price": "2341.25", "size": "340.1028"}],
        "bids": [{"price": "2000.00", "size": "0.0200"}],
        "offset": 2164,
        "nonce": 904845,
        "last_updated_at": 1778138389655150,
        "begin_nonce": 0,
    },
    "timestamp": 1778138582602,
    "type": "subscribed/order_book",
}


def update(begin_nonce: int, nonce: int, *, bids=(), asks=(), offset: int = 1558300, market: int = 0) -> dict:
    """An update/order_book message; levels given as (price, size) strings."""
    return {
        "channel": f"order_book:{market}",
        "last_updated_at": 1774884082309144,
        "offset": offset,
        "order_book": {
            "code": 0,
            "asks": [{"price": price, "size": size} for price, size in asks],
            "bids": [{"price": price, "size": size} for price, size in bids],
            "offset": offset,
            "nonce": nonce,
            "last_updated_at": 1774884082309144,
            "begin_nonce": begin_nonce,
        },
        "timestamp": 1774884082326,
        "type": "update/order_book",
    }


def snapshot(nonce: int, *, bids=(), asks=(), market: int = 0) -> dict:
    message = update(0, nonce, bids=bids, asks=asks, market=market)
    message["type"] = "subscribed/order_book"
    return message


@pytest.fixture(params=SIDE_FACTORIES)
def side_factory(request):
    return request.param


@pytest.fixture
def eth_book(side_factory) -> LighterBook:
    book = LighterBook(0, price_decimals=2, size_decimals=4, side_factory=side_factory)
    assert book.on_message(copy.deepcopy(SNAPSHOT)) is BookEvent.SNAPSHOT
    return book


def test_new_book_is_invalid_until_snapshot(side_factory):
    book = LighterBook(0, 2, 4, side_factory=side_factory)
    assert not book.valid
    assert book.invalid_reason == orderbook.NO_SNAPSHOT_REASON
    assert book.nonce is None
    assert book.mid is None
    assert book.imbalance(0.025) is None
    assert book.on_message(update(0, 5, bids=[("1.00", "1.0000")])) is BookEvent.AWAITING_SNAPSHOT
    assert len(book.bids) == 0


def test_snapshot_builds_the_book(eth_book):
    assert eth_book.valid
    assert eth_book.invalid_reason is None
    assert eth_book.nonce == 904845
    assert eth_book.best_bid_tick == 200000
    assert eth_book.best_ask_tick == 232500
    assert eth_book.top(5) == BookTop(bids=((200000, 200),), asks=((232500, 990000), (234125, 3401028)))
    assert eth_book.mid_ticks2 == 432500
    assert eth_book.mid == 2162.5


def test_update_applies_absolute_sizes_and_advances_nonce(eth_book):
    message = update(904845, 904900, bids=[("2000.00", "1.5000"), ("1999.99", "0.1000")], asks=[("2064.54", "0.3285")])
    assert eth_book.on_message(message) is BookEvent.UPDATED
    assert eth_book.nonce == 904900
    assert eth_book.top(3) == BookTop(
        bids=((200000, 15000), (199999, 1000)),
        asks=((206454, 3285), (232500, 990000), (234125, 3401028)),
    )
    assert eth_book.mid_ticks2 == 200000 + 206454


@pytest.mark.parametrize("zero", ["0", "0.0000", "0.00"])
def test_zero_size_in_any_format_deletes(eth_book, zero):
    assert eth_book.on_message(update(904845, 904846, asks=[("2325.00", zero)])) is BookEvent.UPDATED
    assert eth_book.best_ask_tick == 234125
    assert eth_book.asks.get(232500) == 0


def test_deleting_the_last_level_leaves_a_valid_one_sided_book(eth_book):
    assert eth_book.on_message(update(904845, 904846, bids=[("2000.00", "0")])) is BookEvent.UPDATED
    assert eth_book.valid
    assert eth_book.best_bid_tick == EMPTY_TICK
    assert eth_book.mid is None
    assert eth_book.mid_ticks2 is None
    assert eth_book.imbalance(0.025) is None


def test_nonce_gap_invalidates_until_next_snapshot(eth_book):
    assert eth_book.on_message(update(904845, 904850)) is BookEvent.UPDATED
    event = eth_book.on_message(update(904851, 904860, bids=[("2001.00", "1.0000")]))
    assert event is BookEvent.GAP
    assert event.needs_resubscribe
    assert not eth_book.valid
    assert "begin_nonce 904851" in eth_book.invalid_reason
    assert "904850" in eth_book.invalid_reason
    assert eth_book.nonce is None
    assert len(eth_book.bids) == len(eth_book.asks) == 0
    assert eth_book.mid is None

    # Even an update that would have continued the old chain is ignored now.
    assert eth_book.on_message(update(904860, 904870, bids=[("2001.00", "1.0000")])) is BookEvent.AWAITING_SNAPSHOT
    assert not BookEvent.AWAITING_SNAPSHOT.needs_resubscribe
    assert len(eth_book.bids) == 0

    assert eth_book.on_message(snapshot(905000, bids=[("2001.00", "2.0000")], asks=[("2002.00", "3.0000")])) is (
        BookEvent.SNAPSHOT
    )
    assert eth_book.valid
    assert eth_book.top(5) == BookTop(bids=((200100, 20000),), asks=((200200, 30000),))
    assert eth_book.on_message(update(905000, 905001, asks=[("2002.00", "0")])) is BookEvent.UPDATED


def test_replayed_update_is_a_gap(eth_book):
    message = update(904845, 904850, bids=[("2000.00", "1.0000")])
    assert eth_book.on_message(copy.deepcopy(message)) is BookEvent.UPDATED
    assert eth_book.on_message(copy.deepcopy(message)) is BookEvent.GAP


def test_offset_is_not_used_for_continuity(eth_book):
    # Offsets jump backwards and skip; only the nonce chain counts.
    assert eth_book.on_message(update(904845, 904850, offset=10)) is BookEvent.UPDATED
    assert eth_book.on_message(update(904850, 904851, offset=3)) is BookEvent.UPDATED
    assert eth_book.on_message(update(904851, 904900, offset=10**9)) is BookEvent.UPDATED
    assert eth_book.valid


def test_snapshot_replaces_everything_even_when_small(eth_book):
    assert eth_book.on_message(snapshot(1, bids=[("10.00", "1.0000")], asks=[])) is BookEvent.SNAPSHOT
    assert eth_book.top(10) == BookTop(bids=((1000, 10000),), asks=())
    assert eth_book.nonce == 1


def test_large_update_is_not_mistaken_for_a_snapshot(eth_book):
    bids = [(f"{1000 + tick / 100:.2f}", "1.0000") for tick in range(300)]
    assert eth_book.on_message(update(904845, 904846, bids=bids)) is BookEvent.UPDATED
    assert len(eth_book.bids) == 301  # the snapshot's 2000.00 bid is still there
    assert eth_book.asks.get(232500) == 990000


def test_update_that_crosses_invalidates(eth_book):
    event = eth_book.on_message(update(904845, 904846, bids=[("2325.00", "1.0000")]))
    assert event is BookEvent.CROSSED
    assert event.needs_resubscribe
    assert not eth_book.valid
    assert "crossed" in eth_book.invalid_reason
    assert eth_book.mid is None
    assert eth_book.on_message(update(904846, 904847)) is BookEvent.AWAITING_SNAPSHOT


def test_crossed_snapshot_is_invalid(side_factory):
    book = LighterBook(0, 2, 4, side_factory=side_factory)
    message = snapshot(7, bids=[("100.01", "1.0000")], asks=[("100.00", "1.0000")])
    assert book.on_message(message) is BookEvent.CROSSED
    assert not book.valid


def test_locked_book_counts_as_crossed(side_factory):
    book = LighterBook(0, 2, 4, side_factory=side_factory)
    assert book.on_message(snapshot(7, bids=[("100.00", "1")], asks=[("100.00", "1")])) is BookEvent.CROSSED


def test_parsing_is_exact(side_factory):
    book = LighterBook(1, price_decimals=1, size_decimals=5, side_factory=side_factory)
    message = snapshot(1, bids=[("97000.7", "0.00020")], asks=[("97000.8", "12.5")], market=1)
    assert book.on_message(message) is BookEvent.SNAPSHOT
    assert book.best_bid_tick == 970007  # int(97000.7 / 0.1) would give 970006
    assert book.bids.get(970007) == 20
    assert book.asks.get(970008) == 1250000
    assert book.mid_ticks2 == 1940015
    assert book.mid == 97000.75


@pytest.mark.parametrize(
    "breaker",
    [
        lambda m: m["order_book"]["bids"].append({"price": "abc", "size": "1.0000"}),
        lambda m: m["order_book"]["asks"].append({"price": "2400.001", "size": "1.0000"}),
        lambda m: m["order_book"]["asks"].append({"price": "2400.00", "size": "-1.0000"}),
        lambda m: m["order_book"]["asks"].append({"price": 2400.0, "size": "1.0000"}),
        lambda m: m["order_book"].__setitem__("bids", None),
        lambda m: m["order_book"].__setitem__("nonce", "904846"),
        lambda m: m["order_book"].pop("begin_nonce"),
        lambda m: m.__setitem__("order_book", []),
    ],
)
def test_malformed_update_invalidates(eth_book, breaker):
    message = update(904845, 904846)
    breaker(message)
    event = eth_book.on_message(message)
    assert event is BookEvent.MALFORMED
    assert event.needs_resubscribe
    assert not eth_book.valid
    assert eth_book.invalid_reason
    assert len(eth_book.bids) == len(eth_book.asks) == 0


@pytest.mark.parametrize(
    "breaker",
    [
        lambda m: m["order_book"].pop("bids"),
        lambda m: m["order_book"].__setitem__("nonce", None),
        lambda m: m["order_book"]["asks"].append({"price": "1.00"}),
    ],
)
def test_malformed_snapshot_invalidates(side_factory, breaker):
    book = LighterBook(0, 2, 4, side_factory=side_factory)
    message = copy.deepcopy(SNAPSHOT)
    breaker(message)
    assert book.on_message(message) is BookEvent.MALFORMED
    assert not book.valid
    assert len(book.asks) == 0


def test_update_may_omit_an_unchanged_side(eth_book):
    message = update(904845, 904846, asks=[("2330.00", "1.0000")])
    del message["order_book"]["bids"]
    assert eth_book.on_message(message) is BookEvent.UPDATED
    assert eth_book.asks.get(233000) == 10000


@pytest.mark.parametrize(
    "message",
    [
        {"type": "ping"},
        {"type": "connected"},
        {"type": "update/trade", "channel": "trade:0"},
        update(904845, 904846, bids=[("2100.00", "1.0000")], market=1),
    ],
)
def test_foreign_messages_are_ignored(eth_book, message):
    assert eth_book.on_message(message) is BookEvent.IGNORED
    assert eth_book.valid
    assert eth_book.nonce == 904845


def test_slash_channel_form_is_accepted(eth_book):
    message = update(904845, 904846, bids=[("2100.00", "1.0000")])
    message["channel"] = "order_book/0"
    assert eth_book.on_message(message) is BookEvent.UPDATED


def test_invalidate_drops_the_book(eth_book):
    eth_book.invalidate("socket closed")
    assert not eth_book.valid
    assert eth_book.invalid_reason == "socket closed"
    assert eth_book.best_bid_tick == EMPTY_TICK


@pytest.mark.parametrize("market_id", [-1, 1.0, "0", True])
def test_constructor_rejects_bad_market_id(market_id):
    with pytest.raises(ValueError):
        LighterBook(market_id, 2, 4, side_factory=PyBookSide)


@pytest.mark.parametrize(("price_decimals", "size_decimals"), [(-1, 4), (2, 19), (2.0, 4)])
def test_constructor_rejects_bad_decimals(price_decimals, size_decimals):
    with pytest.raises(ValueError):
        LighterBook(0, price_decimals, size_decimals, side_factory=PyBookSide)


def test_large_market_ids_stay_python_ints(side_factory):
    book = LighterBook(2**40 + 2048, 2, 4, side_factory=side_factory)
    message = snapshot(1, bids=[("1.00", "1")], asks=[("2.00", "1")], market=2**40 + 2048)
    assert book.on_message(message) is BookEvent.SNAPSHOT
    assert book.on_message(snapshot(1, market=2048)) is BookEvent.IGNORED


# -- OBI band (strategy-model.md 5.3, binance-depth.md 9.8) ---------------------------------------------


def reference_book(side_factory) -> LighterBook:
    """The book of binance-depth.md 9.8 after frame 3, reached through a Lighter snapshot and deltas."""
    book = LighterBook(1, price_decimals=1, size_decimals=5, side_factory=side_factory)
    first = snapshot(
        100,
        bids=[
            ("97000.0", "1.512"),
            ("96999.9", "0.800"),
            ("96999.5", "3.000"),
            ("96998.0", "0.250"),
            ("96990.1", "12.000"),
        ],
        asks=[
            ("97000.1", "2.031"),
            ("97000.2", "0.004"),
            ("97001.0", "1.100"),
            ("97003.4", "0.600"),
            ("97010.0", "25.000"),
        ],
        market=1,
    )
    frame2 = update(
        100, 131, bids=[("97000.0", "1.700"), ("96998.0", "0.000")], asks=[("97000.1", "1.900"), ("97002.5", "0.300")]
    )
    frame2["channel"] = "order_book:1"
    # Within one update the ask at 97000.1 is deleted while the bid moves up to it.
    frame3 = update(131, 163, bids=[("97000.1", "0.050")], asks=[("97000.1", "0.000"), ("97000.2", "0.900")], market=1)
    for message, event in ((first, BookEvent.SNAPSHOT), (frame2, BookEvent.UPDATED), (frame3, BookEvent.UPDATED)):
        assert book.on_message(message) is event
    return book


@pytest.mark.parametrize(
    ("depth", "lo", "hi", "x_lots", "x"),
    [(0.025, 945752, 994251, -1035000, -10.35), (0.0001, 969905, 970098, 265000, 2.65)],
)
def test_band_imbalance_matches_reference_at_the_edges(side_factory, depth, lo, hi, x_lots, x):
    book = reference_book(side_factory)
    assert book.top(5) == BookTop(
        bids=((970001, 5000), (970000, 170000), (969999, 80000), (969995, 300000), (969901, 1200000)),
        asks=((970002, 90000), (970010, 110000), (970025, 30000), (970034, 60000), (970100, 2500000)),
    )
    assert book.mid == 97000.15
    assert book.band_edges(depth) == (lo, hi)
    assert book.imbalance_lots(depth) == x_lots
    assert book.imbalance(depth) == x


def test_band_edges_are_exact_rationals():
    # m = 1940003 / 2 ticks; d = 1/40: m(1 - d) = 945751.4625 and m(1 + d) = 994251.5375.
    assert band_edges(1940003, 0.025) == band_edges(1940003, Fraction(1, 40)) == band_edges(1940003, "0.025")
    assert band_edges(1940003, 0.025) == (945752, 994251)
    # Integral products stay on the edge: m = 1000, d = 1/10 gives exactly 900 and 1100.
    assert band_edges(2000, 0.1) == (900, 1100)


@pytest.mark.parametrize("depth", [0, 1, -0.1, 1.5])
def test_band_edges_reject_bad_depth(depth):
    with pytest.raises(ValueError):
        band_edges(2000, depth)


def test_band_excludes_levels_exactly_on_the_edges(side_factory):
    book = LighterBook(0, 0, 0, side_factory=side_factory)
    # m = 1000, d = 0.1: edges 900 and 1100 are excluded, 901 and 1099 included.
    bids = [("999", "1"), ("901", "10"), ("900", "100")]
    asks = [("1001", "2"), ("1099", "20"), ("1100", "200")]
    assert book.on_message(snapshot(1, bids=bids, asks=asks)) is BookEvent.SNAPSHOT
    assert book.imbalance_lots(0.1) == 11 - 22


# -- side selection and the SDK's view of the same messages -------------------------------------------


def test_default_side_factory_honours_pure_python_switch(monkeypatch):
    monkeypatch.setenv("LIGHTER_MM_PURE_PYTHON", "1")
    assert orderbook.default_side_factory() is PyBookSide
    assert isinstance(LighterBook(0, 2, 4).bids, PyBookSide)
    monkeypatch.delenv("LIGHTER_MM_PURE_PYTHON")
    expected = CBookSide if CBookSide is not None else PyBookSide
    assert orderbook.default_side_factory() is expected


def test_book_agrees_with_the_sdk_ws_client(side_factory):
    from lighter.ws_client import WsClient

    states = {}
    client = WsClient(
        ws_url="ws://127.0.0.1:9/stream",
        order_book_ids=[0],
        on_order_book_update=lambda market, state: states.__setitem__(market, state),
    )
    book = LighterBook(0, 2, 4, side_factory=side_factory)
    messages = [
        SNAPSHOT,
        update(904845, 904850, bids=[("2000.00", "0.5000"), ("1999.50", "1.0000")], asks=[("2330.00", "2.0000")]),
        update(904850, 904870, bids=[("1999.50", "0")], asks=[("2325.00", "0.0000"), ("2329.99", "0.1000")]),
    ]
    for message in messages:
        raw = json.dumps(message)
        client.on_message(None, raw)  # the SDK decodes the same text the bot would receive
        assert book.on_message(json.loads(raw)) in (BookEvent.SNAPSHOT, BookEvent.UPDATED)

    sdk_state = states["0"]

    def as_ticks(levels, price_decimals=2, size_decimals=4):
        return {
            int(level["price"].replace(".", "")): int(level["size"].replace(".", "")) * 10 ** (size_decimals - 4)
            for level in levels
        }

    assert dict(book.bids.levels(100)) == as_ticks(sdk_state["bids"])
    assert dict(book.asks.levels(100)) == as_ticks(sdk_state["asks"])


# -- the two cores: C kernel and pure-Python twin ------------------------------------------------------

needs_fast = pytest.mark.skipif(CBookSide is None, reason="_vol_obi_fast not built")
DEPTHS = (0.025, Fraction(1, 3), "0.5", 0.0001)


@needs_fast
def test_cython_sides_run_on_the_c_core():
    import lmm._fast as _vol_obi_fast

    assert isinstance(LighterBook(0, 2, 4, side_factory=CBookSide).core, _vol_obi_fast.CLighterBookCore)
    assert isinstance(LighterBook(0, 2, 4, side_factory=PyBookSide).core, orderbook.PyLighterBookCore)


def observe(book: LighterBook) -> tuple:
    """Everything a caller can read from the book."""
    reads = [book.valid, book.invalid_reason, book.nonce, book.top(10_000), book.best_bid_tick, book.best_ask_tick]
    reads += [book.mid_ticks2, book.mid]
    for depth in DEPTHS:
        reads += [book.band_edges(depth), book.imbalance_lots(depth), book.imbalance(depth)]
    return tuple(reads)


def price_text(tick: int) -> str:
    return f"{tick // 100}.{tick % 100:02d}"


level_strategy = st.tuples(st.integers(0, 40), st.integers(0, 3), st.sampled_from(["", "x"]))
message_strategy = st.tuples(
    st.sampled_from(["update", "update", "update", "gap", "snapshot", "foreign", "no_book", "invalidate"]),
    st.lists(level_strategy, max_size=6),
    st.lists(level_strategy, max_size=6),
    st.integers(1, 30),
)


def build_message(kind: str, bids, asks, step: int, nonce: int | None) -> dict:
    """A message of `kind`; levels are (tick offset, lots, "x" to corrupt the size); bids sit at 1.00-1.40."""
    previous = nonce if nonce is not None else 0
    begin = previous + 1 if kind == "gap" else previous

    def levels(pairs, base: int) -> list[tuple[str, str]]:
        return [(price_text(base + offset), f"{lots}.0000{corrupt}") for offset, lots, corrupt in pairs]

    bid_levels, ask_levels = levels(bids, 100), levels(asks, 130)  # overlapping ranges: crossings happen
    if kind == "snapshot":
        return snapshot(previous + step, bids=bid_levels, asks=ask_levels)
    message = update(begin, previous + step, bids=bid_levels, asks=ask_levels, market=1 if kind == "foreign" else 0)
    if kind == "no_book":
        message["order_book"] = None
    return message


@needs_fast
@settings(max_examples=200, deadline=None, derandomize=True)
@given(stream=st.lists(message_strategy, max_size=25))
def test_random_message_streams_give_identical_books_and_events(stream):
    books = [LighterBook(0, 2, 4, side_factory=factory) for factory in (PyBookSide, CBookSide)]
    for kind, bids, asks, step in stream:
        if kind == "invalidate":
            for book in books:
                book.invalidate("test")
        else:
            message = build_message(kind, bids, asks, step, books[0].nonce)
            events = [book.on_message(copy.deepcopy(message)) for book in books]
            assert events[0] is events[1], message
        assert observe(books[0]) == observe(books[1])


@pytest.mark.parametrize(
    ("bid", "ask", "size"),
    [
        # Sums of ticks above 2**63 - 1, and band products above it: the C core must use Python ints.
        ("4611686018427387903", "4611686018427387905", "3"),
        ("3000000000000000000", "3000000000000000002", "3"),
        # A band sum above 2**53: the float result must be Python's correctly rounded int / int.
        ("1000", "1001", "9007199254740993"),
    ],
)
def test_extreme_values_stay_exact(side_factory, bid, ask, size):
    book = LighterBook(0, 0, 0, side_factory=side_factory)
    assert book.on_message(snapshot(1, bids=[(bid, size)], asks=[(ask, "1")])) is BookEvent.SNAPSHOT
    mid_ticks2 = int(bid) + int(ask)
    assert book.mid_ticks2 == mid_ticks2
    assert book.mid == mid_ticks2 / 2
    lo, hi = band_edges(mid_ticks2, 0.5)
    expected = (int(size) if int(bid) > lo else 0) - (1 if int(ask) < hi else 0)
    assert book.imbalance_lots(0.5) == expected
    assert book.imbalance(0.5) == expected / 1


def test_equal_depths_of_different_types_use_their_own_terms(side_factory):
    # The float 0.3 means exactly 3/10; Fraction(0.3) is the binary double just below it and compares
    # equal to the float, yet moves both band edges (mid 10: (7, 13) against (8, 12)).
    book = LighterBook(0, 0, 0, side_factory=side_factory)
    book.on_message(snapshot(1, bids=[("9", "1"), ("8", "2"), ("7", "4")], asks=[("11", "1")]))
    binary = Fraction(0.3)
    assert binary == 0.3
    assert book.imbalance_lots(0.3) == 1 + 2 - 1
    assert book.imbalance_lots(binary) == 1 - 1
    assert book.imbalance_lots(0.3) == 1 + 2 - 1
    assert book.band_edges(binary) == (8, 12)
