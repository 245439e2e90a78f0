"""End to end, what was only checked by hand: ``adjust_leverage.py`` against the simulator, the program with
no credentials at all (it must start the built-in simulator, quote and stop clean) and the ``/metrics``
endpoint scraped and parsed while it runs.

Subprocesses only, environments built from scratch (``e2e_support``), free ports, conditions with generous
timeouts. The no-credentials run is shared by its two tests: it is one fixed ``--duration`` run.
"""
from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from e2e_support import ROOT, STOP_WAIT_S, Daemon, base_env, one_line_failure, start_daemon, without_credentials
from prometheus_client.parser import text_string_to_metric_families

from sim.testing import SimAccount, SimHandle, start_simulator

ADJUST_LEVERAGE = ROOT / "adjust_leverage.py"
BTC = 1
ISOLATED = 1  # the sim's margin_mode field: 0 cross, 1 isolated
SIM_RUN_S = 20  # --duration of the no-credentials run
# The Makefile's DEMO_ENV (tight spread, frequent requotes) and a short warm-up: quoting within seconds.
DEMO_ENV = {
    "LMM_VOL_OBI_VOL_TO_HALF_SPREAD": "2",
    "LMM_VOL_OBI_MIN_HALF_SPREAD_BPS": "1.5",
    "LMM_TRADING_DEFAULT_QUOTE_UPDATE_THRESHOLD_BPS": "0.7",
    "LMM_VOL_OBI_WARMUP_SECONDS": "3",
    "LMM_VOL_OBI_MIN_WARMUP_SAMPLES": "20",
}
# The metrics the README documents (status figures, reconnects, resyncs, rejections, breaker trips, backoffs).
COUNTERS = ("fills", "sent", "rejected", "rate_limited", "breaker_trips", "book_resyncs", "binance_resyncs",
            "reconnects")
GAUGES = ("mid", "bid", "ask", "bid_bp", "ask_bp", "position", "position_usd", "realized_pnl", "unrealized_pnl",
          "volume_usd", "quota", "alpha", "volatility", "tick_to_order_p50_ms", "tick_to_order_p99_ms", "paused")
_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# ---- adjust_leverage.py ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with start_simulator(seed=11, with_market=False) as handle:
        yield handle


@pytest.fixture(scope="module")
def account(sim: SimHandle) -> SimAccount:
    return sim.create_account(collateral="10000", tier="premium")


def leverage_env(sim: SimHandle, account: SimAccount) -> dict[str, str]:
    env = base_env()
    env.update({"LIGHTER_BASE_URL": sim.lighter_url, "LIGHTER_WS_URL": sim.lighter_ws_url,
                "API_KEY_PRIVATE_KEY": account.private_key, "API_KEY_PUBLIC_KEY": account.public_key,
                "API_KEY_INDEX": str(account.api_key_index), "ACCOUNT_INDEX": str(account.account_index)})
    return env


def adjust_leverage(tmp: Path, env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-u", str(ADJUST_LEVERAGE), *args], cwd=tmp, env=dict(env),
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def btc_margin(sim: SimHandle, account: SimAccount) -> tuple[int, int] | None:
    """(initial margin fraction in 1e-4, margin mode) of the account on BTC; None while it has no entry."""
    position = sim.account(account.account_index)["positions"].get(str(BTC))
    return None if position is None else (position["initial_margin_fraction"], position["margin_mode"])


@pytest.mark.parametrize(("args", "needle"), [
    (("--symbol", "BTC", "--leverage", "0"), "--leverage"),
    (("--symbol", "BTC", "--leverage", "3", "--margin-mode", "bogus"), "--margin-mode"),
    (("--leverage", "3"), "--symbol"),
    (("--symbol", "NOPE", "--leverage", "3"), "NOPE"),
])
def test_adjust_leverage_bad_input_is_one_line_and_sends_nothing(sim: SimHandle, account: SimAccount,
                                                                 tmp_path: Path, args: tuple[str, ...],
                                                                 needle: str) -> None:
    before = btc_margin(sim, account)
    result = adjust_leverage(tmp_path, leverage_env(sim, account), *args)
    line = one_line_failure(result, 2, needle)
    assert "usage:" not in line
    assert result.stdout == ""
    assert btc_margin(sim, account) == before


def test_adjust_leverage_sets_leverage_and_margin_mode_on_the_simulator(sim: SimHandle, account: SimAccount,
                                                                        tmp_path: Path) -> None:
    assert btc_margin(sim, account) in (None, (500, 0))  # the market's default: 20x cross
    result = adjust_leverage(tmp_path, leverage_env(sim, account), "--symbol", "BTC", "--leverage", "3",
                             "--margin-mode", "isolated")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BTC (market 1): leverage 3x isolated accepted" in result.stdout
    assert result.stderr == ""
    assert btc_margin(sim, account) == (10_000 // 3, ISOLATED)

    result = adjust_leverage(tmp_path, leverage_env(sim, account), "--market-id", "1", "--leverage", "5")
    assert result.returncode == 0, result.stdout + result.stderr
    assert btc_margin(sim, account) == (10_000 // 5, 0)  # --margin-mode defaults to cross


def test_adjust_leverage_refuses_while_a_bot_holds_the_key(sim: SimHandle, account: SimAccount,
                                                             tmp_path: Path) -> None:
    """It signs with the bot's key index: never while another process holds that index (one nonce sequence)."""
    from lmm.daemon.process_lock import acquire_process_lock

    before = btc_margin(sim, account)
    lock = acquire_process_lock(sim.lighter_url, account.account_index, account.api_key_index, "BTC")
    try:
        result = adjust_leverage(tmp_path, leverage_env(sim, account), "--symbol", "BTC", "--leverage", "4")
    finally:
        lock.release()
    assert result.returncode == 4, result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert btc_margin(sim, account) == before


# ---- no credentials: the built-in simulator, and /metrics while it runs -----------------------------------


@dataclass
class SimRun:
    daemon: Daemon
    status: int
    scrapes: list[dict[str, tuple[str, float]]] = field(default_factory=list)  # name -> (type, value)
    quoting_scrape: dict[str, tuple[str, float]] | None = None
    scrape_errors: list[str] = field(default_factory=list)  # not listening (yet, or any more)
    bad_scrapes: list[str] = field(default_factory=list)  # listening, but an error or not parseable


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def scrape(port: int) -> dict[str, tuple[str, float]]:
    with _no_proxy.open(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    values: dict[str, tuple[str, float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name.startswith("lighter_mm_"):
            [sample] = family.samples  # one value per metric, no labels
            values[family.name.removeprefix("lighter_mm_")] = (family.type, sample.value)
    return values


def quoting(values: Mapping[str, tuple[str, float]]) -> bool:
    """Every documented metric has a value (our bid and ask, a tick-to-order, the quota from a reply) and
    quoting is not paused."""
    return all(name in values for name in (*COUNTERS, *GAUGES)) and values["paused"][1] == 0


def watch(daemon: Daemon, port: int) -> SimRun:
    """Scrape ``/metrics`` every half second until the run ends by itself (its ``--duration``)."""
    run = SimRun(daemon, status=-1)
    deadline = time.monotonic() + SIM_RUN_S + 60 + STOP_WAIT_S
    try:
        while daemon.process.poll() is None and time.monotonic() < deadline:
            try:
                values = scrape(port)
            except urllib.error.HTTPError as error:
                run.bad_scrapes.append(f"HTTP {error.code}: {error.read()[:300]!r}")
            except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
                run.scrape_errors.append(repr(error))  # not listening yet, or already closed
            except (ValueError, AssertionError) as error:  # served, but not parseable or not one sample
                run.bad_scrapes.append(repr(error))
            else:
                run.scrapes.append(values)
                if run.quoting_scrape is None and quoting(values):
                    run.quoting_scrape = values
            time.sleep(0.5)
        if daemon.process.poll() is None:
            raise AssertionError(f"the run did not end by itself:\n{daemon.tail()}")
    finally:
        daemon.kill()  # a no-op once it has exited
    run.status = daemon.process.returncode
    return run


def run_without_credentials(tmp: Path) -> SimRun:
    empty_env_file = tmp / "empty.env"
    empty_env_file.write_text("")
    env = without_credentials(base_env()) | DEMO_ENV
    assert not any(name.startswith(("API_KEY_", "ACCOUNT_INDEX")) for name in env)
    for attempt in range(3):  # the free port may be taken between probing and binding: try another
        port = free_port()
        daemon = start_daemon(tmp, env, "--duration", str(SIM_RUN_S), "--env-file", str(empty_env_file),
                              "--metrics-port", str(port), name=f"sim-{attempt}")
        run = watch(daemon, port)
        if not (run.status == 2 and "address already in use" in daemon.output()):
            return run
    raise AssertionError(f"no free metrics port in three attempts:\n{daemon.tail()}")


@pytest.fixture(scope="module")
def sim_run(tmp_path_factory: pytest.TempPathFactory) -> SimRun:
    return run_without_credentials(tmp_path_factory.mktemp("no-credentials"))


def test_no_credentials_runs_the_built_in_simulator_quotes_and_stops_clean(sim_run: SimRun) -> None:
    output = sim_run.daemon.output()
    assert sim_run.status == 0, sim_run.daemon.tail()
    assert "Traceback" not in output
    assert "=== SIMULATOR MODE: no credentials in use" in output
    assert "LIVE MODE" not in output
    assert re.search(r"simulator up: lighter http://127\.0\.0\.1:\d+", output)
    assert f"duration of {SIM_RUN_S}s reached" in output
    creates = re.search(r"creates / modifies / cancels\s+(\d+) / (\d+) / (\d+)", output)
    assert creates and int(creates[1]) >= 1, output  # it quoted
    assert re.search(r"shutdown: no open order (of this bot )?on BTC \(confirmed twice over REST\)", output), output
    assert "SHUTDOWN INCOMPLETE" not in output


def test_metrics_are_served_and_parse_while_quoting(sim_run: SimRun) -> None:
    assert sim_run.scrapes, f"no scrape succeeded: {sim_run.scrape_errors[-3:]}"
    assert not sim_run.bad_scrapes, sim_run.bad_scrapes
    values = sim_run.quoting_scrape
    missing = sorted({*COUNTERS, *GAUGES} - set(sim_run.scrapes[-1]))
    assert values is not None, f"no scrape showed quoting; last: {sim_run.scrapes[-1]}, missing {missing}"
    for name in COUNTERS:
        kind, value = values[name]
        assert kind == "counter" and value >= 0, (name, kind, value)
    for name in GAUGES:
        assert values[name][0] == "gauge", name
    assert values["paused"][1] == 0
    assert values["sent"][1] >= 1 and values["rejected"][1] == 0
    mid, bid, ask = values["mid"][1], values["bid"][1], values["ask"][1]
    assert 0 < bid < ask and abs(bid / mid - 1) < 0.01 and abs(ask / mid - 1) < 0.01, (bid, mid, ask)
    assert 0 < values["tick_to_order_p50_ms"][1] <= values["tick_to_order_p99_ms"][1]
    assert values["volatility"][1] > 0 and values["quota"][1] >= 0
    for name in COUNTERS:  # counters never go down between scrapes
        seen = [scrape_values[name][1] for scrape_values in sim_run.scrapes if name in scrape_values]
        assert seen == sorted(seen), (name, seen)
