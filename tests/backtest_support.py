"""Shared by the backtest tier: the `make run` demo spread as a config (short warm-up, no risk limits); a tape's
Binance market mirrored into an engine without the bot, checked after every depth event."""
from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from lmm.book.binance_depth import BinanceDepthSync
from lmm.config.config import Config, load_config
from lmm.venue.clock import VirtualClock, virtual_time_loop
from lmm.venue.local.inverse import ContractsToBase
from lmm.venue.local.mirror import BookMirror
from lmm.venue.local.tape_market import BinanceTapeMarket
from lmm.venue.tape.reader import open_tape
from sim.engine import Engine
from sim.markets import MarketSpec


def demo_config(tmp_path: Path, **vol_obi: float) -> Config:
    """The demo spread (vol_to_half_spread 2, 1.5 bp floor, 0.7 bp requote threshold), a 20 s warm-up, the
    alpha off (the backtest's own book imbalance) and the risk limits off; ``vol_obi`` overrides."""
    data = {"vol_obi": {"warmup_seconds": 20, "vol_to_half_spread": 2, "min_half_spread_bps": 1.5, **vol_obi},
            "trading": {"default_quote_update_threshold_bps": 0.7},
            "alpha": {"source": "none"},
            "risk": {"max_drawdown_usd": 0, "max_daily_loss_usd": 0, "max_fills_per_minute": 0}}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    return load_config(path, env={})


def mirror_against_tape(tape_dir: Path, symbol: str, price_decimals: int, size_decimals: int, seconds: float,
                        differs: Callable[[Engine, BinanceDepthSync], bool], *, engine_size_decimals: int | None = None,
                        contracts: ContractsToBase | None = None,
                        mirror_class: type[BookMirror] = BookMirror) -> dict[str, int]:
    """Replay the first ``seconds`` of a tape's Binance market into an engine through the mirror alone (no bot)
    and count, after every depth event applied while synced, how often ``differs(engine, sync)``."""
    tape = open_tape(tape_dir)
    decimals = size_decimals if engine_size_decimals is None else engine_size_decimals
    engine = Engine((MarketSpec(market_id=1, symbol=symbol, price_decimals=price_decimals, size_decimals=decimals,
                                min_base_amount=1, min_quote_amount=0),))
    start = tape.span_ns()[0]
    clock = VirtualClock(wall_epoch_ns=start)
    loop = virtual_time_loop(clock)
    counts = {"checked": 0, "differ": 0}

    class Checked(BinanceTapeMarket):
        def _on_depth(self, ev: tuple, now: int) -> None:
            super()._on_depth(ev, now)
            if self.sync.synced:
                counts["checked"] += 1
                counts["differ"] += differs(engine, self.sync)

    market = Checked(tape, symbol, price_decimals, size_decimals, mirror_class(engine, 1), clock,
                     end_ns=start + int(seconds * 1e9), contracts=contracts)
    try:
        loop.run_until_complete(asyncio.wait_for(market.run(), timeout=3600))
    finally:
        loop.close()
    return counts
