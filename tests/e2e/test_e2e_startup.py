"""End to end: start-up failures that need a venue, against the simulator in live mode. Each ends with one
line on stderr naming the cause (never a key), no traceback on the console and the exit status the README
documents; nothing is sent to the venue before the account, the API key and its public key are confirmed.
A second process on the same account and API key index refuses to start while the first runs.
"""
from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import (
    live_env,
    one_line_failure,
    resting_quotes,
    run_cli,
    start_daemon,
    two_sided,
    wait_for,
    without_credentials,
)

from lmm.daemon.process_lock import LOCK_DIR, lock_path
from sim.testing import SimAccount, SimHandle, start_simulator

MARKET_ID = 1  # BTC on the simulator
SEED = 4242
BAD_INPUT = 2
VENUE_UNREACHABLE = 3
ALREADY_RUNNING = 4


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with start_simulator(seed=SEED) as handle:
        yield handle


@pytest.fixture(scope="module")
def account(sim: SimHandle) -> SimAccount:
    return sim.create_account(collateral="5000", tier="premium")


def _key_nonce(sim: SimHandle, account: SimAccount) -> int:
    """The venue's next nonce of the account's key: unchanged means nothing was sent with it."""
    body = sim.control("GET", f"/api/v1/nextNonce?account_index={account.account_index}"
                              f"&api_key_index={account.api_key_index}")
    return int(body["nonce"])


def test_venue_unreachable(sim: SimHandle, account: SimAccount, tmp_path: Path) -> None:
    with socket.socket() as bound:  # bound and never listening: connections are refused, the port stays ours
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        env = live_env(sim, account) | {"LIGHTER_BASE_URL": f"http://127.0.0.1:{port}",
                                        "LIGHTER_WS_URL": f"ws://127.0.0.1:{port}/stream"}
        result = run_cli(tmp_path, env, "--live", "--duration", "5")
    one_line_failure(result, VENUE_UNREACHABLE, "venue unreachable", f"127.0.0.1:{port}",
                     secrets=(account.private_key,), log_dir=tmp_path / "logs")


def test_api_key_index_not_registered(sim: SimHandle, account: SimAccount, tmp_path: Path) -> None:
    nonce = _key_nonce(sim, account)
    result = run_cli(tmp_path, live_env(sim, account) | {"API_KEY_INDEX": "30"}, "--live", "--duration", "5")
    one_line_failure(result, BAD_INPUT, "API key index 30", f"account {account.account_index}", "not registered",
                     secrets=(account.private_key,), log_dir=tmp_path / "logs")
    assert _key_nonce(sim, account) == nonce


def test_unknown_account(sim: SimHandle, account: SimAccount, tmp_path: Path) -> None:
    result = run_cli(tmp_path, live_env(sim, account) | {"ACCOUNT_INDEX": "999999"}, "--live", "--duration", "5")
    one_line_failure(result, BAD_INPUT, "account 999999", "unknown", secrets=(account.private_key,),
                     log_dir=tmp_path / "logs")


def test_public_key_differs_from_the_venues(sim: SimHandle, account: SimAccount, tmp_path: Path) -> None:
    """Another account's (well-formed) public key in .env: refused before any transaction, even a cancel."""
    other = sim.create_account(collateral="100", tier="premium")
    nonce = _key_nonce(sim, account)
    env = live_env(sim, account) | {"API_KEY_PUBLIC_KEY": "0x" + other.public_key.upper()}
    result = run_cli(tmp_path, env, "--live", "--duration", "5")
    one_line_failure(result, BAD_INPUT, "API_KEY_PUBLIC_KEY", f"API key index {account.api_key_index}",
                     secrets=(account.private_key, other.public_key, account.public_key), log_dir=tmp_path / "logs")
    assert _key_nonce(sim, account) == nonce
    assert resting_quotes(sim, account.account_index, MARKET_ID) == []


def test_unknown_symbol(sim: SimHandle, account: SimAccount, tmp_path: Path) -> None:
    result = run_cli(tmp_path, live_env(sim, account), "--live", "--symbol", "NOPE", "--duration", "5")
    one_line_failure(result, BAD_INPUT, "unknown market NOPE", secrets=(account.private_key,),
                     log_dir=tmp_path / "logs")


def test_env_file_garbage_lines_are_ignored_with_one_warning(sim: SimHandle, account: SimAccount,
                                                              tmp_path: Path) -> None:
    """The credentials come from an --env-file with garbage lines between them: the run goes ahead (exit 0)
    and the console has one warning naming the line numbers, not python-dotenv's one-per-line warnings."""
    env = live_env(sim, account)
    env_file = tmp_path / "bot.env"
    env_file.write_text("\n".join([
        f"API_KEY_PRIVATE_KEY={account.private_key}",
        "this line is garbage",
        f"API_KEY_PUBLIC_KEY={account.public_key}",
        f"API_KEY_INDEX {account.api_key_index}",  # no "=": garbage too, and fatal if it were used
        f"API_KEY_INDEX={account.api_key_index}",
        f"ACCOUNT_INDEX={account.account_index}",
        "",
    ]))
    result = run_cli(tmp_path, without_credentials(env), "--live", "--env-file", str(env_file), "--duration", "1",
                     timeout=120)
    console = result.stdout + result.stderr
    assert result.returncode == 0, console
    warnings = [line for line in console.splitlines() if "bot.env" in line]
    assert len(warnings) == 1 and "lines 2, 4 not NAME=value, ignored" in warnings[0], console
    assert "python-dotenv" not in console and "this line is garbage" not in console
    assert "Traceback" not in console
    assert account.private_key.removeprefix("0x") not in console


def test_second_process_on_the_same_key_refuses_and_the_lock_dies_with_the_first(
        sim: SimHandle, tmp_path: Path) -> None:
    account = sim.create_account(collateral="5000", tier="premium")
    env = live_env(sim, account)
    first = start_daemon(tmp_path, env, "--live", name="first")
    try:
        quotes = wait_for(lambda: two_sided(resting_quotes(sim, account.account_index, MARKET_ID)), 40,
                          "the first run quoting")
        assert quotes
        second = run_cli(tmp_path, env, "--live", "--symbol", "ETH", "--duration", "5")
        one_line_failure(second, ALREADY_RUNNING, "already uses account", f"API key index {account.api_key_index}",
                         f"pid {first.process.pid}", "one API key index per process", secrets=(account.private_key,))
        assert second.stdout == ""  # refused before logging started, let alone the venue
        assert first.process.poll() is None
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=10)
    finally:
        first.kill()
    lock = lock_path(LOCK_DIR, sim.lighter_url, account.account_index, account.api_key_index)
    assert lock.exists(), "the lock file stays behind after kill -9 (harmless)"
    third = start_daemon(tmp_path, env, "--live", name="third")
    try:
        third.wait_output(r"start-up: (no open order|\d+ open order\(s\)) on BTC", 40)  # got past the lock
        wait_for(lambda: two_sided(resting_quotes(sim, account.account_index, MARKET_ID)), 40, "the third quoting")
        status = third.stop(signal.SIGTERM)
    finally:
        third.kill()
    assert status == 0, third.tail()
