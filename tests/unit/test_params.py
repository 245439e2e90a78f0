"""Config to parameters in one place (issue 11, item 5): the schema holds each default and range once,
``build_params`` is the one conversion, and every value the configuration accepts builds every consumer."""
from __future__ import annotations

import dataclasses
import inspect
import os
import random
import re
from pathlib import Path
from typing import Any

import pytest
from model_impls import IMPL_PARAMS, PYTHON_IMPL, ModelImpl
from params_support import default_params

import market_maker_v2
from lmm.config.config import SCHEMA, ConfigError, env_name, load_config
from lmm.core.market import MarketInfo
from lmm.core.market_maker import MarketMaker, build_model
from lmm.core.params import ModelParams, build_params
from lmm.venue.binance.market import market_for
from lmm.venue.binance.obi_feed import BinanceFeedSettings
from lmm.venue.ws.manager import WsSettings

SEC = 1_000_000_000
BTC = MarketInfo(1, "BTC", 1, 5, 20, 10_000_000)

# Where each configuration key lands in BotParams, with the factor from the config's unit (seconds -> ns).
SOURCES: dict[tuple[str, str], tuple[tuple[str, int], ...]] = {
    ("trading", "levels_per_side"): (("quoting.levels_per_side", 1),),
    ("trading", "base_amount"): (("quoting.base_amount", 1),),
    ("trading", "capital_usage_percent"): (("quoting.capital_usage_percent", 1),),
    ("trading", "leverage"): (("quoting.leverage", 1),),
    ("trading", "spread_factor_level1"): (("quoting.spread_factor_level1", 1),),
    ("trading", "min_order_value_usd"): (("quoting.min_order_value_usd", 1),),
    ("trading", "position_value_threshold_usd"): (("quoting.position_value_threshold_usd", 1),),
    ("trading", "default_quote_update_threshold_bps"): (("diff.base_threshold_bps", 1),),
    ("trading", "order_timeout_seconds"): (("order_timeout_ns", SEC),),
    ("vol_obi", "min_half_spread_bps"): (("quoting.min_half_spread_bps", 1), ("diff.min_half_spread_bps", 1),
                                         ("model.min_half_spread_bps", 1)),
    ("vol_obi", "window_steps"): (("model.window_steps", 1),),
    ("vol_obi", "step_ns"): (("model.step_ns", 1),),
    ("vol_obi", "vol_to_half_spread"): (("model.vol_to_half_spread", 1),),
    ("vol_obi", "c1_ticks"): (("model.c1_ticks", 1),),
    ("vol_obi", "skew"): (("model.skew", 1),),
    ("vol_obi", "min_warmup_samples"): (("model.min_warmup_samples", 1),),
    ("vol_obi", "warmup_seconds"): (("model.warmup_seconds", 1),),
    ("alpha", "stale_seconds"): (("model.alpha_stale_ns", SEC),),
    ("quota_recovery", "enabled"): (("recovery.enabled", 1),),
    ("quota_recovery", "trigger_threshold"): (("recovery.trigger_threshold", 1),),
    ("quota_recovery", "target_quota"): (("recovery.target_quota", 1),),
    ("quota_recovery", "max_attempts"): (("recovery.max_attempts", 1),),
    ("quota_recovery", "max_loss_usd"): (("recovery.max_loss_usd", 1),),
    ("quota_recovery", "cooldown_seconds"): (("recovery.cooldown_ns", SEC),),
    ("quota_recovery", "post_warmup_grace_seconds"): (("recovery.post_warmup_grace_ns", SEC),),
    ("safety", "stale_order_debounce_count"): (("mismatch_debounce_count", 1),),
    ("safety", "max_consecutive_order_rejections"): (("breaker.max_consecutive_rejections", 1),),
    ("safety", "circuit_breaker_cooldown_sec"): (("breaker.cooldown_ns", SEC),),
    ("safety", "order_reconcile_timeout_sec"): (("reconcile_settle_ns", SEC),),
    ("safety", "max_live_orders_per_market"): (("diff.max_live_orders", 1),),
    ("safety", "max_book_silence_sec"): (("silence.max_silence_ns", SEC),),
    ("safety", "book_stale_floor_sec"): (("silence.floor_ns", SEC),),
    ("safety", "book_stale_cadence_multiple"): (("silence.stale_multiple", 1),),
    ("safety", "book_hold_cadence_multiple"): (("silence.hold_multiple", 1),),
    ("safety", "cancel_foreign_orders"): (("cancel_foreign_orders", 1),),
    ("risk", "max_drawdown_usd"): (("risk.max_drawdown_usd", 1),),
    ("risk", "max_daily_loss_usd"): (("risk.max_daily_loss_usd", 1),),
    ("risk", "max_position_usd"): (("risk.max_position_usd", 1),),
    ("risk", "max_fills_per_minute"): (("risk.max_fills_per_minute", 1),),
    ("markout_guard", "enabled"): (("markout_guard.enabled", 1),),
    ("markout_guard", "horizon"): (("markout_guard.horizon", 1),),
    ("markout_guard", "window_fills"): (("markout_guard.window_fills", 1),),
    ("markout_guard", "window_seconds"): (("markout_guard.window_ns", SEC),),
    ("markout_guard", "min_fills"): (("markout_guard.min_fills", 1),),
    ("markout_guard", "threshold_bps"): (("markout_guard.threshold_bps", 1),),
    ("markout_guard", "widen_bps"): (("markout_guard.widen_bps", 1),),
    ("markout_guard", "max_widen_bps"): (("markout_guard.max_widen_bps", 1),),
}
# Keys the venue layer and the daemon read themselves (feeds, pacing, poller, shutdown, endpoints).
OUTSIDE_THE_CORE = {
    ("trading", "margin_mode"), ("vol_obi", "looking_depth"),
    *(("alpha", name) for name in ("source", "window_size", "min_samples", "looking_depth", "binance_symbol")),
    *(("performance", name) for name in SCHEMA["performance"]),
    *(("websocket", name) for name in SCHEMA["websocket"]),
    *(("endpoints", name) for name in SCHEMA["endpoints"]),
    ("safety", "stale_order_poller_interval_sec"), ("safety", "shutdown_cancel_budget_sec"),
    ("safety", "sanity_check_interval_sec"), ("safety", "sanity_tolerance_bps"),
    ("risk", "flatten_on_kill"),
    *(("paper", name) for name in SCHEMA["paper"]),  # the local venue's account and fill model (--paper)
}
# A baseline loose enough that every key can move on its own (levels_per_side needs room in the order cap).
BASELINE_ENV = {env_name("safety", "max_live_orders_per_market"): "10"}


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if not dataclasses.is_dataclass(value):
        return {prefix: value}
    out: dict[str, Any] = {}
    for field in dataclasses.fields(value):
        out.update(flatten(getattr(value, field.name), f"{prefix}.{field.name}" if prefix else field.name))
    return out


def field_of(path: str) -> dataclasses.Field:
    owner: Any = default_params()
    *parents, name = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    return {f.name: f for f in dataclasses.fields(owner)}[name]


def env_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def another_accepted_value(section: str, name: str) -> Any:
    key = SCHEMA[section][name]
    default = key.default
    if key.kind is bool:
        candidates: list[Any] = [not default]
    elif key.kind is str:
        candidates = [option for option in re.findall(r"[\w]+", key.accepted) if option != default]
        candidates += ["ETHUSDT", "https://example.test", "wss://example.test"]
    elif key.kind is int:
        candidates = [default + 1, default - 1]
    else:
        candidates = [default * 1.5, default / 2, default + 1.0]
    return next(c for c in candidates if c != default and key.check(key.kind(c)) is None)


def test_every_schema_key_is_placed_once():
    everything = {(section, name) for section, keys in SCHEMA.items() for name in keys}
    assert set(SOURCES) | OUTSIDE_THE_CORE == everything
    assert not set(SOURCES) & OUTSIDE_THE_CORE


def test_no_configured_field_repeats_a_default():
    """A parameter field that comes from the configuration has no default of its own: the schema's is the one."""
    for targets in SOURCES.values():
        for path, _ in targets:
            field = field_of(path)
            assert field.default is dataclasses.MISSING, path
            assert field.default_factory is dataclasses.MISSING, path
    # and every field without a default is one of them: a constant keeps its default, a setting has none
    configured = {path for targets in SOURCES.values() for path, _ in targets}
    required = {path for path in flatten(default_params()) if field_of(path).default is dataclasses.MISSING}
    assert required == configured


def test_the_default_config_gives_the_schema_default_in_every_parameter():
    params = flatten(build_params(load_config(env={})))
    for (section, name), targets in SOURCES.items():
        key = SCHEMA[section][name]
        for path, factor in targets:
            assert params[path] == key.default * factor, f"{section}.{name} -> {path}"
            assert type(params[path]) is (key.kind if factor == 1 else int), path


@pytest.mark.parametrize(("section", "name"), sorted(set(SOURCES) | OUTSIDE_THE_CORE))
def test_each_key_moves_exactly_its_parameters(section, name):
    value = another_accepted_value(section, name)
    before = flatten(build_params(load_config(env=BASELINE_ENV)))
    after = flatten(build_params(load_config(env={**BASELINE_ENV, env_name(section, name): env_text(value)})))
    moved = {path for path in before if before[path] != after[path]}
    expected = {path for path, _ in SOURCES.get((section, name), ())}
    assert moved == expected, f"{section}.{name} = {value!r}"
    for path, factor in SOURCES.get((section, name), ()):
        assert after[path] == pytest.approx(value * factor), path


def test_venue_settings_defaults_are_the_schema_defaults():
    config = load_config(env={})
    assert WsSettings() == WsSettings.from_config(config.websocket)
    built = BinanceFeedSettings.from_config(config, "BTC")
    assert built is not None
    assert BinanceFeedSettings(market=market_for("BTCUSDT"), ws_url=built.ws_url, rest_url=built.rest_url) == built


def test_the_python_model_defaults_are_the_schema_defaults():
    signature = inspect.signature(PYTHON_IMPL.VolObiCalculator.__init__)
    defaults = {name: p.default for name, p in signature.parameters.items() if name in ModelParams.__slots__}
    assert defaults == default_params().model.kwargs()


def _trace(calc: Any) -> list[Any]:
    """Enough of the model's life to show every configured default: sampling, warm-up, spread, alpha age."""
    rng = random.Random(11)
    tick, mid, out = 0.1, 100_000.0, []
    now = 0
    for step in range(6200):
        now = step * 100_000_000
        mid += rng.choice((-0.5, 0.0, 0.5))
        calc.on_book(now, mid, rng.uniform(-1, 1))
        if step % 500 == 0:
            calc.set_alpha_override(0.5, now)
        # the source each step: the override's age against alpha_stale_ns, the local one's sample count
        out.append((calc.on_timer(now), calc.alpha_source(now)))
        if step % 100 == 0:
            ticks = round(mid / tick)
            out.append((calc.warmup_seconds_left(now), calc.volatility,
                        calc.quote(now, 0.002, 1000.0, ticks - 1, ticks + 1)))
    return out


@pytest.mark.parametrize("impl", IMPL_PARAMS)
def test_a_model_built_with_its_defaults_behaves_as_one_built_from_the_default_config(impl: ModelImpl):
    """Both implementations (the Cython one cannot be introspected): the defaults come from the schema."""
    default = impl.VolObiCalculator(tick_size=0.1)
    configured = impl.VolObiCalculator(tick_size=0.1, **default_params().model.kwargs())
    trace = _trace(default)
    assert any(len(item) == 3 and item[2] is not None for item in trace)  # it did warm up and quote
    assert trace == _trace(configured)


# ---- every accepted value builds every consumer, and a rejected one is exit status 2 ---------------------


def _accepted_extremes(accepted: str) -> list[float]:
    """The finite ends of an accepted range such as "(0, 1000]": the bound itself, or just inside it."""
    match = re.fullmatch(r"([\[(])(-?[\w.]+), (-?[\w.]+)([\])])", accepted)
    assert match is not None, accepted
    left, lo, hi, right = match.groups()
    ends = []
    if lo != "-inf":
        ends.append(float(lo) + (1e-6 if left == "(" else 0.0))
    if hi != "inf":
        ends.append(float(hi) - (1e-6 if right == ")" else 0.0))
    return ends


NUMERIC_KEYS = sorted((section, name) for section, keys in SCHEMA.items() for name, key in keys.items()
                      if key.kind in (int, float))


@pytest.mark.parametrize(("section", "name"), NUMERIC_KEYS)
def test_every_accepted_value_builds_every_consumer(section, name):
    """A value that passes validation never fails later in a consumer (once: 2000 bp passed the config and
    then failed inside the model with a traceback and exit 1). The model's own ranges may be wider, for
    people who use it alone; what must hold is that the configuration's range lies inside them."""
    key = SCHEMA[section][name]
    built = 0
    for value in _accepted_extremes(key.accepted):
        text = str(int(value)) if key.kind is int else repr(value)
        env = {env_name("vol_obi", "min_warmup_samples"): "2", env_name(section, name): text}
        try:
            config = load_config(env=env)
        except ConfigError as error:  # a relation to another key: rejected with one line, exit status 2
            assert "must" in str(error) and "out of range" not in str(error), str(error)
            continue
        mm = MarketMaker(config, BTC, 7, build_model(config, BTC), clock_ns=lambda: 0, wall_ms=lambda: 0)
        assert mm.params == build_params(config)
        WsSettings.from_config(config.websocket).connection_settings()
        BinanceFeedSettings.from_config(config, "BTC")
        built += 1
    assert built >= 1


@pytest.mark.parametrize("value", ["-0.5", "1000.5", "2000"])
def test_min_half_spread_out_of_range_is_rejected_by_validation(value):
    with pytest.raises(ConfigError, match=r"vol_obi\.min_half_spread_bps = .*accepted \[0, 1000\]"):
        load_config(env={env_name("vol_obi", "min_half_spread_bps"): value})


def test_the_bot_exits_2_with_one_line_on_min_half_spread_2000(tmp_path: Path, capsys, monkeypatch):
    for var in [v for v in os.environ if v.startswith("LMM_")]:
        monkeypatch.delenv(var)
    config = tmp_path / "config.json"
    config.write_text('{"vol_obi": {"min_half_spread_bps": 2000}}')
    env_file = tmp_path / ".env"
    env_file.write_text("")
    with pytest.raises(SystemExit) as info:
        market_maker_v2.main(["--sim", "--config", str(config), "--env-file", str(env_file),
                              "--log-dir", str(tmp_path / "logs")])
    assert info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert "vol_obi.min_half_spread_bps = 2000" in lines[0] and "[0, 1000]" in lines[0]
