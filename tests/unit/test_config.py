"""Configuration: defaults match config.json, precedence, validation errors, credentials."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

import lmm.config.config as utils
from lmm.config.config import ConfigError, load_config
from lmm.config.credentials import load_credentials

ROOT = Path(__file__).resolve().parents[2]
PRIV = "0x" + "ab" * 40
PUB = "0x" + "cd" * 40


def write(tmp_path: Path, data) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def test_builtin_defaults_equal_shipped_config_json():
    shipped = json.loads((ROOT / "config.json").read_text())
    assert shipped == utils.DEFAULTS
    # and types too: an int default stays an int in the file, a float a float
    for section, keys in utils.DEFAULTS.items():
        for name, value in keys.items():
            assert type(shipped[section][name]) is type(value), f"{section}.{name}"


def test_spec_defaults_are_the_documented_values():
    config = load_config(env={})
    assert config.vol_obi.vol_to_half_spread == 48.0
    assert config.vol_obi.min_half_spread_bps == 8.0
    assert config.vol_obi.c1_ticks == 20.0
    assert config.vol_obi.skew == 3.0
    assert config.alpha.window_size == 6000
    assert config.trading.levels_per_side == 1
    assert config.trading.order_timeout_seconds == 30.0
    assert config.trading.position_value_threshold_usd == 11.0
    assert config.trading.leverage == 2
    assert config.endpoints.lighter_base_url.startswith("https://")


def test_default_path_is_next_to_program_not_cwd(tmp_path, monkeypatch):
    write(tmp_path, {"trading": {"leverage": 7}})
    monkeypatch.chdir(tmp_path)
    config = load_config(env={})
    assert config.path == ROOT / "config.json"
    assert config.trading.leverage == 2


def test_precedence_env_over_file_over_default(tmp_path):
    path = write(tmp_path, {"trading": {"leverage": 3, "levels_per_side": 2},
                            "safety": {"max_live_orders_per_market": 4}})
    config = load_config(path, env={"LMM_TRADING_LEVERAGE": "5"})
    assert config.trading.leverage == 5  # env
    assert config.trading.levels_per_side == 2  # file
    assert config.trading.base_amount == 0.0002  # default
    assert config.path == path.resolve()


def test_endpoint_aliases_win_over_prefixed_form():
    env = {"LIGHTER_BASE_URL": "http://127.0.0.1:9001", "LMM_ENDPOINTS_LIGHTER_BASE_URL": "http://x:1",
           "BINANCE_WS_URL": "ws://127.0.0.1:9002"}
    config = load_config(env=env)
    assert config.endpoints.lighter_base_url == "http://127.0.0.1:9001"
    assert config.endpoints.binance_ws_url == "ws://127.0.0.1:9002"


def test_env_values_are_typed():
    config = load_config(env={"LMM_QUOTA_RECOVERY_ENABLED": "false", "LMM_VOL_OBI_STEP_NS": "50_000_000",
                              "LMM_ALPHA_STALE_SECONDS": "2.5"})
    assert config.quota_recovery.enabled is False
    assert config.vol_obi.step_ns == 50_000_000
    assert config.alpha.stale_seconds == 2.5


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"trading": {"leverage": 50}}, "trading.leverage = 50"),
        ({"trading": {"leverage": 2.5}}, "expected int"),
        ({"trading": {"leverage": True}}, "expected int"),
        ({"trading": {"margin_mode": "hedged"}}, "cross or isolated"),
        ({"vol_obi": {"looking_depth": 0}}, "vol_obi.looking_depth = 0"),
        ({"vol_obi": {"step_ns": "100"}}, "expected int"),
        ({"alpha": {"min_samples": 7000}}, "must not exceed alpha.window_size"),
        ({"trading": {"levels_per_side": 2}}, "max_live_orders_per_market"),
        ({"websocket": {"reconnect_base_delay": 100}}, "reconnect_max_delay"),
        ({"endpoints": {"lighter_ws_url": "http://x"}}, "ws://"),
        ({"quota_recovery": {"enabled": "yes"}}, "expected bool"),
        ({"trading": []}, "must be a JSON object"),
    ],
)
def test_file_validation_errors_name_key_and_value(tmp_path, data, fragment):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, data), env={})
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"LMM_TRADING_LEVERAGE": "two"}, "LMM_TRADING_LEVERAGE"),
        ({"LMM_ALPHA_STALE_SECONDS": "-1"}, "alpha.stale_seconds = -1"),
        ({"LMM_ALPHA_STALE_SECONDS": "nan"}, "must be finite"),
        ({"LIGHTER_BASE_URL": "ftp://x"}, "endpoints.lighter_base_url"),
    ],
)
def test_env_validation_errors(env, fragment):
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.")):
        load_config(env=env)


def test_invalid_json_and_missing_explicit_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(write(tmp_path, "{oops"), env={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.json", env={})


def test_missing_default_file_falls_back_with_one_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(utils, "DEFAULT_CONFIG_PATH", tmp_path / "config.json")
    config = load_config(env={})
    assert config.path is None
    assert config.warnings == (f"config file {tmp_path / 'config.json'} not found; using built-in defaults",)
    assert config.trading.leverage == 2


def test_unknown_keys_and_env_vars_are_warned(tmp_path):
    path = write(tmp_path, {"trading": {"levrage": 3}, "extra": {}})
    config = load_config(path, env={"LMM_TRADING_LEVRAGE": "3"})
    text = " | ".join(config.warnings)
    assert "trading.levrage" in text
    assert "'extra'" in text
    assert "LMM_TRADING_LEVRAGE" in text
    assert config.trading.leverage == 2


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, str(ROOT / "utils.py"), *args], capture_output=True, text=True,
                          env=env, timeout=60)


def test_cli_exits_2_with_one_line(tmp_path):
    result = run_cli("--config", str(write(tmp_path, {"safety": {"stale_order_debounce_count": 0}})))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "safety.stale_order_debounce_count = 0" in lines[0]
    assert "[1, 100]" in lines[0]


def test_cli_prints_effective_config(tmp_path):
    result = run_cli("--config", str(write(tmp_path, {"alpha": {"source": "none"}})))
    assert result.returncode == 0
    assert json.loads(result.stdout)["alpha"]["source"] == "none"


def test_credentials_ok_and_repr_hides_key():
    creds = load_credentials({"API_KEY_PRIVATE_KEY": PRIV, "API_KEY_PUBLIC_KEY": PUB,
                              "API_KEY_INDEX": "25", "ACCOUNT_INDEX": "107607"})
    assert creds.api_key_index == 25 and creds.account_index == 107607
    assert PRIV[2:] not in repr(creds) and PRIV[2:] not in str(creds)


def test_credentials_missing_names_variables():
    with pytest.raises(ConfigError, match="API_KEY_PUBLIC_KEY, API_KEY_INDEX"):
        load_credentials({"API_KEY_PRIVATE_KEY": PRIV, "ACCOUNT_INDEX": "1"})


@pytest.mark.parametrize(
    ("var", "bad"),
    [("API_KEY_PRIVATE_KEY", "0x1234zz"), ("API_KEY_PUBLIC_KEY", "cd" * 39), ("API_KEY_INDEX", "300"),
     ("ACCOUNT_INDEX", "-4")],
)
def test_credentials_malformed_names_variable_not_value(var, bad):
    env = {"API_KEY_PRIVATE_KEY": PRIV, "API_KEY_PUBLIC_KEY": PUB, "API_KEY_INDEX": "25", "ACCOUNT_INDEX": "7"}
    env[var] = bad
    with pytest.raises(ConfigError) as info:
        load_credentials(env)
    assert var in str(info.value)
    assert bad not in str(info.value)
    assert PRIV[2:] not in str(info.value)


def test_parquet_round_trip(tmp_path):
    rows = [{"trade_id": 1, "price": 97000.7, "side": "buy"}, {"trade_id": 2, "price": 96999.9, "side": "sell"}]
    assert utils.write_parquet(tmp_path / "d" / "fills.parquet", rows) == 2
    assert utils.read_parquet(tmp_path / "d" / "fills.parquet") == rows


def test_readme_documents_every_config_key():
    readme = (ROOT / "README.md").read_text()
    for section, keys in utils.SCHEMA.items():
        assert f"#### `{section}`" in readme
        for name, key in keys.items():
            # the accepted range too, and no bare "|" that would split the Markdown row
            assert "|" not in key.accepted, f"{section}.{name}"
            assert f"| `{name}` | `{json.dumps(key.default)}` | {key.accepted} |" in readme, f"{section}.{name}"
