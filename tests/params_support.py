"""Parameter objects for tests: built by the one builder from the shipped defaults, never from copied numbers.

A test that needs other values says which ones: ``replace(default_params().quoting, levels_per_side=3)``.
"""
from __future__ import annotations

from functools import cache

from lmm.config.config import load_config
from lmm.core.params import BotParams, build_params


@cache
def default_params() -> BotParams:
    return build_params(load_config(env={}))
