"""Shared helpers: configuration loading and validation, credentials, Parquet I/O.

Rules:
- One table of built-in defaults (``DEFAULTS``), identical to the shipped ``config.json`` (a test proves it).
- Precedence: environment variable > config file > built-in default.
- Environment naming: ``LMM_<SECTION>_<KEY>`` in upper case, e.g. ``LMM_TRADING_LEVERAGE=3`` or
  ``LMM_VOL_OBI_STEP_NS=50000000``. The venue endpoints also answer to their plain names
  (``LIGHTER_BASE_URL``, ``LIGHTER_WS_URL``, ``BINANCE_REST_URL``, ``BINANCE_WS_URL``), which win over
  the ``LMM_ENDPOINTS_*`` form.
- The config file is ``--config PATH`` or ``config.json`` next to this program, never the current directory
  by accident. A missing default file means built-in defaults and one warning; a missing explicit file, a
  file that is not a JSON object, a wrong type or an out-of-range value raise ``ConfigError`` (the CLI exits
  with status 2 and one line naming key, value and accepted range).
- Unknown sections and keys are warned about, never silently used.
- Credentials come from the environment (``.env`` via python-dotenv) and are checked for shape; errors name
  the variable and never show its value.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

log = logging.getLogger("lighter_mm.config")

PROGRAM_DIR = Path(__file__).resolve().parents[2]  # the repository root, where config.json and .env live
DEFAULT_CONFIG_PATH = PROGRAM_DIR / "config.json"
ENV_PREFIX = "LMM_"
CONFIG_ERROR_EXIT_STATUS = 2


class ConfigError(ValueError):
    """A configuration or credential problem the user must fix; ``str()`` is one line, safe to print."""


# --------------------------------------------------------------------------------------------------
# Schema: one row per key. ``kind`` is int, float, bool or str; ``check`` returns an error text or None.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    default: Any
    kind: type
    check: Callable[[Any], str | None]
    accepted: str


def _range(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
           hi_open: bool = False) -> tuple[Callable[[Any], str | None], str]:
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    text = f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"

    def check(value: Any) -> str | None:
        if isinstance(value, float) and not math.isfinite(value):
            return "must be finite"
        if lo is not None and (value < lo or (lo_open and value == lo)):
            return "out of range"
        if hi is not None and (value > hi or (hi_open and value == hi)):
            return "out of range"
        return None

    return check, text


ANY_BOOL: tuple[Callable[[Any], str | None], str] = ((lambda v: None), "true or false")  # the type check is enough


def _choice(*options: str) -> tuple[Callable[[Any], str | None], str]:
    def check(value: Any) -> str | None:
        return None if value in options else "not one of the accepted values"

    return check, " or ".join(options)


def _url(schemes: tuple[str, ...]) -> tuple[Callable[[Any], str | None], str]:
    def check(value: Any) -> str | None:
        return None if any(value.startswith(s + "://") for s in schemes) else "not a URL"

    return check, " or ".join(f"{s}://..." for s in schemes)


def _symbol_override() -> tuple[Callable[[Any], str | None], str]:
    def check(value: Any) -> str | None:
        return None if value == "" or re.fullmatch(r"[A-Z0-9]{2,30}", value) else "not a symbol"

    return check, "empty (automatic) or an upper-case symbol such as BTCUSDT"


def _key(default: Any, kind: type, rule: tuple[Callable[[Any], str | None], str]) -> Key:
    return Key(default, kind, rule[0], rule[1])


SCHEMA: dict[str, dict[str, Key]] = {
    "trading": {
        "leverage": _key(2, int, _range(1, 20)),
        "margin_mode": _key("cross", str, _choice("cross", "isolated")),
        "levels_per_side": _key(1, int, _range(1, 10)),
        "base_amount": _key(0.0002, float, _range(0, None, lo_open=True)),
        "capital_usage_percent": _key(0.12, float, _range(0, 0.5, lo_open=True)),
        "default_quote_update_threshold_bps": _key(10.0, float, _range(0, 1000, lo_open=True)),
        "spread_factor_level1": _key(2.0, float, _range(1, 10)),
        "order_timeout_seconds": _key(30.0, float, _range(0, 3600, lo_open=True)),
        "position_value_threshold_usd": _key(11.0, float, _range(0, None)),
        "min_order_value_usd": _key(14.5, float, _range(0, None, lo_open=True)),
    },
    "vol_obi": {
        "window_steps": _key(6000, int, _range(2, 10_000_000)),
        "step_ns": _key(100_000_000, int, _range(1_000_000, 60_000_000_000)),
        "vol_to_half_spread": _key(48.0, float, _range(0, 100_000, lo_open=True)),
        "min_half_spread_bps": _key(8.0, float, _range(0, 1000)),
        "c1_ticks": _key(20.0, float, _range(0, 1_000_000)),
        "skew": _key(3.0, float, _range(0, 1_000_000)),
        "looking_depth": _key(0.025, float, _range(0, 1, lo_open=True, hi_open=True)),
        "min_warmup_samples": _key(100, int, _range(2, 10_000_000)),
        "warmup_seconds": _key(600, float, _range(0, 86_400)),
    },
    "alpha": {
        "source": _key("binance", str, _choice("binance", "none")),
        "stale_seconds": _key(5.0, float, _range(0, 3600, lo_open=True)),
        "window_size": _key(6000, int, _range(2, 10_000_000)),
        "min_samples": _key(150, int, _range(2, 10_000_000)),
        "looking_depth": _key(0.025, float, _range(0, 1, lo_open=True, hi_open=True)),
        "binance_symbol": _key("", str, _symbol_override()),
    },
    "performance": {
        "min_loop_interval": _key(0.1, float, _range(0.05, 60)),
        "rate_limit_send_interval": _key(0.1, float, _range(0, 60)),
    },
    "quota_recovery": {
        "enabled": _key(True, bool, ANY_BOOL),
        "trigger_threshold": _key(5, int, _range(0, 100_000)),
        "target_quota": _key(50, int, _range(1, 100_000)),
        "max_attempts": _key(3, int, _range(1, 100)),
        "max_loss_usd": _key(2.0, float, _range(0, None, lo_open=True)),
        "cooldown_seconds": _key(120, float, _range(0, 86_400)),
        "post_warmup_grace_seconds": _key(120, float, _range(0, 86_400)),
    },
    "websocket": {
        "ping_interval": _key(20, float, _range(1, 300)),
        "recv_timeout": _key(30.0, float, _range(1, 3600)),
        "account_recv_timeout": _key(300.0, float, _range(1, 86_400)),
        "reconnect_base_delay": _key(5, float, _range(0.01, 600)),
        "reconnect_max_delay": _key(60, float, _range(0.01, 3600)),
    },
    "safety": {
        "stale_order_poller_interval_sec": _key(3.0, float, _range(0.1, 3600)),
        "stale_order_debounce_count": _key(2, int, _range(1, 100)),
        "max_consecutive_order_rejections": _key(5, int, _range(1, 1000)),
        "circuit_breaker_cooldown_sec": _key(60.0, float, _range(1, 86_400)),
        "order_reconcile_timeout_sec": _key(2.0, float, _range(0.1, 10)),  # well inside the 30 s cancel budget
        "shutdown_cancel_budget_sec": _key(60.0, float, _range(1, 3600)),
        "max_live_orders_per_market": _key(2, int, _range(1, 1000)),
        "sanity_check_interval_sec": _key(30.0, float, _range(1, 3600)),
        "sanity_tolerance_bps": _key(10.0, float, _range(0, 10_000)),
        "max_book_silence_sec": _key(10.0, float, _range(0.5, 3600)),
        "book_stale_floor_sec": _key(1.0, float, _range(0.05, 3600)),
        "book_stale_cadence_multiple": _key(20.0, float, _range(1, 10_000)),
        "book_hold_cadence_multiple": _key(4.0, float, _range(1, 10_000)),
        "cancel_foreign_orders": _key(True, bool, ANY_BOOL),
    },
    "risk": {  # the kill switch (lmm/core/kill_switch.py); 0 turns a limit off
        "max_drawdown_usd": _key(200.0, float, _range(0, None)),
        "max_daily_loss_usd": _key(100.0, float, _range(0, None)),
        "max_position_usd": _key(0.0, float, _range(0, None)),
        "max_fills_per_minute": _key(60, int, _range(0, 1_000_000)),
        "flatten_on_kill": _key(False, bool, ANY_BOOL),
    },
    "markout_guard": {  # widen the side being picked off (lmm/core/markout_tracker.py); off by default
        "enabled": _key(False, bool, ANY_BOOL),
        "horizon": _key("1s", str, _choice("1s", "5s")),
        "window_fills": _key(20, int, _range(1, 1000)),
        "window_seconds": _key(300.0, float, _range(1, 86_400)),
        "min_fills": _key(5, int, _range(1, 1000)),
        "threshold_bps": _key(1.0, float, _range(0, 1000)),
        "widen_bps": _key(2.0, float, _range(0, 1000)),
        "max_widen_bps": _key(10.0, float, _range(0, 1000)),
    },
    "paper": {  # --paper: the local venue's account and fill model (docs/backtest.md, the same as the backtester's)
        "tier": _key("premium", str, _choice("premium", "standard")),
        "collateral_usd": _key(10_000.0, float, _range(1, 1e12)),
        "entry_latency_ms": _key(50.0, float, _range(0, 10_000)),
        "queue_model": _key("risk_averse", str, _choice("risk_averse", "proportional")),
    },
    "endpoints": {
        "lighter_base_url": _key("https://mainnet.zklighter.elliot.ai", str, _url(("http", "https"))),
        "lighter_ws_url": _key("wss://mainnet.zklighter.elliot.ai/stream", str, _url(("ws", "wss"))),
        "binance_rest_url": _key("https://fapi.binance.com", str, _url(("http", "https"))),
        "binance_ws_url": _key("wss://fstream.binance.com", str, _url(("ws", "wss"))),
    },
}

DEFAULTS: dict[str, dict[str, Any]] = {
    section: {name: key.default for name, key in keys.items()} for section, keys in SCHEMA.items()
}

# Plain environment names accepted for the venue endpoints (they win over the LMM_ENDPOINTS_* form).
ENDPOINT_ENV_ALIASES = {
    "LIGHTER_BASE_URL": "lighter_base_url",
    "LIGHTER_WS_URL": "lighter_ws_url",
    "BINANCE_REST_URL": "binance_rest_url",
    "BINANCE_WS_URL": "binance_ws_url",
}


def env_name(section: str, name: str) -> str:
    return f"{ENV_PREFIX}{section}_{name}".upper()


# --------------------------------------------------------------------------------------------------
# Typed, frozen configuration
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TradingConfig:
    leverage: int
    margin_mode: str
    levels_per_side: int
    base_amount: float
    capital_usage_percent: float
    default_quote_update_threshold_bps: float
    spread_factor_level1: float
    order_timeout_seconds: float
    position_value_threshold_usd: float
    min_order_value_usd: float


@dataclass(frozen=True)
class VolObiConfig:
    window_steps: int
    step_ns: int
    vol_to_half_spread: float
    min_half_spread_bps: float
    c1_ticks: float
    skew: float
    looking_depth: float
    min_warmup_samples: int
    warmup_seconds: float


@dataclass(frozen=True)
class AlphaConfig:
    source: str
    stale_seconds: float
    window_size: int
    min_samples: int
    looking_depth: float
    binance_symbol: str


@dataclass(frozen=True)
class PerformanceConfig:
    min_loop_interval: float
    rate_limit_send_interval: float


@dataclass(frozen=True)
class QuotaRecoveryConfig:
    enabled: bool
    trigger_threshold: int
    target_quota: int
    max_attempts: int
    max_loss_usd: float
    cooldown_seconds: float
    post_warmup_grace_seconds: float


@dataclass(frozen=True)
class WebsocketConfig:
    ping_interval: float
    recv_timeout: float
    account_recv_timeout: float
    reconnect_base_delay: float
    reconnect_max_delay: float


@dataclass(frozen=True)
class SafetyConfig:
    stale_order_poller_interval_sec: float
    stale_order_debounce_count: int
    max_consecutive_order_rejections: int
    circuit_breaker_cooldown_sec: float
    order_reconcile_timeout_sec: float
    shutdown_cancel_budget_sec: float
    max_live_orders_per_market: int
    sanity_check_interval_sec: float
    sanity_tolerance_bps: float
    max_book_silence_sec: float
    book_stale_floor_sec: float
    book_stale_cadence_multiple: float
    book_hold_cadence_multiple: float
    cancel_foreign_orders: bool


@dataclass(frozen=True)
class RiskConfig:
    max_drawdown_usd: float
    max_daily_loss_usd: float
    max_position_usd: float
    max_fills_per_minute: int
    flatten_on_kill: bool


@dataclass(frozen=True)
class MarkoutGuardConfig:
    enabled: bool
    horizon: str
    window_fills: int
    window_seconds: float
    min_fills: int
    threshold_bps: float
    widen_bps: float
    max_widen_bps: float


@dataclass(frozen=True)
class PaperConfig:
    tier: str
    collateral_usd: float
    entry_latency_ms: float
    queue_model: str


@dataclass(frozen=True)
class EndpointsConfig:
    lighter_base_url: str
    lighter_ws_url: str
    binance_rest_url: str
    binance_ws_url: str


@dataclass(frozen=True)
class Config:
    trading: TradingConfig
    vol_obi: VolObiConfig
    alpha: AlphaConfig
    performance: PerformanceConfig
    quota_recovery: QuotaRecoveryConfig
    websocket: WebsocketConfig
    safety: SafetyConfig
    risk: RiskConfig
    markout_guard: MarkoutGuardConfig
    paper: PaperConfig
    endpoints: EndpointsConfig
    path: Path | None  # the file that was read, None when only defaults were used
    warnings: tuple[str, ...]  # non-fatal findings, for the start-up log


_SECTION_TYPES: dict[str, type] = {
    "trading": TradingConfig,
    "vol_obi": VolObiConfig,
    "alpha": AlphaConfig,
    "performance": PerformanceConfig,
    "quota_recovery": QuotaRecoveryConfig,
    "websocket": WebsocketConfig,
    "safety": SafetyConfig,
    "risk": RiskConfig,
    "markout_guard": MarkoutGuardConfig,
    "paper": PaperConfig,
    "endpoints": EndpointsConfig,
}

# --------------------------------------------------------------------------------------------------
# Value coercion: the file gives JSON values, the environment gives strings.
# --------------------------------------------------------------------------------------------------

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _coerce(value: Any, kind: type, from_env: bool) -> Any:
    """Return ``value`` as ``kind`` or raise TypeError; never guesses (2.5 is not an int, "yes" not a float)."""
    if from_env:
        text = value.strip()
        if kind is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise TypeError
        if kind is int:
            if not re.fullmatch(r"[+-]?\d+", text.replace("_", "")):
                raise TypeError
            return int(text.replace("_", ""))
        if kind is float:
            return float(text)  # ValueError propagates as a type error below
        return text
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise TypeError
    if isinstance(value, bool):
        raise TypeError  # JSON true is not a number
    if kind is int:
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise TypeError
    if kind is float:
        if isinstance(value, int | float):
            return float(value)
        raise TypeError
    if isinstance(value, str):
        return value
    raise TypeError


def _validated(section: str, name: str, raw: Any, origin: str, from_env: bool) -> Any:
    key = SCHEMA[section][name]
    try:
        shown = raw if from_env else json.dumps(raw)
    except (RecursionError, ValueError):
        shown = f"<a nested {type(raw).__name__}>"
    try:
        value = _coerce(raw, key.kind, from_env)
    except (TypeError, ValueError):
        raise ConfigError(
            f"config error: {section}.{name} = {shown} (from {origin}): expected {key.kind.__name__}, "
            f"accepted {key.accepted}"
        ) from None
    problem = key.check(value)
    if problem:
        raise ConfigError(
            f"config error: {section}.{name} = {shown} (from {origin}): {problem}, accepted {key.accepted}"
        )
    return value


def _read_file(path: Path, explicit: bool, warnings: list[str]) -> dict[str, Any]:
    if not path.exists():
        if explicit:
            raise ConfigError(f"config error: config file {path} does not exist")
        warnings.append(f"config file {path} not found; using built-in defaults")
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config error: cannot read {path}: {exc.__class__.__name__}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"config error: {path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise ConfigError(f"config error: {path} is nested too deeply to be a configuration") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config error: {path} must contain a JSON object of sections")
    return data


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Load, merge and validate the configuration. Raises ConfigError with a one-line message."""
    env = os.environ if env is None else env
    explicit = path is not None
    file_path = Path(path).expanduser().resolve() if explicit else DEFAULT_CONFIG_PATH
    warnings: list[str] = []
    data = _read_file(file_path, explicit, warnings)
    origin = str(file_path)

    values = {s: {n: _coerce(k.default, k.kind, False) for n, k in keys.items()} for s, keys in SCHEMA.items()}
    for section, entries in data.items():
        if section not in SCHEMA:
            warnings.append(f"unknown config section '{section}' in {origin} is ignored")
            continue
        if not isinstance(entries, dict):
            raise ConfigError(f"config error: section '{section}' in {origin} must be a JSON object")
        for name, raw in entries.items():
            if name not in SCHEMA[section]:
                warnings.append(f"unknown config key '{section}.{name}' in {origin} is ignored")
                continue
            values[section][name] = _validated(section, name, raw, origin, from_env=False)

    known_env = {env_name(s, n): (s, n) for s, keys in SCHEMA.items() for n in keys}
    for var in sorted(env):
        if var.startswith(ENV_PREFIX) and var not in known_env and var != "LMM_PURE_PYTHON":
            warnings.append(f"unknown environment variable {var} is ignored")
    for var, (section, name) in known_env.items():
        if var in env:
            values[section][name] = _validated(section, name, env[var], f"environment {var}", from_env=True)
    for var, name in ENDPOINT_ENV_ALIASES.items():
        if var in env:
            values["endpoints"][name] = _validated("endpoints", name, env[var], f"environment {var}", True)

    _check_relations(values)
    sections = {s: _SECTION_TYPES[s](**values[s]) for s in SCHEMA}
    return Config(**sections, path=file_path if data or file_path.exists() else None,
                  warnings=tuple(warnings))


def _check_relations(values: dict[str, dict[str, Any]]) -> None:
    safety, trading = values["safety"], values["trading"]
    for section, smaller, larger in (("alpha", "min_samples", "window_size"),
                                     ("vol_obi", "min_warmup_samples", "window_steps"),
                                     ("websocket", "reconnect_base_delay", "reconnect_max_delay"),
                                     ("markout_guard", "min_fills", "window_fills")):
        keys = values[section]
        if keys[smaller] > keys[larger]:
            raise ConfigError(f"config error: {section}.{smaller} = {keys[smaller]}: must not exceed "
                              f"{section}.{larger} ({keys[larger]})")
    needed = 2 * trading["levels_per_side"]
    if safety["max_live_orders_per_market"] < needed:
        raise ConfigError(
            f"config error: safety.max_live_orders_per_market = {safety['max_live_orders_per_market']}: "
            f"must be at least 2 x trading.levels_per_side ({needed})"
        )
    recovery = values["quota_recovery"]
    if recovery["target_quota"] <= recovery["trigger_threshold"]:
        raise ConfigError(
            f"config error: quota_recovery.target_quota = {recovery['target_quota']}: must exceed "
            f"quota_recovery.trigger_threshold ({recovery['trigger_threshold']})"
        )


def exit_on_config_error(error: ConfigError) -> NoReturn:
    print(str(error), file=sys.stderr)
    raise SystemExit(CONFIG_ERROR_EXIT_STATUS)


# --------------------------------------------------------------------------------------------------
# Parquet I/O (pyarrow imported lazily: the live bot never pays for it unless it records data)
# --------------------------------------------------------------------------------------------------


def write_parquet(path: str | Path, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write rows (dicts with the same keys) to a Parquet file atomically; returns the row count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = list(rows)
    table = pa.Table.from_pylist(rows)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    pq.write_table(table, tmp)
    tmp.replace(target)
    return len(rows)


def read_parquet(path: str | Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return pq.read_table(Path(path)).to_pylist()


def effective_config_json(config: Config) -> str:
    """The merged configuration as JSON, in the shape of config.json (no credentials are part of it)."""
    from dataclasses import asdict

    return json.dumps({section: asdict(getattr(config, section)) for section in SCHEMA}, indent=2)


def main(argv: list[str] | None = None) -> int:
    """``python utils.py [--config PATH]``: validate the configuration and print the effective values."""
    import argparse

    parser = argparse.ArgumentParser(description="Validate lighter-mm's configuration and print the effective "
                                     "values (environment > config file > built-in defaults).")
    parser.add_argument("--config", help="config file (default: config.json next to the program)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as error:
        exit_on_config_error(error)
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(effective_config_json(config))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
