"""Shared by the backtest tier: the `make run` demo spread as a config (short warm-up, no risk limits)."""
from __future__ import annotations

import json
from pathlib import Path

from lmm.config.config import Config, load_config


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
