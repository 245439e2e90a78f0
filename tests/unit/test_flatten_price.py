"""The flatten's IOC close price: through the touch in proportion to the price (the flatten itself runs on
the local venue: tests/venue/test_recovery_venue.py)."""
from __future__ import annotations

from lmm.daemon.flatten import ioc_close_price


def test_close_price_moves_through_the_touch_in_proportion_to_price() -> None:
    assert ioc_close_price(5, (1_000_000, 1_000_100), 50.0) == 995_000  # long: sell 0.5 % under the bid
    assert ioc_close_price(-5, (1_000_000, 1_000_100), 50.0) == 1_005_101  # short: buy 0.5 % over the ask
    assert ioc_close_price(5, (3, 4), 50.0) == 2  # cheap market: still a positive price
