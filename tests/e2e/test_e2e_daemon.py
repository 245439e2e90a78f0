"""End to end: the daemon (``market_maker_v2.py``) as a subprocess in live mode against the simulator.

One daemon run is shared by the tests of this module, in file order: it quotes both sides without ever
crossing, gets filled as a maker and keeps the position within the limit; the last test stops it with SIGTERM
and checks that no order of the account is left on the simulator. (The inventory skew and the limit under
sweeps, decisions, are tested exactly on the local venue: tests/venue.)
"""
from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from e2e_support import (
    Daemon,
    live_env,
    position_and_volume,
    resting_quotes,
    start_daemon,
    true_touch,
    two_sided,
    wait_for,
)

from sim.engine_types import OrderStatus
from sim.testing import SimAccount, SimHandle, start_simulator

MARKET_ID = 1  # BTC on the simulator
SEED = 20261126
LEVERAGE = 2
CAPITAL_USAGE = 0.12
POSITION_SAFETY = 0.9  # quoting.py: M = 0.9 * (equity * leverage - reserved)
# A small account: one order is 24 % of equity, so a few fills move the position a good part of the limit.
COLLATERAL_USD = 1_000.0
# M for a flat account: 0.9 * (E * leverage - 2 orders of E * usage * leverage).
FLAT_LIMIT_USD = POSITION_SAFETY * COLLATERAL_USD * LEVERAGE * (1 - 2 * CAPITAL_USAGE)
# What moves the quotes off-centre is the position only: the alpha term (c1) is off, and quotes follow
# their target within 0.3 bp (so a sampled mid is never far from the mid the quotes were set at).
TRADING_ENV = {
    "LMM_TRADING_DEFAULT_QUOTE_UPDATE_THRESHOLD_BPS": "0.3",
    "LMM_TRADING_LEVERAGE": str(LEVERAGE),
    "LMM_TRADING_CAPITAL_USAGE_PERCENT": str(CAPITAL_USAGE),
    "LMM_VOL_OBI_C1_TICKS": "0",
    "LMM_VOL_OBI_SKEW": "5",  # default 3; stronger, so that the skew stands well clear of the 0.3 bp drift
}


@dataclass(frozen=True)
class Sample:
    """One look at the simulator: the account's position and resting quotes, and the true mid."""

    position: float
    mid: float
    quotes: tuple[float, float] | None  # (bid, ask) when one order rests on each side


@dataclass
class TradingRun:
    sim: SimHandle
    account: SimAccount
    daemon: Daemon
    samples: list[Sample] = field(default_factory=list)

    def sample(self) -> Sample | None:
        touch = true_touch(self.sim, MARKET_ID)
        quotes = two_sided(resting_quotes(self.sim, self.account.account_index, MARKET_ID))
        position, _, _ = position_and_volume(self.sim, self.account.account_index, MARKET_ID)
        if touch is None:
            return None
        sample = Sample(position, (touch[0] + touch[1]) / 2, quotes)
        self.samples.append(sample)
        return sample

    def watch(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.sample()
            time.sleep(0.2)

    def volume(self) -> float:
        return position_and_volume(self.sim, self.account.account_index, MARKET_ID)[1]


def _trades_and_post_only_cancels(sim: SimHandle, account_index: int) -> tuple[list[bool], int]:
    """White box: (is-maker per trade of the account, number of orders cancelled for crossing)."""
    engine = sim.simulator_thread.simulator.engine

    async def read() -> tuple[list[bool], int]:
        trades = engine.account_trades(account_index, n=10_000)
        inactive = engine.inactive_orders(account_index, MARKET_ID, limit=100_000)
        crossed = sum(1 for order in inactive if order.status is OrderStatus.CANCELED_POST_ONLY)
        return [trade.maker_account_id == account_index for trade in trades], crossed

    return sim.simulator_thread.call(read)


@pytest.fixture(scope="module")
def trading(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TradingRun]:
    tmp: Path = tmp_path_factory.mktemp("e2e_trading")
    # the simulated market maker quotes 1.6 bp from its fair price: our 1.5 bp quotes are at the touch and
    # get filled every few seconds
    with start_simulator(seed=SEED, lighter_half_spread_bps=1.6) as sim:
        account = sim.create_account(collateral=str(int(COLLATERAL_USD)), tier="premium")
        daemon = start_daemon(tmp, live_env(sim, account, TRADING_ENV), "--live")
        try:
            yield TradingRun(sim, account, daemon)
        finally:
            daemon.kill()


def test_quotes_both_sides_and_never_crosses(trading: TradingRun) -> None:
    sim, account = trading.sim, trading.account
    trading.daemon.wait_output(r"LIVE MODE")
    bid, ask = wait_for(lambda: two_sided(resting_quotes(sim, account.account_index, MARKET_ID)), 30,
                        "a resting bid and ask of the account")
    assert bid < ask
    touch = true_touch(sim, MARKET_ID)
    assert touch is not None
    assert bid < touch[1] and ask > touch[0], (bid, ask, touch)
    _, crossed = _trades_and_post_only_cancels(sim, account.account_index)
    assert crossed == 0, "a post-only quote crossed the book at placement"


def test_gets_filled_as_maker_with_the_position_within_the_limit(trading: TradingRun) -> None:
    """Fills reach the process over the real protocol; the limit and the skew as decisions are tested exactly
    in virtual time (tests/venue/test_decisions_venue.py, test_skew_venue.py)."""
    sim, account = trading.sim, trading.account
    wait_for(lambda: len(_trades_and_post_only_cancels(sim, account.account_index)[0]) >= 2, 40,
             "two fills of the account", interval=0.25)
    trading.watch(2)
    makers, crossed = _trades_and_post_only_cancels(sim, account.account_index)
    assert len(makers) >= 2 and all(makers), "every fill of a post-only quote is a maker fill"
    assert crossed == 0
    assert all(s.quotes is None or s.quotes[0] < s.quotes[1] for s in trading.samples)
    _, _, equity = position_and_volume(sim, account.account_index, MARKET_ID)
    # |P| * m >= M suppresses the adding side, so the position can pass M by at most one order.
    limit = POSITION_SAFETY * equity * LEVERAGE
    one_order = CAPITAL_USAGE * LEVERAGE * COLLATERAL_USD * 1.05
    assert max(abs(s.position) * s.mid for s in trading.samples) <= limit + one_order


def test_sigterm_cancels_every_order_and_exits_zero(trading: TradingRun) -> None:
    sim, account = trading.sim, trading.account
    wait_for(lambda: two_sided(resting_quotes(sim, account.account_index, MARKET_ID)), 30, "quotes")
    status = trading.daemon.stop(signal.SIGTERM)
    output = trading.daemon.output()
    assert status == 0, trading.daemon.tail()
    assert resting_quotes(sim, account.account_index, MARKET_ID) == []
    assert "shutdown: no open order on BTC (confirmed twice over REST)" in output
    assert "summary:" in output and "tick-to-order p50 / p99" in output
    perf = re.search(r"perf: .*loop_lag_p99_ms=(?P<lag>[\d.e+-]+) loop_lag_samples=(?P<n>\d+)", output)
    assert perf is not None and int(perf["n"]) > 0 and float(perf["lag"]) >= 0
    assert "Traceback" not in output
