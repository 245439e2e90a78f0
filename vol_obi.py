"""The product's public name for `lmm.model.vol_obi`."""
from lmm.model.vol_obi import *  # noqa: F403
