"""Each risk limit trips on the local venue in virtual time: the run stops with exit status 3 and one
`KILL SWITCH: <which> ...` line, every order is cancelled (confirmed), and nothing is left resting."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from venue_support import BTC, position_path, run_bot, venue_config

from lmm.daemon.kill_state import EXIT_KILL_SWITCH
from lmm.venue.clock import VirtualClock
from lmm.venue.local.venue import LocalVenue
from sim.market_params import MarketParams

AT_THE_TOUCH = {"vol_to_half_spread": 1e-6, "c1_ticks": 0, "min_half_spread_bps": 1.5}
MARKET = MarketParams(lighter_half_spread_bps=1.6)  # the bot's quotes at the touch: the sweeps reach them


async def sell_sweeps(venue: LocalVenue, clock: VirtualClock) -> None:
    await asyncio.sleep(15)
    venue.inject_fault("taker_sweep", side="sell", size="0.05", interval_ms=1000, seconds=200, market_id=BTC)


@pytest.mark.parametrize(("key", "limit", "which"), [
    ("max_fills_per_minute", 3, "fills_per_minute"),
    ("max_position_usd", 1_000.0, "position_usd"),
    ("max_drawdown_usd", 0.5, "drawdown_usd"),
    ("max_daily_loss_usd", 0.5, "daily_loss_usd"),
])
def test_each_risk_limit_stops_the_bot_and_leaves_no_order(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                           key: str, limit: float, which: str):
    config = venue_config(tmp_path, vol_obi=AT_THE_TOUCH, risk={key: limit},
                          trading={"default_quote_update_threshold_bps": 0.7})
    with caplog.at_level(logging.CRITICAL, logger="lighter_mm.kill_switch"):
        run = run_bot(config, 300, scenario=sell_sweeps, market_params=MARKET)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("KILL SWITCH")]
    assert run.status == EXIT_KILL_SWITCH
    assert len(lines) == 1 and lines[0].startswith(f"KILL SWITCH: {which} "), lines
    assert run.clock.monotonic() - 1_000 < 290, "the run went to its end: the switch stopped nothing"
    assert run.venue.open_orders() == []
    assert position_path(run.venue), "the sweeps filled the bot"


def test_no_limit_no_stop(tmp_path: Path):
    """The same run with every limit off goes to its end with exit status 0."""
    config = venue_config(tmp_path, vol_obi=AT_THE_TOUCH, trading={"default_quote_update_threshold_bps": 0.7})
    run = run_bot(config, 60, scenario=sell_sweeps, market_params=MARKET)
    assert run.status == 0
    assert len(position_path(run.venue)) >= 3
