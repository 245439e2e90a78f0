from lmm.core.markouts import FillPoint, markout, mid_at

S = 1_000_000_000
TIMES = [0, 1 * S, 2 * S, 3 * S]
MIDS = [100.0, 101.0, 99.0, 100.0]


def test_mid_at_takes_the_last_mid_at_or_before():
    assert mid_at(TIMES, MIDS, 0) == 100.0
    assert mid_at(TIMES, MIDS, S + 5) == 101.0
    assert mid_at(TIMES, MIDS, 3 * S) == 100.0
    assert mid_at(TIMES, MIDS, 3 * S + 1) is None  # past the path
    assert mid_at(TIMES, MIDS, -1) is None


def test_markout_is_signed_for_our_side():
    buy = FillPoint(0, True, 100.0)  # mid 101 one second later: +100 bp for a buy
    sell = FillPoint(0, False, 100.0)  # the same move is -100 bp for a sell
    assert markout([buy], TIMES, MIDS, 1.0).mean_bps == 100.0
    assert markout([sell], TIMES, MIDS, 1.0).mean_bps == -100.0
    both = markout([buy, sell], TIMES, MIDS, 1.0)
    assert both.mean_bps == 0.0 and both.count == 2 and both.stderr_bps == 100.0
    assert markout([buy, sell], TIMES, MIDS, 1.0, side=False).mean_bps == -100.0


def test_fills_without_a_later_mid_are_left_out():
    late = FillPoint(3 * S, True, 100.0)
    assert markout([late], TIMES, MIDS, 1.0).count == 0
    assert markout([late], TIMES, MIDS, 1.0).mean_bps is None
