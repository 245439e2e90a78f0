"""The product's public name for `lmm.venue.binance.obi_feed`."""
from lmm.venue.binance.obi_feed import *  # noqa: F403
