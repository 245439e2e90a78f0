"""The product's public name for `lmm.venue.lighter.book_sanity`."""
from lmm.venue.lighter.book_sanity import *  # noqa: F403
