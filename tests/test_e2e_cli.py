"""End to end: start-up errors of ``market_maker_v2.py`` are one clear line and exit status 2, never a
traceback. No simulator is needed: these fail before any connection is made.
"""
from __future__ import annotations

import json
from pathlib import Path

from e2e_support import base_env, run_cli

from utils import CREDENTIAL_VARS

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
