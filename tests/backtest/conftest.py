"""Fixtures of the backtest tier: the real tapes imported once for the whole session."""
from __future__ import annotations

from pathlib import Path

import pytest

from lmm.venue.tape.hftbacktest import import_hftbacktest
from tests.backtest.test_backtest_eth import COINM, USDM


@pytest.fixture(scope="session")
def eth_tape_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ETHUSDT recording of ../shared/data as a tape, imported once per session (skips when absent)."""
    if not USDM.exists():
        pytest.skip("real recordings not present")
    out = tmp_path_factory.mktemp("eth-session") / "tape"
    import_hftbacktest(USDM, out)
    return out


@pytest.fixture(scope="session")
def btc_tape_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The inverse BTCUSD_PERP recording of ../shared/data as a tape, imported once per session (skips when
    absent)."""
    if not COINM.exists():
        pytest.skip("real recordings not present")
    out = tmp_path_factory.mktemp("btc-session") / "tape"
    import_hftbacktest(COINM, out)
    return out
