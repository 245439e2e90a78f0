"""The product's public name for `lmm.book.lighter_book`."""
from lmm.book.lighter_book import *  # noqa: F403
