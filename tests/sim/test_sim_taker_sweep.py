"""The simulator's `taker_sweep` fault: repeated market orders of one size from a separate synthetic account,
hitting the best resting orders of one side (whoever owns them), on the schedule asked for; bad parameters
are refused with HTTP 400 by the control API."""
from __future__ import annotations

import json
from typing import Any

import pytest
from sim_engine_support import SECOND, T0, eth, new_venue, usd

from sim.taker_sweeps import TakerSweeps
from sim.testing import SimControlError, SimHandle

S = 1.0  # monotonic seconds of the sweep schedule in these tests


def test_a_sell_sweep_hits_the_best_bids_of_every_account_and_repeats_on_its_interval():
    venue = new_venue()
    maker, other = venue.trader(), venue.trader()
    venue.place(maker, usd(2000), eth(0.3), ask=False)
    venue.place(other, usd(1999), eth(0.3), ask=False)
    venue.place(other, usd(2100), eth(1), ask=True)  # the other side is untouched
    sweeps = TakerSweeps(venue.engine)
    sweep = sweeps.add({"side": "sell", "size": "0.4", "interval_ms": 300, "count": 2, "market_id": 0}, S)
    assert sweep.size_lots == eth(0.4)
    assert sweeps.run_due(S, T0) == 1  # the first one at once
    assert venue.position(maker) == eth(0.3) and venue.position(other) == eth(0.1)
    assert venue.position(sweeps.account_index) == -eth(0.4)
    assert sweeps.run_due(S + 0.2, T0 + SECOND) == 0  # not due yet
    assert sweeps.run_due(S + 0.3, T0 + 2 * SECOND) == 1
    assert venue.position(other) == eth(0.3)
    assert sweeps.sweeps == []  # count reached
    assert sweeps.run_due(S + 5, T0 + 3 * SECOND) == 0
    assert venue.position(sweeps.account_index) == -eth(0.6)  # the second one found only 0.2 to take
    assert venue.engine.best_bid_ask(0) == (None, usd(2100))


def test_a_buy_sweep_stops_at_its_slippage_limit_and_an_empty_side_is_skipped():
    venue = new_venue()
    maker = venue.trader()
    venue.place(maker, usd(2000), eth(0.1), ask=True)
    venue.place(maker, usd(2020), eth(0.1), ask=True)  # 100 bp away: beyond a 50 bp sweep
    sweeps = TakerSweeps(venue.engine)
    sweeps.add({"side": "buy", "size": 1, "slippage_bps": 50, "seconds": 1.0, "interval_ms": 100,
                "market_id": 0}, S)
    assert sweeps.run_due(S, T0) == 1
    assert venue.position(maker) == -eth(0.1)
    assert venue.engine.best_bid_ask(0) == (None, usd(2020))
    sweeps.run_due(S + 0.1, T0 + SECOND)  # the best ask is now 2020: swept up to 2030.1
    assert venue.position(maker) == -eth(0.2)
    assert sweeps.run_due(S + 0.25, T0 + 2 * SECOND) == 0 and sweeps.stats.skipped == 1  # nothing left
    sweeps.run_due(S + 1.0, T0 + 3 * SECOND)
    assert sweeps.sweeps == []  # its seconds are over


@pytest.mark.parametrize("params", [
    {"size": "0.1"},  # no side
    {"side": "sideways", "size": "0.1"},
    {"side": "sell"},  # no size
    {"side": "sell", "size": "0"},
    {"side": "sell", "size": "0.00001"},  # not on ETH's lot grid (1e-4)
    {"side": "sell", "size": "abc"},
    {"side": "sell", "size": "0.1", "interval_ms": 0},
    {"side": "sell", "size": "0.1", "count": 0},
    {"side": "sell", "size": "0.1", "seconds": -1},
    {"side": "sell", "size": "0.1", "market_id": 99},
    {"side": "sell", "size": "0.1", "slippage_bps": 0},
    {"side": "sell", "size": "0.1", "colour": "red"},
])
def test_bad_parameters_are_refused(params: dict[str, Any]):
    with pytest.raises(ValueError):
        TakerSweeps(new_venue().engine).add(params, S)


def test_control_api_starts_a_sweep_and_names_the_sweeping_account(quiet_lighter_sim: SimHandle):
    sim = quiet_lighter_sim
    reply = sim.inject_fault("taker_sweep", side="sell", size="0.001", interval_ms=300, count=1, market_id=1)
    assert reply["ok"] is True and reply["kind"] == "taker_sweep"
    assert sim.account(reply["account_index"])["account_index"] == reply["account_index"]
    with pytest.raises(SimControlError) as raised:
        sim.inject_fault("taker_sweep", side="sell", size="0.001", market_id=1, count="many")
    assert raised.value.status == 400 and "count" in json.loads(raised.value.body)["error"]
    kinds = sim.control("GET", "/__sim/faults")["kinds"]
    assert "taker_sweep" in kinds
