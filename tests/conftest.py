"""Shared fixtures of the test suite (never in the product package)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from sim.testing import SimHandle, start_simulator


@pytest.fixture(scope="module")
def quiet_lighter_sim() -> Iterator[SimHandle]:
    """A simulator without the synthetic market or Binance: only what the test itself does happens."""
    with start_simulator(seed=4321, with_market=False) as handle:
        yield handle
