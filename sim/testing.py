# Test helpers: start the whole simulator in a background thread (own event loop, free ports on
# 127.0.0.1), drive its control API, and stop it cleanly.
#
#     with start_simulator(seed=7, with_market=False) as sim:
#         account = sim.create_account(collateral="10000", tier="premium")
#         client = lighter.SignerClient(url=sim.lighter_url, account_index=account.account_index,
#                                       api_private_keys={account.api_key_index: account.private_key})
#
# Rules: blocking helpers (urllib, no proxies) that are safe to call from any thread, including a test's
# event loop thread, because the simulator never runs on that loop. `start_simulator` adds 127.0.0.1 to
# NO_PROXY so that the SDK's aiohttp session (trust_env=True) never sends loopback traffic to a proxy.
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, fields
from typing import Any

from sim.market_params import MarketParams
from sim.market_profile import default_market_params, profile_market_params
from sim.runner import SimConfig, SimThread

_NO_PROXY_HOSTS = ("127.0.0.1", "localhost")
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class SimAccount:
    account_index: int
    api_key_index: int
    private_key: str  # as lighter.create_api_key() returns it (0x + 80 hex)
    public_key: str  # lowercase hex without 0x, as registered


class SimControlError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


def _ensure_no_proxy() -> None:
    for name in ("NO_PROXY", "no_proxy"):
        hosts = [h for h in os.environ.get(name, "").split(",") if h]
        missing = [h for h in _NO_PROXY_HOSTS if h not in hosts]
        if missing:
            os.environ[name] = ",".join(hosts + missing)


class SimHandle:
    """A running simulator and its control API."""

    def __init__(self, thread: SimThread) -> None:
        self._thread = thread
        sim = thread.simulator
        self.lighter_url: str = sim.lighter_url
        self.lighter_ws_url: str = sim.lighter_ws_url
        self.binance_rest_url: str | None = sim.binance_rest_url
        self.binance_ws_url: str | None = sim.binance_ws_url

    @property
    def simulator_thread(self) -> SimThread:
        return self._thread

    def __enter__(self) -> SimHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._thread.stop()

    # ---- control API ---------------------------------------------------------------------------------

    def control(self, method: str, path: str, body: dict[str, Any] | None = None,
                timeout_s: float = 20.0) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.lighter_url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with _opener.open(request, timeout=timeout_s) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise SimControlError(error.code, error.read().decode(errors="replace")) from error

    def create_account(self, collateral: str = "10000", tier: str = "premium",
                       api_key_index: int = 25) -> SimAccount:
        """Fresh API key pair from the SDK's create_api_key(), registered on a new funded account."""
        import lighter  # the SDK is only needed by tests that trade

        private_key, public_key, error = lighter.create_api_key()
        if error is not None:
            raise RuntimeError(f"create_api_key failed: {error}")
        public_hex = public_key.lower().removeprefix("0x")
        reply = self.control("POST", "/__sim/accounts", {
            "public_key": public_hex, "api_key_index": api_key_index, "collateral": collateral, "tier": tier,
        })
        return SimAccount(reply["account_index"], api_key_index, private_key, public_hex)

    def book(self, market_id: int) -> dict[str, Any]:
        return self.control("GET", f"/__sim/book?market_id={market_id}")

    def set_market_running(self, running: bool) -> None:
        self.control("POST", "/__sim/market", {"running": running})

    def inject_fault(self, kind: str, **params: Any) -> dict[str, Any]:
        return self.control("POST", "/__sim/faults", {"kind": kind, **params})

    def orders(self, account_index: int) -> list[dict[str, Any]]:
        return self.control("GET", f"/__sim/orders?account_index={account_index}")["orders"]

    def account(self, account_index: int) -> dict[str, Any]:
        return self.control("GET", f"/__sim/account?account_index={account_index}")


_MARKET_PARAM_NAMES = frozenset(f.name for f in fields(MarketParams))


def start_simulator(seed: int = 0, with_market: bool = True, with_binance: bool | None = None,
                    profile: str | None = None, replay: Any = None, **params: Any) -> SimHandle:
    """Start the simulator on free ports in a background thread; use as a context manager.

    `profile` names a market profile (`kind` for the old quick-filling market, a file path, ...; default: the
    realistic `default`, or $LMM_SIM_PROFILE); `params` are MarketParams fields over it (e.g.
    lighter_lag_ms=200). `with_binance` defaults to `with_market` (the Binance book is driven by the market).
    `replay` (a sim.replay.ReplayConfig) serves a recorded Binance market and derives the Lighter market from
    it instead.
    """
    unknown = set(params) - _MARKET_PARAM_NAMES
    if unknown:
        raise TypeError(f"unknown market parameters: {sorted(unknown)}")
    _ensure_no_proxy()
    config = SimConfig(seed=seed, with_market=with_market,
                       with_binance=with_market if with_binance is None else with_binance,
                       market_params=(default_market_params(**params) if profile is None
                                      else profile_market_params(profile, **params)), replay=replay)
    thread = SimThread(config)
    thread.start()
    return SimHandle(thread)
