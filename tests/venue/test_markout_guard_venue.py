"""The markout guard on the local venue in virtual time (issue 14, item 3): a one-sided adverse flow (sell sweeps
hit the bot's bid while the fair price falls) makes the bot's buys mark out badly; with the guard on the bid is
placed wider than with it off in the same seeded run, the ask is never widened, and with the guard off the
targets are exactly those of the code before the guard."""
from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from venue_support import BTC, LocalBot, venue_config, with_local_bot

from lmm.core import market_maker
from lmm.core.market_maker import MarketMaker
from lmm.core.order_state import Side, SlotState
from sim.market_params import MarketParams

TIGHT = {"vol_to_half_spread": 1e-6, "c1_ticks": 0, "min_half_spread_bps": 1.5}
MARKET = MarketParams(lighter_half_spread_bps=1.6)  # the bot's 1.5 bp quotes sit at the touch: the sweeps fill it
SEED = 3
DRIFT_BP_PER_STEP = 0.5  # the fair price falls 0.5 bp every 100 ms (5 bp/s) for 15 s
SAMPLES = 200  # 100 ms apart: 20 s from the first sweep


@dataclass(frozen=True)
class Sample:
    widening: tuple[float, float]  # the guard's (bid, ask) widening at the last plan, bp
    bid_bp: float | None  # our bid's distance below the Lighter mid, bp (None: no bid)


@dataclass
class GuardRun:
    samples: list[Sample]
    targets: list[tuple[int, Any]]  # every MarketMaker.targets answer: (now_ns, TargetQuotes | None)
    buy_markout_1s: float | None
    fills: int


def adverse_flow_run(tmp_path: Path, enabled: bool, *, before_the_guard: bool = False) -> GuardRun:
    """Warm up, then sell sweeps every 700 ms for 15 s while the synthetic market's fair price falls; sample the
    bot every 100 ms. ``before_the_guard``: the guard's widening taken out of ``targets`` (the code before it)."""
    config = venue_config(tmp_path, vol_obi=TIGHT, trading={"default_quote_update_threshold_bps": 0.7},
                          markout_guard={"enabled": enabled})
    targets: list[tuple[int, Any]] = []
    original = MarketMaker.targets

    def recorded(self: MarketMaker, now_ns: int) -> Any:
        answer = original(self, now_ns)
        targets.append((now_ns, answer))
        return answer

    async def body(bot: LocalBot) -> GuardRun:
        mm = bot.rt.mm
        await bot.wait_until(lambda: mm.orders.slots[(Side.BID, 0)].state is SlotState.LIVE, "a live bid")
        await asyncio.sleep(15)
        bot.venue.inject_fault("taker_sweep", side="sell", size="0.05", interval_ms=700, seconds=15, market_id=BTC)
        # white box, as set_quota: the venue has no fault that moves the fair price, so push it down directly
        fair = bot.venue.market._instrument("BTCUSDT").price
        samples = []
        for step in range(SAMPLES):
            await asyncio.sleep(0.1)
            if step < 150:
                fair._log_price -= DRIFT_BP_PER_STEP * 1e-4
            snapshot = bot.rt.status.snapshot()
            samples.append(Sample(mm.guard_widening_bps, snapshot["bid_bp"]))
        figure = mm.markouts.run_total(1, True)
        return GuardRun(samples, targets, figure.mean_bps, mm.stats.fills)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MarketMaker, "targets", recorded)
        if before_the_guard:
            patch.setattr(market_maker, "guard_widening_bps", lambda params, tracker, now_ns: (0.0, 0.0))
            patch.setattr(market_maker, "widen_level0", lambda bid, ask, *rest: (bid, ask))
        return with_local_bot(config, body, seed=SEED, market_params=MARKET)


@pytest.fixture(scope="module")
def guard_off(tmp_path_factory: pytest.TempPathFactory) -> GuardRun:
    return adverse_flow_run(tmp_path_factory.mktemp("off"), enabled=False)


def test_with_the_guard_on_the_picked_off_bid_is_placed_wider(tmp_path: Path, guard_off: GuardRun):
    on = adverse_flow_run(tmp_path, enabled=True)
    assert guard_off.buy_markout_1s is not None and guard_off.buy_markout_1s < -1.0, guard_off.buy_markout_1s
    assert all(sample.widening == (0.0, 0.0) for sample in guard_off.samples)
    widened = [i for i, sample in enumerate(on.samples) if sample.widening[0] > 0]
    assert widened, "the guard never widened the bid"
    assert all(sample.widening[1] == 0.0 for sample in on.samples), "the ask's fills were not picked off"
    assert min(on.samples[i].widening[0] for i in widened) >= 2.0  # at least widen_bps once it acts
    # the same seeded run until the guard first acts; from then on the bid rests farther below the mid
    both = [i for i in range(widened[0], SAMPLES)
            if on.samples[i].bid_bp is not None and guard_off.samples[i].bid_bp is not None]
    assert len(both) >= 30, len(both)  # the off run stops bidding for a while at the position limit
    on_bp = statistics.fmean(on.samples[i].bid_bp for i in both)
    off_bp = statistics.fmean(guard_off.samples[i].bid_bp for i in both)
    assert on_bp > off_bp + 1.5, (on_bp, off_bp)
    assert on.fills < guard_off.fills, (on.fills, guard_off.fills)  # picked off less often


def test_with_the_guard_off_the_targets_are_those_of_the_code_before_it(tmp_path: Path, guard_off: GuardRun):
    before = adverse_flow_run(tmp_path, enabled=False, before_the_guard=True)
    assert len(guard_off.targets) > 100
    assert guard_off.targets == before.targets
    assert guard_off.fills == before.fills
