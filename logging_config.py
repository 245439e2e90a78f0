"""The product's public name for `lmm.ops.logging_setup`."""
from lmm.ops.logging_setup import *  # noqa: F403
