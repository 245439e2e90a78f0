"""The product's public name for `lmm.venue.ws.manager`."""
from lmm.venue.ws.manager import *  # noqa: F403
