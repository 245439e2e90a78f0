"""The self-consistent snapshot and events of binance-depth.md §9.8 (L = lastUpdateId), for the tests."""
from __future__ import annotations

from collections.abc import Sequence

from lmm.book.binance_depth import DepthEvent, DepthSnapshot


def ev(first: int, final: int, prev: int, bids: Sequence[tuple[str, str]] = (),
       asks: Sequence[tuple[str, str]] = ()) -> DepthEvent:
    return DepthEvent(first, final, prev, 0, list(bids), list(asks))


L = 8123456789150

SNAPSHOT = DepthSnapshot(
    last_update_id=L,
    bids=[("97000.00", "1.512"), ("96999.90", "0.800"), ("96999.50", "3.000"), ("96998.00", "0.250"),
          ("96990.10", "12.000")],
    asks=[("97000.10", "2.031"), ("97000.20", "0.004"), ("97001.00", "1.100"), ("97003.40", "0.600"),
          ("97010.00", "25.000")],
    limit=5,
)


# binance-depth.md §9.8: frame 1 is older than L, frame 2 straddles, frame 3 chains, frame 4 is a gap.
FRAME1 = ev(8123456789101, 8123456789140, 8123456789077, [("96999.90", "0.800")], [("97000.20", "0.004")])
FRAME2 = ev(8123456789146, 8123456789171, 8123456789140, [("97000.00", "1.700"), ("96998.00", "0.000")],
            [("97000.10", "1.900"), ("97002.50", "0.300")])
FRAME3 = ev(8123456789188, 8123456789203, 8123456789171, [("97000.10", "0.050")],
            [("97000.10", "0.000"), ("97000.20", "0.900")])
FRAME4 = ev(8123456789230, 8123456789244, 8123456789215, [], [("97001.00", "0.000")])

EXPECTED_BIDS = [(970001, 50), (970000, 1700), (969999, 800), (969995, 3000), (969901, 12000)]
EXPECTED_ASKS = [(970002, 900), (970010, 1100), (970025, 300), (970034, 600), (970100, 25000)]
