"""End to end: start-up errors of ``market_maker_v2.py`` are one clear line and exit status 2, never a
traceback. No simulator is needed: these fail before any connection is made.
"""
from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from e2e_support import base_env, one_line_failure, run_cli, without_credentials

from lmm.config.credentials import CREDENTIAL_VARS

CONFIG_ERROR_STATUS = 2


def _one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def test_live_without_credentials_names_the_variables(tmp_path: Path) -> None:
    result = run_cli(tmp_path, base_env(), "--live")
    assert result.returncode == CONFIG_ERROR_STATUS
    line = _one_line(result.stderr)
    for var in CREDENTIAL_VARS:
        assert var in line
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""


def test_malformed_private_key_is_named_without_its_value(tmp_path: Path) -> None:
    env = base_env() | {"API_KEY_PRIVATE_KEY": "0xnot-a-key", "API_KEY_PUBLIC_KEY": "ab" * 40,
                        "API_KEY_INDEX": "25", "ACCOUNT_INDEX": "3"}
    result = run_cli(tmp_path, env, "--live")
    assert result.returncode == CONFIG_ERROR_STATUS
    line = _one_line(result.stderr)
    assert "API_KEY_PRIVATE_KEY" in line and "not-a-key" not in line


def test_bad_environment_value_is_one_line(tmp_path: Path) -> None:
    result = run_cli(tmp_path, base_env() | {"LMM_TRADING_LEVERAGE": "lots"}, "--sim")
    assert result.returncode == CONFIG_ERROR_STATUS
    line = _one_line(result.stderr)
    assert "LMM_TRADING_LEVERAGE" in line
    assert "Traceback" not in result.stderr + result.stdout


def test_bad_config_file_value_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"trading": {"leverage": 99}}))
    result = run_cli(tmp_path, base_env(), "--sim", "--config", str(config))
    assert result.returncode == CONFIG_ERROR_STATUS
    line = _one_line(result.stderr)
    assert "trading.leverage" in line
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "-inf", "soon"])
def test_bad_duration_is_one_line(tmp_path: Path, value: str) -> None:
    result = run_cli(tmp_path, base_env(), "--sim", f"--duration={value}")
    line = one_line_failure(result, CONFIG_ERROR_STATUS, "--duration")
    assert "usage:" not in result.stderr
    assert "positive" in line or "number" in line


@pytest.mark.parametrize("value", ["0", "70000", "-5", "http"])
def test_metrics_port_out_of_range_is_one_line(tmp_path: Path, value: str) -> None:
    result = run_cli(tmp_path, base_env(), "--sim", "--duration", "5", f"--metrics-port={value}")
    one_line_failure(result, CONFIG_ERROR_STATUS, "--metrics-port", "65535")
    assert "usage:" not in result.stderr


def test_metrics_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(tmp_path, base_env(), "--sim", "--duration", "5", "--metrics-port", str(port))
    one_line_failure(result, CONFIG_ERROR_STATUS, f"--metrics-port {port}", "in use")


def test_config_nested_too_deep_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "deep.json"
    config.write_text('{"a":' * 100_000 + "1" + "}" * 100_000)
    result = run_cli(tmp_path, base_env(), "--sim", "--config", str(config))
    one_line_failure(result, CONFIG_ERROR_STATUS, str(config), "nested")


def test_unknown_option_is_one_line(tmp_path: Path) -> None:
    result = run_cli(tmp_path, base_env(), "--sim", "--durration", "5")
    one_line_failure(result, CONFIG_ERROR_STATUS, "--durration", "--help")


def test_binance_tape_without_local_is_one_line(tmp_path: Path) -> None:
    result = run_cli(tmp_path, base_env(), "--sim", "--binance-tape", str(tmp_path))
    one_line_failure(result, CONFIG_ERROR_STATUS, "--binance-tape needs --local", "--help")


def test_env_file_garbage_is_one_warning_by_line_number(tmp_path: Path) -> None:
    """Garbage lines of a .env are ignored with one warning naming their line numbers, never their content;
    here the remaining lines leave a credential missing, which is the (second, fatal) line."""
    key_like = "0x" + "c3" * 40
    env_file = tmp_path / "garbage.env"
    env_file.write_text(f"ACCOUNT_INDEX=5\nthis is not a setting\nAPI_KEY_PRIVATE_KEY {key_like}\n# fine\n")
    result = run_cli(tmp_path, without_credentials(base_env()), "--live", "--env-file", str(env_file))
    assert result.returncode == CONFIG_ERROR_STATUS
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 2, result.stderr
    warning, error = lines
    assert "garbage.env" in warning and "lines 2, 3" in warning, warning
    assert "python-dotenv" not in result.stderr
    assert "not a setting" not in result.stderr and "c3c3" not in result.stderr + result.stdout
    assert "API_KEY_PRIVATE_KEY" in error and "ACCOUNT_INDEX" not in error  # ACCOUNT_INDEX=5 was read
    assert "Traceback" not in result.stderr + result.stdout
