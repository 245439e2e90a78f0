"""The WS-vs-REST top-of-book comparison (pure part)."""
from lmm.book.book_side import EMPTY_TICK
from lmm.venue.lighter.book_sanity import compare_top, rest_best_ticks


def test_equal_tops_pass():
    assert compare_top(970000, 970010, 970000, 970010, 1.0).ok


def test_within_tolerance_passes_and_beyond_fails():
    # 1 bp of 970010 ticks is 97 ticks
    assert compare_top(970000, 970010, 969950, 970010, 1.0).ok
    result = compare_top(970000, 970010, 969800, 970010, 1.0)
    assert not result.ok and "best bid" in result.reason


def test_side_missing_on_one_source_fails():
    result = compare_top(EMPTY_TICK, 970010, 970000, 970010, 10.0)
    assert not result.ok and "REST only" in result.reason
    assert compare_top(EMPTY_TICK, EMPTY_TICK, EMPTY_TICK, EMPTY_TICK, 1.0).ok


def test_rest_best_parsed_exactly_whatever_the_order():
    body = {"bids": [{"price": "97000.0"}, {"price": "97000.7"}], "asks": [{"price": "97001.5"},
                                                                          {"price": "97001.1"}]}
    assert rest_best_ticks(body, 1) == (970007, 970011)
    assert rest_best_ticks({"bids": [], "asks": []}, 1) == (EMPTY_TICK, EMPTY_TICK)
