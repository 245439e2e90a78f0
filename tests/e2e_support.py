"""Helpers of the end-to-end daemon tests: run ``market_maker_v2.py`` as a subprocess in live mode against a
simulator, with an environment built from scratch, and wait on conditions.

Rules: the daemon never inherits the test's environment (no stray credentials, ``LMM_*`` values or proxy
settings); every endpoint variable points at the simulator and the four credential variables are always set
(possibly empty), so a ``.env`` next to the program, which only fills unset variables, cannot take effect.
Output (stdout + stderr) goes to a file, never a pipe that could fill up and block the daemon.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sim.testing import SimAccount, SimHandle

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "market_maker_v2.py"
WAIT_S = 20.0
STOP_WAIT_S = 40.0  # the shutdown path: cancel-all, REST confirmation, closing the sockets

T = TypeVar("T")

# Shortened windows and a tight spread so that quoting starts within seconds and fills come quickly.
FAST_TRADING_ENV: dict[str, str] = {
    "LMM_VOL_OBI_WARMUP_SECONDS": "3",
    "LMM_VOL_OBI_MIN_WARMUP_SAMPLES": "20",
    "LMM_ALPHA_MIN_SAMPLES": "20",
    "LMM_VOL_OBI_VOL_TO_HALF_SPREAD": "2",
    "LMM_VOL_OBI_MIN_HALF_SPREAD_BPS": "1.5",
    "LMM_TRADING_DEFAULT_QUOTE_UPDATE_THRESHOLD_BPS": "0.7",
}
EMPTY_CREDENTIALS: dict[str, str] = {
    "API_KEY_PRIVATE_KEY": "", "API_KEY_PUBLIC_KEY": "", "API_KEY_INDEX": "", "ACCOUNT_INDEX": "",
}


def base_env() -> dict[str, str]:
    """The minimum a Python subprocess needs, loopback kept away from proxies, output unbuffered."""
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
    env.update({"PYTHONUNBUFFERED": "1", "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
    env.update(EMPTY_CREDENTIALS)
    return env


def live_env(sim: SimHandle, account: SimAccount, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Live mode against ``sim`` with ``account``'s credentials, exactly as a user's .env would give them."""
    env = base_env()
    env.update({
        "LIGHTER_BASE_URL": sim.lighter_url,
        "LIGHTER_WS_URL": sim.lighter_ws_url,
        "BINANCE_REST_URL": sim.binance_rest_url or "",
        "BINANCE_WS_URL": sim.binance_ws_url or "",
        "API_KEY_PRIVATE_KEY": account.private_key,
        "API_KEY_PUBLIC_KEY": account.public_key,
        "API_KEY_INDEX": str(account.api_key_index),
        "ACCOUNT_INDEX": str(account.account_index),
    })
    env.update(FAST_TRADING_ENV)
    env.update(extra or {})
    return env


def wait_for(probe: Callable[[], T | None], timeout: float = WAIT_S, what: str = "condition",
             interval: float = 0.1) -> T:
    """Poll ``probe`` until it returns something truthy; that value is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout:.0f} s")
        time.sleep(interval)


@dataclass
class Daemon:
    """A running ``market_maker_v2.py`` and the file its output goes to."""

    process: subprocess.Popen[bytes]
    output_path: Path

    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def wait_output(self, pattern: str, timeout: float = WAIT_S) -> re.Match[str]:
        regex = re.compile(pattern)

        def probe() -> re.Match[str] | None:
            if self.process.poll() is not None:
                match = regex.search(self.output())
                if match:
                    return match
                raise AssertionError(f"daemon exited ({self.process.returncode}) before {pattern!r}:\n"
                                     f"{self.tail()}")
            return regex.search(self.output())

        return wait_for(probe, timeout, f"output {pattern!r}")

    def stop(self, signum: int = signal.SIGTERM, timeout: float = STOP_WAIT_S) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.output().splitlines()[-lines:])


def start_daemon(tmp: Path, env: Mapping[str, str], *args: str, name: str = "daemon") -> Daemon:
    """Start the daemon (``--log-dir`` under ``tmp``); the caller stops or kills it."""
    output_path = tmp / f"{name}.out"
    command = [sys.executable, "-u", str(PROGRAM), "--symbol", "BTC", "--log-dir", str(tmp / f"{name}-logs"),
               *args]
    with output_path.open("wb") as sink:
        process = subprocess.Popen(command, cwd=tmp, env=dict(env), stdout=sink, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    return Daemon(process, output_path)


def run_cli(tmp: Path, env: Mapping[str, str], *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run the program to completion (for the start-up error paths)."""
    return subprocess.run([sys.executable, "-u", str(PROGRAM), "--log-dir", str(tmp / "logs"), *args], cwd=tmp,
                          env=dict(env), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


# ---- the simulator's view of the account ----------------------------------------------------------------


@dataclass(frozen=True)
class RestingQuote:
    is_ask: bool
    price: float
    client_order_index: int


def resting_quotes(sim: SimHandle, account_index: int, market_id: int) -> list[RestingQuote]:
    return [RestingQuote(bool(order["is_ask"]), float(order["price"]), int(order["client_order_index"]))
            for order in sim.orders(account_index) if int(order["market_index"]) == market_id]


def two_sided(quotes: list[RestingQuote]) -> tuple[float, float] | None:
    """(bid, ask) when exactly one order rests on each side."""
    bids = [q.price for q in quotes if not q.is_ask]
    asks = [q.price for q in quotes if q.is_ask]
    if len(bids) == 1 and len(asks) == 1:
        return bids[0], asks[0]
    return None


def true_touch(sim: SimHandle, market_id: int) -> tuple[float, float] | None:
    book = sim.book(market_id)
    if not book["bids"] or not book["asks"]:
        return None
    return float(book["bids"][0][0]), float(book["asks"][0][0])


def position_and_volume(sim: SimHandle, account_index: int, market_id: int) -> tuple[float, float, float]:
    """(position in base units, traded volume in USD, total asset value in USD) from the simulator."""
    account: dict[str, Any] = sim.account(account_index)
    position = account["positions"].get(str(market_id), {}).get("position", "0")
    return float(position), float(account["volume"]), float(account["total_asset_value"])


# ---- start-up failures ------------------------------------------------------------------------------------


def without_credentials(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with the four credential variables removed, so that an ``--env-file`` can supply them."""
    return {name: value for name, value in env.items()
            if name not in ("API_KEY_PRIVATE_KEY", "API_KEY_PUBLIC_KEY", "API_KEY_INDEX", "ACCOUNT_INDEX")}


def one_line_failure(result: subprocess.CompletedProcess[str], status: int, *needles: str,
                     secrets: tuple[str, ...] = (), log_dir: Path | None = None) -> str:
    """Assert a start-up failure as the README promises it: exit ``status``, exactly one line on stderr that
    contains every needle, no traceback and no ERROR/CRITICAL log line on the console, no secret anywhere
    (console or log file). Returns the stderr line."""
    console = result.stdout + result.stderr
    assert result.returncode == status, console
    assert "Traceback" not in console, console
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert not re.search(r"\b(ERROR|CRITICAL)\b", result.stdout), result.stdout
    log_text = ""
    if log_dir is not None and (log_dir / "lighter_mm.log").exists():
        log_text = (log_dir / "lighter_mm.log").read_text(errors="replace")
    for secret in secrets:
        bare = secret.lower().removeprefix("0x")
        assert bare not in console.lower() and bare not in log_text.lower()
    return lines[0]
