"""The daemon's resource use over a simulator run: CPU share, peak RSS, event-loop lag and tick-to-order.

    .venv/bin/python bench/bench_daemon.py                 # 300 s
    .venv/bin/python bench/bench_daemon.py --seconds 120

The simulator runs as ``python -m sim`` in its own process (its CPU is not counted). The daemon runs in live
mode against it as a subprocess, with ``.env``-style credentials of an account registered on the simulator
and the default configuration except a short warm-up. The measurement window starts when the daemon's
start-up is over (leverage set) and lasts ``--seconds``; then the daemon is stopped with SIGTERM.
(Its output is kept under /tmp/bench_daemon_*.)
CPU = (utime + stime) growth in /proc/<pid>/stat over the window's wall time, in % of one core; peak RSS =
VmHWM from /proc/<pid>/status at the end of the window; loop lag (see loop_lag.py: the delay of a task
due at a known instant, plus the plain timer overshoot for reference) and tick-to-order come from the
daemon's own ``perf:`` summary line. Prints figures only, ending with the line
``daemon cpu: <C>%, rss: <M> MB, loop lag p99: <L> ms, tick-to-order p50: <T> ms``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "market_maker_v2.py"
API_KEY_INDEX = 25
SIM_URL_NAMES = ("lighter_rest", "lighter_ws", "binance_rest", "binance_ws")
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class ProcessSample:
    wall_s: float
    cpu_s: float  # utime + stime


def process_sample(pid: int) -> ProcessSample:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3 of proc(5)); utime and stime are fields 14 and 15
    return ProcessSample(time.monotonic(), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM not found")


def start_simulator(seed: int) -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen([sys.executable, "-m", "sim", "--host", "127.0.0.1", "--seed", str(seed),
                                "--log-level", "WARNING"], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                               stdin=subprocess.DEVNULL)
    urls: dict[str, str] = {}
    assert process.stdout is not None
    while len(urls) < len(SIM_URL_NAMES):
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"simulator exited early ({process.wait()})")
        name, _, url = line.strip().partition(" ")
        urls[name] = url
    return process, urls


def register_account(lighter_url: str) -> dict[str, str]:
    """A funded premium account with a fresh API key; the four credential variables of a .env."""
    import lighter

    private_key, public_key, error = lighter.create_api_key()
    if error is not None:
        raise RuntimeError(f"create_api_key failed: {error}")
    body = {"public_key": public_key.lower().removeprefix("0x"), "api_key_index": API_KEY_INDEX,
            "collateral": "10000", "tier": "premium"}
    request = urllib.request.Request(f"{lighter_url}/__sim/accounts", data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    with _opener.open(request, timeout=20) as response:
        account_index = json.loads(response.read())["account_index"]
    return {"API_KEY_PRIVATE_KEY": private_key, "API_KEY_PUBLIC_KEY": public_key,
            "API_KEY_INDEX": str(API_KEY_INDEX), "ACCOUNT_INDEX": str(account_index)}


def daemon_env(urls: dict[str, str], credentials: dict[str, str], warmup_s: float) -> dict[str, str]:
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
    env.update({
        "PYTHONUNBUFFERED": "1", "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        "LIGHTER_BASE_URL": urls["lighter_rest"], "LIGHTER_WS_URL": urls["lighter_ws"],
        "BINANCE_REST_URL": urls["binance_rest"], "BINANCE_WS_URL": urls["binance_ws"],
        "LMM_VOL_OBI_WARMUP_SECONDS": str(warmup_s),
        **credentials,
    })
    return env


def wait_for_line(path: Path, pattern: str, process: subprocess.Popen[bytes], timeout: float) -> re.Match[str]:
    regex = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = regex.search(path.read_text(errors="replace"))
        if match:
            return match
        if process.poll() is not None:
            raise RuntimeError(f"daemon exited ({process.returncode}) before {pattern!r}")
        time.sleep(0.2)
    raise RuntimeError(f"daemon did not log {pattern!r} within {timeout:.0f} s")


def parse_perf_line(text: str) -> dict[str, float]:
    lines = re.findall(r"perf: (.+)", text)
    if not lines:
        raise RuntimeError("the daemon printed no perf: line")
    return {name: float(value) for name, value in (pair.split("=", 1) for pair in lines[-1].split())}


def run(seconds: float, seed: int, warmup_s: float) -> int:
    simulator, urls = start_simulator(seed)
    workdir = Path(tempfile.mkdtemp(prefix="bench_daemon_"))
    output_path = workdir / "daemon.out"
    daemon: subprocess.Popen[bytes] | None = None
    try:
        env = daemon_env(urls, register_account(urls["lighter_rest"]), warmup_s)
        with output_path.open("wb") as sink:
            daemon = subprocess.Popen([sys.executable, "-u", str(PROGRAM), "--live", "--symbol", "BTC",
                                       "--log-dir", str(workdir / "logs")], cwd=workdir, env=env, stdout=sink,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for_line(output_path, r"leverage (set|not set)", daemon, START_TIMEOUT_S)
        start = process_sample(daemon.pid)
        print(f"daemon pid {daemon.pid} started; measuring for {seconds:.0f} s (log: {output_path})", flush=True)
        while time.monotonic() - start.wall_s < seconds:
            if daemon.poll() is not None:
                raise RuntimeError(f"daemon exited ({daemon.returncode}) during the run")
            time.sleep(min(1.0, max(0.0, seconds - (time.monotonic() - start.wall_s))))
        end = process_sample(daemon.pid)
        rss_mb = peak_rss_mb(daemon.pid)
        daemon.send_signal(signal.SIGTERM)
        status = daemon.wait(timeout=STOP_TIMEOUT_S)
        text = output_path.read_text(errors="replace")
        perf = parse_perf_line(text)
        cpu_percent = 100 * (end.cpu_s - start.cpu_s) / (end.wall_s - start.wall_s)
        fills = re.findall(r"fills\s+(\d+ \(\d+ maker\))", text)
        print(f"window {end.wall_s - start.wall_s:.1f} s, daemon CPU {end.cpu_s - start.cpu_s:.2f} s, exit status "
              f"{status}, fills {fills[-1] if fills else '?'}")
        print(f"loop lag p50 {perf['loop_lag_p50_ms']:.3f} ms, p99 {perf['loop_lag_p99_ms']:.3f} ms "
              f"({perf['loop_lag_samples']:.0f} samples); plain timer overshoot p50 "
              f"{perf['timer_overshoot_p50_ms']:.3f} ms, p99 {perf['timer_overshoot_p99_ms']:.3f} ms")
        print(f"tick-to-order p50 {perf['tick_to_order_p50_ms']:.3f} ms, "
              f"p99 {perf['tick_to_order_p99_ms']:.3f} ms ({perf['tick_to_order_samples']:.0f} samples)")
        print(f"daemon cpu: {cpu_percent:.2f}%, rss: {rss_mb:.1f} MB, loop lag p99: {perf['loop_lag_p99_ms']:.2f} ms, "
              f"tick-to-order p50: {perf['tick_to_order_p50_ms']:.2f} ms")
        return 0 if status == 0 else 1
    finally:
        stop_processes(daemon, simulator)


def stop_processes(daemon: subprocess.Popen[bytes] | None, simulator: subprocess.Popen[str]) -> None:
    """Kill a daemon still running (a failed measurement), then stop the simulator."""
    if daemon is not None and daemon.poll() is None:
        daemon.kill()
        daemon.wait()
    simulator.send_signal(signal.SIGTERM)
    try:
        simulator.wait(timeout=30)
    except subprocess.TimeoutExpired:
        simulator.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="length of the measurement (default 300)")
    parser.add_argument("--seed", type=int, default=1, help="simulator seed (default 1)")
    parser.add_argument("--warmup", type=float, default=15.0, help="vol_obi.warmup_seconds (default 15)")
    args = parser.parse_args(argv)
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    return run(args.seconds, args.seed, args.warmup)


if __name__ == "__main__":
    sys.exit(main())
